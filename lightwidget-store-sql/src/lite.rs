//! SQLite's hot paths — claims and batched commits — on one dedicated connection.
//!
//! sqlx's SQLite driver runs every statement on a worker thread of its connection and
//! hands each result row and each bound value across through its `Any` layer; at 500
//! accounts a batch those hand-offs and conversions cost more than SQLite's own work
//! (profiled in `BENCHMARKS.md`). Here a thread of the store's own owns a
//! [`rusqlite::Connection`] to the same file; a claim or a commit is one job on it: one
//! `BEGIN IMMEDIATE`, prepared statements that stay cached, values read and bound in
//! place, one hop to the thread and one back. Everything else (migrations, reads,
//! notifications) stays on the sqlx pool. rusqlite links the same `libsqlite3-sys` as
//! sqlx, so both use one SQLite library.
//!
//! The job runs under the store's write gate, like every other SQLite writer of the
//! process, so it never meets its own process in SQLite's busy handler.

use std::borrow::Cow;
use std::path::Path;
use std::sync::{LazyLock, Mutex, mpsc};

use lightwidget_core::{AccountId, AccountRecord, StoreError, Transition};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, ErrorCode, OpenFlags, TransactionBehavior};

use crate::Encryption;
use crate::rows::{RawAccount, corrupt};

type Job = Box<dyn FnOnce(&mut Connection) + Send>;

/// The dedicated connection's thread: jobs in, results back through a oneshot each.
pub(crate) struct Lite {
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

/// The eight commit statements, by [`Cols::index`].
static COMMIT_SQL: LazyLock<Vec<String>> =
    LazyLock::new(|| (0..8).map(|i| commit_sql(Cols::from_index(i))).collect());

impl std::fmt::Debug for Lite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lite").finish_non_exhaustive()
    }
}

impl Lite {
    /// Opens the file the pool uses (it exists and is migrated by now) with the pool's
    /// pragmas, and starts the thread.
    pub fn open(path: &Path, background_checkpoints: bool) -> Result<Self, StoreError> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(lite_err)?;
        conn.execute_batch(
            "PRAGMA busy_timeout = 10000; PRAGMA synchronous = NORMAL; \
             PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY; \
             PRAGMA mmap_size = 268435456;",
        )
        .map_err(lite_err)?;
        if background_checkpoints {
            conn.execute_batch("PRAGMA wal_autocheckpoint = 0")
                .map_err(lite_err)?;
        }
        conn.set_prepared_statement_cache_capacity(32);
        let (tx, rx) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name("lightwidget-sqlite".into())
            .spawn(move || {
                let mut conn = conn;
                while let Ok(job) = rx.recv() {
                    // A panicking job drops its reply sender: the caller gets an error,
                    // the thread and its connection live on.
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        job(&mut conn);
                    }));
                }
            })
            .map_err(|e| StoreError::Backend {
                message: format!("cannot start the SQLite connection thread: {e}"),
                source: Some(Box::new(e)),
            })?;
        Ok(Self {
            jobs: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Runs `f` on the connection's thread. `f`'s second argument says whether the
    /// caller has gone (its future was dropped), so a job can roll back work nobody
    /// will receive.
    pub async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection, &dyn Fn() -> bool) -> T + Send + 'static,
    {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let out = f(conn, &|| reply.is_closed());
            let _ = reply.send(out);
        });
        let sent = match self.jobs.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            Some(jobs) => jobs.send(job).is_ok(),
            None => false,
        };
        if !sent {
            return Err(closed("the store is closed"));
        }
        answer
            .await
            .map_err(|_| closed("the SQLite connection thread failed during the operation"))
    }

    /// Stops the thread after the jobs already queued, and closes the connection.
    pub async fn close(&self) {
        drop(self.jobs.lock().unwrap_or_else(|p| p.into_inner()).take());
        let thread = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(t) = thread {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
    }
}

fn closed(why: &str) -> StoreError {
    StoreError::Unavailable {
        message: why.to_owned(),
        source: None,
    }
}

/// Maps rusqlite errors like `store::map_err`: busy / locked / cannot open = transient.
pub(crate) fn lite_err(e: rusqlite::Error) -> StoreError {
    let transient = matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked | ErrorCode::CannotOpen)
    );
    crate::store::driver_error(e, transient)
}

const CLAIM_SELECT: &str = "SELECT rowid, id, owner, kind, ig_user_id, username, page_id, \
    notifications, token_ct, token_key, issued_at, expires_at, data_access_expires_at, scopes, \
    status, status_reason, status_at, last_checked_at, next_action_at, retry, warnings, \
    episode, refresh_requested, version + 1 FROM lw_accounts \
    WHERE next_action_at IS NOT NULL AND next_action_at <= ?1 \
    AND (lease_until IS NULL OR lease_until <= ?1) ORDER BY next_action_at LIMIT ?2";

/// Read-ahead: up to `?3` due, unleased rows at `?1` after `?2` (a `next_action_at`),
/// earliest first, read for their pages only (`length` makes SQLite load each row's table
/// page). Returns how many and the last one's `next_action_at`, where the next read-ahead
/// continues.
pub(crate) const READ_AHEAD: &str = "SELECT count(*), max(next_action_at), \
    sum(length(token_ct)) FROM (SELECT next_action_at, token_ct FROM lw_accounts \
    WHERE next_action_at > ?2 AND next_action_at <= ?1 \
    AND (lease_until IS NULL OR lease_until <= ?1) ORDER BY next_action_at LIMIT ?3)";

const CLAIM_MARK: &str = "UPDATE lw_accounts SET version = version + 1, lease_owner = ?1, \
    lease_until = ?2 WHERE rowid = ?3";

const PRIOR: &str = "SELECT rowid, version, owner, kind, ig_user_id, username, page_id, \
    notifications, status, status_reason, status_at FROM lw_accounts WHERE id = ?1";

const INSERT_HISTORY: &str = "INSERT INTO lw_history (account_id, at, event) VALUES (?1, ?2, ?3)";

const INSERT_NOTICE: &str = "INSERT INTO lw_outbox (id, dedupe_key, account_id, created_at, \
    notice, state, attempts, delivered, next_attempt_at, version) \
    VALUES (?1, ?2, ?3, ?4, ?5, 'pending', 0, '[]', ?4, 0) ON CONFLICT (dedupe_key) DO NOTHING";

/// Leases up to `limit` due accounts, earliest first, in one `BEGIN IMMEDIATE`
/// transaction. Rows that do not decode are leased too (so they do not come back in
/// every batch) and skipped with a warning naming the account. If the caller has gone
/// by the end (`gone`), the transaction rolls back: nobody would work those leases.
pub(crate) fn claim(
    conn: &mut Connection,
    gone: &dyn Fn() -> bool,
    enc: &Encryption,
    now: i64,
    until: i64,
    limit: usize,
    worker: &str,
) -> Result<Vec<AccountRecord>, StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(lite_err)?;
    let mut rowids = Vec::with_capacity(limit);
    let mut out = Vec::with_capacity(limit);
    {
        let mut select = tx.prepare_cached(CLAIM_SELECT).map_err(lite_err)?;
        let mut rows = select
            .query((now, i64::try_from(limit).unwrap_or(i64::MAX)))
            .map_err(lite_err)?;
        while let Some(row) = rows.next().map_err(lite_err)? {
            let rowid: i64 = row.get(0).map_err(lite_err)?;
            rowids.push(rowid);
            match raw_account(row).map(|raw| raw.decode(enc)) {
                Ok(Ok(rec)) => out.push(rec),
                Ok(Err(e)) => tracing::warn!(error = %e, "skipping unreadable account row"),
                Err(e) => {
                    let id = row.get_ref(1).ok().and_then(|v| v.as_str().ok());
                    tracing::warn!(account = id, error = %e, "skipping unreadable account row");
                }
            }
        }
    }
    {
        let mut mark = tx.prepare_cached(CLAIM_MARK).map_err(lite_err)?;
        for rowid in rowids {
            mark.execute((worker, until, rowid)).map_err(lite_err)?;
        }
    }
    if gone() {
        tx.rollback().map_err(lite_err)?;
        return Ok(Vec::new());
    }
    tx.commit().map_err(lite_err)?;
    out.sort_by_key(|r| (r.state.next_action_at, r.account.id));
    Ok(out)
}

/// Reads `ACCOUNT_COLS` (after the rowid) of a claim row, borrowing its text.
fn raw_account<'r>(row: &'r rusqlite::Row<'_>) -> Result<RawAccount<'r>, String> {
    let v = |i: usize| row.get_ref(i + 1).map_err(|e| e.to_string());
    let bad = |i: usize, e: rusqlite::types::FromSqlError| format!("column {i}: {e}");
    let s = |i: usize| -> Result<Cow<'r, str>, String> {
        v(i)?.as_str().map(Cow::Borrowed).map_err(|e| bad(i, e))
    };
    let os = |i: usize| -> Result<Option<Cow<'r, str>>, String> {
        v(i)?
            .as_str_or_null()
            .map(|o| o.map(Cow::Borrowed))
            .map_err(|e| bad(i, e))
    };
    let n = |i: usize| -> Result<i64, String> { v(i)?.as_i64().map_err(|e| bad(i, e)) };
    let on =
        |i: usize| -> Result<Option<i64>, String> { v(i)?.as_i64_or_null().map_err(|e| bad(i, e)) };
    let blob = |i: usize| -> Result<Vec<u8>, String> {
        match v(i)? {
            ValueRef::Blob(b) => Ok(b.to_vec()),
            other => Err(format!(
                "column {i}: expected a blob, found {:?}",
                other.data_type()
            )),
        }
    };
    Ok(RawAccount(
        s(0)?,
        s(1)?,
        s(2)?,
        s(3)?,
        s(4)?,
        os(5)?,
        n(6)?,
        blob(7)?,
        s(8)?,
        n(9)?,
        on(10)?,
        on(11)?,
        s(12)?,
        s(13)?,
        os(14)?,
        on(15)?,
        on(16)?,
        on(17)?,
        s(18)?,
        s(19)?,
        n(20)?,
        n(21)?,
        n(22)?,
    ))
}

/// Which column groups a commit writes besides the state: the token (only when it
/// changed), the account metadata (owner and user carry indexes) and the status
/// (indexed). SQLite rewrites every index whose column is named in `SET`, changed or
/// not, so a commit names only what differs from the stored row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cols {
    pub token: bool,
    pub account: bool,
    pub status: bool,
}

impl Cols {
    fn index(self) -> usize {
        usize::from(self.token) | usize::from(self.account) << 1 | usize::from(self.status) << 2
    }
    fn from_index(i: usize) -> Self {
        Self {
            token: i & 1 != 0,
            account: i & 2 != 0,
            status: i & 4 != 0,
        }
    }
}

/// The fenced-by-read UPDATE of one variant; the row is addressed by rowid.
fn commit_sql(c: Cols) -> String {
    let mut cols: Vec<&str> = Vec::new();
    if c.token {
        cols.extend(["token_ct", "token_key"]);
    }
    if c.account {
        cols.extend([
            "owner",
            "kind",
            "ig_user_id",
            "username",
            "page_id",
            "notifications",
        ]);
    }
    cols.extend([
        "issued_at",
        "expires_at",
        "data_access_expires_at",
        "scopes",
    ]);
    if c.status {
        cols.extend(["status", "status_reason", "status_at"]);
    }
    cols.extend([
        "last_checked_at",
        "next_action_at",
        "retry",
        "warnings",
        "episode",
        "refresh_requested",
    ]);
    let set: Vec<String> = cols
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{c} = ?{}", i + 1))
        .collect();
    format!(
        "UPDATE lw_accounts SET {}, version = version + 1, lease_owner = NULL, \
         lease_until = NULL WHERE rowid = ?{}",
        set.join(", "),
        cols.len() + 1
    )
}

/// One transition, encoded on the async side (encryption and JSON there, in parallel)
/// and owned, for the connection's thread.
pub(crate) struct CommitRow {
    pub account: AccountId,
    pub id: String,
    pub expected_version: i64,
    /// `(key id, ciphertext)` when the token changed.
    pub token: Option<(String, Vec<u8>)>,
    pub owner: String,
    pub kind: &'static str,
    pub ig_user_id: String,
    pub username: String,
    pub page_id: Option<String>,
    pub notifications: i64,
    pub issued_at: i64,
    pub expires_at: Option<i64>,
    pub data_access_expires_at: Option<i64>,
    pub scopes: String,
    pub status: &'static str,
    pub status_reason: Option<String>,
    pub status_at: Option<i64>,
    pub last_checked_at: Option<i64>,
    pub next_action_at: Option<i64>,
    pub retry: String,
    pub warnings: String,
    pub episode: i64,
    pub refresh_requested: i64,
    /// `(at, event JSON)`.
    pub events: Vec<(i64, String)>,
    /// `(id, dedupe key, created at, notice JSON)`.
    pub notices: Vec<(String, String, i64, String)>,
}

impl CommitRow {
    /// Encodes `t`: seals the token if it changed, serialises the JSON columns.
    pub fn new(t: &Transition, enc: &Encryption) -> Self {
        let a = &t.account;
        let s = &t.state;
        let id = a.id.to_string();
        let token = t.token_changed.then(|| enc.seal(s.token.secret(), &id));
        let (status, status_reason, status_at) = crate::store::status_cols(&s.status);
        let ms = |d: chrono::DateTime<chrono::Utc>| d.timestamp_millis();
        Self {
            account: a.id,
            expected_version: t.expected_version,
            token,
            owner: a.owner.as_str().to_owned(),
            kind: a.kind.as_str(),
            ig_user_id: a.ig_user_id.clone(),
            username: a.username.clone(),
            page_id: a.page_id.clone(),
            notifications: i64::from(a.entitlements.notifications),
            issued_at: ms(s.token.issued_at),
            expires_at: s.token.expires_at.map(ms),
            data_access_expires_at: s.token.data_access_expires_at.map(ms),
            scopes: crate::store::json(&s.token.scopes),
            status,
            status_reason,
            status_at,
            last_checked_at: s.last_checked_at.map(ms),
            next_action_at: s.next_action_at.map(ms),
            retry: crate::store::json(&s.retry),
            warnings: crate::store::json(&s.warnings),
            episode: i64::from(s.episode),
            refresh_requested: i64::from(s.refresh_requested),
            events: t
                .events
                .iter()
                .map(|e| (ms(e.at), crate::store::json(&e.kind)))
                .collect(),
            notices: t
                .notices
                .iter()
                .map(|n| {
                    (
                        n.id.to_string(),
                        n.dedupe_key.clone(),
                        ms(n.created_at),
                        crate::store::json(n),
                    )
                })
                .collect(),
            id,
        }
    }
}

/// Commits `rows` in order in one `BEGIN IMMEDIATE` transaction: for each, a read of
/// its version, metadata and status by id (unknown account / stale version are refused
/// on their own), then the UPDATE of the columns that change, its history and its
/// notices. A repeated account sees the first copy's version. A failing statement fails
/// the whole batch (nothing is written). A commit completes even if its caller has gone:
/// a refreshed token is kept.
pub(crate) fn commit(
    conn: &mut Connection,
    rows: &[CommitRow],
) -> Result<Vec<Result<(), StoreError>>, StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(lite_err)?;
    let mut out = Vec::with_capacity(rows.len());
    {
        let mut prior = tx.prepare_cached(PRIOR).map_err(lite_err)?;
        let mut history = tx.prepare_cached(INSERT_HISTORY).map_err(lite_err)?;
        for r in rows {
            let found = {
                let mut q = prior.query([&r.id]).map_err(lite_err)?;
                q.next()
                    .map_err(lite_err)?
                    .map(|p| compare(p, r).map_err(|m| corrupt(r.account, m)))
            };
            let (rowid, cols) = match found {
                None => {
                    out.push(Err(StoreError::UnknownAccount(r.account)));
                    continue;
                }
                Some(Err(e)) => {
                    out.push(Err(e));
                    continue;
                }
                Some(Ok((_, version, _))) if version != r.expected_version => {
                    out.push(Err(StoreError::Conflict(r.account)));
                    continue;
                }
                Some(Ok((rowid, _, cols))) => (rowid, cols),
            };
            let mut up = tx
                .prepare_cached(&COMMIT_SQL[cols.index()])
                .map_err(lite_err)?;
            bind_row(&mut up, r, cols, rowid).map_err(lite_err)?;
            let n = up.raw_execute().map_err(lite_err)?;
            if n != 1 {
                return Err(StoreError::Backend {
                    message: format!("commit wrote {n} rows for one account under the write lock"),
                    source: None,
                });
            }
            for (at, event) in &r.events {
                history.execute((&r.id, at, event)).map_err(lite_err)?;
            }
            if !r.notices.is_empty() {
                let mut notice = tx.prepare_cached(INSERT_NOTICE).map_err(lite_err)?;
                for (nid, dedupe, created, body) in &r.notices {
                    notice
                        .execute((nid, dedupe, &r.id, created, body))
                        .map_err(lite_err)?;
                }
            }
            out.push(Ok(()));
        }
    }
    tx.commit().map_err(lite_err)?;
    Ok(out)
}

/// The stored row against the commit: `(rowid, version, columns to write)`.
fn compare(p: &rusqlite::Row<'_>, r: &CommitRow) -> Result<(i64, i64, Cols), String> {
    let v = |i: usize| p.get_ref(i).map_err(|e| e.to_string());
    let bad = |i: usize, e: rusqlite::types::FromSqlError| format!("column {i}: {e}");
    let s = |i: usize| v(i)?.as_str().map_err(|e| bad(i, e));
    let os = |i: usize| v(i)?.as_str_or_null().map_err(|e| bad(i, e));
    let n = |i: usize| v(i)?.as_i64().map_err(|e| bad(i, e));
    let on = |i: usize| v(i)?.as_i64_or_null().map_err(|e| bad(i, e));
    let account = s(2)? != r.owner
        || s(3)? != r.kind
        || s(4)? != r.ig_user_id
        || s(5)? != r.username
        || os(6)? != r.page_id.as_deref()
        || n(7)? != r.notifications;
    let status =
        s(8)? != r.status || os(9)? != r.status_reason.as_deref() || on(10)? != r.status_at;
    Ok((
        n(0)?,
        n(1)?,
        Cols {
            token: r.token.is_some(),
            account,
            status,
        },
    ))
}

/// Binds a commit row in the order of [`commit_sql`].
fn bind_row(
    st: &mut rusqlite::Statement<'_>,
    r: &CommitRow,
    cols: Cols,
    rowid: i64,
) -> rusqlite::Result<()> {
    let mut i = 0;
    let mut bind = |st: &mut rusqlite::Statement<'_>, v: &dyn rusqlite::ToSql| {
        i += 1;
        st.raw_bind_parameter(i, v)
    };
    if let Some((key, ct)) = &r.token {
        bind(st, ct)?;
        bind(st, key)?;
    }
    if cols.account {
        bind(st, &r.owner)?;
        bind(st, &r.kind)?;
        bind(st, &r.ig_user_id)?;
        bind(st, &r.username)?;
        bind(st, &r.page_id)?;
        bind(st, &r.notifications)?;
    }
    bind(st, &r.issued_at)?;
    bind(st, &r.expires_at)?;
    bind(st, &r.data_access_expires_at)?;
    bind(st, &r.scopes)?;
    if cols.status {
        bind(st, &r.status)?;
        bind(st, &r.status_reason)?;
        bind(st, &r.status_at)?;
    }
    bind(st, &r.last_checked_at)?;
    bind(st, &r.next_action_at)?;
    bind(st, &r.retry)?;
    bind(st, &r.warnings)?;
    bind(st, &r.episode)?;
    bind(st, &r.refresh_requested)?;
    bind(st, &rowid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_statements_bind_as_many_values_as_they_name() {
        for i in 0..8 {
            let c = Cols::from_index(i);
            assert_eq!(c.index(), i);
            let sql = commit_sql(c);
            let marks = sql.matches('?').count();
            let expected = 10
                + 1
                + 2 * usize::from(c.token)
                + 6 * usize::from(c.account)
                + 3 * usize::from(c.status);
            assert_eq!(marks, expected, "{sql}");
            assert!(sql.ends_with(&format!("WHERE rowid = ?{marks}")), "{sql}");
        }
    }

    /// The read-ahead reads the rows the next claims would take: due, unleased,
    /// earliest first, after where it stopped last time, and nothing else.
    #[test]
    fn read_ahead_reads_due_unleased_rows_after_a_point() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(include_str!("../migrations/sqlite/0001_init.sql"))
            .unwrap();
        let mut insert = conn
            .prepare(
                "INSERT INTO lw_accounts (id, owner, kind, ig_user_id, username, \
                 notifications, token_ct, token_key, issued_at, scopes, status, retry, \
                 warnings, episode, refresh_requested, version, next_action_at, lease_until) \
                 VALUES (?1, 'o', 'consumer', ?1, 'u', 0, ?2, 'k', 0, '[]', 'active', '{}', \
                 '[]', 0, 0, 0, ?3, ?4)",
            )
            .unwrap();
        // 12 due at t = 0..11 (every third one leased until 500), 5 due later, 1 never.
        for i in 0..18i64 {
            let due = match i {
                0..12 => Some(i),
                12..17 => Some(1_000 + i),
                _ => None,
            };
            let lease = (i < 12 && i % 3 == 0).then_some(500i64);
            let ct = vec![0u8; 10 + i as usize];
            insert.execute((format!("a{i}"), ct, due, lease)).unwrap();
        }
        let read = |now: i64, after: i64, limit: i64| -> (i64, Option<i64>, i64) {
            conn.query_row(READ_AHEAD, (now, after, limit), |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get::<_, Option<i64>>(2)?.unwrap_or(0),
                ))
            })
            .unwrap()
        };
        // Due at 100: 12 rows, 4 leased -> 8 free (1, 2, 4, 5, 7, 8, 10, 11), earliest
        // first, bytes 10 + i each.
        assert_eq!(read(100, -1, 3), (3, Some(4), 30 + 1 + 2 + 4));
        // Continuing after the last one read.
        assert_eq!(read(100, 4, 3), (3, Some(8), 30 + 5 + 7 + 8));
        assert_eq!(read(100, 8, 3), (2, Some(11), 20 + 10 + 11));
        assert_eq!(read(100, 11, 3), (0, None, 0));
        // Once the leases end, the leased rows are due again.
        assert_eq!(read(600, -1, 100).0, 12);
        // Later, the rows due later count too; the never-due one never.
        assert_eq!(read(5_000, -1, 100).0, 17);
        assert_eq!(read(-1, -5, 100), (0, None, 0));
    }
}
