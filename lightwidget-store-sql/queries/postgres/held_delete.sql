DELETE FROM lw_held WHERE hkey = $1
