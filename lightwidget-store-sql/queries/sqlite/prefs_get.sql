SELECT prefs FROM lw_preferences WHERE owner = ?
