UPDATE lw_accounts SET version = version + 1, lease_owner = ?1, lease_until = ?2 WHERE rowid = ?3
