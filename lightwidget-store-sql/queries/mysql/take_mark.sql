UPDATE lw_outbox SET version = version + 1, lease_owner = ?, lease_until = ? WHERE id = ?
