SELECT notice, state FROM lw_outbox WHERE account_id = $1 ORDER BY created_at, id
