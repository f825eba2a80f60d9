SELECT id, connection, kind, opened_at, updated_at, resolved_at, accounts, error FROM lw_incidents WHERE resolved_at IS NULL ORDER BY opened_at DESC, id DESC
