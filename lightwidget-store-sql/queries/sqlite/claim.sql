-- The dedicated connection's claim: due, unleased rows, earliest first, with their rowid
-- (leased by rowid) and the version they will have once leased.
SELECT rowid, id, owner, kind, ig_user_id, username, page_id, notifications, token_ct, token_key, issued_at, expires_at, data_access_expires_at, scopes, status, status_reason, status_at, last_checked_at, next_action_at, retry, warnings, episode, refresh_requested, version + 1, fb_user_id FROM lw_accounts WHERE next_action_at IS NOT NULL AND next_action_at <= ?1 AND (lease_until IS NULL OR lease_until <= ?1) ORDER BY next_action_at LIMIT ?2
