SELECT seq, at, event, owner FROM lw_history WHERE account_id = $1 ORDER BY seq DESC LIMIT $2
