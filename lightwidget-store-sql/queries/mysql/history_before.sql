SELECT seq, at, event, owner FROM lw_history WHERE account_id = ? AND seq < ? ORDER BY seq DESC LIMIT ?
