-- A new primary owner (the previous one left): the earliest remaining member.
UPDATE lw_accounts SET owner = ?, notifications = ?, version = version + 1 WHERE id = ?
