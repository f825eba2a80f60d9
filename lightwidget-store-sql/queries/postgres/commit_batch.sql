-- The batched, fenced commit of a chunk of accounts: rows whose version moved on (or that
-- do not exist) are not updated and not returned. A NULL ciphertext keeps the stored token.
-- Every column is written: PostgreSQL compares old and new values, so naming an unchanged
-- indexed column costs nothing. The VALUES list holds typed rows, generated per chunk size in place of the placeholder.
WITH v(v_id, v_owner, v_kind, v_ig, v_user, v_page, v_notif, v_ct, v_key, v_issued, v_exp, v_dax, v_scopes, v_status, v_reason, v_status_at, v_checked, v_next, v_retry, v_warn, v_episode, v_req, v_ver) AS (VALUES {values})
UPDATE lw_accounts SET token_ct = COALESCE(v.v_ct, lw_accounts.token_ct), token_key = COALESCE(v.v_key, lw_accounts.token_key),
    owner = v.v_owner, kind = v.v_kind, ig_user_id = v.v_ig, username = v.v_user, page_id = v.v_page, notifications = v.v_notif,
    status = v.v_status, status_reason = v.v_reason, status_at = v.v_status_at, issued_at = v.v_issued, expires_at = v.v_exp,
    data_access_expires_at = v.v_dax, scopes = v.v_scopes, last_checked_at = v.v_checked, next_action_at = v.v_next,
    retry = v.v_retry, warnings = v.v_warn, episode = v.v_episode, refresh_requested = v.v_req,
    version = lw_accounts.version + 1, lease_owner = NULL, lease_until = NULL
FROM v WHERE lw_accounts.id = v.v_id AND lw_accounts.version = v.v_ver
RETURNING lw_accounts.id
