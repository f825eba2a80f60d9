SELECT owner FROM lw_accounts WHERE id = ?
