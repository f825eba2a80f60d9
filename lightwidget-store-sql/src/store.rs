use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use lightwidget_core::{
    Account, AccountId, AccountRecord, ConnectionKind, HistoryEntry, HistoryQuery, Notice,
    NoticeState, OutboxEntry, OutboxOutcome, OwnerId, Preferences, StatusCounts, StoreError,
    TokenEvent, TokenEventKind, TokenStatus, TokenStore, Transition,
};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{Any, AnyPool, AssertSqlSafe, Row};
use uuid::Uuid;

use crate::rows::{RawAccount, corrupt, from_ms};
use crate::sql::{Dialect, MAX_ROWS_LOG2, Sql};
use crate::{Encryption, Error, Keyring};

type Q = sqlx::query::Query<'static, Any, sqlx::any::AnyArguments>;

/// A [`TokenStore`] on SQLite, PostgreSQL or MySQL/MariaDB.
#[derive(Clone)]
pub struct SqlStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: AnyPool,
    dialect: Dialect,
    sql: Sql,
    enc: Encryption,
    /// SQLite: one writing transaction of this process at a time (see `begin`).
    write_gate: Arc<tokio::sync::Mutex<()>>,
    /// SQLite: the dedicated connection for claims and batched commits.
    #[cfg(feature = "sqlite")]
    lite: Option<crate::lite::Lite>,
    /// SQLite: read the next batches' rows ahead of the next claims (see
    /// [`SqlStoreBuilder::sqlite_read_ahead`]); `reading_ahead` while one runs.
    #[cfg(feature = "sqlite")]
    read_ahead: bool,
    #[cfg(feature = "sqlite")]
    reading_ahead: std::sync::atomic::AtomicBool,
    /// SQLite: the `next_action_at` (ms) up to which rows have been read ahead.
    #[cfg(feature = "sqlite")]
    read_ahead_mark: std::sync::atomic::AtomicI64,
}

type WriteGate = tokio::sync::OwnedMutexGuard<()>;

impl std::fmt::Debug for SqlStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlStore")
            .field("dialect", &self.inner.dialect)
            .field("encryption", &self.inner.enc)
            .finish_non_exhaustive()
    }
}

/// Builder for [`SqlStore`].
pub struct SqlStoreBuilder {
    url: String,
    enc: Option<Encryption>,
    migrate: bool,
    max_connections: u32,
    acquire_timeout: Duration,
    checkpoint_every: Duration,
    read_ahead: bool,
}

impl std::fmt::Debug for SqlStoreBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlStoreBuilder")
            .field("url", &redact(&self.url))
            .field("migrate", &self.migrate)
            .finish_non_exhaustive()
    }
}

fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("****"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

impl SqlStoreBuilder {
    /// Token values encrypted with this keyring.
    pub fn keyring(mut self, k: Keyring) -> Self {
        self.enc = Some(Encryption::Keyring(k));
        self
    }
    /// How token values are stored (see [`Encryption::Plaintext`] before choosing it).
    pub fn encryption(mut self, e: Encryption) -> Self {
        self.enc = Some(e);
        self
    }
    /// Run the embedded migrations on connect (default `true`).
    pub fn run_migrations(mut self, yes: bool) -> Self {
        self.migrate = yes;
        self
    }
    /// Pool size (default 8; SQLite writes are serialised by SQLite itself).
    pub fn max_connections(mut self, n: u32) -> Self {
        self.max_connections = n.max(1);
        self
    }
    /// SQLite: how often a background task checkpoints the write-ahead log (default
    /// 250 ms; `Duration::ZERO` leaves it to SQLite's automatic checkpoints).
    ///
    /// SQLite otherwise checkpoints inside whichever write happens to push the log past
    /// 1,000 pages, so one claim or commit in a few pays for copying megabytes: at 100k
    /// accounts that made `claim_due(500)`'s p99 11–12 ms against a p50 of 5 ms; with the
    /// background checkpointer p99 is 7 ms. Passive checkpoints never block writers.
    pub fn sqlite_checkpoint_every(mut self, every: Duration) -> Self {
        self.checkpoint_every = every;
        self
    }
    /// SQLite: after a claim that filled its batch, read the rows the next two claims
    /// will take, on a pooled connection in the background (default on).
    ///
    /// Due rows are the ones nobody touched since their last check, hours ago, so on a
    /// large table their pages are often no longer in memory: a claim then reads each
    /// one from disk, one at a time, while holding SQLite's write lock, and each read
    /// waits behind whatever the disk is writing (a checkpoint's flush: 12–15 ms a page
    /// measured at 1M accounts). Reading ahead moves those reads off the claim, into the
    /// time the keeper spends on the network with the current batch. It costs one read
    /// of about one batch of rows per claim (two the first time; no lock: readers never
    /// block SQLite's writer); turn it off for a database that always fits in memory.
    ///
    /// ```no_run
    /// # async fn f() -> Result<(), lightwidget_store_sql::Error> {
    /// use lightwidget_store_sql::{Keyring, SqlStore};
    /// let store = SqlStore::builder("sqlite://tokens.db")
    ///     .keyring(Keyring::from_env()?)
    ///     .sqlite_read_ahead(false) // the whole database stays in memory here
    ///     .connect()
    ///     .await?;
    /// # drop(store); Ok(()) }
    /// ```
    pub fn sqlite_read_ahead(mut self, on: bool) -> Self {
        self.read_ahead = on;
        self
    }
    /// How long to wait for a pooled connection before reporting the store unavailable
    /// (default 10 s).
    pub fn acquire_timeout(mut self, d: Duration) -> Self {
        self.acquire_timeout = d;
        self
    }

    /// Connects (and migrates).
    pub async fn connect(self) -> Result<SqlStore, Error> {
        let dialect = Dialect::from_url(&self.url).ok_or_else(|| {
            Error::Config(format!(
                "unsupported database URL {:?}: use sqlite://, postgres:// or mysql://",
                redact(&self.url)
            ))
        })?;
        let enc = self.enc.ok_or_else(|| {
            Error::Config(
                "no encryption configured: give a Keyring (e.g. from LIGHTWIDGET_KEYS) or choose Encryption::Plaintext explicitly".into(),
            )
        })?;
        match dialect {
            Dialect::Sqlite if !cfg!(feature = "sqlite") => {
                return Err(Error::Config(
                    "this build lacks the `sqlite` feature".into(),
                ));
            }
            Dialect::Postgres if !cfg!(feature = "postgres") => {
                return Err(Error::Config(
                    "this build lacks the `postgres` feature".into(),
                ));
            }
            Dialect::Mysql if !cfg!(feature = "mysql") => {
                return Err(Error::Config("this build lacks the `mysql` feature".into()));
            }
            _ => {}
        }
        if dialect == Dialect::Sqlite
            && (self.url.contains(":memory:") || self.url.contains("mode=memory"))
        {
            return Err(Error::Config(
                "an in-memory SQLite database is private to one connection and this store uses several: \
                 give a file (a temporary one in tests) or use lightwidget_core::InMemoryStore"
                    .into(),
            ));
        }
        sqlx::any::install_default_drivers();
        let mut url = self.url.clone();
        if dialect == Dialect::Sqlite && !url.contains("mode=") && !url.contains(":memory:") {
            url.push_str(if url.contains('?') {
                "&mode=rwc"
            } else {
                "?mode=rwc"
            });
        }
        let opts = AnyPoolOptions::new()
            .max_connections(self.max_connections)
            .acquire_timeout(self.acquire_timeout);
        let background_checkpoints = !self.checkpoint_every.is_zero();
        let opts = if dialect == Dialect::Sqlite {
            opts.after_connect(move |conn, _| {
                Box::pin(async move {
                    use sqlx::Executor;
                    // mmap: pages are read straight from the OS cache, with no syscall and
                    // copy per page once the file outgrows SQLite's 2 MiB page cache (the
                    // keeper's CPU per refresh grew 40 % from 20k to 100k rows without it).
                    conn.execute(
                        "PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 10000; \
                         PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
                         PRAGMA temp_store = MEMORY; PRAGMA mmap_size = 268435456;",
                    )
                    .await?;
                    if background_checkpoints {
                        conn.execute("PRAGMA wal_autocheckpoint = 0").await?;
                    }
                    Ok(())
                })
            })
        } else if dialect == Dialect::Mysql {
            // Queue semantics: under READ COMMITTED InnoDB releases the locks of rows that
            // do not match, so `FOR UPDATE SKIP LOCKED` claimers only skip rows another
            // claimer actually took (REPEATABLE READ's next-key locks would hide far more).
            opts.after_connect(|conn, _| {
                Box::pin(async move {
                    use sqlx::Executor;
                    conn.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
                        .await?;
                    Ok(())
                })
            })
        } else {
            opts
        };
        let pool = opts.connect(&url).await.map_err(|source| Error::Connect {
            url: redact(&self.url),
            source,
        })?;
        if self.migrate {
            let m = match dialect {
                Dialect::Sqlite => sqlx::migrate!("migrations/sqlite"),
                Dialect::Postgres => sqlx::migrate!("migrations/postgres"),
                Dialect::Mysql => sqlx::migrate!("migrations/mysql"),
            };
            m.run(&pool).await.map_err(Error::Migrate)?;
        }
        #[cfg(feature = "sqlite")]
        let lite = if dialect == Dialect::Sqlite {
            use std::str::FromStr;
            let path = sqlx::sqlite::SqliteConnectOptions::from_str(&url)
                .map_err(|source| Error::Connect {
                    url: redact(&self.url),
                    source,
                })?
                .get_filename()
                .to_owned();
            Some(crate::lite::Lite::open(&path, background_checkpoints)?)
        } else {
            None
        };
        let store = SqlStore {
            inner: Arc::new(Inner {
                pool,
                dialect,
                sql: Sql::new(dialect),
                enc,
                write_gate: Arc::default(),
                #[cfg(feature = "sqlite")]
                lite,
                #[cfg(feature = "sqlite")]
                read_ahead: self.read_ahead && dialect == Dialect::Sqlite,
                #[cfg(feature = "sqlite")]
                reading_ahead: Default::default(),
                #[cfg(feature = "sqlite")]
                read_ahead_mark: i64::MIN.into(),
            }),
        };
        if dialect == Dialect::Sqlite && background_checkpoints {
            tokio::spawn(checkpointer(
                Arc::downgrade(&store.inner),
                self.checkpoint_every,
            ));
        }
        Ok(store)
    }
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}
fn oms(t: Option<DateTime<Utc>>) -> Option<i64> {
    t.map(ms)
}

fn lease_end(now: DateTime<Utc>, lease: Duration) -> DateTime<Utc> {
    now + TimeDelta::from_std(lease).unwrap_or(TimeDelta::days(365))
}

/// Maps sqlx errors: unreachable / locked / timed out = Unavailable (transient).
pub(crate) fn map_err(e: sqlx::Error) -> StoreError {
    let transient = match &e {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Tls(_) => true,
        sqlx::Error::Database(d) => {
            let code = d.code().map(|c| c.into_owned()).unwrap_or_default();
            // SQLite busy/locked, PostgreSQL admin shutdown / connection failure /
            // serialization, MySQL lock wait timeout / deadlock.
            matches!(
                code.as_str(),
                "5" | "6"
                    | "517"
                    | "57P01"
                    | "57P02"
                    | "57P03"
                    | "40001"
                    | "40P01"
                    | "1205"
                    | "1213"
            ) || code.starts_with("08")
        }
        _ => false,
    };
    driver_error(e, transient)
}

/// The first column of every row, as text (ids returned by a statement).
async fn first_column(q: Q, conn: &mut sqlx::AnyConnection) -> Result<Vec<String>, StoreError> {
    q.fetch_all(conn)
        .await
        .map_err(map_err)?
        .iter()
        .map(|r| r.try_get::<String, _>(0))
        .collect::<Result<_, _>>()
        .map_err(map_err)
}

/// A driver error as [`StoreError::Unavailable`] (transient) or [`StoreError::Backend`].
pub(crate) fn driver_error(
    e: impl std::error::Error + Send + Sync + 'static,
    transient: bool,
) -> StoreError {
    let message = e.to_string();
    let source: Option<Box<dyn std::error::Error + Send + Sync>> = Some(Box::new(e));
    if transient {
        StoreError::Unavailable { message, source }
    } else {
        StoreError::Backend { message, source }
    }
}

/// Splits `start..end` into consecutive runs of 2^k rows, largest first, k ≤
/// [`MAX_ROWS_LOG2`]: `(first index, k)`. At most nine statement shapes exist per
/// dialect, so each stays in the connection's prepared-statement cache.
fn pieces(start: usize, end: usize) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut at = start;
    while at < end {
        let left = end - at;
        let k = (usize::BITS - 1 - left.leading_zeros()) as usize;
        let k = k.min(MAX_ROWS_LOG2);
        out.push((at, k));
        at += 1 << k;
    }
    out
}

/// SQLite's background checkpointer: a passive checkpoint every `every`, until the store
/// is dropped or closed. A failure is logged and tried again at the next tick.
async fn checkpointer(store: std::sync::Weak<Inner>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(inner) = store.upgrade() else { return };
        if inner.pool.is_closed() {
            return;
        }
        if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&inner.pool)
            .await
        {
            if inner.pool.is_closed() {
                return;
            }
            tracing::warn!(error = %e, "SQLite checkpoint failed; retrying at the next tick");
        }
    }
}

pub(crate) fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("serialising plain data cannot fail")
}

pub(crate) fn status_cols(s: &TokenStatus) -> (&'static str, Option<String>, Option<i64>) {
    match s {
        TokenStatus::Active => ("active", None, None),
        TokenStatus::Expired { reason, at } => ("expired", Some(reason.code()), Some(ms(*at))),
        TokenStatus::Revoked { at } => ("revoked", None, Some(ms(*at))),
    }
}

/// Binds `ACCOUNT_COLS` in order: the row as `INSERT` and the batched commit write it.
/// `sealed` is `(key id, ciphertext)`; `None` binds NULLs (the commit keeps the token).
fn bind_account_cols(
    q: Q,
    id_s: &str,
    a: &Account,
    s: &lightwidget_core::TokenState,
    sealed: Option<(String, Vec<u8>)>,
    version: i64,
) -> Q {
    let (key, ct) = sealed.unzip();
    let q = bind_metadata(q.bind(id_s.to_owned()), a).bind(ct).bind(key);
    bind_state_cols(q, s).bind(version)
}

/// Owner, kind, user id, username, page and entitlements, in column order.
fn bind_metadata(q: Q, a: &Account) -> Q {
    q.bind(a.owner.as_str().to_owned())
        .bind(a.kind.as_str())
        .bind(a.ig_user_id.clone())
        .bind(a.username.clone())
        .bind(a.page_id.clone())
        .bind(i64::from(a.entitlements.notifications))
}

/// The token state after the ciphertext (`issued_at` … `refresh_requested`), in column
/// order.
fn bind_state_cols(q: Q, s: &lightwidget_core::TokenState) -> Q {
    let (status, reason, status_at) = status_cols(&s.status);
    q.bind(ms(s.token.issued_at))
        .bind(oms(s.token.expires_at))
        .bind(oms(s.token.data_access_expires_at))
        .bind(json(&s.token.scopes))
        .bind(status)
        .bind(reason)
        .bind(status_at)
        .bind(oms(s.last_checked_at))
        .bind(oms(s.next_action_at))
        .bind(json(&s.retry))
        .bind(json(&s.warnings))
        .bind(i64::from(s.episode))
        .bind(i64::from(s.refresh_requested))
}

impl SqlStore {
    /// A builder for `url` (`sqlite://path.db`, `postgres://…`, `mysql://…`).
    pub fn builder(url: impl Into<String>) -> SqlStoreBuilder {
        SqlStoreBuilder {
            url: url.into(),
            enc: None,
            migrate: true,
            max_connections: 8,
            acquire_timeout: Duration::from_secs(10),
            checkpoint_every: Duration::from_millis(250),
            read_ahead: true,
        }
    }

    /// Connects with keys from `LIGHTWIDGET_KEYS`.
    pub async fn connect(url: &str) -> Result<Self, Error> {
        Self::builder(url)
            .keyring(Keyring::from_env()?)
            .connect()
            .await
    }

    /// Opens (creating if needed) a local SQLite file with WAL and a busy timeout.
    pub async fn open_sqlite(
        path: impl AsRef<std::path::Path>,
        enc: Encryption,
    ) -> Result<Self, Error> {
        let url = format!("sqlite://{}", path.as_ref().display());
        Self::builder(url).encryption(enc).connect().await
    }

    /// The dialect in use.
    pub fn dialect(&self) -> Dialect {
        self.inner.dialect
    }

    /// The connection pool (for hosts that share it; migrations, health checks).
    pub fn pool(&self) -> &AnyPool {
        &self.inner.pool
    }

    /// Closes the pool.
    pub async fn close(&self) {
        #[cfg(feature = "sqlite")]
        if let Some(lite) = &self.inner.lite {
            lite.close().await;
        }
        self.inner.pool.close().await;
    }

    /// Starts a write transaction. On SQLite it takes the write lock up front
    /// (`BEGIN IMMEDIATE`), so the busy timeout applies instead of a read transaction
    /// failing to upgrade with "database is locked".
    ///
    /// On SQLite, writers of this process also queue on an async gate first: SQLite has
    /// one writer at a time, and a writer that finds the lock taken sleeps in the busy
    /// handler (1, 2, 5, 10 … ms) instead of starting the moment it is free. The claim
    /// and commit stages of a sweep write concurrently, so without the gate each
    /// collision stalled the pipeline for milliseconds. Other processes on the same file
    /// still meet the busy timeout. The guard is held until the transaction ends.
    async fn begin(
        &self,
    ) -> Result<(Option<WriteGate>, sqlx::Transaction<'static, Any>), StoreError> {
        match self.inner.dialect {
            Dialect::Sqlite => {
                let gate = self.inner.write_gate.clone().lock_owned().await;
                let tx = self
                    .inner
                    .pool
                    .begin_with("BEGIN IMMEDIATE")
                    .await
                    .map_err(map_err)?;
                Ok((Some(gate), tx))
            }
            _ => Ok((None, self.inner.pool.begin().await.map_err(map_err)?)),
        }
    }

    fn q(&self, s: &Arc<str>) -> Q {
        sqlx::query(AssertSqlSafe(s.clone()))
    }

    fn decode(&self, row: &AnyRow) -> Result<AccountRecord, StoreError> {
        RawAccount::from_row(row)
            .map_err(|e| StoreError::Backend {
                message: format!("unexpected row shape: {e}"),
                source: None,
            })?
            .decode(&self.inner.enc)
    }

    /// Decodes claimed rows; an unreadable row is logged and skipped so one bad row
    /// never blocks the batch (its lease simply runs out).
    fn decode_claimed(&self, rows: &[AnyRow]) -> Vec<AccountRecord> {
        let mut out: Vec<AccountRecord> = rows
            .iter()
            .filter_map(|r| match self.decode(r) {
                Ok(rec) => Some(rec),
                Err(e) => {
                    tracing::warn!(error = %e, "skipping unreadable account row");
                    None
                }
            })
            .collect();
        out.sort_by_key(|r| (r.state.next_action_at, r.account.id));
        out
    }

    fn bind_state(&self, q: Q, t: &Transition) -> Q {
        bind_state_cols(bind_metadata(q, &t.account), &t.state)
            .bind(t.account.id.to_string())
            .bind(t.expected_version)
    }

    /// One transition inside an open transaction. `Ok(false)` = fenced.
    async fn commit_in(
        &self,
        tx: &mut sqlx::Transaction<'_, Any>,
        t: &Transition,
    ) -> Result<Result<(), StoreError>, StoreError> {
        let id = t.account.id;
        let id_s = id.to_string();
        let q = if t.token_changed {
            let (key, ct) = self.inner.enc.seal(t.state.token.secret(), &id_s);
            self.q(&self.inner.sql.commit_state_token)
                .bind(ct)
                .bind(key)
        } else {
            self.q(&self.inner.sql.commit_state)
        };
        let res = self
            .bind_state(q, t)
            .execute(&mut **tx)
            .await
            .map_err(map_err)?;
        if res.rows_affected() == 0 {
            let exists = self
                .q(&self.inner.sql.exists)
                .bind(id_s)
                .fetch_optional(&mut **tx)
                .await
                .map_err(map_err)?;
            return Ok(Err(if exists.is_some() {
                StoreError::Conflict(id)
            } else {
                StoreError::UnknownAccount(id)
            }));
        }
        self.write_events(tx, id, &t.events).await?;
        for n in &t.notices {
            self.q(&self.inner.sql.insert_notice)
                .bind(n.id.to_string())
                .bind(n.dedupe_key.clone())
                .bind(id.to_string())
                .bind(ms(n.created_at))
                .bind(json(n))
                .bind(ms(n.created_at))
                .execute(&mut **tx)
                .await
                .map_err(map_err)?;
        }
        Ok(Ok(()))
    }

    async fn write_events(
        &self,
        tx: &mut sqlx::Transaction<'_, Any>,
        id: AccountId,
        events: &[TokenEvent],
    ) -> Result<(), StoreError> {
        for e in events {
            self.q(&self.inner.sql.insert_history)
                .bind(id.to_string())
                .bind(ms(e.at))
                .bind(json(&e.kind))
                .execute(&mut **tx)
                .await
                .map_err(map_err)?;
        }
        Ok(())
    }

    /// SQLite claims: one job on the dedicated connection (see `lite`).
    #[cfg(feature = "sqlite")]
    async fn claim_sqlite(
        &self,
        now: i64,
        until: i64,
        limit: usize,
        worker: &str,
    ) -> Result<Vec<AccountRecord>, StoreError> {
        let lite = self.lite()?;
        let gate = self.inner.write_gate.clone().lock_owned().await;
        let inner = self.inner.clone();
        let worker = worker.to_owned();
        let claimed = lite
            .run(move |conn, gone| {
                crate::lite::claim(conn, gone, &inner.enc, now, until, limit, &worker)
            })
            .await??;
        drop(gate);
        if claimed.len() == limit
            && let Some(last) = claimed.last().and_then(|r| r.state.next_action_at)
        {
            self.read_ahead(now, ms(last), limit);
        }
        Ok(claimed)
    }

    /// Reads the rows the next claims at `now` will take, so their pages are in memory
    /// by then: the due rows after `last` (the end of the batch just claimed), two
    /// batches deep, reading only what earlier read-aheads have not (so one new batch per
    /// claim once it is ahead). Two, so that a keeper which claims its next batch as soon
    /// as it has the current one finds it read by the read-ahead before last. At most one
    /// runs at a time; a failure only costs the next claim its head start.
    #[cfg(feature = "sqlite")]
    fn read_ahead(&self, now: i64, last: i64, limit: usize) {
        use std::sync::atomic::Ordering;
        let inner = &self.inner;
        if !inner.read_ahead || inner.reading_ahead.swap(true, Ordering::AcqRel) {
            return;
        }
        let mark = inner.read_ahead_mark.load(Ordering::Acquire);
        // Behind the claims (first time, or they moved past it): two batches from the
        // claim's end. Ahead: one more batch from the mark.
        let (after, n) = if mark <= last {
            (last, 2 * limit)
        } else {
            (mark, limit)
        };
        let inner = inner.clone();
        tokio::spawn(async move {
            let read =
                sqlx::query_as::<_, (i64, Option<i64>, Option<i64>)>(crate::lite::READ_AHEAD)
                    .bind(now)
                    .bind(after)
                    .bind(n as i64)
                    .fetch_one(&inner.pool)
                    .await;
            match read {
                Ok((_, Some(end), _)) => {
                    inner.read_ahead_mark.fetch_max(end, Ordering::AcqRel);
                }
                Ok(_) => {}
                Err(e) => tracing::debug!(error = %e, "SQLite read-ahead failed"),
            }
            inner.reading_ahead.store(false, Ordering::Release);
        });
    }

    #[cfg(not(feature = "sqlite"))]
    async fn claim_sqlite(
        &self,
        _now: i64,
        _until: i64,
        _limit: usize,
        _worker: &str,
    ) -> Result<Vec<AccountRecord>, StoreError> {
        Err(StoreError::Backend {
            message: "this build lacks the `sqlite` feature".into(),
            source: None,
        })
    }

    /// The dedicated SQLite connection.
    #[cfg(feature = "sqlite")]
    fn lite(&self) -> Result<&crate::lite::Lite, StoreError> {
        self.inner.lite.as_ref().ok_or_else(|| StoreError::Backend {
            message: "this store has no dedicated SQLite connection".into(),
            source: None,
        })
    }

    /// SQLite batched commits: encoded here (encryption, JSON), written by one job on
    /// the dedicated connection (see `lite`).
    #[cfg(feature = "sqlite")]
    async fn commit_sqlite(
        &self,
        ts: &[Transition],
    ) -> Result<Vec<Result<(), StoreError>>, StoreError> {
        let lite = self.lite()?;
        let rows: Vec<crate::lite::CommitRow> = ts
            .iter()
            .map(|t| crate::lite::CommitRow::new(t, &self.inner.enc))
            .collect();
        let _gate = self.inner.write_gate.clone().lock_owned().await;
        lite.run(move |conn, _| crate::lite::commit(conn, &rows))
            .await?
    }

    /// `commit_many` in a handful of statements instead of two or three per transition
    /// (PostgreSQL). Per run of distinct accounts: the fenced updates as `UPDATE … FROM
    /// (VALUES …) RETURNING id` in power-of-two chunks of up to 256 rows, then the history
    /// of every written row as multi-row INSERTs, in order. Each transition is fenced on
    /// its own: a row the UPDATE did not return had another version (`Conflict`) or does
    /// not exist (`UnknownAccount`; one lookup each, only for those). An account appearing
    /// twice is committed in order (a new run starts at the repeat, so the second sees the
    /// first's version).
    async fn commit_batched(
        &self,
        tx: &mut sqlx::Transaction<'_, Any>,
        ts: &[Transition],
    ) -> Result<Vec<Result<(), StoreError>>, StoreError> {
        let sql = &self.inner.sql;
        let ids: Vec<String> = ts.iter().map(|t| t.account.id.to_string()).collect();
        let mut out: Vec<Option<Result<(), StoreError>>> = (0..ts.len()).map(|_| None).collect();
        let mut start = 0;
        while start < ts.len() {
            let mut seen = HashSet::new();
            let mut end = start;
            while end < ts.len() && seen.insert(ts[end].account.id) {
                end += 1;
            }
            let mut written: Vec<usize> = Vec::with_capacity(end - start);
            for (from, k) in pieces(start, end) {
                let chunk = from..from + (1 << k);
                let mut q = self.q(&sql.commit_batch[k]);
                for i in chunk.clone() {
                    q = self.bind_batch_row(q, &ts[i], &ids[i]);
                }
                let done: HashSet<String> = first_column(q, tx).await?.into_iter().collect();
                for i in chunk {
                    if done.contains(&ids[i]) {
                        written.push(i);
                        continue;
                    }
                    let exists = self
                        .q(&sql.exists)
                        .bind(ids[i].clone())
                        .fetch_optional(&mut **tx)
                        .await
                        .map_err(map_err)?;
                    let id = ts[i].account.id;
                    out[i] = Some(Err(if exists.is_some() {
                        StoreError::Conflict(id)
                    } else {
                        StoreError::UnknownAccount(id)
                    }));
                }
            }
            let events: Vec<(usize, &TokenEvent)> = written
                .iter()
                .flat_map(|&i| ts[i].events.iter().map(move |e| (i, e)))
                .collect();
            for (from, k) in pieces(0, events.len()) {
                let mut q = self.q(&sql.history_batch[k]);
                for &(i, e) in &events[from..from + (1 << k)] {
                    q = q.bind(ids[i].clone()).bind(ms(e.at)).bind(json(&e.kind));
                }
                q.execute(&mut **tx).await.map_err(map_err)?;
            }
            for &i in &written {
                for n in &ts[i].notices {
                    self.q(&sql.insert_notice)
                        .bind(n.id.to_string())
                        .bind(n.dedupe_key.clone())
                        .bind(ids[i].clone())
                        .bind(ms(n.created_at))
                        .bind(json(n))
                        .bind(ms(n.created_at))
                        .execute(&mut **tx)
                        .await
                        .map_err(map_err)?;
                }
                out[i] = Some(Ok(()));
            }
            start = end;
        }
        Ok(out
            .into_iter()
            .map(|r| r.expect("every transition gets a result"))
            .collect())
    }

    /// One row of [`Sql::commit_batch`] (`BATCH_COLS`): a NULL ciphertext keeps the
    /// stored token.
    fn bind_batch_row(&self, q: Q, t: &Transition, id_s: &str) -> Q {
        let sealed = t
            .token_changed
            .then(|| self.inner.enc.seal(t.state.token.secret(), id_s));
        bind_account_cols(q, id_s, &t.account, &t.state, sealed, t.expected_version)
    }

    /// Inserts many new accounts in one transaction (imports, seeding). Each record is
    /// encrypted like [`TokenStore::insert`]; a duplicate fails the whole batch.
    pub async fn insert_many(&self, records: &[AccountRecord]) -> Result<(), StoreError> {
        let (_gate, mut tx) = self.begin().await?;
        for record in records {
            let a = &record.account;
            let s = &record.state;
            let id_s = a.id.to_string();
            let sealed = self.inner.enc.seal(s.token.secret(), &id_s);
            let q = self.q(&self.inner.sql.insert_account);
            bind_account_cols(q, &id_s, a, s, Some(sealed), record.version)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
        }
        tx.commit().await.map_err(map_err)
    }

    /// Re-encrypts, in batches of `batch`, every token still under an older key with
    /// the current key. Returns how many rows were rewritten. Safe to run while keepers
    /// work: a row changed meanwhile is skipped and picked up by the next run.
    pub async fn rotate(&self, batch: usize) -> Result<u64, StoreError> {
        let Encryption::Keyring(ring) = &self.inner.enc else {
            return Ok(0);
        };
        let current = ring.current_id().to_owned();
        let mut after = String::new();
        let mut done = 0;
        loop {
            let rows = self
                .q(&self.inner.sql.stale_keys)
                .bind(current.clone())
                .bind(after.clone())
                .bind(batch.max(1) as i64)
                .fetch_all(&self.inner.pool)
                .await
                .map_err(map_err)?;
            if rows.is_empty() {
                break;
            }
            let (_gate, mut tx) = self.begin().await?;
            for r in &rows {
                let id: String = r.try_get(0).map_err(map_err)?;
                let key: String = r.try_get(1).map_err(map_err)?;
                let ct: Vec<u8> = r.try_get(2).map_err(map_err)?;
                after = id.clone();
                if !self.inner.enc.is_stale(&key) {
                    continue;
                }
                let plain = match self.inner.enc.open(&key, &ct, &id) {
                    Ok(p) => p,
                    Err(m) => {
                        tracing::warn!(account_id = %id, error = %m, "cannot rotate an unreadable token");
                        continue;
                    }
                };
                let (k, c) = self.inner.enc.seal(&plain, &id);
                let res = self
                    .q(&self.inner.sql.rewrite_token)
                    .bind(c)
                    .bind(k)
                    .bind(id)
                    .bind(key)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                done += res.rows_affected();
            }
            tx.commit().await.map_err(map_err)?;
        }
        Ok(done)
    }

    fn decode_outbox(row: &AnyRow) -> Result<OutboxEntry, StoreError> {
        let bad = |e: String| StoreError::Backend {
            message: format!("unreadable outbox row: {e}"),
            source: None,
        };
        let notice: Notice = serde_json::from_str(
            &row.try_get::<String, _>(0)
                .map_err(|e| bad(e.to_string()))?,
        )
        .map_err(|e| bad(e.to_string()))?;
        Ok(OutboxEntry {
            notice,
            attempts: row.try_get::<i64, _>(1).map_err(|e| bad(e.to_string()))? as u32,
            delivered: serde_json::from_str(
                &row.try_get::<String, _>(2)
                    .map_err(|e| bad(e.to_string()))?,
            )
            .map_err(|e| bad(e.to_string()))?,
            version: row.try_get(3).map_err(|e| bad(e.to_string()))?,
        })
    }
}

#[async_trait]
impl TokenStore for SqlStore {
    async fn insert(
        &self,
        record: &AccountRecord,
        events: &[TokenEvent],
    ) -> Result<(), StoreError> {
        let a = &record.account;
        let s = &record.state;
        let id_s = a.id.to_string();
        let sealed = self.inner.enc.seal(s.token.secret(), &id_s);
        let (_gate, mut tx) = self.begin().await?;
        let res = bind_account_cols(
            self.q(&self.inner.sql.insert_account),
            &id_s,
            a,
            s,
            Some(sealed),
            record.version,
        )
        .execute(&mut *tx)
        .await;
        if let Err(e) = res {
            if let sqlx::Error::Database(d) = &e
                && d.is_unique_violation()
            {
                return Err(StoreError::Duplicate {
                    kind: a.kind,
                    ig_user_id: a.ig_user_id.clone(),
                });
            }
            return Err(map_err(e));
        }
        self.write_events(&mut tx, a.id, events).await?;
        tx.commit().await.map_err(map_err)
    }

    async fn delete(&self, id: AccountId) -> Result<bool, StoreError> {
        let (_gate, mut tx) = self.begin().await?;
        let sql = &self.inner.sql;
        let n = self
            .q(&sql.delete_account)
            .bind(id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(map_err)?
            .rows_affected();
        for q in [&sql.delete_history, &sql.delete_outbox] {
            self.q(q)
                .bind(id.to_string())
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
        }
        tx.commit().await.map_err(map_err)?;
        Ok(n > 0)
    }

    async fn get(&self, id: AccountId) -> Result<Option<AccountRecord>, StoreError> {
        let row = self
            .q(&self.inner.sql.get)
            .bind(id.to_string())
            .fetch_optional(&self.inner.pool)
            .await
            .map_err(map_err)?;
        row.map(|r| self.decode(&r)).transpose()
    }

    async fn find(
        &self,
        kind: ConnectionKind,
        ig_user_id: &str,
    ) -> Result<Option<AccountRecord>, StoreError> {
        let row = self
            .q(&self.inner.sql.find)
            .bind(kind.as_str())
            .bind(ig_user_id.to_owned())
            .fetch_optional(&self.inner.pool)
            .await
            .map_err(map_err)?;
        row.map(|r| self.decode(&r)).transpose()
    }

    async fn list_by_owner(&self, owner: &OwnerId) -> Result<Vec<AccountRecord>, StoreError> {
        let rows = self
            .q(&self.inner.sql.list_by_owner)
            .bind(owner.as_str().to_owned())
            .fetch_all(&self.inner.pool)
            .await
            .map_err(map_err)?;
        rows.iter().map(|r| self.decode(r)).collect()
    }

    async fn update_account(&self, a: &Account) -> Result<(), StoreError> {
        let res = self
            .q(&self.inner.sql.update_account)
            .bind(a.owner.as_str().to_owned())
            .bind(a.kind.as_str())
            .bind(a.ig_user_id.clone())
            .bind(a.username.clone())
            .bind(a.page_id.clone())
            .bind(i64::from(a.entitlements.notifications))
            .bind(a.id.to_string())
            .execute(&self.inner.pool)
            .await
            .map_err(map_err)?;
        if res.rows_affected() == 0 {
            return Err(StoreError::UnknownAccount(a.id));
        }
        Ok(())
    }

    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        limit: usize,
        lease: Duration,
        worker: &str,
    ) -> Result<Vec<AccountRecord>, StoreError> {
        let until = ms(lease_end(now, lease));
        let n = ms(now);
        let sql = &self.inner.sql;
        let rows = if self.inner.dialect == Dialect::Mysql {
            let (_gate, mut tx) = self.begin().await?;
            let select = self.q(&sql.claim_select).bind(n).bind(n).bind(limit as i64);
            let ids = first_column(select, &mut tx).await?;
            let mut rows = Vec::with_capacity(ids.len());
            for id in ids {
                self.q(&sql.claim_mark)
                    .bind(worker.to_owned())
                    .bind(until)
                    .bind(id.clone())
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                if let Some(r) = self
                    .q(&sql.get)
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(map_err)?
                {
                    rows.push(r);
                }
            }
            tx.commit().await.map_err(map_err)?;
            rows
        } else if self.inner.dialect == Dialect::Sqlite {
            return self.claim_sqlite(n, until, limit, worker).await;
        } else {
            self.q(&sql.claim)
                .bind(worker.to_owned())
                .bind(until)
                .bind(n)
                .bind(n)
                .bind(limit as i64)
                .fetch_all(&self.inner.pool)
                .await
                .map_err(map_err)?
        };
        Ok(self.decode_claimed(&rows))
    }

    async fn commit(&self, t: &Transition) -> Result<(), StoreError> {
        let (_gate, mut tx) = self.begin().await?;
        let r = self.commit_in(&mut tx, t).await?;
        if r.is_ok() {
            tx.commit().await.map_err(map_err)?;
        }
        r
    }

    async fn commit_many(&self, ts: &[Transition]) -> Vec<Result<(), StoreError>> {
        let run = async {
            #[cfg(feature = "sqlite")]
            if self.inner.lite.is_some() {
                return self.commit_sqlite(ts).await;
            }
            let (_gate, mut tx) = self.begin().await?;
            let out = if self.inner.sql.commit_batch.is_empty() {
                let mut out = Vec::with_capacity(ts.len());
                for t in ts {
                    out.push(self.commit_in(&mut tx, t).await?);
                }
                out
            } else {
                self.commit_batched(&mut tx, ts).await?
            };
            tx.commit().await.map_err(map_err)?;
            Ok::<_, StoreError>(out)
        };
        match run.await {
            Ok(v) => v,
            Err(e) => e.for_batch(ts.len()),
        }
    }

    async fn extend_leases(
        &self,
        leases: &[(AccountId, i64)],
        until: DateTime<Utc>,
    ) -> Result<Vec<bool>, StoreError> {
        if leases.is_empty() {
            return Ok(Vec::new());
        }
        // One transaction; each row is renewed only at the version its holder has.
        let (_gate, mut tx) = self.begin().await?;
        let mut out = Vec::with_capacity(leases.len());
        for (id, version) in leases {
            let r = self
                .q(&self.inner.sql.extend_lease)
                .bind(ms(until))
                .bind(id.to_string())
                .bind(*version)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
            out.push(r.rows_affected() == 1);
        }
        tx.commit().await.map_err(map_err)?;
        Ok(out)
    }

    async fn release(&self, id: AccountId, version: i64) -> Result<(), StoreError> {
        self.q(&self.inner.sql.release)
            .bind(id.to_string())
            .bind(version)
            .execute(&self.inner.pool)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn history(
        &self,
        id: AccountId,
        query: HistoryQuery,
    ) -> Result<Vec<HistoryEntry>, StoreError> {
        let exists = self
            .q(&self.inner.sql.exists)
            .bind(id.to_string())
            .fetch_optional(&self.inner.pool)
            .await
            .map_err(map_err)?;
        if exists.is_none() {
            return Err(StoreError::UnknownAccount(id));
        }
        let q = match query.before {
            Some(b) => self
                .q(&self.inner.sql.history_before)
                .bind(id.to_string())
                .bind(b),
            None => self.q(&self.inner.sql.history).bind(id.to_string()),
        };
        let rows = q
            .bind(i64::from(query.limit))
            .fetch_all(&self.inner.pool)
            .await
            .map_err(map_err)?;
        rows.iter()
            .map(|r| {
                let kind: TokenEventKind =
                    serde_json::from_str(&r.try_get::<String, _>(2).map_err(map_err)?)
                        .map_err(|e| corrupt(id, format!("history event: {e}")))?;
                Ok(HistoryEntry {
                    seq: r.try_get(0).map_err(map_err)?,
                    event: TokenEvent::new(from_ms(r.try_get(1).map_err(map_err)?), kind),
                })
            })
            .collect()
    }

    async fn take_outbox(
        &self,
        now: DateTime<Utc>,
        limit: usize,
        lease: Duration,
        worker: &str,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let until = ms(lease_end(now, lease));
        let n = ms(now);
        let sql = &self.inner.sql;
        let mut rows = if self.inner.dialect == Dialect::Mysql {
            let (_gate, mut tx) = self.begin().await?;
            let ids: Vec<String> = self
                .q(&sql.take_select)
                .bind(n)
                .bind(n)
                .bind(limit as i64)
                .fetch_all(&mut *tx)
                .await
                .map_err(map_err)?
                .iter()
                .map(|r| r.try_get::<String, _>(0))
                .collect::<Result<_, _>>()
                .map_err(map_err)?;
            let mut rows = Vec::new();
            for id in ids {
                self.q(&sql.take_mark)
                    .bind(worker.to_owned())
                    .bind(until)
                    .bind(id.clone())
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                if let Some(r) = self
                    .q(&sql.outbox_get)
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(map_err)?
                {
                    rows.push(r);
                }
            }
            tx.commit().await.map_err(map_err)?;
            rows
        } else {
            self.q(&sql.take_outbox)
                .bind(worker.to_owned())
                .bind(until)
                .bind(n)
                .bind(n)
                .bind(limit as i64)
                .fetch_all(&self.inner.pool)
                .await
                .map_err(map_err)?
        };
        rows.sort_by_key(|r| {
            (
                r.try_get::<i64, _>(4).unwrap_or_default(),
                r.try_get::<String, _>(5).unwrap_or_default(),
            )
        });
        rows.iter().map(Self::decode_outbox).collect()
    }

    async fn ack_outbox(
        &self,
        notice_id: Uuid,
        version: i64,
        outcome: &OutboxOutcome,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let (_gate, mut tx) = self.begin().await?;
        let row = self
            .q(&self.inner.sql.outbox_get)
            .bind(notice_id.to_string())
            .fetch_optional(&mut *tx)
            .await
            .map_err(map_err)?
            .ok_or_else(|| StoreError::Backend {
                message: format!("unknown notice {notice_id}"),
                source: None,
            })?;
        let entry = Self::decode_outbox(&row)?;
        let account = entry.notice.account_id;
        let topic = entry.notice.kind.topic();
        let (final_state, event) = match outcome {
            OutboxOutcome::Delivered { channels } => (
                Some("delivered"),
                Some(TokenEventKind::NoticeSent {
                    topic,
                    channels: channels.clone(),
                }),
            ),
            OutboxOutcome::Suppressed { why } => (
                Some("suppressed"),
                Some(TokenEventKind::NoticeSuppressed {
                    topic,
                    why: why.clone(),
                }),
            ),
            OutboxOutcome::Failed { error } => (
                Some("failed"),
                Some(TokenEventKind::NoticeFailed {
                    topic,
                    error: error.clone(),
                }),
            ),
            OutboxOutcome::Retry { .. } => (None, None),
        };
        let res = match (final_state, outcome) {
            (Some(state), _) => self
                .q(&self.inner.sql.ack_final)
                .bind(state)
                .bind(notice_id.to_string())
                .bind(version),
            (None, OutboxOutcome::Retry { at, delivered, .. }) => self
                .q(&self.inner.sql.ack_retry)
                .bind(json(delivered))
                .bind(ms(*at))
                .bind(notice_id.to_string())
                .bind(version),
            (None, _) => unreachable!("only Retry is not final"),
        }
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        if res.rows_affected() == 0 {
            return Err(StoreError::Conflict(account));
        }
        if let Some(kind) = event {
            self.write_events(&mut tx, account, &[TokenEvent::new(now, kind)])
                .await?;
        }
        tx.commit().await.map_err(map_err)
    }

    async fn notices(&self, id: AccountId) -> Result<Vec<(Notice, NoticeState)>, StoreError> {
        let rows = self
            .q(&self.inner.sql.notices)
            .bind(id.to_string())
            .fetch_all(&self.inner.pool)
            .await
            .map_err(map_err)?;
        rows.iter()
            .map(|r| {
                let n: Notice = serde_json::from_str(&r.try_get::<String, _>(0).map_err(map_err)?)
                    .map_err(|e| corrupt(id, format!("notice: {e}")))?;
                let st = match r.try_get::<String, _>(1).map_err(map_err)?.as_str() {
                    "pending" => NoticeState::Pending,
                    "delivered" => NoticeState::Delivered,
                    "suppressed" => NoticeState::Suppressed,
                    _ => NoticeState::Failed,
                };
                Ok((n, st))
            })
            .collect()
    }

    async fn preferences(&self, owner: &OwnerId) -> Result<Preferences, StoreError> {
        let row = self
            .q(&self.inner.sql.prefs_get)
            .bind(owner.as_str().to_owned())
            .fetch_optional(&self.inner.pool)
            .await
            .map_err(map_err)?;
        match row {
            None => Ok(Preferences::new(owner.clone())),
            Some(r) => {
                serde_json::from_str(&r.try_get::<String, _>(0).map_err(map_err)?).map_err(|e| {
                    StoreError::Backend {
                        message: format!("unreadable preferences of {owner}: {e}"),
                        source: None,
                    }
                })
            }
        }
    }

    async fn set_preferences(&self, prefs: &Preferences) -> Result<(), StoreError> {
        self.q(&self.inner.sql.prefs_upsert)
            .bind(prefs.owner.as_str().to_owned())
            .bind(json(prefs))
            .execute(&self.inner.pool)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn record_sweep(&self, worker: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.q(&self.inner.sql.sweep_upsert)
            .bind(worker.to_owned())
            .bind(ms(at))
            .execute(&self.inner.pool)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn last_sweep(&self) -> Result<Option<(String, DateTime<Utc>)>, StoreError> {
        let row = self
            .q(&self.inner.sql.last_sweep)
            .fetch_optional(&self.inner.pool)
            .await
            .map_err(map_err)?;
        row.map(|r| {
            Ok((
                r.try_get(0).map_err(map_err)?,
                from_ms(r.try_get(1).map_err(map_err)?),
            ))
        })
        .transpose()
    }

    async fn count_by_status(&self) -> Result<StatusCounts, StoreError> {
        let rows = self
            .q(&self.inner.sql.counts)
            .fetch_all(&self.inner.pool)
            .await
            .map_err(map_err)?;
        let mut c = StatusCounts::default();
        for r in rows {
            let s: String = r.try_get(0).map_err(map_err)?;
            let n = r.try_get::<i64, _>(1).map_err(map_err)? as u64;
            match s.as_str() {
                "active" => c.active = n,
                "expired" => c.expired = n,
                "revoked" => c.revoked = n,
                _ => {}
            }
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::pieces;

    #[test]
    fn pieces_cover_the_range_in_power_of_two_runs_largest_first() {
        for n in [0usize, 1, 2, 3, 7, 255, 256, 257, 500, 513, 1000] {
            let p = pieces(5, 5 + n);
            let mut at = 5;
            for &(from, k) in &p {
                assert_eq!(from, at, "contiguous for n={n}");
                assert!(k <= super::MAX_ROWS_LOG2);
                at += 1 << k;
            }
            assert_eq!(at, 5 + n, "covers exactly n={n}");
            assert!(
                p.windows(2).all(|w| w[0].1 >= w[1].1),
                "largest first: {p:?}"
            );
        }
        assert_eq!(
            pieces(0, 500),
            vec![(0, 8), (256, 7), (384, 6), (448, 5), (480, 4), (496, 2)]
        );
    }
}
