UPDATE lw_accounts SET token_ct = ?, token_key = ? WHERE id = ? AND token_key = ?
