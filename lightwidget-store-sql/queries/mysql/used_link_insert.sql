INSERT IGNORE INTO lw_used_links (link_id, used_at) VALUES (?, ?)
