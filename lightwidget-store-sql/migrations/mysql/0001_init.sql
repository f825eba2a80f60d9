-- lightwidget schema (mysql). Timestamps are BIGINT unix milliseconds (UTC) in every dialect.
CREATE TABLE lw_accounts (
    id VARCHAR(191) PRIMARY KEY,
    owner VARCHAR(191) NOT NULL,
    kind VARCHAR(32) NOT NULL,
    ig_user_id VARCHAR(191) NOT NULL,
    username TEXT NOT NULL,
    page_id TEXT,
    notifications BIGINT NOT NULL,
    token_ct BLOB NOT NULL,
    token_key VARCHAR(32) NOT NULL,
    issued_at BIGINT NOT NULL,
    expires_at BIGINT,
    data_access_expires_at BIGINT,
    scopes TEXT NOT NULL,
    status VARCHAR(32) NOT NULL,
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
    seq BIGINT AUTO_INCREMENT PRIMARY KEY,
    account_id VARCHAR(191) NOT NULL,
    at BIGINT NOT NULL,
    event TEXT NOT NULL
);
CREATE INDEX lw_history_account ON lw_history (account_id, seq);

CREATE TABLE lw_outbox (
    id VARCHAR(191) PRIMARY KEY,
    dedupe_key VARCHAR(191) NOT NULL UNIQUE,
    account_id VARCHAR(191) NOT NULL,
    created_at BIGINT NOT NULL,
    notice TEXT NOT NULL,
    state VARCHAR(32) NOT NULL,
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
    owner VARCHAR(191) PRIMARY KEY,
    prefs TEXT NOT NULL
);

CREATE TABLE lw_sweeps (
    worker VARCHAR(191) PRIMARY KEY,
    at BIGINT NOT NULL
);
