SELECT id, token_key, token_ct FROM lw_accounts WHERE token_key <> $1 AND token_key <> 'plain' AND id > $2 ORDER BY id LIMIT $3
