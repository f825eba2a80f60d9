UPDATE lw_accounts SET version = version + 1, lease_owner = ?, lease_until = ? WHERE id = ?
