UPDATE lw_accounts SET lease_owner = NULL, lease_until = NULL WHERE id = ? AND version = ?
