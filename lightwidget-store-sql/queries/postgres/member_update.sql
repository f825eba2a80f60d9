UPDATE lw_members SET notifications = $1 WHERE account_id = $2 AND owner = $3
