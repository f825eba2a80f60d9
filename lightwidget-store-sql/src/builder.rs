//! [`SqlStoreBuilder`]: the store's settings, checked on connect, and the one place that
//! picks the backend for the URL's dialect.

use std::sync::Arc;
use std::time::Duration;

use crate::connect::{Connect, redact};
use crate::dialect::Dialect;
use crate::store::{Inner, SqlStore};
use crate::{Encryption, Error, Keyring};

impl SqlStore {
    /// A builder for `url` (`sqlite://path.db`, `postgres://…`, `mysql://…`).
    pub fn builder(url: impl Into<String>) -> SqlStoreBuilder {
        SqlStoreBuilder::new(url.into())
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
}

/// Builder for [`SqlStore`].
pub struct SqlStoreBuilder {
    url: String,
    enc: Option<Encryption>,
    migrate: bool,
    max_connections: u32,
    acquire_timeout: Duration,
    checkpoint_every: Duration,
    wal_limit: u64,
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

impl SqlStoreBuilder {
    fn new(url: String) -> Self {
        Self {
            url,
            enc: None,
            migrate: true,
            max_connections: 8,
            acquire_timeout: Duration::from_secs(10),
            checkpoint_every: Duration::from_millis(250),
            wal_limit: 64 << 20,
            read_ahead: true,
        }
    }
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
    /// Run the embedded migrations on connect (default `true`). Any number of processes
    /// may connect at once to a database being created or upgraded: they migrate one at
    /// a time under a database-wide lock (PostgreSQL advisory lock, MySQL / MariaDB
    /// `GET_LOCK`, SQLite's write lock), the others wait and find the schema done. A
    /// MySQL / MariaDB migration interrupted half-way (their DDL is not transactional)
    /// is completed on the next connect, or reported as [`Error::MigrationInterrupted`]
    /// with the repair.
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
    /// SQLite: the size of write-ahead log past which the background checkpointer holds
    /// this process's claims and commits for a moment to empty the log (default 64 MiB;
    /// needs the background checkpointer, see
    /// [`sqlite_checkpoint_every`](Self::sqlite_checkpoint_every)).
    ///
    /// A passive checkpoint copies the log into the database but never waits for a
    /// writer, and SQLite starts the log over only when a checkpoint has copied all of it:
    /// under a write load without pauses (a sweep of many due accounts, a bulk import)
    /// a commit always lands while the checkpoint runs, so the log never starts over
    /// and grows without bound (1.1 GB during a sweep of 300k accounts, measured with
    /// the limit off). Past the limit, the checkpointer takes the store's write gate
    /// (which this process's claims, commits and other transactions pass), copies the
    /// rest and truncates the log (`PRAGMA wal_checkpoint(TRUNCATE)`), waiting at most
    /// 250 ms for readers still on the log, of this process or another. If a reader kept
    /// it from finishing, it waits more ticks before each new try (doubling, up to 64).
    /// `u64::MAX` turns this off.
    pub fn sqlite_wal_limit(mut self, bytes: u64) -> Self {
        self.wal_limit = bytes;
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
        sqlx::any::install_default_drivers();
        let c = Connect {
            dialect,
            url: self.url,
            enc,
            migrate: self.migrate,
            max_connections: self.max_connections,
            acquire_timeout: self.acquire_timeout,
            checkpoint_every: self.checkpoint_every,
            wal_limit: self.wal_limit,
            read_ahead: self.read_ahead,
        };
        // The one place that asks which database this is.
        let (db, backend) = match dialect {
            #[cfg(feature = "sqlite")]
            Dialect::Sqlite => crate::sqlite::open(&c).await?,
            #[cfg(feature = "postgres")]
            Dialect::Postgres => crate::postgres::open(&c).await?,
            #[cfg(feature = "mysql")]
            Dialect::Mysql => crate::mysql::open(&c).await?,
            #[allow(unreachable_patterns)]
            missing => {
                let feature = match missing {
                    Dialect::Sqlite => "sqlite",
                    Dialect::Postgres => "postgres",
                    Dialect::Mysql => "mysql",
                };
                return Err(Error::Config(format!(
                    "this build lacks the `{feature}` feature"
                )));
            }
        };
        Ok(SqlStore {
            inner: Arc::new(Inner {
                db,
                dialect,
                backend,
            }),
        })
    }
}
