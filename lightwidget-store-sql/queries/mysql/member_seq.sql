SELECT joined_seq FROM lw_members WHERE account_id = ? AND owner = ?
