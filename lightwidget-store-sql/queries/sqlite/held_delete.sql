DELETE FROM lw_held WHERE hkey = ?
