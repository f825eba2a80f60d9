-- Written once: the keeper whose update resolves it announces the resolution.
UPDATE lw_incidents SET accounts = GREATEST(accounts, $1), updated_at = $2, resolved_at = $3, open_key = NULL WHERE id = $4 AND resolved_at IS NULL
