DELETE FROM lw_members WHERE account_id = ?
