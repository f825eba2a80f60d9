-- Opens an incident unless one of the same app and kind is open (open_key is UNIQUE).
INSERT IGNORE INTO lw_incidents (id, connection, kind, open_key, opened_at, updated_at, resolved_at, accounts, error) VALUES (?, ?, ?, ?, ?, ?, NULL, ?, ?)
