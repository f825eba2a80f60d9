INSERT IGNORE INTO lw_outbox (id, dedupe_key, account_id, created_at, notice, state, attempts, delivered, next_attempt_at, version) VALUES (?, ?, ?, ?, ?, 'pending', 0, '[]', ?, 0)
