-- Fewer index entries per refresh. Two indexes on lw_accounts served no query: an owner's
-- accounts are listed through lw_members, and the counts by status read the whole table
-- whatever its indexes. The Facebook user index holds only the accounts that have one
-- (business logins): `fb_user_id = ?` implies IS NOT NULL, so the lookup still uses it.
DROP INDEX IF EXISTS lw_accounts_owner;
DROP INDEX IF EXISTS lw_accounts_status;
DROP INDEX IF EXISTS lw_accounts_fb_user;
CREATE INDEX lw_accounts_fb_user ON lw_accounts (fb_user_id) WHERE fb_user_id IS NOT NULL;
