//! # lightwidget-store-sql
//!
//! The durable [`TokenStore`] of lightwidget on sqlx: SQLite (embedded, the default),
//! PostgreSQL and MySQL 8 / MariaDB ≥ 10.6, chosen by the URL.
//!
//! - Token values are encrypted at rest with AES-256-GCM ([`Keyring`]); the account id
//!   is the associated data, so a ciphertext cannot be moved to another row.
//! - `claim_due` leases work with `FOR UPDATE SKIP LOCKED` on PostgreSQL and MySQL /
//!   MariaDB, and in one `BEGIN IMMEDIATE` transaction on SQLite; commits are fenced on
//!   the record version, and `commit_many` writes a batch in one transaction (one
//!   statement over arrays on PostgreSQL, with its history and notices).
//! - SQLite: claims and batched commits run on a dedicated connection of the store's own
//!   (rusqlite, on its own thread, statements prepared once), everything else on the
//!   sqlx pool; WAL, memory-mapped reads, this process's writers queued on an async gate,
//!   log checkpoints from a background task ([`SqlStoreBuilder::sqlite_checkpoint_every`]).
//!   The database must be a file: `sqlite::memory:` is refused (use
//!   `lightwidget_core::InMemoryStore` for a store in memory).
//! - PostgreSQL: claims and batched commits on a native connection pool of the store's
//!   own (sqlx's PostgreSQL driver), next to the shared [`SqlStore::pool`], one statement
//!   and one round trip each.
//! - Errors are classified per database, by class (SQLSTATE on PostgreSQL, the server's
//!   error number on MySQL / MariaDB, the extended result code on SQLite, the I/O error
//!   on a connection): refused, reset or terminated connections, a database not
//!   accepting connections, too many connections, read-only during a failover, lock and
//!   statement timeouts, deadlocks, serialization failures, busy and locked are
//!   transient ([`StoreError::Unavailable`](lightwidget_core::StoreError::Unavailable));
//!   constraint, data and syntax errors are permanent
//!   ([`StoreError::Rejected`](lightwidget_core::StoreError::Rejected)); the rest is
//!   [`StoreError::Backend`](lightwidget_core::StoreError::Backend), whose class is not
//!   known.
//! - Timestamps are BIGINT unix milliseconds (UTC) in every dialect.
//! - Migrations are embedded and run on connect (opt out with
//!   [`SqlStoreBuilder::run_migrations`]) under a database-wide lock on every backend:
//!   any number of processes can start at once on an empty database.
//!
//! ```no_run
//! # async fn demo() -> Result<(), lightwidget_store_sql::Error> {
//! use lightwidget_store_sql::{Keyring, SqlStore};
//! let store = SqlStore::builder("sqlite://lightwidget.db")
//!     .keyring(Keyring::from_env()?)
//!     .connect()
//!     .await?;
//! # let _ = store; Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod builder;
mod bulk;
mod classify;
mod codec;
mod connect;
mod crypto;
mod db;
mod dialect;
mod incidents;
mod lease;
mod migrate;
#[cfg(feature = "mysql")]
mod mysql;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "sqlite")]
mod sqlite;
mod store;

pub use builder::SqlStoreBuilder;
pub use crypto::{Encryption, Key, Keyring, PLAINTEXT_KEY_ID};
pub use dialect::Dialect;
pub use store::SqlStore;

pub use lightwidget_core::TokenStore;

/// Errors of the SQL store's setup (operations return [`lightwidget_core::StoreError`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Bad configuration (URL, keys).
    #[error("invalid store configuration: {0}")]
    Config(String),
    /// The database could not be reached.
    #[error("cannot connect to the database at {url}: {source}")]
    Connect {
        /// The URL, password hidden.
        url: String,
        /// The cause.
        #[source]
        source: sqlx::Error,
    },
    /// Migrations failed.
    #[error("database migration failed: {0}")]
    Migrate(#[source] sqlx::migrate::MigrateError),
    /// A MySQL / MariaDB migration was interrupted half-way (a process killed while
    /// migrating: their DDL is not transactional) and could not be completed on connect.
    #[error(
        "database migration {version} ({description}) was interrupted half-way and could not be completed: {cause}. To repair: {repair}"
    )]
    MigrationInterrupted {
        /// The migration's version.
        version: i64,
        /// Its description.
        description: String,
        /// Why it could not be completed.
        cause: String,
        /// What to do, exactly.
        repair: String,
    },
    /// An operation failed.
    #[error(transparent)]
    Store(#[from] lightwidget_core::StoreError),
}

impl Error {
    /// Whether retrying later may succeed (database unreachable).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Connect { .. } => true,
            Self::Store(e) => e.is_transient(),
            _ => false,
        }
    }
}

/// This crate's README, compiled as doc tests so its example stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
