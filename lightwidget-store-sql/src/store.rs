//! [`SqlStore`]: the [`TokenStore`] on the backend its builder chose. Claims, outbox
//! takes and batched commits go to the backend; the rest runs the dialect's statements
//! on the pool.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use lightwidget_core::{
    Account, AccountId, AccountRecord, ConnectionKind, Departure, Entitlements, HistoryEntry,
    HistoryQuery, Membership, Notice, NoticeState, OutboxEntry, OutboxOutcome, OwnerId,
    Preferences, StatusCounts, StoreError, TokenEvent, TokenEventKind, TokenStore, Transition,
};
use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};
use uuid::Uuid;

use crate::builder::SqlStoreBuilder;
use crate::codec::{corrupt, decode_account, decode_outbox, from_ms, json, lease_end, ms};
use crate::db::{Db, Q, Queries, WriteTx, bind_account_cols};
use crate::dialect::{Backend, Dialect, Lease};
use crate::{Encryption, Error, Keyring};

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

fn lease_of(now: DateTime<Utc>, limit: usize, lease: Duration, worker: &str) -> Lease<'_> {
    Lease {
        now: ms(now),
        until: ms(lease_end(now, lease)),
        limit,
        worker,
    }
}

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

    pub(crate) fn sql(&self) -> &'static Queries {
        self.inner.db.sql
    }

    pub(crate) fn q(&self, sql: &'static str) -> Q {
        sqlx::query(sql)
    }

    pub(crate) fn err(&self, e: sqlx::Error) -> StoreError {
        self.inner.db.err(e)
    }

    /// Deletes an account with its token, members, history and notices, inside `tx`.
    async fn delete_in(&self, tx: &mut WriteTx, id: AccountId) -> Result<bool, StoreError> {
        let sql = self.sql();
        let n = self
            .q(sql.delete_account)
            .bind(id.to_string())
            .execute(&mut *tx.tx)
            .await
            .map_err(|e| self.err(e))?
            .rows_affected();
        for q in [sql.delete_history, sql.delete_outbox, sql.delete_members] {
            self.q(q)
                .bind(id.to_string())
                .execute(&mut *tx.tx)
                .await
                .map_err(|e| self.err(e))?;
        }
        Ok(n > 0)
    }

    /// Locks the account's row for the rest of `tx` (SQLite: the write lock is already
    /// held) and returns its primary owner; unknown accounts are refused.
    async fn lock_account(&self, tx: &mut WriteTx, id: AccountId) -> Result<String, StoreError> {
        self.q(self.sql().lock_account)
            .bind(id.to_string())
            .fetch_optional(&mut *tx.tx)
            .await
            .map_err(|e| self.err(e))?
            .ok_or(StoreError::UnknownAccount(id))?
            .try_get(0)
            .map_err(|e| self.err(e))
    }

    /// A `members.sql` row: owner, notifications, joined_at.
    fn membership(&self, r: &AnyRow) -> Result<Membership, StoreError> {
        Ok(Membership {
            owner: OwnerId::new(r.try_get::<String, _>(0).map_err(|e| self.err(e))?),
            entitlements: Entitlements {
                notifications: r.try_get::<i64, _>(1).map_err(|e| self.err(e))? != 0,
            },
            joined_at: from_ms(r.try_get(2).map_err(|e| self.err(e))?),
        })
    }

    /// History rows (seq, at, event, owner) of `id`.
    fn history_rows(
        &self,
        id: AccountId,
        rows: &[AnyRow],
    ) -> Result<Vec<HistoryEntry>, StoreError> {
        rows.iter()
            .map(|r| {
                let kind: TokenEventKind =
                    serde_json::from_str(&r.try_get::<String, _>(2).map_err(|e| self.err(e))?)
                        .map_err(|e| corrupt(id, format!("history event: {e}")))?;
                Ok(HistoryEntry {
                    seq: r.try_get(0).map_err(|e| self.err(e))?,
                    event: TokenEvent::new(from_ms(r.try_get(1).map_err(|e| self.err(e))?), kind),
                    owner: r
                        .try_get::<Option<String>, _>(3)
                        .map_err(|e| self.err(e))?
                        .map(OwnerId::new),
                })
            })
            .collect()
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
        let sealed = self.inner.db.enc.seal(s.token.secret(), &id_s);
        let mut tx = self.inner.db.begin().await?;
        let res = bind_account_cols(
            self.q(self.sql().insert_account),
            &id_s,
            a,
            s,
            Some(sealed),
            record.version,
        )
        .execute(&mut *tx.tx)
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
            return Err(self.err(e));
        }
        // The first owner, seeing the whole history (joined_seq 0).
        let joined_at = events
            .first()
            .map(|e| e.at)
            .or(s.last_checked_at)
            .unwrap_or(s.token.issued_at);
        self.q(self.sql().member_insert)
            .bind(id_s.clone())
            .bind(a.owner.as_str().to_owned())
            .bind(i64::from(a.entitlements.notifications))
            .bind(ms(joined_at))
            .bind(0i64)
            .execute(&mut *tx.tx)
            .await
            .map_err(|e| self.err(e))?;
        self.inner.db.write_events(&mut tx, a.id, events).await?;
        tx.tx.commit().await.map_err(|e| self.err(e))
    }

    async fn delete(&self, id: AccountId) -> Result<bool, StoreError> {
        let mut tx = self.inner.db.begin().await?;
        let n = self.delete_in(&mut tx, id).await?;
        tx.tx.commit().await.map_err(|e| self.err(e))?;
        Ok(n)
    }

    async fn get(&self, id: AccountId) -> Result<Option<AccountRecord>, StoreError> {
        let row = self
            .q(self.sql().get)
            .bind(id.to_string())
            .fetch_optional(&self.inner.db.pool)
            .await
            .map_err(|e| self.err(e))?;
        row.map(|r| decode_account(&r, &self.inner.db.enc))
            .transpose()
    }

    async fn find(
        &self,
        kind: ConnectionKind,
        ig_user_id: &str,
    ) -> Result<Option<AccountRecord>, StoreError> {
        let row = self
            .q(self.sql().find)
            .bind(kind.as_str())
            .bind(ig_user_id.to_owned())
            .fetch_optional(&self.inner.db.pool)
            .await
            .map_err(|e| self.err(e))?;
        row.map(|r| decode_account(&r, &self.inner.db.enc))
            .transpose()
    }

    async fn list_by_owner(&self, owner: &OwnerId) -> Result<Vec<AccountRecord>, StoreError> {
        let rows = self
            .q(self.sql().list_by_owner)
            .bind(owner.as_str().to_owned())
            .fetch_all(&self.inner.db.pool)
            .await
            .map_err(|e| self.err(e))?;
        rows.iter()
            .map(|r| decode_account(r, &self.inner.db.enc))
            .collect()
    }

    async fn update_account(&self, a: &Account) -> Result<(), StoreError> {
        let res = self
            .q(self.sql().update_account)
            .bind(a.owner.as_str().to_owned())
            .bind(a.kind.as_str())
            .bind(a.ig_user_id.clone())
            .bind(a.username.clone())
            .bind(a.page_id.clone())
            .bind(i64::from(a.entitlements.notifications))
            .bind(a.fb_user_id.clone())
            .bind(a.id.to_string())
            .execute(&self.inner.db.pool)
            .await
            .map_err(|e| self.err(e))?;
        if res.rows_affected() == 0 {
            return Err(StoreError::UnknownAccount(a.id));
        }
        self.q(self.sql().member_update)
            .bind(i64::from(a.entitlements.notifications))
            .bind(a.id.to_string())
            .bind(a.owner.as_str().to_owned())
            .execute(&self.inner.db.pool)
            .await
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    async fn find_by_fb_user(&self, fb_user_id: &str) -> Result<Vec<AccountRecord>, StoreError> {
        let rows = self
            .q(self.sql().find_by_fb_user)
            .bind(fb_user_id.to_owned())
            .fetch_all(&self.inner.db.pool)
            .await
            .map_err(|e| self.err(e))?;
        rows.iter()
            .map(|r| decode_account(r, &self.inner.db.enc))
            .collect()
    }

    // ---- Lookup by username (#29.4) ----

    async fn find_by_username(
        &self,
        kind: ConnectionKind,
        username: &str,
    ) -> Result<Vec<AccountRecord>, StoreError> {
        // SQL narrows by LOWER(username); the ASCII-case-insensitive comparison that
        // decides is the same on every backend (MariaDB's collation, PostgreSQL's
        // Unicode LOWER and SQLite's ASCII one differ beyond ASCII).
        let rows = self
            .q(self.sql().find_by_username)
            .bind(kind.as_str())
            .bind(username.to_lowercase())
            .fetch_all(&self.inner.db.pool)
            .await
            .map_err(|e| self.err(e))?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let rec = decode_account(r, &self.inner.db.enc)?;
            if rec.account.username.eq_ignore_ascii_case(username) {
                out.push(rec);
            }
        }
        Ok(out)
    }

    async fn owners(&self, id: AccountId) -> Result<Vec<Membership>, StoreError> {
        let exists = self
            .q(self.sql().exists)
            .bind(id.to_string())
            .fetch_optional(&self.inner.db.pool)
            .await
            .map_err(|e| self.err(e))?;
        if exists.is_none() {
            return Err(StoreError::UnknownAccount(id));
        }
        let rows = self
            .q(self.sql().members)
            .bind(id.to_string())
            .fetch_all(&self.inner.db.pool)
            .await
            .map_err(|e| self.err(e))?;
        rows.iter().map(|r| self.membership(r)).collect()
    }

    async fn join(&self, id: AccountId, member: &Membership) -> Result<bool, StoreError> {
        let sql = self.sql();
        let id_s = id.to_string();
        let owner = member.owner.as_str().to_owned();
        let mut tx = self.inner.db.begin().await?;
        // Joins and leaves of one account take its row lock, one after the other.
        let primary = self.lock_account(&mut tx, id).await?;
        let known = self
            .q(sql.member_seq)
            .bind(id_s.clone())
            .bind(owner.clone())
            .fetch_optional(&mut *tx.tx)
            .await
            .map_err(|e| self.err(e))?
            .is_some();
        let notifications = i64::from(member.entitlements.notifications);
        if known {
            self.q(sql.member_update)
                .bind(notifications)
                .bind(id_s.clone())
                .bind(owner.clone())
                .execute(&mut *tx.tx)
                .await
                .map_err(|e| self.err(e))?;
            if primary == owner {
                self.q(sql.primary_update)
                    .bind(owner)
                    .bind(notifications)
                    .bind(id_s)
                    .execute(&mut *tx.tx)
                    .await
                    .map_err(|e| self.err(e))?;
            }
            tx.tx.commit().await.map_err(|e| self.err(e))?;
            return Ok(false);
        }
        let event = TokenEvent::new(
            member.joined_at,
            TokenEventKind::Joined {
                owner: member.owner.clone(),
            },
        );
        self.inner
            .db
            .write_owner_events(&mut tx, id, &member.owner, &[event])
            .await?;
        let seq: Option<i64> = self
            .q(sql.owner_last_seq)
            .bind(id_s.clone())
            .bind(owner.clone())
            .fetch_one(&mut *tx.tx)
            .await
            .and_then(|r| r.try_get(0))
            .map_err(|e| self.err(e))?;
        self.q(sql.member_insert)
            .bind(id_s)
            .bind(owner)
            .bind(notifications)
            .bind(ms(member.joined_at))
            .bind(seq.unwrap_or(0))
            .execute(&mut *tx.tx)
            .await
            .map_err(|e| self.err(e))?;
        tx.tx.commit().await.map_err(|e| self.err(e))?;
        Ok(true)
    }

    async fn leave(
        &self,
        id: AccountId,
        owner: &OwnerId,
        at: DateTime<Utc>,
    ) -> Result<Departure, StoreError> {
        let sql = self.sql();
        let id_s = id.to_string();
        let mut tx = self.inner.db.begin().await?;
        let primary = self.lock_account(&mut tx, id).await?;
        let gone = self
            .q(sql.member_delete)
            .bind(id_s.clone())
            .bind(owner.as_str().to_owned())
            .execute(&mut *tx.tx)
            .await
            .map_err(|e| self.err(e))?
            .rows_affected();
        if gone == 0 {
            return Ok(Departure::NotAMember);
        }
        let rest = self
            .q(sql.members)
            .bind(id_s.clone())
            .fetch_all(&mut *tx.tx)
            .await
            .map_err(|e| self.err(e))?;
        let Some(first) = rest.first() else {
            self.delete_in(&mut tx, id).await?;
            tx.tx.commit().await.map_err(|e| self.err(e))?;
            return Ok(Departure::Deleted);
        };
        if primary == owner.as_str() {
            let next = self.membership(first)?;
            self.q(sql.primary_update)
                .bind(next.owner.as_str().to_owned())
                .bind(i64::from(next.entitlements.notifications))
                .bind(id_s)
                .execute(&mut *tx.tx)
                .await
                .map_err(|e| self.err(e))?;
        }
        let event = TokenEvent::new(
            at,
            TokenEventKind::Left {
                owner: owner.clone(),
            },
        );
        self.inner
            .db
            .write_owner_events(&mut tx, id, owner, &[event])
            .await?;
        tx.tx.commit().await.map_err(|e| self.err(e))?;
        Ok(Departure::Left)
    }

    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        limit: usize,
        lease: Duration,
        worker: &str,
    ) -> Result<Vec<AccountRecord>, StoreError> {
        let lease = lease_of(now, limit, lease, worker);
        self.inner.backend.claim(&self.inner.db, lease).await
    }
    async fn commit(&self, t: &Transition) -> Result<(), StoreError> {
        let mut tx = self.inner.db.begin().await?;
        let r = self.inner.db.commit_one(&mut tx, t).await?;
        if r.is_ok() {
            tx.tx.commit().await.map_err(|e| self.err(e))?;
        }
        r
    }

    async fn commit_many(&self, ts: &[Transition]) -> Vec<Result<(), StoreError>> {
        match self.inner.backend.commit_batch(&self.inner.db, ts).await {
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
                .map_err(|e| self.err(e))?;
            out.push(r.rows_affected() == 1);
        }
        tx.tx.commit().await.map_err(|e| self.err(e))?;
        Ok(out)
    }

    async fn release(&self, id: AccountId, version: i64) -> Result<(), StoreError> {
        self.q(self.sql().release)
            .bind(id.to_string())
            .bind(version)
            .execute(&self.inner.db.pool)
            .await
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    async fn history(
        &self,
        id: AccountId,
        query: HistoryQuery,
    ) -> Result<Vec<HistoryEntry>, StoreError> {
        let exists = self
            .q(self.sql().exists)
            .bind(id.to_string())
            .fetch_optional(&self.inner.db.pool)
            .await
            .map_err(|e| self.err(e))?;
        if exists.is_none() {
            return Err(StoreError::UnknownAccount(id));
        }
        let q = match query.before {
            Some(b) => self
                .q(self.sql().history_before)
                .bind(id.to_string())
                .bind(b),
            None => self.q(self.sql().history).bind(id.to_string()),
        };
        let rows = q
            .bind(i64::from(query.limit))
            .fetch_all(&self.inner.db.pool)
            .await
            .map_err(|e| self.err(e))?;
        self.history_rows(id, &rows)
    }

    async fn history_for(
        &self,
        id: AccountId,
        owner: &OwnerId,
        query: HistoryQuery,
    ) -> Result<Vec<HistoryEntry>, StoreError> {
        let since: i64 = self
            .q(self.sql().member_seq)
            .bind(id.to_string())
            .bind(owner.as_str().to_owned())
            .fetch_optional(&self.inner.db.pool)
            .await
            .map_err(|e| self.err(e))?
            .ok_or(StoreError::UnknownAccount(id))?
            .try_get(0)
            .map_err(|e| self.err(e))?;
        let q = match query.before {
            Some(b) => self
                .q(self.sql().history_for_before)
                .bind(id.to_string())
                .bind(since)
                .bind(owner.as_str().to_owned())
                .bind(b),
            None => self
                .q(self.sql().history_for)
                .bind(id.to_string())
                .bind(since)
                .bind(owner.as_str().to_owned()),
        };
        let rows = q
            .bind(i64::from(query.limit))
            .fetch_all(&self.inner.db.pool)
            .await
            .map_err(|e| self.err(e))?;
        self.history_rows(id, &rows)
    }

    async fn take_outbox(
        &self,
        now: DateTime<Utc>,
        limit: usize,
        lease: Duration,
        worker: &str,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let lease = lease_of(now, limit, lease, worker);
        self.inner.backend.take_outbox(&self.inner.db, lease).await
    }
    async fn ack_outbox(
        &self,
        notice_id: Uuid,
        version: i64,
        outcome: &OutboxOutcome,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.inner.db.begin().await?;
        let row = self
            .q(self.sql().outbox_get)
            .bind(notice_id.to_string())
            .fetch_optional(&mut *tx.tx)
            .await
            .map_err(|e| self.err(e))?
            .ok_or_else(|| StoreError::Backend {
                message: format!("unknown notice {notice_id}"),
                source: None,
            })?;
        let entry = decode_outbox(&row)?;
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
                .q(self.sql().ack_final)
                .bind(state)
                .bind(notice_id.to_string())
                .bind(version),
            (None, OutboxOutcome::Retry { at, delivered, .. }) => self
                .q(self.sql().ack_retry)
                .bind(json(delivered))
                .bind(ms(*at))
                .bind(notice_id.to_string())
                .bind(version),
            (None, _) => unreachable!("only Retry is not final"),
        }
        .execute(&mut *tx.tx)
        .await
        .map_err(|e| self.err(e))?;
        if res.rows_affected() == 0 {
            return Err(StoreError::Conflict(account));
        }
        if let Some(kind) = event {
            // The notice's outcome is its owner's.
            self.inner
                .db
                .write_owner_events(
                    &mut tx,
                    account,
                    &entry.notice.owner,
                    &[TokenEvent::new(now, kind)],
                )
                .await?;
        }
        tx.tx.commit().await.map_err(|e| self.err(e))
    }

    async fn notices(&self, id: AccountId) -> Result<Vec<(Notice, NoticeState)>, StoreError> {
        let rows = self
            .q(self.sql().notices)
            .bind(id.to_string())
            .fetch_all(&self.inner.db.pool)
            .await
            .map_err(|e| self.err(e))?;
        rows.iter()
            .map(|r| {
                let n: Notice =
                    serde_json::from_str(&r.try_get::<String, _>(0).map_err(|e| self.err(e))?)
                        .map_err(|e| corrupt(id, format!("notice: {e}")))?;
                let st = match r.try_get::<String, _>(1).map_err(|e| self.err(e))?.as_str() {
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
            .q(self.sql().prefs_get)
            .bind(owner.as_str().to_owned())
            .fetch_optional(&self.inner.db.pool)
            .await
            .map_err(|e| self.err(e))?;
        match row {
            None => Ok(Preferences::new(owner.clone())),
            Some(r) => serde_json::from_str(&r.try_get::<String, _>(0).map_err(|e| self.err(e))?)
                .map_err(|e| StoreError::Backend {
                    message: format!("unreadable preferences of {owner}: {e}"),
                    source: None,
                }),
        }
    }

    async fn set_preferences(&self, prefs: &Preferences) -> Result<(), StoreError> {
        self.q(self.sql().prefs_upsert)
            .bind(prefs.owner.as_str().to_owned())
            .bind(json(prefs))
            .execute(&self.inner.db.pool)
            .await
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    async fn record_sweep(&self, worker: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.q(self.sql().sweep_upsert)
            .bind(worker.to_owned())
            .bind(ms(at))
            .execute(&self.inner.db.pool)
            .await
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    async fn last_sweep(&self) -> Result<Option<(String, DateTime<Utc>)>, StoreError> {
        let row = self
            .q(self.sql().last_sweep)
            .fetch_optional(&self.inner.db.pool)
            .await
            .map_err(|e| self.err(e))?;
        row.map(|r| {
            Ok((
                r.try_get(0).map_err(|e| self.err(e))?,
                from_ms(r.try_get(1).map_err(|e| self.err(e))?),
            ))
        })
        .transpose()
    }

    async fn count_by_status(&self) -> Result<StatusCounts, StoreError> {
        let rows = self
            .q(self.sql().counts)
            .fetch_all(&self.inner.db.pool)
            .await
            .map_err(|e| self.err(e))?;
        let mut c = StatusCounts::default();
        for r in rows {
            let s: String = r.try_get(0).map_err(|e| self.err(e))?;
            let n = r.try_get::<i64, _>(1).map_err(|e| self.err(e))? as u64;
            match s.as_str() {
                "active" => c.active = n,
                "expired" => c.expired = n,
                "revoked" => c.revoked = n,
                _ => {}
            }
        }
        Ok(c)
    }

    // ------------------------------------------------------------ incidents (incidents.rs)

    async fn open_incident(
        &self,
        incident: &lightwidget_core::Incident,
    ) -> Result<(lightwidget_core::Incident, bool), StoreError> {
        self.open_incident_sql(incident).await
    }

    async fn update_incident(
        &self,
        incident: &lightwidget_core::Incident,
    ) -> Result<bool, StoreError> {
        self.update_incident_sql(incident).await
    }

    async fn incidents(
        &self,
        open_only: bool,
        limit: usize,
    ) -> Result<Vec<lightwidget_core::Incident>, StoreError> {
        self.incidents_sql(open_only, limit).await
    }

    async fn release_held(
        &self,
        incident: lightwidget_core::IncidentId,
        at: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        self.release_held_sql(incident, at).await
    }

    // ------------------------------------------------------------------ used links

    async fn mark_link_used(&self, link_id: &str, at: DateTime<Utc>) -> Result<bool, StoreError> {
        lightwidget_core::check_link_id(link_id)?;
        let done = self
            .q(self.sql().used_link_insert)
            .bind(link_id.to_owned())
            .bind(ms(at))
            .execute(&self.inner.db.pool)
            .await
            .map_err(|e| self.err(e))?;
        Ok(done.rows_affected() == 1)
    }

    async fn prune_used_links(&self, used_before: DateTime<Utc>) -> Result<u64, StoreError> {
        let done = self
            .q(self.sql().used_links_prune)
            .bind(ms(used_before))
            .execute(&self.inner.db.pool)
            .await
            .map_err(|e| self.err(e))?;
        Ok(done.rows_affected())
    }
}
