DELETE FROM lw_accounts WHERE id = ?
