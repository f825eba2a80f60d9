//! SQLite (embedded): claims and batched commits on a dedicated connection of the
//! store's own ([`thread`]: rusqlite on its own thread, statements prepared once), as are
//! bulk inserts ([`insert`]),
//! everything else on the sqlx pool. WAL, memory-mapped reads, this process's writers
//! queued on an async gate, log checkpoints from a background task, and claims that read
//! the next batches ahead.

mod claim;
mod commit;
mod insert;
mod thread;

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use async_trait::async_trait;
use lightwidget_core::{AccountRecord, StoreError, Transition};
use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Executor};

use self::thread::Lite;
use crate::Error;
use crate::classify;
use crate::codec::CommitRow;
use crate::connect::Connect;
use crate::db::{Begin, Db, Queries, queries};
use crate::dialect::{Backend, Claimed, Committed, Taken};
use crate::lease::Lease;

static QUERIES: Queries = queries!("sqlite");

const TAKE_OUTBOX: &str = include_str!("../../queries/sqlite/take_outbox.sql");
const READ_AHEAD: &str = include_str!("../../queries/sqlite/read_ahead.sql");

/// Opens the file (creating it), migrates it, and starts the dedicated connection and the
/// checkpointer.
pub(crate) async fn open(c: &Connect) -> Result<(Db, Box<dyn Backend>), Error> {
    if c.url.contains(":memory:") || c.url.contains("mode=memory") {
        return Err(Error::Config(
            "an in-memory SQLite database is private to one connection and this store uses several: \
             give a file (a temporary one in tests) or use lightwidget_core::InMemoryStore"
                .into(),
        ));
    }
    let mut url = c.url.clone();
    if !url.contains("mode=") {
        url.push_str(if url.contains('?') {
            "&mode=rwc"
        } else {
            "?mode=rwc"
        });
    }
    let background_checkpoints = !c.checkpoint_every.is_zero();
    let opts = AnyPoolOptions::new().after_connect(move |conn, _| {
        Box::pin(async move {
            // mmap: pages are read straight from the OS cache, with no syscall and copy per
            // page once the file outgrows SQLite's 2 MiB page cache (the keeper's CPU per
            // refresh grew 40 % from 20k to 100k rows without it).
            conn.execute(
                "PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 10000; \
                 PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
                 PRAGMA temp_store = MEMORY; PRAGMA mmap_size = 268435456;",
            )
            .await?;
            if background_checkpoints {
                conn.execute("PRAGMA wal_autocheckpoint = 0").await?;
            }
            Ok(())
        })
    });
    let pool = c.pool(opts, &url).await?;
    c.migrate(&pool, sqlx::migrate!("migrations/sqlite"))
        .await?;
    let path = {
        use std::str::FromStr;
        sqlx::sqlite::SqliteConnectOptions::from_str(&url)
            .map_err(|e| c.connect_error(e))?
            .get_filename()
            .to_owned()
    };
    let lite = Lite::open(&path, background_checkpoints)?;
    // SQLite has one writer at a time, and a writer that finds the lock taken sleeps in
    // the busy handler (1, 2, 5, 10 … ms) instead of starting the moment it is free. The
    // claim and commit stages of a sweep write concurrently, so without the gate each
    // collision stalled the pipeline for milliseconds. Other processes on the same file
    // still meet the busy timeout. `BEGIN IMMEDIATE` takes the write lock up front, so
    // the busy timeout applies instead of a read transaction failing to upgrade.
    let gate = Arc::new(tokio::sync::Mutex::new(()));
    let begin = Begin {
        gate: Some(gate.clone()),
        statement: Some("BEGIN IMMEDIATE"),
    };
    let state = Arc::new(State {
        pool: pool.clone(),
        lite,
        gate,
        read_ahead: c.read_ahead,
        reading_ahead: AtomicBool::new(false),
        read_ahead_mark: AtomicI64::new(i64::MIN),
    });
    if background_checkpoints {
        tokio::spawn(checkpointer(
            Arc::downgrade(&state),
            c.checkpoint_every,
            c.wal_limit,
        ));
    }
    let db = Db::new(pool, c.enc(), &QUERIES, begin, classify::sqlite);
    Ok((db, Box::new(Sqlite(state))))
}

/// The SQLite backend.
struct Sqlite(Arc<State>);

struct State {
    pool: AnyPool,
    /// The dedicated connection for claims and batched commits.
    lite: Lite,
    /// One writing transaction of this process at a time (shared with [`Db::begin`]).
    gate: Arc<tokio::sync::Mutex<()>>,
    /// Read the next batches' rows ahead of the next claims (see
    /// `SqlStoreBuilder::sqlite_read_ahead`); `reading_ahead` while one runs.
    read_ahead: bool,
    reading_ahead: AtomicBool,
    /// The `next_action_at` (ms) up to which rows have been read ahead.
    read_ahead_mark: AtomicI64,
}

#[async_trait]
impl Backend for Sqlite {
    async fn claim(&self, db: &Db, lease: Lease<'_>) -> Claimed {
        let state = &self.0;
        let gate = state.gate.clone().lock_owned().await;
        let enc = db.enc.clone();
        let worker = lease.worker.to_owned();
        let (now, until, limit) = (lease.now, lease.until, lease.limit);
        // The gate moves into the job: released when the job ends, even if this caller
        // has gone by then, so no writer of this process meets the job's write lock.
        let claimed = state
            .lite
            .run(move |conn, gone| {
                let _gate = gate;
                let lease = Lease {
                    now,
                    until,
                    limit,
                    worker: &worker,
                };
                claim::claim(conn, gone, &enc, lease)
            })
            .await??;
        if claimed.len() == limit
            && let Some(last) = claimed.last().and_then(|r| r.state.next_action_at)
        {
            read_ahead(state, now, last.timestamp_millis(), limit);
        }
        Ok(claimed)
    }

    async fn take_outbox(&self, db: &Db, lease: Lease<'_>) -> Taken {
        db.take_returning(TAKE_OUTBOX, lease).await
    }

    /// Encoded here (encryption, JSON), written by one job on the dedicated connection.
    async fn commit_batch(&self, db: &Db, ts: &[Transition]) -> Committed {
        let rows: Vec<CommitRow> = ts.iter().map(|t| CommitRow::new(t, &db.enc)).collect();
        let gate = self.0.gate.clone().lock_owned().await;
        self.0
            .lite
            .run(move |conn, _| {
                let _gate = gate;
                commit::commit(conn, &rows)
            })
            .await?
    }

    /// Encoded here, written by one job on the dedicated connection; rolled back if the
    /// caller has gone before it commits (as a dropped transaction is on the pool).
    async fn insert_batch(
        &self,
        db: &Db,
        records: &[AccountRecord],
    ) -> Option<Result<(), StoreError>> {
        let rows: Vec<CommitRow> = records
            .iter()
            .map(|r| CommitRow::inserted(r, &db.enc))
            .collect();
        let gate = self.0.gate.clone().lock_owned().await;
        Some(
            self.0
                .lite
                .run(move |conn, gone| {
                    let _gate = gate;
                    insert::insert(conn, gone, &rows)
                })
                .await
                .and_then(|r| r),
        )
    }

    async fn close(&self) {
        self.0.lite.close().await;
    }
}

/// Reads the rows the next claims at `now` will take, so their pages are in memory by
/// then: the due rows after `last` (the end of the batch just claimed), two batches deep,
/// reading only what earlier read-aheads have not (so one new batch per claim once it is
/// ahead). Two, so that a keeper which claims its next batch as soon as it has the
/// current one finds it read by the read-ahead before last. At most one runs at a time; a
/// failure only costs the next claim its head start.
fn read_ahead(state: &Arc<State>, now: i64, last: i64, limit: usize) {
    if !state.read_ahead || state.reading_ahead.swap(true, Ordering::AcqRel) {
        return;
    }
    let mark = state.read_ahead_mark.load(Ordering::Acquire);
    // Behind the claims (first time, or they moved past it): two batches from the
    // claim's end. Ahead: one more batch from the mark.
    let (after, n) = if mark <= last {
        (last, 2 * limit)
    } else {
        (mark, limit)
    };
    let state = state.clone();
    tokio::spawn(async move {
        let read = sqlx::query_as::<_, (i64, Option<i64>, Option<i64>)>(READ_AHEAD)
            .bind(now)
            .bind(after)
            .bind(i64::try_from(n).unwrap_or(i64::MAX))
            .fetch_one(&state.pool)
            .await;
        match read {
            Ok((_, Some(end), _)) => {
                state.read_ahead_mark.fetch_max(end, Ordering::AcqRel);
            }
            Ok(_) => {}
            Err(e) => tracing::debug!(error = %e, "SQLite read-ahead failed"),
        }
        state.reading_ahead.store(false, Ordering::Release);
    });
}

/// The background checkpointer: a passive checkpoint every `every`, until the store is
/// dropped or closed; when the log it leaves is larger than `limit` bytes, a truncating
/// checkpoint under the write gate (see `SqlStoreBuilder::sqlite_wal_limit`). A failure
/// is logged and tried again at the next tick.
async fn checkpointer(state: Weak<State>, every: Duration, limit: u64) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut page_size: Option<u64> = None;
    // After a truncation a reader kept from finishing, the ticks to skip before the next
    // try (doubling up to 64, about 16 s at the default interval), so a long reader does
    // not make this process's writers wait at every tick.
    let (mut skip, mut backoff) = (0u32, 1u32);
    loop {
        tick.tick().await;
        let Some(state) = state.upgrade() else { return };
        if state.pool.is_closed() {
            return;
        }
        if page_size.is_none() {
            page_size = sqlx::query_scalar::<_, i64>("PRAGMA page_size")
                .fetch_one(&state.pool)
                .await
                .ok()
                .and_then(|n| u64::try_from(n).ok());
        }
        // (busy, frames in the log, frames copied)
        match sqlx::query_as::<_, (i64, i64, i64)>("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(&state.pool)
            .await
        {
            Ok((_, frames, _)) => {
                let log = u64::try_from(frames)
                    .unwrap_or(0)
                    .saturating_mul(page_size.unwrap_or(4096));
                if log > limit {
                    if skip > 0 {
                        skip -= 1;
                    } else if truncate_log(&state, log).await {
                        backoff = 1;
                    } else {
                        skip = backoff;
                        backoff = (backoff * 2).min(64);
                    }
                }
            }
            Err(e) => {
                if state.pool.is_closed() {
                    return;
                }
                tracing::warn!(error = %e, "SQLite checkpoint failed; retrying at the next tick");
            }
        }
    }
}

/// Empties the log: this process's claims and commits wait on the gate while the rest of
/// the log is copied and the file truncated; readers still on the log (of this process or
/// another) are waited for 250 ms at most. Returns whether the log was emptied.
async fn truncate_log(state: &State, log: u64) -> bool {
    let _gate = state.gate.clone().lock_owned().await;
    let started = std::time::Instant::now();
    let mut conn = match state.pool.acquire().await {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "SQLite log truncation: no connection; retrying later");
            return false;
        }
    };
    // Closed after use whatever happens, so no pooled connection is left with the short
    // busy timeout (truncations are rare: one per `limit` bytes written at most).
    conn.close_on_drop();
    let done = async {
        conn.execute("PRAGMA busy_timeout = 250").await?;
        sqlx::query_as::<_, (i64, i64, i64)>("PRAGMA wal_checkpoint(TRUNCATE)")
            .fetch_one(&mut *conn)
            .await
    }
    .await;
    match done {
        Ok((0, _, _)) => {
            tracing::debug!(
                log_bytes = log,
                took_ms = started.elapsed().as_millis() as u64,
                "SQLite log past its limit: checkpointed and truncated"
            );
            true
        }
        Ok(_) => {
            tracing::debug!(
                log_bytes = log,
                "SQLite log past its limit: a reader kept it; retrying later"
            );
            false
        }
        Err(e) => {
            tracing::warn!(error = %e, "SQLite log truncation failed; retrying later");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use rusqlite::Connection;

    use super::READ_AHEAD;

    /// The read-ahead reads the rows the next claims would take: due, unleased,
    /// earliest first, after where it stopped last time, and nothing else.
    #[test]
    fn read_ahead_reads_due_unleased_rows_after_a_point() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(include_str!("../../migrations/sqlite/0001_init.sql"))
            .unwrap();
        let mut insert = conn
            .prepare(
                "INSERT INTO lw_accounts (id, owner, kind, ig_user_id, username, \
                 notifications, token_ct, token_key, issued_at, scopes, status, retry, \
                 warnings, episode, refresh_requested, version, next_action_at, lease_until) \
                 VALUES (?1, 'o', 'consumer', ?1, 'u', 0, ?2, 'k', 0, '[]', 'active', '{}', \
                 '[]', 0, 0, 0, ?3, ?4)",
            )
            .unwrap();
        // 12 due at t = 0..11 (every third one leased until 500), 5 due later, 1 never.
        for i in 0..18i64 {
            let due = match i {
                0..12 => Some(i),
                12..17 => Some(1_000 + i),
                _ => None,
            };
            let lease = (i < 12 && i % 3 == 0).then_some(500i64);
            let ct = vec![0u8; 10 + i as usize];
            insert.execute((format!("a{i}"), ct, due, lease)).unwrap();
        }
        let read = |now: i64, after: i64, limit: i64| -> (i64, Option<i64>, i64) {
            conn.query_row(READ_AHEAD, (now, after, limit), |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get::<_, Option<i64>>(2)?.unwrap_or(0),
                ))
            })
            .unwrap()
        };
        // Due at 100: 12 rows, 4 leased -> 8 free (1, 2, 4, 5, 7, 8, 10, 11), earliest
        // first, bytes 10 + i each.
        assert_eq!(read(100, -1, 3), (3, Some(4), 30 + 1 + 2 + 4));
        // Continuing after the last one read.
        assert_eq!(read(100, 4, 3), (3, Some(8), 30 + 5 + 7 + 8));
        assert_eq!(read(100, 8, 3), (2, Some(11), 20 + 10 + 11));
        assert_eq!(read(100, 11, 3), (0, None, 0));
        // Once the leases end, the leased rows are due again.
        assert_eq!(read(600, -1, 100).0, 12);
        // Later, the rows due later count too; the never-due one never.
        assert_eq!(read(5_000, -1, 100).0, 17);
        assert_eq!(read(-1, -5, 100), (0, None, 0));
    }
}
