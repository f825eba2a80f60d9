UPDATE lw_outbox SET attempts = attempts + 1, delivered = $1, next_attempt_at = $2, version = version + 1, lease_owner = NULL, lease_until = NULL WHERE id = $3 AND version = $4 AND state = 'pending'
