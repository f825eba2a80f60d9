//! PostgreSQL. Claims and batched commits run on a native connection pool of the
//! backend's own (sqlx's PostgreSQL driver: rows decoded in place, arrays bound), one
//! statement and one round trip each: a claim is one `UPDATE … RETURNING` over the rows
//! a `FOR UPDATE SKIP LOCKED` subquery locked; a batch of commits is one statement over
//! arrays ([`batch`]), as is a batch of new accounts (`insert_many`). Everything else, outbox takes included, runs on the shared `Any`
//! pool. Errors are classified by SQLSTATE.

mod batch;

use async_trait::async_trait;
use lightwidget_core::{AccountRecord, StoreError, Transition};
use sqlx::any::AnyPoolOptions;
use sqlx::postgres::{PgPool, PgPoolOptions};

use crate::Error;
use crate::classify;
use crate::codec::decode_claimed;
use crate::connect::Connect;
use crate::db::{Begin, Classified, Db, Queries, queries};
use crate::dialect::{Backend, Claimed, Committed, Taken};
use crate::lease::Lease;

static QUERIES: Queries = queries!("postgres");

const CLAIM: &str = include_str!("../../queries/postgres/claim.sql");
const TAKE_OUTBOX: &str = include_str!("../../queries/postgres/take_outbox.sql");

/// Connects both pools and migrates.
pub(crate) async fn open(c: &Connect) -> Result<(Db, Box<dyn Backend>), Error> {
    let pool = c.pool(AnyPoolOptions::new(), &c.url).await?;
    c.migrate(&pool, sqlx::migrate!("migrations/postgres"))
        .await?;
    let native = c
        .sized(PgPoolOptions::new())
        .connect(&c.url)
        .await
        .map_err(|e| c.connect_error(e))?;
    let db = Db::new(
        pool,
        c.enc(),
        &QUERIES,
        Begin::default(),
        classify::postgres,
    );
    Ok((db, Box::new(Postgres { native })))
}

/// The PostgreSQL backend.
struct Postgres {
    /// Claims and batched commits.
    native: PgPool,
}

#[async_trait]
impl Backend for Postgres {
    async fn claim(&self, db: &Db, lease: Lease<'_>) -> Claimed {
        let rows = lease
            .bind(sqlx::query(CLAIM))
            .fetch_all(&self.native)
            .await
            .classified(db)?;
        Ok(decode_claimed(&rows, &db.enc))
    }

    async fn take_outbox(&self, db: &Db, lease: Lease<'_>) -> Taken {
        db.take_returning(TAKE_OUTBOX, lease).await
    }

    async fn commit_batch(&self, db: &Db, ts: &[Transition]) -> Committed {
        batch::commit(db, &self.native, ts).await
    }

    async fn insert_batch(
        &self,
        db: &Db,
        records: &[AccountRecord],
    ) -> Option<Result<(), StoreError>> {
        Some(batch::insert(db, &self.native, records).await)
    }

    async fn close(&self) {
        self.native.close().await;
    }
}
