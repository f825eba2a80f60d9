-- Written once: the keeper whose update resolves it announces the resolution.
UPDATE lw_incidents SET accounts = GREATEST(accounts, ?), updated_at = ?, resolved_at = ?, open_key = NULL WHERE id = ? AND resolved_at IS NULL
