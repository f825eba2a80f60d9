-- Fewer index entries per refresh. A refresh moves next_action_at, so its UPDATE cannot be
-- HOT and every index on lw_accounts takes a new entry for the new row version. Two of them
-- served no query: an owner's accounts are listed through lw_members, and the counts by
-- status read the whole table whatever its indexes. The Facebook user index holds only the
-- accounts that have one (business logins): `fb_user_id = $1` implies IS NOT NULL, so the
-- lookup still uses it, and a consumer account's refresh no longer writes it.
DROP INDEX IF EXISTS lw_accounts_owner;
DROP INDEX IF EXISTS lw_accounts_status;
DROP INDEX IF EXISTS lw_accounts_fb_user;
CREATE INDEX lw_accounts_fb_user ON lw_accounts (fb_user_id) WHERE fb_user_id IS NOT NULL;
-- History is only ever read by account (newest first, paged by seq): one index, the primary
-- key (account_id, seq), serves every read, where a key on seq alone and an index on
-- (account_id, seq) took two entries per event. seq stays unique by its sequence.
ALTER TABLE lw_history DROP CONSTRAINT lw_history_pkey;
ALTER TABLE lw_history ADD CONSTRAINT lw_history_pkey PRIMARY KEY (account_id, seq);
DROP INDEX lw_history_account;
-- The keys every refresh looks up and inserts into indexes compare bytewise: they are ids
-- (UUIDs, Meta's numeric ids, a kind), never text shown in order to a person, and under a
-- linguistic collation (the database default, often en_US.UTF-8) each comparison in a
-- B-tree calls strcoll. Indexes on these columns are rebuilt; the table is not rewritten.
ALTER TABLE lw_accounts ALTER COLUMN id TYPE TEXT COLLATE "C";
ALTER TABLE lw_accounts ALTER COLUMN kind TYPE TEXT COLLATE "C";
ALTER TABLE lw_accounts ALTER COLUMN ig_user_id TYPE TEXT COLLATE "C";
ALTER TABLE lw_history ALTER COLUMN account_id TYPE TEXT COLLATE "C";
