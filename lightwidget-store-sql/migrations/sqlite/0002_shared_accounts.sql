-- Shared accounts (#17): an account has any number of owners (members), each with their
-- own entitlements; who joined when decides which token events they see (joined_seq: the
-- history position of their joining; 0 = all of it). Existing accounts keep their owner as
-- the only member, with their entitlements, seeing all the history.
CREATE TABLE lw_members (
    account_id TEXT NOT NULL,
    owner TEXT NOT NULL,
    notifications BIGINT NOT NULL,
    joined_at BIGINT NOT NULL,
    joined_seq BIGINT NOT NULL,
    PRIMARY KEY (account_id, owner)
);
CREATE INDEX lw_members_owner ON lw_members (owner, account_id);
INSERT INTO lw_members (account_id, owner, notifications, joined_at, joined_seq)
SELECT a.id, a.owner, a.notifications,
    COALESCE((SELECT MIN(h.at) FROM lw_history h WHERE h.account_id = a.id), a.issued_at), 0
FROM lw_accounts a;

-- Owner-specific history (notices sent to an owner, joins, leaves): NULL = a token event.
ALTER TABLE lw_history ADD COLUMN owner TEXT;

-- The app-scoped Facebook user id (business connections), what Facebook Login's
-- deauthorize and data-deletion callbacks name.
ALTER TABLE lw_accounts ADD COLUMN fb_user_id TEXT;
CREATE INDEX lw_accounts_fb_user ON lw_accounts (fb_user_id);
