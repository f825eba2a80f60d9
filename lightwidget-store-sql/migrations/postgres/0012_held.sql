-- Held values: short-lived secrets a web layer keeps between two requests of one person
-- (a pending choice among Facebook Pages with its Page tokens, a renewal's target), shared
-- by every instance; sealed like tokens. Expired rows are pruned as new ones arrive.
CREATE TABLE lw_held (
    hkey TEXT NOT NULL PRIMARY KEY,
    key_id TEXT NOT NULL,
    value_ct BYTEA NOT NULL,
    held_until BIGINT NOT NULL
);
CREATE INDEX lw_held_until ON lw_held (held_until);
