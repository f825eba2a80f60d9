SELECT id, connection, kind, opened_at, updated_at, resolved_at, accounts, error FROM lw_incidents ORDER BY opened_at DESC, id DESC LIMIT ?
