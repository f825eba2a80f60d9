SELECT version FROM lw_accounts WHERE id = $1
