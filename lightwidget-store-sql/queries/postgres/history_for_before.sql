SELECT seq, at, event, owner FROM lw_history WHERE account_id = $1 AND ((owner IS NULL AND seq > $2) OR owner = $3) AND seq < $4 ORDER BY seq DESC LIMIT $5
