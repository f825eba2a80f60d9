SELECT notice, attempts, delivered, version, created_at, id FROM lw_outbox WHERE id = $1
