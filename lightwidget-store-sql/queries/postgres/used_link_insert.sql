INSERT INTO lw_used_links (link_id, used_at) VALUES ($1, $2) ON CONFLICT (link_id) DO NOTHING
