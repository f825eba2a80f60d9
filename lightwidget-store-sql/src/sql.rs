//! SQL text per dialect. Written once with `?` placeholders; PostgreSQL's `$n` are
//! generated at startup.

use std::sync::Arc;

/// The database behind the store.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Dialect {
    /// SQLite (embedded).
    Sqlite,
    /// PostgreSQL.
    Postgres,
    /// MySQL 8 / MariaDB ≥ 10.6.
    Mysql,
}

impl Dialect {
    /// Picks the dialect from a database URL.
    pub fn from_url(url: &str) -> Option<Self> {
        let scheme = url.split(':').next()?;
        match scheme {
            "sqlite" => Some(Self::Sqlite),
            "postgres" | "postgresql" => Some(Self::Postgres),
            "mysql" | "mariadb" => Some(Self::Mysql),
            _ => None,
        }
    }
}

pub(crate) const ACCOUNT_COLS: &str = "id, owner, kind, ig_user_id, username, page_id, notifications, \
    token_ct, token_key, issued_at, expires_at, data_access_expires_at, scopes, status, status_reason, \
    status_at, last_checked_at, next_action_at, retry, warnings, episode, refresh_requested, version";

const OUTBOX_COLS: &str = "notice, attempts, delivered, version";

/// Prepared SQL strings for one dialect.
pub(crate) struct Sql {
    pub insert_account: Arc<str>,
    pub get: Arc<str>,
    pub delete_account: Arc<str>,
    pub delete_history: Arc<str>,
    pub delete_outbox: Arc<str>,
    pub find: Arc<str>,
    pub list_by_owner: Arc<str>,
    pub update_account: Arc<str>,
    pub claim: Arc<str>,
    /// MySQL only: the SELECT ... FOR UPDATE SKIP LOCKED half of a claim.
    pub claim_select: Arc<str>,
    pub claim_mark: Arc<str>,
    pub commit_state: Arc<str>,
    pub commit_state_token: Arc<str>,
    pub exists: Arc<str>,
    pub insert_history: Arc<str>,
    pub insert_notice: Arc<str>,
    pub release: Arc<str>,
    pub extend_lease: Arc<str>,
    pub history: Arc<str>,
    pub history_before: Arc<str>,
    pub take_outbox: Arc<str>,
    pub take_select: Arc<str>,
    pub take_mark: Arc<str>,
    pub outbox_get: Arc<str>,
    pub ack_final: Arc<str>,
    pub ack_retry: Arc<str>,
    pub notices: Arc<str>,
    pub prefs_get: Arc<str>,
    pub prefs_upsert: Arc<str>,
    pub sweep_upsert: Arc<str>,
    pub last_sweep: Arc<str>,
    pub counts: Arc<str>,
    pub stale_keys: Arc<str>,
    pub rewrite_token: Arc<str>,
    /// `commit_batch[k]` commits 2^k rows (PostgreSQL; empty for MySQL, which commits row
    /// by row, and SQLite, which commits on its dedicated connection).
    pub commit_batch: Vec<Arc<str>>,
    /// `history_batch[k]` appends 2^k history rows.
    pub history_batch: Vec<Arc<str>>,
}

/// Largest batch statement: 2^8 = 256 rows (≤ 5,888 parameters, far below SQLite's
/// 32,766 and PostgreSQL's 65,535).
pub(crate) const MAX_ROWS_LOG2: usize = 8;

/// Columns of one row of the batched commit, with their PostgreSQL types (a `VALUES`
/// list of untyped parameters would otherwise resolve to `text`): `ACCOUNT_COLS` in
/// order, the version being the expected one.
const BATCH_COLS: [(&str, &str); 23] = [
    ("v_id", "text"),
    ("v_owner", "text"),
    ("v_kind", "text"),
    ("v_ig", "text"),
    ("v_user", "text"),
    ("v_page", "text"),
    ("v_notif", "bigint"),
    ("v_ct", "bytea"),
    ("v_key", "text"),
    ("v_issued", "bigint"),
    ("v_exp", "bigint"),
    ("v_dax", "bigint"),
    ("v_scopes", "text"),
    ("v_status", "text"),
    ("v_reason", "text"),
    ("v_status_at", "bigint"),
    ("v_checked", "bigint"),
    ("v_next", "bigint"),
    ("v_retry", "text"),
    ("v_warn", "text"),
    ("v_episode", "bigint"),
    ("v_req", "bigint"),
    ("v_ver", "bigint"),
];

/// A `VALUES` list of `rows` rows of `cols` (typed for PostgreSQL).
fn values(d: Dialect, cols: &[(&str, &str)], rows: usize) -> String {
    let row = cols
        .iter()
        .map(|(_, ty)| match d {
            Dialect::Postgres => format!("?::{ty}"),
            _ => "?".to_owned(),
        })
        .collect::<Vec<_>>()
        .join(", ");
    let mut out = String::with_capacity(rows * (row.len() + 4));
    for i in 0..rows {
        if i > 0 {
            out.push_str(", ");
        }
        out.push('(');
        out.push_str(&row);
        out.push(')');
    }
    out
}

/// The batched, fenced commit of `rows` accounts in one statement (PostgreSQL:
/// `UPDATE … FROM` a `VALUES` list). Rows whose version moved on (or that do not exist)
/// are not updated and not returned. A NULL ciphertext keeps the stored token. Every
/// column is written: PostgreSQL compares old and new values, so naming an unchanged
/// indexed column costs nothing, and knowing what changed would need a read first.
fn commit_batch(d: Dialect, rows: usize) -> String {
    let names = BATCH_COLS
        .iter()
        .map(|(n, _)| *n)
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "WITH v({names}) AS (VALUES {}) \
         UPDATE lw_accounts SET token_ct = COALESCE(v.v_ct, lw_accounts.token_ct), \
         token_key = COALESCE(v.v_key, lw_accounts.token_key), \
         owner = v.v_owner, kind = v.v_kind, ig_user_id = v.v_ig, username = v.v_user, \
         page_id = v.v_page, notifications = v.v_notif, \
         status = v.v_status, status_reason = v.v_reason, status_at = v.v_status_at, \
         issued_at = v.v_issued, expires_at = v.v_exp, data_access_expires_at = v.v_dax, \
         scopes = v.v_scopes, last_checked_at = v.v_checked, next_action_at = v.v_next, \
         retry = v.v_retry, warnings = v.v_warn, episode = v.v_episode, \
         refresh_requested = v.v_req, version = lw_accounts.version + 1, lease_owner = NULL, \
         lease_until = NULL \
         FROM v WHERE lw_accounts.id = v.v_id AND lw_accounts.version = v.v_ver \
         RETURNING lw_accounts.id",
        values(d, &BATCH_COLS, rows),
    )
}

/// History rows appended in one statement, in order.
fn history_batch(d: Dialect, rows: usize) -> String {
    format!(
        "INSERT INTO lw_history (account_id, at, event) VALUES {}",
        values(d, &[("a", "text"), ("b", "bigint"), ("c", "text")], rows)
    )
}

fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut n = 0;
    for c in sql.chars() {
        if c == '?' {
            n += 1;
            out.push('$');
            out.push_str(&n.to_string());
        } else {
            out.push(c);
        }
    }
    out
}

impl Sql {
    pub fn new(d: Dialect) -> Self {
        let p = |s: String| -> Arc<str> {
            match d {
                Dialect::Postgres => numbered(&s).into(),
                _ => s.into(),
            }
        };
        let due = "next_action_at IS NOT NULL AND next_action_at <= ? AND (lease_until IS NULL OR lease_until <= ?)";
        // SQLite claims on its dedicated connection (`lite`), MySQL with `claim_select`
        // + `claim_mark`.
        let claim = match d {
            // The locked rows are addressed by ctid (a TID scan) rather than joined back by
            // id (500 primary-key lookups): 2.3-2.5 ms instead of 4.6-7.8 ms of server time
            // at 1M rows. Rows locked by this statement cannot move before it updates them;
            // a row that moved before it was locked fails the ctid recheck and is simply not
            // claimed this time.
            Dialect::Postgres => format!(
                "UPDATE lw_accounts SET version = version + 1, lease_owner = ?, lease_until = ? \
                 WHERE ctid = ANY(ARRAY(SELECT ctid FROM lw_accounts WHERE {due} \
                 ORDER BY next_action_at LIMIT ? FOR UPDATE SKIP LOCKED)) RETURNING {ACCOUNT_COLS}"
            ),
            _ => String::new(),
        };
        let take_due = "state = 'pending' AND next_attempt_at <= ? AND (lease_until IS NULL OR lease_until <= ?)";
        let take = match d {
            Dialect::Sqlite => format!(
                "UPDATE lw_outbox SET version = version + 1, lease_owner = ?, lease_until = ? \
                 WHERE id IN (SELECT id FROM lw_outbox WHERE {take_due} ORDER BY created_at, id LIMIT ?) \
                 RETURNING {OUTBOX_COLS}, created_at, id"
            ),
            Dialect::Postgres => format!(
                "UPDATE lw_outbox SET version = version + 1, lease_owner = ?, lease_until = ? \
                 WHERE id IN (SELECT id FROM lw_outbox WHERE {take_due} ORDER BY created_at, id LIMIT ? \
                 FOR UPDATE SKIP LOCKED) RETURNING {OUTBOX_COLS}, created_at, id"
            ),
            Dialect::Mysql => String::new(),
        };
        let insert_notice = match d {
            Dialect::Mysql => "INSERT IGNORE INTO lw_outbox (id, dedupe_key, account_id, created_at, notice, state, attempts, delivered, next_attempt_at, version) VALUES (?, ?, ?, ?, ?, 'pending', 0, '[]', ?, 0)".to_owned(),
            _ => "INSERT INTO lw_outbox (id, dedupe_key, account_id, created_at, notice, state, attempts, delivered, next_attempt_at, version) VALUES (?, ?, ?, ?, ?, 'pending', 0, '[]', ?, 0) ON CONFLICT (dedupe_key) DO NOTHING".to_owned(),
        };
        let prefs_upsert = match d {
            Dialect::Mysql => "INSERT INTO lw_preferences (owner, prefs) VALUES (?, ?) ON DUPLICATE KEY UPDATE prefs = VALUES(prefs)".to_owned(),
            _ => "INSERT INTO lw_preferences (owner, prefs) VALUES (?, ?) ON CONFLICT (owner) DO UPDATE SET prefs = excluded.prefs".to_owned(),
        };
        let sweep_upsert = match d {
            Dialect::Mysql => "INSERT INTO lw_sweeps (worker, at) VALUES (?, ?) ON DUPLICATE KEY UPDATE at = GREATEST(at, VALUES(at))".to_owned(),
            Dialect::Postgres => "INSERT INTO lw_sweeps (worker, at) VALUES (?, ?) ON CONFLICT (worker) DO UPDATE SET at = GREATEST(lw_sweeps.at, excluded.at)".to_owned(),
            Dialect::Sqlite => "INSERT INTO lw_sweeps (worker, at) VALUES (?, ?) ON CONFLICT (worker) DO UPDATE SET at = MAX(lw_sweeps.at, excluded.at)".to_owned(),
        };
        let state_set = "owner = ?, kind = ?, ig_user_id = ?, username = ?, page_id = ?, notifications = ?, \
            issued_at = ?, expires_at = ?, data_access_expires_at = ?, scopes = ?, status = ?, status_reason = ?, \
            status_at = ?, last_checked_at = ?, next_action_at = ?, retry = ?, warnings = ?, episode = ?, \
            refresh_requested = ?, version = version + 1, lease_owner = NULL, lease_until = NULL";
        Self {
            insert_account: p(format!(
                "INSERT INTO lw_accounts ({ACCOUNT_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            )),
            get: p(format!("SELECT {ACCOUNT_COLS} FROM lw_accounts WHERE id = ?")),
            delete_account: p("DELETE FROM lw_accounts WHERE id = ?".into()),
            delete_history: p("DELETE FROM lw_history WHERE account_id = ?".into()),
            delete_outbox: p("DELETE FROM lw_outbox WHERE account_id = ?".into()),
            find: p(format!(
                "SELECT {ACCOUNT_COLS} FROM lw_accounts WHERE kind = ? AND ig_user_id = ?"
            )),
            list_by_owner: p(format!(
                "SELECT {ACCOUNT_COLS} FROM lw_accounts WHERE owner = ? ORDER BY id"
            )),
            update_account: p("UPDATE lw_accounts SET owner = ?, kind = ?, ig_user_id = ?, username = ?, page_id = ?, notifications = ? WHERE id = ?".into()),
            claim: p(claim),
            // FORCE INDEX: a full scan would lock every row it examines, so concurrent
            // claimers would skip the whole table.
            claim_select: p(format!(
                "SELECT id FROM lw_accounts FORCE INDEX (lw_accounts_due) WHERE {due} ORDER BY next_action_at LIMIT ? FOR UPDATE SKIP LOCKED"
            )),
            claim_mark: p("UPDATE lw_accounts SET version = version + 1, lease_owner = ?, lease_until = ? WHERE id = ?".into()),
            commit_state: p(format!("UPDATE lw_accounts SET {state_set} WHERE id = ? AND version = ?")),
            commit_state_token: p(format!(
                "UPDATE lw_accounts SET token_ct = ?, token_key = ?, {state_set} WHERE id = ? AND version = ?"
            )),
            exists: p("SELECT version FROM lw_accounts WHERE id = ?".into()),
            insert_history: p("INSERT INTO lw_history (account_id, at, event) VALUES (?, ?, ?)".into()),
            insert_notice: p(insert_notice),
            release: p("UPDATE lw_accounts SET lease_owner = NULL, lease_until = NULL WHERE id = ? AND version = ?".into()),
            extend_lease: p("UPDATE lw_accounts SET lease_until = ? WHERE id = ? AND version = ?".into()),
            history: p("SELECT seq, at, event FROM lw_history WHERE account_id = ? ORDER BY seq DESC LIMIT ?".into()),
            history_before: p("SELECT seq, at, event FROM lw_history WHERE account_id = ? AND seq < ? ORDER BY seq DESC LIMIT ?".into()),
            take_outbox: p(take),
            take_select: p(format!(
                "SELECT id FROM lw_outbox WHERE {take_due} ORDER BY created_at, id LIMIT ? FOR UPDATE SKIP LOCKED"
            )),
            take_mark: p("UPDATE lw_outbox SET version = version + 1, lease_owner = ?, lease_until = ? WHERE id = ?".into()),
            outbox_get: p(format!("SELECT {OUTBOX_COLS}, created_at, id FROM lw_outbox WHERE id = ?")),
            ack_final: p("UPDATE lw_outbox SET state = ?, attempts = attempts + 1, version = version + 1, lease_owner = NULL, lease_until = NULL WHERE id = ? AND version = ? AND state = 'pending'".into()),
            ack_retry: p("UPDATE lw_outbox SET attempts = attempts + 1, delivered = ?, next_attempt_at = ?, version = version + 1, lease_owner = NULL, lease_until = NULL WHERE id = ? AND version = ? AND state = 'pending'".into()),
            notices: p("SELECT notice, state FROM lw_outbox WHERE account_id = ? ORDER BY created_at, id".into()),
            prefs_get: p("SELECT prefs FROM lw_preferences WHERE owner = ?".into()),
            prefs_upsert: p(prefs_upsert),
            sweep_upsert: p(sweep_upsert),
            last_sweep: p("SELECT worker, at FROM lw_sweeps ORDER BY at DESC LIMIT 1".into()),
            counts: p("SELECT status, COUNT(*) FROM lw_accounts GROUP BY status".into()),
            stale_keys: p("SELECT id, token_key, token_ct FROM lw_accounts WHERE token_key <> ? AND token_key <> 'plain' AND id > ? ORDER BY id LIMIT ?".into()),
            rewrite_token: p("UPDATE lw_accounts SET token_ct = ?, token_key = ? WHERE id = ? AND token_key = ?".into()),
            commit_batch: if d == Dialect::Postgres {
                (0..=MAX_ROWS_LOG2)
                    .map(|k| p(commit_batch(d, 1 << k)))
                    .collect()
            } else {
                Vec::new()
            },
            history_batch: (0..=MAX_ROWS_LOG2)
                .map(|k| p(history_batch(d, 1 << k)))
                .collect(),
        }
    }
}
