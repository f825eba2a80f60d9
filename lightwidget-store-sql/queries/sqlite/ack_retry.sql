UPDATE lw_outbox SET attempts = attempts + 1, delivered = ?, next_attempt_at = ?, version = version + 1, lease_owner = NULL, lease_until = NULL WHERE id = ? AND version = ? AND state = 'pending'
