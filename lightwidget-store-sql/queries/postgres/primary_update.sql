-- A new primary owner (the previous one left): the earliest remaining member.
UPDATE lw_accounts SET owner = $1, notifications = $2, version = version + 1 WHERE id = $3
