SELECT prefs FROM lw_preferences WHERE owner = $1
