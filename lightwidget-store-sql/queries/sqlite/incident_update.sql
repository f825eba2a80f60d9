UPDATE lw_incidents SET accounts = ?, updated_at = ? WHERE id = ? AND resolved_at IS NULL AND accounts < ?
