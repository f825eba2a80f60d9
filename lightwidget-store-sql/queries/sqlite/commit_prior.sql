SELECT rowid, version, owner, kind, ig_user_id, username, page_id, notifications, status, status_reason, status_at, fb_user_id FROM lw_accounts WHERE id = ?1
