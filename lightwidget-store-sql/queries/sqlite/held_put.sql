INSERT INTO lw_held (hkey, key_id, value_ct, held_until) VALUES (?, ?, ?, ?) ON CONFLICT (hkey) DO UPDATE SET key_id = excluded.key_id, value_ct = excluded.value_ct, held_until = excluded.held_until
