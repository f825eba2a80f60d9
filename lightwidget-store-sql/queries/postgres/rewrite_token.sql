UPDATE lw_accounts SET token_ct = $1, token_key = $2 WHERE id = $3 AND token_key = $4
