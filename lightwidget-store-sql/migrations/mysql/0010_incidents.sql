-- App-wide incidents (failures that hit many accounts of one app at once): durable, so a
-- restart during one keeps it, and shared by every keeper on the database. `open_key`
-- is `<connection>:<kind>` while the incident is open and NULL once resolved, so at
-- most one incident per app and kind is open (NULLs never conflict in a UNIQUE index).
CREATE TABLE IF NOT EXISTS lw_incidents (
    id VARCHAR(36) PRIMARY KEY,
    connection VARCHAR(32) NOT NULL,
    kind VARCHAR(32) NOT NULL,
    open_key VARCHAR(80) UNIQUE,
    opened_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    resolved_at BIGINT,
    accounts BIGINT NOT NULL,
    error TEXT NOT NULL,
    KEY lw_incidents_opened (opened_at)
);
