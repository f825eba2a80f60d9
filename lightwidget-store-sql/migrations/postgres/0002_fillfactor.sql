-- Leave room on every page of lw_accounts so that claims (which change only version and
-- the lease columns, none of them indexed) are HOT updates: the new row version stays on
-- its page and no index gets a new entry. With full pages each claim of 500 rows wrote
-- 500 new entries into each of the five indexes. Applies to pages written from now on.
ALTER TABLE lw_accounts SET (fillfactor = 70);
