SELECT owner FROM lw_accounts WHERE id = $1 FOR UPDATE
