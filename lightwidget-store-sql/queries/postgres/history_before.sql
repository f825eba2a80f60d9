SELECT seq, at, event FROM lw_history WHERE account_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3
