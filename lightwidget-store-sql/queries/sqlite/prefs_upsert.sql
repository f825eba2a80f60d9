INSERT INTO lw_preferences (owner, prefs) VALUES (?, ?) ON CONFLICT (owner) DO UPDATE SET prefs = excluded.prefs
