-- Fewer index entries per refresh. Two indexes on lw_accounts served no query: an owner's
-- accounts are listed through lw_members, and the counts by status read the whole table
-- whatever its indexes. Each statement is atomic and fails as "already gone" when run
-- again (see the migration runner).
DROP INDEX lw_accounts_owner ON lw_accounts;
DROP INDEX lw_accounts_status ON lw_accounts;
