INSERT INTO lw_used_links (link_id, used_at) VALUES (?, ?) ON CONFLICT (link_id) DO NOTHING
