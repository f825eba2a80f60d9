//! [`Lease`]: what a claim of due accounts or of due notices asks for, below both the
//! shared statements (`db.rs`) and the backends (`dialect.rs`) that run it.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::codec::{lease_end, ms};

/// A lease request: `limit` items due at `now` (ms), leased to `worker` until `until` (ms).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Lease<'a> {
    pub now: i64,
    pub until: i64,
    pub limit: usize,
    pub worker: &'a str,
}

impl<'a> Lease<'a> {
    /// `limit` items due at `now`, leased to `worker` for `lease`.
    pub fn new(now: DateTime<Utc>, limit: usize, lease: Duration, worker: &'a str) -> Self {
        Self {
            now: ms(now),
            until: ms(lease_end(now, lease)),
            limit,
            worker,
        }
    }

    /// Binds `(worker, until, now, limit)`: the parameters of the lease statements that
    /// return what they leased (`UPDATE … RETURNING`).
    pub fn bind<'q, DB>(
        &self,
        q: sqlx::query::Query<'q, DB, DB::Arguments>,
    ) -> sqlx::query::Query<'q, DB, DB::Arguments>
    where
        DB: sqlx::Database,
        String: for<'t> sqlx::Encode<'t, DB> + sqlx::Type<DB>,
        i64: for<'t> sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    {
        q.bind(self.worker.to_owned())
            .bind(self.until)
            .bind(self.now)
            .bind(i64::try_from(self.limit).unwrap_or(i64::MAX))
    }
}
