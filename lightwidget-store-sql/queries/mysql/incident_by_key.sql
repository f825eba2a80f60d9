SELECT id, connection, kind, opened_at, updated_at, resolved_at, accounts, error FROM lw_incidents WHERE open_key = ?
