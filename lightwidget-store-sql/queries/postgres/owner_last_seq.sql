SELECT MAX(seq) FROM lw_history WHERE account_id = $1 AND owner = $2
