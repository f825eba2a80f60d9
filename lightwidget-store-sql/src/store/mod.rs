//! [`SqlStore`]: the [`TokenStore`] on the backend its builder chose. Claims, outbox
//! takes and batched commits go to the backend; the rest runs the dialect's statements
//! on the pool: accounts (`accounts.rs`), owners (`members.rs`), history
//! (`history.rs`), notices (`outbox.rs`), incidents (`../incidents.rs`); the small ones
//! are here.

mod accounts;
mod held;
mod history;
mod members;
mod outbox;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use lightwidget_core::{
    Account, AccountId, AccountRecord, Departure, HistoryEntry, HistoryQuery, Incident, IncidentId,
    Lookup, Membership, Notice, NoticeState, OutboxEntry, OwnerId, Preferences, StatusCounts,
    StoreError, TokenEvent, TokenStore, Transition,
};
use sqlx::{AnyPool, Row};
use uuid::Uuid;

use crate::codec::{decode_account, from_ms, json, ms};
use crate::db::{Classified, Db, Q, Queries};
use crate::dialect::{Backend, Dialect};
use crate::lease::Lease;

/// A [`TokenStore`] on SQLite, PostgreSQL or MySQL/MariaDB, chosen by the URL.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use lightwidget_store_sql::{Key, Keyring, SqlStore, TokenStore};
///
/// let path = std::env::temp_dir().join(format!("lw-doc-{}.db", std::process::id()));
/// // In production: Keyring::from_env() (LIGHTWIDGET_KEYS="k1:<base64 of 32 bytes>").
/// let keys = Keyring::new(Key::new("k1", &[7u8; 32])?);
/// let store = SqlStore::builder(format!("sqlite://{}", path.display()))
///     .keyring(keys)
///     .connect()
///     .await?;
/// assert_eq!(store.count_by_status().await?.active, 0);
/// store.close().await;
/// # let _ = std::fs::remove_file(&path);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SqlStore {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub db: Db,
    pub dialect: Dialect,
    pub backend: Box<dyn Backend>,
}

impl std::fmt::Debug for SqlStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlStore")
            .field("dialect", &self.inner.dialect)
            .field("encryption", &self.inner.db.enc)
            .finish_non_exhaustive()
    }
}

impl SqlStore {
    /// The dialect in use.
    pub fn dialect(&self) -> Dialect {
        self.inner.dialect
    }

    /// The connection pool (for hosts that share it; migrations, health checks).
    pub fn pool(&self) -> &AnyPool {
        &self.inner.db.pool
    }

    /// Closes the pool.
    pub async fn close(&self) {
        self.inner.backend.close().await;
        self.inner.db.pool.close().await;
    }

    pub(crate) fn db(&self) -> &Db {
        &self.inner.db
    }

    pub(crate) fn sql(&self) -> &'static Queries {
        self.inner.db.sql
    }

    pub(crate) fn q(&self, sql: &'static str) -> Q {
        sqlx::query(sql)
    }

    /// Runs `q` on the pool and returns how many rows it changed.
    async fn run(&self, q: Q) -> Result<u64, StoreError> {
        Ok(q.execute(self.pool())
            .await
            .classified(self.db())?
            .rows_affected())
    }

    /// The accounts of the rows `q` returns, in order.
    async fn accounts(&self, q: Q) -> Result<Vec<AccountRecord>, StoreError> {
        let rows = q.fetch_all(self.pool()).await.classified(self.db())?;
        rows.iter()
            .map(|r| decode_account(r, &self.inner.db.enc))
            .collect()
    }

    /// Whether account `id` exists (on the pool).
    async fn exists(&self, id: AccountId) -> Result<bool, StoreError> {
        let row = self
            .q(self.sql().exists)
            .bind(id.to_string())
            .fetch_optional(self.pool())
            .await
            .classified(self.db())?;
        Ok(row.is_some())
    }
}

#[async_trait]
impl TokenStore for SqlStore {
    // ------------------------------------------------------------ accounts (accounts.rs)

    async fn insert(
        &self,
        record: &AccountRecord,
        events: &[TokenEvent],
    ) -> Result<(), StoreError> {
        self.insert_sql(record, events).await
    }

    async fn delete(&self, id: AccountId) -> Result<bool, StoreError> {
        let mut tx = self.inner.db.begin().await?;
        let n = self.delete_in(&mut tx, id).await?;
        tx.tx.commit().await.classified(self.db())?;
        Ok(n)
    }

    async fn lookup(&self, lookup: &Lookup) -> Result<Vec<AccountRecord>, StoreError> {
        self.lookup_sql(lookup).await
    }

    async fn get(&self, id: AccountId) -> Result<Option<AccountRecord>, StoreError> {
        let q = self.q(self.sql().get).bind(id.to_string());
        Ok(self.accounts(q).await?.pop())
    }

    async fn update_account(&self, a: &Account) -> Result<(), StoreError> {
        self.update_account_sql(a).await
    }

    async fn count_by_status(&self) -> Result<StatusCounts, StoreError> {
        let rows = self
            .q(self.sql().counts)
            .fetch_all(self.pool())
            .await
            .classified(self.db())?;
        let mut c = StatusCounts::default();
        for r in rows {
            let s: String = r.try_get(0).classified(self.db())?;
            let n = r.try_get::<i64, _>(1).classified(self.db())? as u64;
            match s.as_str() {
                "active" => c.active = n,
                "expired" => c.expired = n,
                "revoked" => c.revoked = n,
                _ => {}
            }
        }
        Ok(c)
    }

    // ------------------------------------------------------------ owners (members.rs)

    async fn owners(&self, id: AccountId) -> Result<Vec<Membership>, StoreError> {
        self.owners_sql(id).await
    }

    async fn join(&self, id: AccountId, member: &Membership) -> Result<bool, StoreError> {
        self.join_sql(id, member).await
    }

    async fn leave(
        &self,
        id: AccountId,
        owner: &OwnerId,
        at: DateTime<Utc>,
    ) -> Result<Departure, StoreError> {
        self.leave_sql(id, owner, at).await
    }

    // ------------------------------------------------------------ claims and commits

    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        limit: usize,
        lease: Duration,
        worker: &str,
    ) -> Result<Vec<AccountRecord>, StoreError> {
        let lease = Lease::new(now, limit, lease, worker);
        self.inner.backend.claim(&self.inner.db, lease).await
    }

    async fn commit_many(&self, ts: &[Transition]) -> Vec<Result<(), StoreError>> {
        match self.inner.backend.commit_batch(&self.inner.db, ts).await {
            Ok(v) => v,
            Err(e) => e.for_batch(ts.len()),
        }
    }

    async fn commit(&self, t: &Transition) -> Result<(), StoreError> {
        let mut tx = self.inner.db.begin().await?;
        let r = self.inner.db.commit_one(&mut tx, t).await?;
        if r.is_ok() {
            tx.tx.commit().await.classified(self.db())?;
        }
        r
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
        let mut tx = self.inner.db.begin().await?;
        let mut out = Vec::with_capacity(leases.len());
        for (id, version) in leases {
            let r = self
                .q(self.sql().extend_lease)
                .bind(ms(until))
                .bind(id.to_string())
                .bind(*version)
                .execute(&mut *tx.tx)
                .await
                .classified(self.db())?;
            out.push(r.rows_affected() == 1);
        }
        tx.tx.commit().await.classified(self.db())?;
        Ok(out)
    }

    async fn release(&self, id: AccountId, version: i64) -> Result<(), StoreError> {
        let q = self
            .q(self.sql().release)
            .bind(id.to_string())
            .bind(version);
        self.run(q).await.map(drop)
    }

    // ------------------------------------------------------------ history (history.rs)

    async fn read_history(
        &self,
        id: AccountId,
        owner: Option<OwnerId>,
        query: HistoryQuery,
    ) -> Result<Vec<HistoryEntry>, StoreError> {
        self.read_history_sql(id, owner.as_ref(), query).await
    }

    // ------------------------------------------------------------ outbox (outbox.rs)

    async fn take_outbox(
        &self,
        now: DateTime<Utc>,
        limit: usize,
        lease: Duration,
        worker: &str,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let lease = Lease::new(now, limit, lease, worker);
        self.inner.backend.take_outbox(&self.inner.db, lease).await
    }

    async fn ack_outbox(
        &self,
        notice_id: Uuid,
        version: i64,
        ack: &lightwidget_core::Acknowledged,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.ack_outbox_sql(notice_id, version, ack, now).await
    }

    async fn notices(&self, id: AccountId) -> Result<Vec<(Notice, NoticeState)>, StoreError> {
        self.notices_sql(id).await
    }

    // ------------------------------------------------------------ preferences, sweeps

    async fn preferences(&self, owner: &OwnerId) -> Result<Preferences, StoreError> {
        let row = self
            .q(self.sql().prefs_get)
            .bind(owner.as_str().to_owned())
            .fetch_optional(self.pool())
            .await
            .classified(self.db())?;
        let Some(r) = row else {
            return Ok(Preferences::new(owner.clone()));
        };
        let text: String = r.try_get(0).classified(self.db())?;
        serde_json::from_str(&text).map_err(|e| StoreError::Backend {
            message: format!("unreadable preferences of {owner}: {e}"),
            source: None,
        })
    }

    async fn set_preferences(&self, prefs: &Preferences) -> Result<(), StoreError> {
        let q = self.q(self.sql().prefs_upsert);
        let q = q.bind(prefs.owner.as_str().to_owned()).bind(json(prefs));
        self.run(q).await.map(drop)
    }

    async fn record_sweep(&self, worker: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        let q = self.q(self.sql().sweep_upsert);
        self.run(q.bind(worker.to_owned()).bind(ms(at)))
            .await
            .map(drop)
    }

    async fn last_sweep(&self) -> Result<Option<(String, DateTime<Utc>)>, StoreError> {
        let row = self
            .q(self.sql().last_sweep)
            .fetch_optional(self.pool())
            .await
            .classified(self.db())?;
        let Some(r) = row else {
            return Ok(None);
        };
        let worker = r.try_get(0).classified(self.db())?;
        Ok(Some((worker, from_ms(r.try_get(1).classified(self.db())?))))
    }

    // ------------------------------------------------------------ incidents (incidents.rs)

    async fn open_incident(&self, incident: &Incident) -> Result<(Incident, bool), StoreError> {
        self.open_incident_sql(incident).await
    }

    async fn update_incident(&self, incident: &Incident) -> Result<bool, StoreError> {
        self.update_incident_sql(incident).await
    }

    async fn incidents(&self, open_only: bool, limit: usize) -> Result<Vec<Incident>, StoreError> {
        self.incidents_sql(open_only, limit).await
    }

    async fn release_held(
        &self,
        incident: IncidentId,
        at: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        self.release_held_sql(incident, at).await
    }

    // ------------------------------------------------------------------ used links

    async fn mark_link_used(&self, link_id: &str, at: DateTime<Utc>) -> Result<bool, StoreError> {
        lightwidget_core::check_link_id(link_id)?;
        let q = self.q(self.sql().used_link_insert);
        Ok(self.run(q.bind(link_id.to_owned()).bind(ms(at))).await? == 1)
    }

    async fn prune_used_links(&self, used_before: DateTime<Utc>) -> Result<u64, StoreError> {
        let q = self.q(self.sql().used_links_prune);
        self.run(q.bind(ms(used_before))).await
    }

    async fn put_held(
        &self,
        key: &str,
        value: &secrecy::SecretString,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.put_held_sql(key, value, now, until).await
    }

    async fn get_held(
        &self,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<secrecy::SecretString>, StoreError> {
        self.get_held_sql(key, now).await
    }

    async fn take_held(
        &self,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<secrecy::SecretString>, StoreError> {
        self.take_held_sql(key, now).await
    }
}
