INSERT INTO lw_history (account_id, at, event, owner) VALUES ($1, $2, $3, $4)
