-- Inserts a batch of new accounts in one statement (imports, seeding): the rows as arrays
-- ($1-$24: the columns of insert_account.sql, in its order), each with its owner as its only
-- member, seeing all of its history (joined when last checked, else when issued). One
-- statement is atomic: a duplicate fails the whole batch and writes nothing.
WITH v AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
        $7::bigint[], $8::bytea[], $9::text[], $10::bigint[], $11::bigint[], $12::bigint[],
        $13::text[], $14::text[], $15::text[], $16::bigint[], $17::bigint[], $18::bigint[],
        $19::text[], $20::text[], $21::bigint[], $22::bigint[], $23::bigint[], $24::text[])
    AS v(v_id, v_owner, v_kind, v_ig, v_user, v_page, v_notif, v_ct, v_key, v_issued, v_exp,
        v_dax, v_scopes, v_status, v_reason, v_status_at, v_checked, v_next, v_retry, v_warn,
        v_episode, v_req, v_ver, v_fb)
), accounts AS (
    INSERT INTO lw_accounts (id, owner, kind, ig_user_id, username, page_id, notifications,
        token_ct, token_key, issued_at, expires_at, data_access_expires_at, scopes, status,
        status_reason, status_at, last_checked_at, next_action_at, retry, warnings, episode,
        refresh_requested, version, fb_user_id)
    SELECT v_id, v_owner, v_kind, v_ig, v_user, v_page, v_notif, v_ct, v_key, v_issued, v_exp,
        v_dax, v_scopes, v_status, v_reason, v_status_at, v_checked, v_next, v_retry, v_warn,
        v_episode, v_req, v_ver, v_fb
    FROM v
)
INSERT INTO lw_members (account_id, owner, notifications, joined_at, joined_seq)
SELECT v_id, v_owner, v_notif, COALESCE(v_checked, v_issued), 0 FROM v
