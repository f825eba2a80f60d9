//! PostgreSQL: a claim or an outbox take is one `UPDATE … RETURNING` over the rows a
//! `FOR UPDATE SKIP LOCKED` subquery locked; batched commits are a few statements per
//! batch ([`batch`]); errors classified by SQLSTATE.

mod batch;

use async_trait::async_trait;
use lightwidget_core::Transition;
use sqlx::any::AnyPoolOptions;
use sqlx::error::DatabaseError;

use crate::Error;
use crate::builder::Connect;
use crate::codec::decode_claimed;
use crate::db::{Begin, Db, Queries, queries};
use crate::dialect::{Backend, Claimed, Committed, Lease, Taken};

static QUERIES: Queries = queries!("postgres");

const CLAIM: &str = include_str!("../../queries/postgres/claim.sql");
const TAKE_OUTBOX: &str = include_str!("../../queries/postgres/take_outbox.sql");

/// Whether a PostgreSQL error may pass on retry, by SQLSTATE: serialization failure
/// (40001), deadlock (40P01), lock not available (55P03), too many connections (53300),
/// the server shutting down or restarting (57P01–57P03), and connection exceptions (08…).
pub(crate) fn is_transient(e: &dyn DatabaseError) -> bool {
    e.code().is_some_and(|c| {
        matches!(
            c.as_ref(),
            "40001" | "40P01" | "55P03" | "53300" | "57P01" | "57P02" | "57P03"
        ) || c.starts_with("08")
    })
}

/// Connects and migrates.
pub(crate) async fn open(c: &Connect) -> Result<(Db, Box<dyn Backend>), Error> {
    let pool = c.pool(AnyPoolOptions::new(), &c.url).await?;
    c.migrate(&pool, sqlx::migrate!("migrations/postgres"))
        .await?;
    let db = Db::new(pool, c.enc(), &QUERIES, Begin::default(), is_transient);
    Ok((db, Box::new(Postgres)))
}

/// The PostgreSQL backend.
struct Postgres;

#[async_trait]
impl Backend for Postgres {
    async fn claim(&self, db: &Db, lease: Lease<'_>) -> Claimed {
        let rows = db.lease_returning(CLAIM, lease).await?;
        Ok(decode_claimed(&rows, &db.enc))
    }

    async fn take_outbox(&self, db: &Db, lease: Lease<'_>) -> Taken {
        db.take_returning(TAKE_OUTBOX, lease).await
    }

    async fn commit_batch(&self, db: &Db, ts: &[Transition]) -> Committed {
        let mut tx = db.begin().await?;
        let out = batch::commit(db, &mut tx, ts).await?;
        tx.tx.commit().await.map_err(|e| db.err(e))?;
        Ok(out)
    }
}
