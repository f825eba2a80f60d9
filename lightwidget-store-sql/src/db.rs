//! What every dialect shares: the sqlx pool, the encryption, the statements of the
//! dialect ([`Queries`], from `queries/<dialect>/*.sql`), how a write transaction starts,
//! how driver errors are classified, and the statements' binds.

use std::sync::Arc;

use lightwidget_core::{
    Account, AccountId, Notice, OutboxEntry, OwnerId, StoreError, TokenEvent, TokenState,
    Transition,
};
use sqlx::any::AnyRow;
use sqlx::{Any, AnyPool};

use crate::Encryption;
use crate::classify::{self, Classify};
use crate::codec::{decode_outbox, json, ms, oms, sort_outbox, status_cols};
use crate::lease::Lease;

/// A driver result with its error classified by the dialect of the database it came
/// from ([`Db::err`]): the one way a driver error becomes a [`StoreError`]
/// (`….await.classified(db)?`).
pub(crate) trait Classified<T> {
    /// `self`, its error classified by `db`'s dialect.
    fn classified(self, db: &Db) -> Result<T, StoreError>;
}

impl<T> Classified<T> for Result<T, sqlx::Error> {
    fn classified(self, db: &Db) -> Result<T, StoreError> {
        self.map_err(|e| db.err(e))
    }
}

/// A runtime query of the pool.
pub(crate) type Q = sqlx::query::Query<'static, Any, sqlx::any::AnyArguments>;

/// The statements every dialect runs through the pool, one `.sql` file each.
pub(crate) struct Queries {
    pub insert_account: &'static str,
    pub get: &'static str,
    pub delete_account: &'static str,
    pub delete_history: &'static str,
    pub delete_outbox: &'static str,
    pub find: &'static str,
    pub list_by_owner: &'static str,
    pub update_account: &'static str,
    pub commit_state: &'static str,
    pub commit_state_token: &'static str,
    pub exists: &'static str,
    pub insert_history: &'static str,
    pub insert_notice: &'static str,
    pub release: &'static str,
    pub extend_lease: &'static str,
    pub history: &'static str,
    pub history_before: &'static str,
    pub outbox_get: &'static str,
    pub ack_final: &'static str,
    pub ack_retry: &'static str,
    pub notices: &'static str,
    pub prefs_get: &'static str,
    pub prefs_upsert: &'static str,
    pub sweep_upsert: &'static str,
    pub last_sweep: &'static str,
    pub counts: &'static str,
    pub stale_keys: &'static str,
    pub rewrite_token: &'static str,
    pub find_by_fb_user: &'static str,
    pub members: &'static str,
    pub member_seq: &'static str,
    pub member_insert: &'static str,
    pub member_update: &'static str,
    pub member_delete: &'static str,
    pub delete_members: &'static str,
    pub primary_update: &'static str,
    pub lock_account: &'static str,
    pub insert_owner_history: &'static str,
    pub owner_last_seq: &'static str,
    pub history_for: &'static str,
    pub history_for_before: &'static str,
    // Used single-use links.
    pub used_link_insert: &'static str,
    pub used_links_prune: &'static str,
    // Lookup by username (#29.4).
    pub find_by_username: &'static str,
    // Held values (the web layer's pending choices and renewal targets).
    pub held_put: &'static str,
    pub held_get: &'static str,
    pub held_delete: &'static str,
    pub held_prune: &'static str,
}

/// [`Queries`] of the dialect whose statements are in `queries/$dialect/`.
macro_rules! queries {
    ($dialect:literal) => {
        $crate::db::queries!(@ $dialect; insert_account, get, delete_account, delete_history,
            delete_outbox, find, list_by_owner, update_account, commit_state,
            commit_state_token, exists, insert_history, insert_notice, release, extend_lease, history,
            history_before, outbox_get, ack_final, ack_retry, notices, prefs_get,
            prefs_upsert, sweep_upsert, last_sweep, counts, stale_keys, rewrite_token,
            find_by_fb_user, members, member_seq, member_insert, member_update, member_delete,
            delete_members, primary_update, lock_account, insert_owner_history, owner_last_seq,
            history_for, history_for_before,
            // Used single-use links.
            used_link_insert, used_links_prune,
            // Lookup by username (#29.4).
            find_by_username,
            // Held values.
            held_put, held_get, held_delete, held_prune)
    };
    (@ $dialect:literal; $($name:ident),*) => {
        $crate::db::Queries {
            $($name: include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"), "/queries/", $dialect, "/", stringify!($name), ".sql"
            )),)*
        }
    };
}
pub(crate) use queries;

/// How a dialect starts a write transaction: SQLite queues this process's writers on a
/// gate and takes the write lock up front; the servers just begin.
#[derive(Clone, Default)]
pub(crate) struct Begin {
    /// Held for the whole transaction.
    pub gate: Option<Arc<tokio::sync::Mutex<()>>>,
    /// The statement that begins (default `BEGIN`).
    pub statement: Option<&'static str>,
}

/// A write transaction and the gate it holds (if any) until it ends.
pub(crate) struct WriteTx {
    pub tx: sqlx::Transaction<'static, Any>,
    _gate: Option<tokio::sync::OwnedMutexGuard<()>>,
}

/// The pool and what the statements on it need.
pub(crate) struct Db {
    pub pool: AnyPool,
    pub enc: Encryption,
    pub sql: &'static Queries,
    begin: Begin,
    classify: Classify,
}

impl Db {
    /// `classify` is the dialect's classification of the database's own errors (a table
    /// of [`classify`]).
    pub fn new(
        pool: AnyPool,
        enc: Encryption,
        sql: &'static Queries,
        begin: Begin,
        classify: Classify,
    ) -> Self {
        Self {
            pool,
            enc,
            sql,
            begin,
            classify,
        }
    }

    /// A query of `sql`.
    pub fn q(&self, sql: &'static str) -> Q {
        sqlx::query(sql)
    }

    /// Maps a driver error by its class ([`classify`]): unavailable or busy for a while =
    /// [`StoreError::Unavailable`] (transient), refused for good =
    /// [`StoreError::Rejected`], anything else = [`StoreError::Backend`].
    pub fn err(&self, e: sqlx::Error) -> StoreError {
        let class = classify::sqlx_error(&e, self.classify);
        classify::store_error(e, class)
    }

    /// Runs a lease statement that returns the rows it leased (`UPDATE … RETURNING`),
    /// bound as [`Lease::bind`], on the pool.
    #[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
    pub async fn lease_returning(
        &self,
        sql: &'static str,
        lease: Lease<'_>,
    ) -> Result<Vec<AnyRow>, StoreError> {
        lease
            .bind(self.q(sql))
            .fetch_all(&self.pool)
            .await
            .classified(self)
    }

    /// [`Db::lease_returning`] for the outbox: the leased notices, oldest first.
    #[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
    pub async fn take_returning(
        &self,
        sql: &'static str,
        lease: Lease<'_>,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let mut rows = self.lease_returning(sql, lease).await?;
        sort_outbox(&mut rows);
        rows.iter().map(decode_outbox).collect()
    }

    /// Starts a write transaction the dialect's way (see [`Begin`]).
    pub async fn begin(&self) -> Result<WriteTx, StoreError> {
        let gate = match &self.begin.gate {
            Some(g) => Some(g.clone().lock_owned().await),
            None => None,
        };
        let tx = match self.begin.statement {
            Some(s) => self.pool.begin_with(s).await,
            None => self.pool.begin().await,
        }
        .classified(self)?;
        Ok(WriteTx { tx, _gate: gate })
    }

    /// One transition inside an open transaction: the fenced UPDATE, then its history
    /// and notices. `Ok(Err(_))` = refused (stale version or unknown account).
    pub async fn commit_one(
        &self,
        tx: &mut WriteTx,
        t: &Transition,
    ) -> Result<Result<(), StoreError>, StoreError> {
        let id = t.account.id;
        let id_s = id.to_string();
        let q = if t.token_changed {
            let (key, ct) = self.enc.seal(t.state.token.secret(), &id_s);
            self.q(self.sql.commit_state_token).bind(ct).bind(key)
        } else {
            self.q(self.sql.commit_state)
        };
        // `None` keeps the stored Facebook user id (`COALESCE`).
        let q = bind_metadata(q, &t.account).bind(t.account.fb_user_id.clone().map(String::from));
        let q = bind_state_cols(q, &t.state)
            .bind(id_s.clone())
            .bind(t.expected_version);
        let res = q.execute(&mut *tx.tx).await.classified(self)?;
        if res.rows_affected() == 0 {
            return Ok(Err(self.refused(tx, id).await?));
        }
        self.write_events(tx, id, &t.events).await?;
        self.insert_notices(tx, &id_s, &t.notices).await?;
        Ok(Ok(()))
    }

    /// Enqueues the notices of account `id_s` as given (the keeper made one copy per
    /// owner); a repeated dedupe key is ignored.
    pub async fn insert_notices(
        &self,
        tx: &mut WriteTx,
        id_s: &str,
        notices: &[Notice],
    ) -> Result<(), StoreError> {
        for n in notices {
            self.q(self.sql.insert_notice)
                .bind(n.id.to_string())
                .bind(n.dedupe_key.clone())
                .bind(id_s.to_owned())
                .bind(ms(n.created_at))
                .bind(json(n))
                .bind(ms(n.created_at))
                .execute(&mut *tx.tx)
                .await
                .classified(self)?;
        }
        Ok(())
    }

    /// Why a fenced write of `id` changed nothing: the account exists at another version
    /// ([`StoreError::Conflict`]) or not at all ([`StoreError::UnknownAccount`]).
    pub async fn refused(&self, tx: &mut WriteTx, id: AccountId) -> Result<StoreError, StoreError> {
        let exists = self
            .q(self.sql.exists)
            .bind(id.to_string())
            .fetch_optional(&mut *tx.tx)
            .await
            .classified(self)?;
        Ok(if exists.is_some() {
            StoreError::Conflict(id)
        } else {
            StoreError::UnknownAccount(id)
        })
    }

    /// Appends owner-specific history rows of `id` (notice outcomes, joins, leaves).
    pub async fn write_owner_events(
        &self,
        tx: &mut WriteTx,
        id: AccountId,
        owner: &OwnerId,
        events: &[TokenEvent],
    ) -> Result<(), StoreError> {
        for e in events {
            self.q(self.sql.insert_owner_history)
                .bind(id.to_string())
                .bind(ms(e.at))
                .bind(json(&e.kind))
                .bind(owner.as_str().to_owned())
                .execute(&mut *tx.tx)
                .await
                .classified(self)?;
        }
        Ok(())
    }

    /// Appends history rows of `id`, in order.
    pub async fn write_events(
        &self,
        tx: &mut WriteTx,
        id: AccountId,
        events: &[TokenEvent],
    ) -> Result<(), StoreError> {
        for e in events {
            self.q(self.sql.insert_history)
                .bind(id.to_string())
                .bind(ms(e.at))
                .bind(json(&e.kind))
                .execute(&mut *tx.tx)
                .await
                .classified(self)?;
        }
        Ok(())
    }
}

/// Binds `ACCOUNT_COLS` in order, as `INSERT` writes them. `sealed` is `(key id,
/// ciphertext)`; `None` binds NULLs (a batched commit that keeps the token).
pub(crate) fn bind_account_cols(
    q: Q,
    id_s: &str,
    a: &Account,
    s: &TokenState,
    sealed: Option<(String, Vec<u8>)>,
    version: i64,
) -> Q {
    let (key, ct) = sealed.unzip();
    let q = bind_metadata(q.bind(id_s.to_owned()), a).bind(ct).bind(key);
    bind_state_cols(q, s)
        .bind(version)
        .bind(a.fb_user_id.clone().map(String::from))
}

/// Owner, kind, user id, username, page and entitlements, in column order.
pub(crate) fn bind_metadata(q: Q, a: &Account) -> Q {
    q.bind(a.owner.as_str().to_owned())
        .bind(a.kind.as_str())
        .bind(a.ig_user_id.to_string())
        .bind(a.username.clone())
        .bind(a.page_id.clone().map(String::from))
        .bind(i64::from(a.entitlements.notifications))
}

/// The token state after the ciphertext (`issued_at` … `refresh_requested`), in column
/// order.
pub(crate) fn bind_state_cols(q: Q, s: &TokenState) -> Q {
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
        .bind(crate::codec::retry_column(s))
        .bind(json(&s.warnings))
        .bind(i64::from(s.episode))
        .bind(i64::from(s.refresh_requested))
}
