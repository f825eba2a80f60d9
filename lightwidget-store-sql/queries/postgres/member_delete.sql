DELETE FROM lw_members WHERE account_id = $1 AND owner = $2
