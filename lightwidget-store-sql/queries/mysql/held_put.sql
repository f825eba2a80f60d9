INSERT INTO lw_held (hkey, key_id, value_ct, held_until) VALUES (?, ?, ?, ?) ON DUPLICATE KEY UPDATE key_id = VALUES(key_id), value_ct = VALUES(value_ct), held_until = VALUES(held_until)
