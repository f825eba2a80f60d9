SELECT notice, state FROM lw_outbox WHERE account_id = ? ORDER BY created_at, id
