SELECT MAX(seq) FROM lw_history WHERE account_id = ? AND owner = ?
