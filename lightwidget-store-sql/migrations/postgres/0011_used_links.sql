-- Single-use links (one-click unsubscribe) already used, and when: a used link stays used
-- across restarts and keepers; rows used before a cut-off are pruned.
CREATE TABLE lw_used_links (
    link_id TEXT NOT NULL PRIMARY KEY,
    used_at BIGINT NOT NULL
);
CREATE INDEX lw_used_links_used_at ON lw_used_links (used_at);
