-- The batched, fenced commit of a run of distinct accounts, in one statement: the rows as
-- arrays ($1-$23, ACCOUNT_COLS order, the version being the expected one), the history of
-- the batch ($24-$26: account, at, event), its notices ($27-$31: id, dedupe key, account,
-- created at, body), enqueued as given (the keeper made one copy per owner), and the new
-- Facebook user ids ($32; NULL keeps the stored one). A row whose version moved on (or
-- that does not exist) is not updated, and its history and notices are not written. A
-- NULL ciphertext keeps the stored token. Every column is written: PostgreSQL compares old and new values, so naming an
-- unchanged indexed column costs nothing. Returns only the rows not written, with whether
-- the account exists (Conflict) or not (UnknownAccount): nothing in the usual case.
WITH v AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
        $7::bigint[], $8::bytea[], $9::text[], $10::bigint[], $11::bigint[], $12::bigint[],
        $13::text[], $14::text[], $15::text[], $16::bigint[], $17::bigint[], $18::bigint[],
        $19::text[], $20::text[], $21::bigint[], $22::bigint[], $23::bigint[], $32::text[])
    AS v(v_id, v_owner, v_kind, v_ig, v_user, v_page, v_notif, v_ct, v_key, v_issued, v_exp,
        v_dax, v_scopes, v_status, v_reason, v_status_at, v_checked, v_next, v_retry, v_warn,
        v_episode, v_req, v_ver, v_fb)
), up AS (
    UPDATE lw_accounts SET token_ct = COALESCE(v.v_ct, lw_accounts.token_ct),
        token_key = COALESCE(v.v_key, lw_accounts.token_key), owner = v.v_owner, kind = v.v_kind,
        ig_user_id = v.v_ig, username = v.v_user, page_id = v.v_page, notifications = v.v_notif,
        fb_user_id = COALESCE(v.v_fb, lw_accounts.fb_user_id),
        status = v.v_status, status_reason = v.v_reason, status_at = v.v_status_at,
        issued_at = v.v_issued, expires_at = v.v_exp, data_access_expires_at = v.v_dax,
        scopes = v.v_scopes, last_checked_at = v.v_checked, next_action_at = v.v_next,
        retry = v.v_retry, warnings = v.v_warn, episode = v.v_episode,
        refresh_requested = v.v_req, version = lw_accounts.version + 1, lease_owner = NULL,
        lease_until = NULL
    FROM v WHERE lw_accounts.id = v.v_id AND lw_accounts.version = v.v_ver
    RETURNING lw_accounts.id
), history AS (
    INSERT INTO lw_history (account_id, at, event)
    SELECT h.account_id, h.at, h.event
    FROM unnest($24::text[], $25::bigint[], $26::text[]) WITH ORDINALITY AS h(account_id, at, event, n)
    WHERE h.account_id IN (SELECT id FROM up) ORDER BY h.n
), notices AS (
    INSERT INTO lw_outbox (id, dedupe_key, account_id, created_at, notice, state, attempts,
        delivered, next_attempt_at, version)
    SELECT o.id, o.dedupe_key, o.account_id, o.created_at, o.notice, 'pending', 0, '[]',
        o.created_at, 0
    FROM unnest($27::text[], $28::text[], $29::text[], $30::bigint[], $31::text[]) WITH ORDINALITY
        AS o(id, dedupe_key, account_id, created_at, notice, n)
    WHERE o.account_id IN (SELECT id FROM up) ORDER BY o.n
    ON CONFLICT (dedupe_key) DO NOTHING
)
SELECT v.v_id, EXISTS (SELECT 1 FROM lw_accounts a WHERE a.id = v.v_id)
FROM v WHERE v.v_id NOT IN (SELECT id FROM up)
