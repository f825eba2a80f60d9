UPDATE lw_outbox SET state = $1, attempts = attempts + 1, version = version + 1, lease_owner = NULL, lease_until = NULL WHERE id = $2 AND version = $3 AND state = 'pending'
