UPDATE lw_incidents SET accounts = $1, updated_at = $2 WHERE id = $3 AND resolved_at IS NULL AND accounts < $4
