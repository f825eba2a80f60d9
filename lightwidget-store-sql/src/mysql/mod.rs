//! MySQL 8 / MariaDB ≥ 10.6: claims and outbox takes as `SELECT … FOR UPDATE SKIP
//! LOCKED` then an UPDATE per leased row (MySQL has no `UPDATE … RETURNING`), batched
//! commits row by row in one transaction, errors classified by the server's error number.

use async_trait::async_trait;
use lightwidget_core::{StoreError, Transition};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{Executor, Row};

use crate::Error;
use crate::classify;
use crate::codec::{decode_claimed, decode_outbox, sort_outbox};
use crate::connect::Connect;
use crate::db::{Begin, Classified, Db, Queries, queries};
use crate::dialect::{Backend, Claimed, Committed, Taken};
use crate::lease::Lease;

static QUERIES: Queries = queries!("mysql");

const CLAIM_SELECT: &str = include_str!("../../queries/mysql/claim_select.sql");
const CLAIM_MARK: &str = include_str!("../../queries/mysql/claim_mark.sql");
const TAKE_SELECT: &str = include_str!("../../queries/mysql/take_select.sql");
const TAKE_MARK: &str = include_str!("../../queries/mysql/take_mark.sql");

/// Connects and migrates.
pub(crate) async fn open(c: &Connect) -> Result<(Db, Box<dyn Backend>), Error> {
    // Queue semantics: under READ COMMITTED InnoDB releases the locks of rows that do not
    // match, so `FOR UPDATE SKIP LOCKED` claimers only skip rows another claimer actually
    // took (REPEATABLE READ's next-key locks would hide far more).
    let opts = AnyPoolOptions::new().after_connect(|conn, _| {
        Box::pin(async move {
            conn.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
                .await?;
            Ok(())
        })
    });
    let pool = c.pool(opts, &c.url).await?;
    c.migrate(&pool, sqlx::migrate!("migrations/mysql")).await?;
    let db = Db::new(pool, c.enc(), &QUERIES, Begin::default(), classify::mysql);
    Ok((db, Box::new(Mysql)))
}

/// The MySQL / MariaDB backend.
struct Mysql;

/// Locks up to `lease.limit` rows with `select`, marks each with `mark` and reads it back
/// with `get`, in one transaction.
async fn lease_rows(
    db: &Db,
    lease: Lease<'_>,
    select: &'static str,
    mark: &'static str,
    get: &'static str,
) -> Result<Vec<AnyRow>, StoreError> {
    let mut tx = db.begin().await?;
    let select = db
        .q(select)
        .bind(lease.now)
        .bind(lease.now)
        .bind(i64::try_from(lease.limit).unwrap_or(i64::MAX));
    let ids = select.fetch_all(&mut *tx.tx).await.classified(db)?;
    let ids: Vec<String> = ids
        .iter()
        .map(|r| r.try_get::<String, _>(0))
        .collect::<Result<_, _>>()
        .classified(db)?;
    let mut rows = Vec::with_capacity(ids.len());
    for id in ids {
        db.q(mark)
            .bind(lease.worker.to_owned())
            .bind(lease.until)
            .bind(id.clone())
            .execute(&mut *tx.tx)
            .await
            .classified(db)?;
        let row = db.q(get).bind(id).fetch_optional(&mut *tx.tx).await;
        rows.extend(row.classified(db)?);
    }
    tx.tx.commit().await.classified(db)?;
    Ok(rows)
}

#[async_trait]
impl Backend for Mysql {
    async fn claim(&self, db: &Db, lease: Lease<'_>) -> Claimed {
        let rows = lease_rows(db, lease, CLAIM_SELECT, CLAIM_MARK, db.sql.get).await?;
        Ok(decode_claimed(&rows, &db.enc))
    }

    async fn take_outbox(&self, db: &Db, lease: Lease<'_>) -> Taken {
        let mut rows = lease_rows(db, lease, TAKE_SELECT, TAKE_MARK, db.sql.outbox_get).await?;
        sort_outbox(&mut rows);
        rows.iter().map(decode_outbox).collect()
    }

    /// Row by row, in one transaction.
    async fn commit_batch(&self, db: &Db, ts: &[Transition]) -> Committed {
        let mut tx = db.begin().await?;
        let mut out = Vec::with_capacity(ts.len());
        for t in ts {
            out.push(db.commit_one(&mut tx, t).await?);
        }
        tx.tx.commit().await.classified(db)?;
        Ok(out)
    }
}
