//! `commit_many` on PostgreSQL as one statement (`queries/postgres/commit_batch.sql`):
//! the batch's columns bound as arrays, the fenced UPDATE, the history and the notices of
//! the rows it wrote, and back only the rows it did not write. One round trip, no
//! transaction of its own: a statement is atomic. Each transition is fenced on its own.
//! An account appearing twice is committed in order: a new run (statement) starts at the
//! repeat, so the second sees the first's version, and the runs share one transaction.

use std::collections::{HashMap, HashSet};
use std::ops::Range;

use lightwidget_core::{AccountRecord, StoreError, Transition};
use sqlx::Postgres;
use sqlx::postgres::{PgArguments, PgPool, PgRow};
use sqlx::query::Query;
use sqlx::{PgConnection, Row};

use crate::codec::CommitRow;
use crate::db::{Classified, Db};
use crate::dialect::Committed;

const COMMIT: &str = include_str!("../../queries/postgres/commit_batch.sql");
const INSERT: &str = include_str!("../../queries/postgres/insert_batch.sql");

/// The parameters of [`COMMIT`]: one array per column.
#[derive(Default)]
struct Arrays {
    id: Vec<String>,
    owner: Vec<String>,
    kind: Vec<&'static str>,
    ig_user_id: Vec<String>,
    username: Vec<String>,
    page_id: Vec<Option<String>>,
    notifications: Vec<i64>,
    token_ct: Vec<Option<Vec<u8>>>,
    token_key: Vec<Option<String>>,
    issued_at: Vec<i64>,
    expires_at: Vec<Option<i64>>,
    data_access_expires_at: Vec<Option<i64>>,
    scopes: Vec<String>,
    status: Vec<&'static str>,
    status_reason: Vec<Option<String>>,
    status_at: Vec<Option<i64>>,
    last_checked_at: Vec<Option<i64>>,
    next_action_at: Vec<Option<i64>>,
    retry: Vec<String>,
    warnings: Vec<String>,
    episode: Vec<i64>,
    refresh_requested: Vec<i64>,
    version: Vec<i64>,
    /// History: account, at, event.
    h_account: Vec<String>,
    h_at: Vec<i64>,
    h_event: Vec<String>,
    /// Notices: id, dedupe key, account, created at, body.
    n_id: Vec<String>,
    n_dedupe: Vec<String>,
    n_account: Vec<String>,
    n_created: Vec<i64>,
    n_body: Vec<String>,
    /// New Facebook user ids (`None` keeps the stored one).
    fb_user_id: Vec<Option<String>>,
}

impl Arrays {
    fn push(&mut self, r: CommitRow) {
        for (at, event) in r.events {
            self.h_account.push(r.id.clone());
            self.h_at.push(at);
            self.h_event.push(event);
        }
        // As given: the keeper made one copy per owner.
        for n in r.notices {
            self.n_id.push(n.id.to_string());
            self.n_dedupe.push(n.dedupe_key.clone());
            self.n_account.push(r.id.clone());
            self.n_created.push(crate::codec::ms(n.created_at));
            self.n_body.push(crate::codec::json(&n));
        }
        let (key, ct) = r.token.unzip();
        self.id.push(r.id);
        self.owner.push(r.owner);
        self.kind.push(r.kind);
        self.ig_user_id.push(r.ig_user_id);
        self.username.push(r.username);
        self.page_id.push(r.page_id);
        self.notifications.push(r.notifications);
        self.fb_user_id.push(r.fb_user_id);
        self.token_ct.push(ct);
        self.token_key.push(key);
        self.issued_at.push(r.issued_at);
        self.expires_at.push(r.expires_at);
        self.data_access_expires_at.push(r.data_access_expires_at);
        self.scopes.push(r.scopes);
        self.status.push(r.status);
        self.status_reason.push(r.status_reason);
        self.status_at.push(r.status_at);
        self.last_checked_at.push(r.last_checked_at);
        self.next_action_at.push(r.next_action_at);
        self.retry.push(r.retry);
        self.warnings.push(r.warnings);
        self.episode.push(r.episode);
        self.refresh_requested.push(r.refresh_requested);
        self.version.push(r.expected_version);
    }

    /// Binds the account columns `$1`–`$23` (both statements' first 23 parameters, in
    /// `ACCOUNT_COLS` order); returns the query and what is left to bind.
    fn bind_accounts(
        mut self,
        q: Query<'static, Postgres, PgArguments>,
    ) -> (Query<'static, Postgres, PgArguments>, Rest) {
        let q = q
            .bind(std::mem::take(&mut self.id))
            .bind(std::mem::take(&mut self.owner))
            .bind(std::mem::take(&mut self.kind))
            .bind(std::mem::take(&mut self.ig_user_id))
            .bind(std::mem::take(&mut self.username))
            .bind(std::mem::take(&mut self.page_id))
            .bind(std::mem::take(&mut self.notifications))
            .bind(std::mem::take(&mut self.token_ct))
            .bind(std::mem::take(&mut self.token_key))
            .bind(std::mem::take(&mut self.issued_at))
            .bind(std::mem::take(&mut self.expires_at))
            .bind(std::mem::take(&mut self.data_access_expires_at))
            .bind(std::mem::take(&mut self.scopes))
            .bind(std::mem::take(&mut self.status))
            .bind(std::mem::take(&mut self.status_reason))
            .bind(std::mem::take(&mut self.status_at))
            .bind(std::mem::take(&mut self.last_checked_at))
            .bind(std::mem::take(&mut self.next_action_at))
            .bind(std::mem::take(&mut self.retry))
            .bind(std::mem::take(&mut self.warnings))
            .bind(std::mem::take(&mut self.episode))
            .bind(std::mem::take(&mut self.refresh_requested))
            .bind(std::mem::take(&mut self.version));
        let rest = Rest {
            fb_user_id: self.fb_user_id,
            h_account: self.h_account,
            h_at: self.h_at,
            h_event: self.h_event,
            n_id: self.n_id,
            n_dedupe: self.n_dedupe,
            n_account: self.n_account,
            n_created: self.n_created,
            n_body: self.n_body,
        };
        (q, rest)
    }

    /// Runs [`INSERT`] with the account columns (no history, no notices).
    async fn insert(self, conn: &mut PgConnection) -> Result<(), sqlx::Error> {
        let (q, rest) = self.bind_accounts(sqlx::query(INSERT));
        q.bind(rest.fb_user_id).execute(conn).await.map(|_| ())
    }

    /// Runs [`COMMIT`]; returns the rows not written: `(id, whether the account exists)`.
    async fn run(self, conn: &mut PgConnection) -> Result<Vec<PgRow>, sqlx::Error> {
        let (q, rest) = self.bind_accounts(sqlx::query(COMMIT));
        q.bind(rest.h_account)
            .bind(rest.h_at)
            .bind(rest.h_event)
            .bind(rest.n_id)
            .bind(rest.n_dedupe)
            .bind(rest.n_account)
            .bind(rest.n_created)
            .bind(rest.n_body)
            .bind(rest.fb_user_id)
            .fetch_all(conn)
            .await
    }
}

/// The parameters after the account columns.
struct Rest {
    fb_user_id: Vec<Option<String>>,
    h_account: Vec<String>,
    h_at: Vec<i64>,
    h_event: Vec<String>,
    n_id: Vec<String>,
    n_dedupe: Vec<String>,
    n_account: Vec<String>,
    n_created: Vec<i64>,
    n_body: Vec<String>,
}

/// Consecutive runs of distinct accounts.
fn runs(ts: &[Transition]) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < ts.len() {
        let mut seen = HashSet::new();
        let mut end = start;
        while end < ts.len() && seen.insert(ts[end].account.id) {
            end += 1;
        }
        out.push(start..end);
        start = end;
    }
    out
}

/// Commits `ts` (see the module's documentation).
pub(super) async fn commit(db: &Db, pool: &PgPool, ts: &[Transition]) -> Committed {
    let runs = runs(ts);
    if runs.len() == 1 {
        let mut conn = pool.acquire().await.classified(db)?;
        return commit_runs(db, &mut conn, ts, runs).await;
    }
    let mut tx = pool.begin().await.classified(db)?;
    let out = commit_runs(db, &mut tx, ts, runs).await?;
    tx.commit().await.classified(db)?;
    Ok(out)
}

/// Inserts `records` (new accounts) in one statement: see `insert_batch.sql`.
pub(super) async fn insert(
    db: &Db,
    pool: &PgPool,
    records: &[AccountRecord],
) -> Result<(), StoreError> {
    let mut arrays = Arrays::default();
    for r in records {
        arrays.push(CommitRow::inserted(r, &db.enc));
    }
    let mut conn = pool.acquire().await.classified(db)?;
    arrays.insert(&mut conn).await.classified(db)
}

/// One statement per run, in order, on `conn`.
async fn commit_runs(
    db: &Db,
    conn: &mut PgConnection,
    ts: &[Transition],
    runs: Vec<Range<usize>>,
) -> Committed {
    let mut out: Vec<Result<(), StoreError>> = Vec::with_capacity(ts.len());
    for run in runs {
        let mut arrays = Arrays::default();
        for t in &ts[run.clone()] {
            arrays.push(CommitRow::new(t, &db.enc));
        }
        let rows = arrays.run(conn).await.classified(db)?;
        let mut refused: HashMap<String, bool> = rows
            .iter()
            .map(|r| Ok((r.try_get::<String, _>(0)?, r.try_get::<bool, _>(1)?)))
            .collect::<Result<_, sqlx::Error>>()
            .classified(db)?;
        for t in &ts[run] {
            out.push(match refused.remove(&t.account.id.to_string()) {
                None => Ok(()),
                Some(true) => Err(StoreError::Conflict(t.account.id)),
                Some(false) => Err(StoreError::UnknownAccount(t.account.id)),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lightwidget_core::testkit::{record, t0, transition};

    #[test]
    fn a_repeated_account_starts_a_new_run() {
        let a = record("o", "a", Some(t0()));
        let b = record("o", "b", Some(t0()));
        let t = |r| transition(r, None);
        assert_eq!(runs(&[]), Vec::<Range<usize>>::new());
        assert_eq!(runs(&[t(&a), t(&b)]), vec![0..2]);
        assert_eq!(runs(&[t(&a), t(&b), t(&a), t(&a)]), vec![0..2, 2..3, 3..4]);
    }

    #[test]
    fn the_insert_binds_every_array() {
        let marks = (1..=24)
            .filter(|n| INSERT.contains(&format!("${n}::")))
            .count();
        assert_eq!(marks, 24);
        assert!(!INSERT.contains("$25"));
    }

    #[test]
    fn the_statement_binds_every_array() {
        let marks = (1..=32)
            .filter(|n| COMMIT.contains(&format!("${n}::")))
            .count();
        assert_eq!(marks, 32);
        assert!(!COMMIT.contains("$33"));
    }
}
