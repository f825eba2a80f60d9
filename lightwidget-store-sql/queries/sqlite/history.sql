SELECT seq, at, event FROM lw_history WHERE account_id = ? ORDER BY seq DESC LIMIT ?
