SELECT id, token_key, token_ct FROM lw_accounts WHERE token_key <> ? AND token_key <> 'plain' AND id > ? ORDER BY id LIMIT ?
