#!/usr/bin/env bash
# What a refresh costs PostgreSQL under today's schema and under the levers left to pull,
# measured on the server alone with the store's own statement shapes (no keeper, no Graph):
# the same claim (500 due rows, FOR UPDATE SKIP LOCKED, leased by UPDATE … RETURNING) and
# the same batched commit (every column written from arrays, fenced by version, one history
# row per account) in cycles, each claim and each commit its own transaction. See
# BENCHMARKS.md, "PostgreSQL: the levers, measured on the server".
#
#   scripts/pg_levers.sh                  # LIGHTWIDGET_TEST_POSTGRES_URL or the local default
#
# env: LW_LEVERS_ACCOUNTS (100000) accounts, 20k of them due, scattered through the table;
#      LW_LEVERS_CYCLES (36) claim → commit cycles per variant;
#      LW_LEVERS_ROUNDS (3) rounds, the variants alternating within each;
#      LW_LEVERS_KEEP=1 keeps the scratch database (lw_levers_<pid>) for EXPLAIN.
#
# Variants:
#   today       lw_accounts as migrated (fillfactor 70, leases and next_action_at in the row,
#               indexes: id, (kind, ig_user_id), next_action_at, partial fb_user_id)
#   side_table  next_action_at, the lease and the fencing version in a narrow table of their
#               own (side_schedule, indexed by next_action_at); the wide row is not indexed by
#               anything a refresh changes, so its commit can be a HOT update, and a claim
#               writes only the narrow row
#   ff50        today's schema at fillfactor 50 (room on every page for claims to be HOT)
#   floor       today's schema and commit, the claim only reading the due rows (no lock, no
#               lease written): what a refresh costs the server at the least, since its
#               result is written (one row update, one history row) and its account found
#               whatever the lease scheme; not a design (two keepers could take the same row)
#
# Prints per refresh: server milliseconds (wall time of the statements, the client is psql
# on the same machine), WAL records, WAL bytes, full-page images, the share of HOT updates.
set -euo pipefail
URL="${LIGHTWIDGET_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"
N="${LW_LEVERS_ACCOUNTS:-100000}"
CYCLES="${LW_LEVERS_CYCLES:-36}"
ROUNDS="${LW_LEVERS_ROUNDS:-3}"
DB="lw_levers_$$"
psql_() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }
base="${URL%/*}"
psql_ "$URL" -c "CREATE DATABASE $DB" >/dev/null
[[ -n "${LW_LEVERS_KEEP:-}" ]] || trap 'psql_ "$URL" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null' EXIT
DBURL="$base/$DB"

# The wide row: the columns of lw_accounts, filled like the benches' accounts.
cols="owner TEXT NOT NULL, kind TEXT COLLATE \"C\" NOT NULL, ig_user_id TEXT COLLATE \"C\" NOT NULL,
  username TEXT NOT NULL, page_id TEXT, notifications BIGINT NOT NULL, token_ct BYTEA NOT NULL,
  token_key TEXT NOT NULL, issued_at BIGINT NOT NULL, expires_at BIGINT,
  data_access_expires_at BIGINT, scopes TEXT NOT NULL, status TEXT NOT NULL,
  status_reason TEXT, status_at BIGINT, last_checked_at BIGINT, retry TEXT NOT NULL,
  warnings TEXT NOT NULL, episode BIGINT NOT NULL, refresh_requested BIGINT NOT NULL,
  fb_user_id TEXT"
fill="'o' || (i % 1000), 'consumer', 'u' || lpad(i::text, 9, '0'), 'user', NULL, 3,
  decode(repeat(md5(i::text), 4), 'hex'), 'b', 1700000000000, 1705000000000, NULL,
  '[\"instagram_business_basic\"]', 'active', NULL, NULL, NULL, '{\"kind\":\"none\"}', '[]', 0, 0, NULL"
# 20k due now (scattered), the rest over the next 30 days; "now" is 2e12 ms.
next="CASE WHEN (i::bigint * 7919) % $N < 20000 THEN 2000000000000 - (i % 600) * 1000
  ELSE 2000000000000 + ((i::bigint * 7919) % (30 * 86400)) * 1000 END"

psql_ "$DBURL" <<SQL
CREATE TABLE today (id TEXT COLLATE "C" PRIMARY KEY, $cols, next_action_at BIGINT,
  version BIGINT NOT NULL, lease_owner TEXT, lease_until BIGINT, UNIQUE (kind, ig_user_id))
  WITH (fillfactor = 70);
CREATE INDEX today_due ON today (next_action_at);
CREATE INDEX today_fb ON today (fb_user_id) WHERE fb_user_id IS NOT NULL;
INSERT INTO today SELECT lpad(i::text, 36, '0'), $fill, $next, 0, NULL, NULL
  FROM generate_series(1, $N) i;
CREATE TABLE today_history (seq BIGSERIAL, account_id TEXT COLLATE "C" NOT NULL, at BIGINT NOT NULL,
  event TEXT NOT NULL, owner TEXT, PRIMARY KEY (account_id, seq));

CREATE TABLE floor (LIKE today INCLUDING ALL) WITH (fillfactor = 70);
INSERT INTO floor SELECT * FROM today;
CREATE TABLE floor_history (LIKE today_history INCLUDING ALL);

CREATE TABLE ff50 (LIKE today INCLUDING ALL) WITH (fillfactor = 50);
INSERT INTO ff50 SELECT * FROM today;
CREATE TABLE ff50_history (LIKE today_history INCLUDING ALL);

CREATE TABLE side (id TEXT COLLATE "C" PRIMARY KEY, $cols, UNIQUE (kind, ig_user_id))
  WITH (fillfactor = 70);
CREATE INDEX side_fb ON side (fb_user_id) WHERE fb_user_id IS NOT NULL;
INSERT INTO side SELECT id, owner, kind, ig_user_id, username, page_id, notifications, token_ct,
  token_key, issued_at, expires_at, data_access_expires_at, scopes, status, status_reason,
  status_at, last_checked_at, retry, warnings, episode, refresh_requested, fb_user_id FROM today;
CREATE TABLE side_schedule (account_id TEXT COLLATE "C" PRIMARY KEY, next_action_at BIGINT,
  version BIGINT NOT NULL, lease_owner TEXT, lease_until BIGINT) WITH (fillfactor = 70);
CREATE INDEX side_due ON side_schedule (next_action_at);
INSERT INTO side_schedule SELECT id, next_action_at, 0, NULL, NULL FROM today;
CREATE TABLE side_history (LIKE today_history INCLUDING ALL);
VACUUM ANALYZE;

-- One claim → commit cycle of 500 on the variant's tables; each statement commits.
-- The commit writes every column from arrays (as commit_batch.sql does), moves
-- next_action_at 12 h on, and adds one history row per account.
CREATE PROCEDURE cycle_today(t TEXT, now_ms BIGINT) LANGUAGE plpgsql AS \$\$
DECLARE ids TEXT[]; vers BIGINT[]; cts BYTEA[]; nexts BIGINT[];
BEGIN
  EXECUTE format('WITH c AS (UPDATE %1\$I SET version = version + 1, lease_owner = ''bench'',
      lease_until = \$1 + 600000 WHERE ctid = ANY(ARRAY(SELECT ctid FROM %1\$I
      WHERE next_action_at IS NOT NULL AND next_action_at <= \$1
      AND (lease_until IS NULL OR lease_until <= \$1) ORDER BY next_action_at LIMIT 500
      FOR UPDATE SKIP LOCKED)) RETURNING *)
    SELECT array_agg(id), array_agg(version), array_agg(token_ct), array_agg(next_action_at) FROM c', t)
    INTO ids, vers, cts, nexts USING now_ms;
  COMMIT;
  EXECUTE format('WITH v AS (SELECT * FROM unnest(\$1::text[], \$2::bigint[], \$3::bytea[])
      AS v(v_id, v_ver, v_ct)),
    up AS (UPDATE %1\$I a SET token_ct = v.v_ct, token_key = ''b'', owner = a.owner,
      kind = a.kind, ig_user_id = a.ig_user_id, username = a.username, page_id = a.page_id,
      notifications = a.notifications, fb_user_id = a.fb_user_id, issued_at = \$4,
      expires_at = \$4 + 5184000000, data_access_expires_at = NULL, scopes = a.scopes,
      status = ''active'', status_reason = NULL, status_at = NULL, last_checked_at = \$4,
      next_action_at = \$4 + 43200000, retry = a.retry, warnings = a.warnings,
      episode = a.episode, refresh_requested = 0, version = a.version + 1, lease_owner = NULL,
      lease_until = NULL FROM v WHERE a.id = v.v_id AND a.version = v.v_ver RETURNING a.id)
    INSERT INTO %2\$I (account_id, at, event) SELECT id, \$4, ''{"kind":"refreshed"}'' FROM up',
    t, t || '_history') USING ids, vers, cts, now_ms;
  COMMIT;
END \$\$;

-- The least a cycle can be: the due rows read (the columns a claim returns, no lock, no
-- lease), then today's commit.
CREATE PROCEDURE cycle_floor(now_ms BIGINT) LANGUAGE plpgsql AS \$\$
DECLARE ids TEXT[]; vers BIGINT[]; cts BYTEA[]; nexts BIGINT[];
BEGIN
  WITH c AS (SELECT * FROM floor WHERE next_action_at IS NOT NULL AND next_action_at <= now_ms
      ORDER BY next_action_at LIMIT 500)
    SELECT array_agg(id), array_agg(version), array_agg(token_ct), array_agg(next_action_at)
    INTO ids, vers, cts, nexts FROM c;
  COMMIT;
  WITH v AS (SELECT * FROM unnest(ids, vers, cts) AS v(v_id, v_ver, v_ct)),
    up AS (UPDATE floor a SET token_ct = v.v_ct, token_key = 'b', owner = a.owner,
      kind = a.kind, ig_user_id = a.ig_user_id, username = a.username, page_id = a.page_id,
      notifications = a.notifications, fb_user_id = a.fb_user_id, issued_at = now_ms,
      expires_at = now_ms + 5184000000, data_access_expires_at = NULL, scopes = a.scopes,
      status = 'active', status_reason = NULL, status_at = NULL, last_checked_at = now_ms,
      next_action_at = now_ms + 43200000, retry = a.retry, warnings = a.warnings,
      episode = a.episode, refresh_requested = 0, version = a.version + 1, lease_owner = NULL,
      lease_until = NULL FROM v WHERE a.id = v.v_id AND a.version = v.v_ver RETURNING a.id)
    INSERT INTO floor_history (account_id, at, event) SELECT id, now_ms, '{"kind":"refreshed"}' FROM up;
  COMMIT;
END \$\$;

CREATE PROCEDURE cycle_side(now_ms BIGINT) LANGUAGE plpgsql AS \$\$
DECLARE ids TEXT[]; vers BIGINT[]; cts BYTEA[]; nexts BIGINT[];
BEGIN
  WITH c AS (UPDATE side_schedule SET version = version + 1, lease_owner = 'bench',
      lease_until = now_ms + 600000 WHERE ctid = ANY(ARRAY(SELECT ctid FROM side_schedule
      WHERE next_action_at IS NOT NULL AND next_action_at <= now_ms
      AND (lease_until IS NULL OR lease_until <= now_ms) ORDER BY next_action_at LIMIT 500
      FOR UPDATE SKIP LOCKED)) RETURNING account_id, version, next_action_at)
    SELECT array_agg(a.id), array_agg(c.version), array_agg(a.token_ct), array_agg(c.next_action_at)
    INTO ids, vers, cts, nexts FROM c JOIN side a ON a.id = c.account_id;
  COMMIT;
  WITH v AS (SELECT * FROM unnest(ids, vers, cts) AS v(v_id, v_ver, v_ct)),
    s AS (UPDATE side_schedule s SET next_action_at = now_ms + 43200000,
      version = s.version + 1, lease_owner = NULL, lease_until = NULL
      FROM v WHERE s.account_id = v.v_id AND s.version = v.v_ver RETURNING s.account_id, v.v_ct),
    up AS (UPDATE side a SET token_ct = s.v_ct, token_key = 'b', owner = a.owner,
      kind = a.kind, ig_user_id = a.ig_user_id, username = a.username, page_id = a.page_id,
      notifications = a.notifications, fb_user_id = a.fb_user_id, issued_at = now_ms,
      expires_at = now_ms + 5184000000, data_access_expires_at = NULL, scopes = a.scopes,
      status = 'active', status_reason = NULL, status_at = NULL, last_checked_at = now_ms,
      retry = a.retry, warnings = a.warnings, episode = a.episode, refresh_requested = 0
      FROM s WHERE a.id = s.account_id RETURNING a.id)
    INSERT INTO side_history (account_id, at, event) SELECT id, now_ms, '{"kind":"refreshed"}' FROM up;
  COMMIT;
END \$\$;
SQL

# Server counters around one variant's cycles: ms, WAL records/bytes/FPI, HOT share.
run() {
  local variant="$1" call tables
  case "$variant" in
    today) call="CALL cycle_today('today', 2000000000000 + \$r * 1000)"; tables="'today'" ;;
    ff50) call="CALL cycle_today('ff50', 2000000000000 + \$r * 1000)"; tables="'ff50'" ;;
    side_table) call="CALL cycle_side(2000000000000 + \$r * 1000)"; tables="'side', 'side_schedule'" ;;
    floor) call="CALL cycle_floor(2000000000000 + \$r * 1000)"; tables="'floor'" ;;
  esac
  psql_ "$DBURL" -At <<SQL
SELECT pg_stat_force_next_flush();
CREATE TEMP TABLE before AS SELECT wal_records, wal_bytes, wal_fpi FROM pg_stat_wal;
CREATE TEMP TABLE hot_before AS SELECT sum(n_tup_upd) AS upd, sum(n_tup_hot_upd) AS hot
  FROM pg_stat_user_tables WHERE relname IN ($tables);
CREATE TEMP TABLE t0 AS SELECT clock_timestamp() AS t;
DO \$\$ BEGIN FOR r IN 1..$CYCLES LOOP
  ${call//\$r/r};
END LOOP; END \$\$;
CREATE TEMP TABLE t1 AS SELECT clock_timestamp() AS t;
SELECT pg_stat_force_next_flush();
SELECT pg_sleep(0.6);
SELECT format('| %s | %s | %s | %s | %s | %s |', '$variant',
  round((extract(epoch FROM (SELECT t FROM t1) - (SELECT t FROM t0)) * 1000 / ($CYCLES * 500))::numeric, 4),
  round((w.wal_records - b.wal_records)::numeric / ($CYCLES * 500), 1),
  round((w.wal_bytes - b.wal_bytes)::numeric / ($CYCLES * 500)),
  round((w.wal_fpi - b.wal_fpi)::numeric / ($CYCLES * 500), 2),
  round((h.hot - hb.hot)::numeric / nullif(h.upd - hb.upd, 0), 2))
FROM pg_stat_wal w, before b, hot_before hb,
  (SELECT sum(n_tup_upd) AS upd, sum(n_tup_hot_upd) AS hot FROM pg_stat_user_tables
   WHERE relname IN ($tables)) h;
SQL
}

echo "PostgreSQL $(psql_ "$DBURL" -Atc 'SHOW server_version'), $N accounts (20k due, scattered), $CYCLES claim → commit cycles of 500 per variant and round"
echo
echo "| variant | server ms per refresh | WAL records | WAL bytes | full-page images | HOT share of updates |"
echo "|---|---|---|---|---|---|"
for round in $(seq 1 "$ROUNDS"); do
  for v in today side_table ff50 floor; do
    run "$v" | grep '^|' | sed "s/^| $v /| $v (round $round) /"
  done
  # The next round claims the same accounts again: what this round committed (12 h on
  # from a "now" within its first 36 s) falls due again.
  for t in today ff50 side_schedule floor; do
    psql_ "$DBURL" -c "UPDATE $t SET next_action_at = 2000000000000 - 1000
      WHERE next_action_at BETWEEN 2000000000000 + 43200000 AND 2000000000000 + 43300000" >/dev/null
  done
  psql_ "$DBURL" -c "VACUUM" >/dev/null
done
