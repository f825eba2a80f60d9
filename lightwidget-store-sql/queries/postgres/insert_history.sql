INSERT INTO lw_history (account_id, at, event) VALUES ($1, $2, $3)
