-- App-wide incidents (failures that hit many accounts of one app at once): durable, so a
-- restart during one keeps it, and shared by every keeper on the database. `open_key`
-- is `<connection>:<kind>` while the incident is open and NULL once resolved, so at
-- most one incident per app and kind is open (NULLs never conflict in a UNIQUE index).
CREATE TABLE lw_incidents (
    id TEXT PRIMARY KEY,
    connection TEXT NOT NULL,
    kind TEXT NOT NULL,
    open_key TEXT UNIQUE,
    opened_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    resolved_at BIGINT,
    accounts BIGINT NOT NULL,
    error TEXT NOT NULL
);
CREATE INDEX lw_incidents_opened ON lw_incidents (opened_at);
