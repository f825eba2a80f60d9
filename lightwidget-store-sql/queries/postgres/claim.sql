-- Leases up to $4 due accounts due at $3 to $1 until $2. The locked rows are addressed by ctid (a TID scan) rather
-- than joined back by id (500 primary-key lookups): 2.3-2.5 ms instead of 4.6-7.8 ms of server
-- time at 1M rows. Rows locked by this statement cannot move before it updates them; a row
-- that moved before it was locked fails the ctid recheck and is simply not claimed this time.
UPDATE lw_accounts SET version = version + 1, lease_owner = $1, lease_until = $2 WHERE ctid = ANY(ARRAY(SELECT ctid FROM lw_accounts WHERE next_action_at IS NOT NULL AND next_action_at <= $3 AND (lease_until IS NULL OR lease_until <= $3) ORDER BY next_action_at LIMIT $4 FOR UPDATE SKIP LOCKED)) RETURNING id, owner, kind, ig_user_id, username, page_id, notifications, token_ct, token_key, issued_at, expires_at, data_access_expires_at, scopes, status, status_reason, status_at, last_checked_at, next_action_at, retry, warnings, episode, refresh_requested, version, fb_user_id
