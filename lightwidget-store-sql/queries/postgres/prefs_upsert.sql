INSERT INTO lw_preferences (owner, prefs) VALUES ($1, $2) ON CONFLICT (owner) DO UPDATE SET prefs = excluded.prefs
