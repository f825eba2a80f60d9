//! The seam between the store and its database: the [`Dialect`] named by the URL, and the
//! [`Backend`] each dialect's module implements — claims, taking the outbox, batched
//! commits, and (through [`Db`]) how its driver errors are classified. The builder
//! chooses the backend once, from the URL; nothing else asks which database it is.

use async_trait::async_trait;
use lightwidget_core::{AccountRecord, OutboxEntry, StoreError, Transition};

use crate::db::Db;
use crate::lease::Lease;

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
    ///
    /// ```
    /// use lightwidget_store_sql::Dialect;
    /// assert_eq!(Dialect::from_url("postgres://db/x"), Some(Dialect::Postgres));
    /// assert_eq!(Dialect::from_url("mariadb://db/x"), Some(Dialect::Mysql));
    /// assert_eq!(Dialect::from_url("redis://db"), None);
    /// ```
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

/// Leased accounts.
pub(crate) type Claimed = Result<Vec<AccountRecord>, StoreError>;
/// Leased notices.
pub(crate) type Taken = Result<Vec<OutboxEntry>, StoreError>;
/// One result per transition, or the batch's failure.
pub(crate) type Committed = Result<Vec<Result<(), StoreError>>, StoreError>;

/// What differs between databases. Everything else runs the dialect's [`Queries`]
/// (crate::db::Queries) through [`Db`].
#[async_trait]
pub(crate) trait Backend: Send + Sync + 'static {
    /// Leases up to `lease.limit` due accounts, earliest first; unreadable rows are leased
    /// too and skipped with a warning.
    async fn claim(&self, db: &Db, lease: Lease<'_>) -> Claimed;

    /// Leases up to `lease.limit` due notices, oldest first.
    async fn take_outbox(&self, db: &Db, lease: Lease<'_>) -> Taken;

    /// Commits a batch in one transaction, each transition fenced on its own. `Err` when
    /// the batch as a whole failed (nothing written).
    async fn commit_batch(&self, db: &Db, ts: &[Transition]) -> Committed;

    /// Inserts new accounts (and their owners as members) in one transaction, when the
    /// backend has a faster way than one statement per row; `None` runs the generic one.
    async fn insert_batch(
        &self,
        _db: &Db,
        _records: &[AccountRecord],
    ) -> Option<Result<(), StoreError>> {
        None
    }

    /// Releases what the backend holds besides the pool (SQLite's connection thread).
    async fn close(&self) {}
}
