SELECT key_id, value_ct, held_until FROM lw_held WHERE hkey = $1
