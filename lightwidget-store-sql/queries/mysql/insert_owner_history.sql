INSERT INTO lw_history (account_id, at, event, owner) VALUES (?, ?, ?, ?)
