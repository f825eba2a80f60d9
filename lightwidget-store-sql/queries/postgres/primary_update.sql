-- A new primary owner (the previous one left): the earliest remaining member.
UPDATE lw_accounts SET owner = $1, notifications = $2 WHERE id = $3
