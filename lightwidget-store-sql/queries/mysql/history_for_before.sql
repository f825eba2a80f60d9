SELECT seq, at, event, owner FROM lw_history WHERE account_id = ? AND ((owner IS NULL AND seq > ?) OR owner = ?) AND seq < ? ORDER BY seq DESC LIMIT ?
