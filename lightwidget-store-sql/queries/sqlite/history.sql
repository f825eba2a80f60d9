SELECT seq, at, event, owner FROM lw_history WHERE account_id = ? ORDER BY seq DESC LIMIT ?
