UPDATE lw_outbox SET state = ?, attempts = attempts + 1, version = version + 1, lease_owner = NULL, lease_until = NULL WHERE id = ? AND version = ? AND state = 'pending'
