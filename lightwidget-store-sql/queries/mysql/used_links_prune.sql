DELETE FROM lw_used_links WHERE used_at < ?
