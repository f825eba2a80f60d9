-- lightwidget schema (postgres). Timestamps are BIGINT unix milliseconds (UTC) in every dialect.
CREATE TABLE lw_accounts (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    kind TEXT NOT NULL,
    ig_user_id TEXT NOT NULL,
    username TEXT NOT NULL,
    page_id TEXT,
    notifications BIGINT NOT NULL,
    token_ct BYTEA NOT NULL,
    token_key TEXT NOT NULL,
    issued_at BIGINT NOT NULL,
    expires_at BIGINT,
    data_access_expires_at BIGINT,
    scopes TEXT NOT NULL,
    status TEXT NOT NULL,
    status_reason TEXT,
    status_at BIGINT,
    last_checked_at BIGINT,
    next_action_at BIGINT,
    retry TEXT NOT NULL,
    warnings TEXT NOT NULL,
    episode BIGINT NOT NULL,
    refresh_requested BIGINT NOT NULL,
    version BIGINT NOT NULL,
    lease_owner TEXT,
    lease_until BIGINT,
    UNIQUE (kind, ig_user_id)
);
CREATE INDEX lw_accounts_due ON lw_accounts (next_action_at);
CREATE INDEX lw_accounts_owner ON lw_accounts (owner);
CREATE INDEX lw_accounts_status ON lw_accounts (status);

CREATE TABLE lw_history (
    seq BIGSERIAL PRIMARY KEY,
    account_id TEXT NOT NULL,
    at BIGINT NOT NULL,
    event TEXT NOT NULL
);
CREATE INDEX lw_history_account ON lw_history (account_id, seq);

CREATE TABLE lw_outbox (
    id TEXT PRIMARY KEY,
    dedupe_key TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    notice TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    delivered TEXT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    version BIGINT NOT NULL,
    lease_owner TEXT,
    lease_until BIGINT
);
CREATE INDEX lw_outbox_due ON lw_outbox (state, next_attempt_at);
CREATE INDEX lw_outbox_account ON lw_outbox (account_id, created_at);

CREATE TABLE lw_preferences (
    owner TEXT PRIMARY KEY,
    prefs TEXT NOT NULL
);

CREATE TABLE lw_sweeps (
    worker TEXT PRIMARY KEY,
    at BIGINT NOT NULL
);
