UPDATE lw_members SET notifications = ? WHERE account_id = ? AND owner = ?
