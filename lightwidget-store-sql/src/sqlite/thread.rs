//! The dedicated connection for SQLite's hot paths — claims and batched commits.
//!
//! sqlx's SQLite driver runs every statement on a worker thread of its connection and
//! hands each result row and each bound value across through its `Any` layer; at 500
//! accounts a batch those hand-offs and conversions cost more than SQLite's own work
//! (profiled in `BENCHMARKS.md`). Here a thread of the store's own owns a
//! [`rusqlite::Connection`] to the same file; a claim or a commit is one job on it: one
//! `BEGIN IMMEDIATE`, prepared statements that stay cached, values read and bound in
//! place, one hop to the thread and one back. Everything else (migrations, reads,
//! notifications) stays on the sqlx pool. rusqlite links the same `libsqlite3-sys` as
//! sqlx, so both use one SQLite library.
//!
//! The job runs under the store's write gate, like every other SQLite writer of the
//! process, so it never meets its own process in SQLite's busy handler.

use lightwidget_core::sync::Locked;
use std::path::Path;
use std::sync::{Mutex, mpsc};

use lightwidget_core::StoreError;
use rusqlite::{Connection, OpenFlags};

use crate::classify::{self, Class};

type Job = Box<dyn FnOnce(&mut Connection) + Send>;

/// The dedicated connection's thread: jobs in, results back through a oneshot each.
pub(crate) struct Lite {
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl std::fmt::Debug for Lite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lite").finish_non_exhaustive()
    }
}

impl Lite {
    /// Opens the file the pool uses (it exists and is migrated by now) with the pool's
    /// pragmas, and starts the thread.
    pub fn open(path: &Path, background_checkpoints: bool) -> Result<Self, StoreError> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(lite_err)?;
        conn.execute_batch(
            "PRAGMA busy_timeout = 10000; PRAGMA synchronous = NORMAL; \
             PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY; \
             PRAGMA mmap_size = 268435456;",
        )
        .map_err(lite_err)?;
        if background_checkpoints {
            conn.execute_batch("PRAGMA wal_autocheckpoint = 0")
                .map_err(lite_err)?;
        }
        conn.set_prepared_statement_cache_capacity(32);
        let (tx, rx) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name("lightwidget-sqlite".into())
            .spawn(move || {
                let mut conn = conn;
                while let Ok(job) = rx.recv() {
                    // A panicking job drops its reply sender: the caller gets an error,
                    // the thread and its connection live on.
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        job(&mut conn);
                    }));
                }
            })
            .map_err(|e| StoreError::Backend {
                message: format!("cannot start the SQLite connection thread: {e}"),
                source: Some(Box::new(e)),
            })?;
        Ok(Self {
            jobs: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Runs `f` on the connection's thread. `f`'s second argument says whether the
    /// caller has gone (its future was dropped), so a job can roll back work nobody
    /// will receive.
    pub async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection, &dyn Fn() -> bool) -> T + Send + 'static,
    {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let out = f(conn, &|| reply.is_closed());
            let _ = reply.send(out);
        });
        let sent = match self.jobs.locked().as_ref() {
            Some(jobs) => jobs.send(job).is_ok(),
            None => false,
        };
        if !sent {
            return Err(closed("the store is closed"));
        }
        answer
            .await
            .map_err(|_| closed("the SQLite connection thread failed during the operation"))
    }

    /// Stops the thread after the jobs already queued, and closes the connection.
    pub async fn close(&self) {
        drop(self.jobs.locked().take());
        let thread = self.thread.locked().take();
        if let Some(t) = thread {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
    }
}

fn closed(why: &str) -> StoreError {
    StoreError::Unavailable {
        message: why.to_owned(),
        source: None,
    }
}

/// Maps rusqlite errors like the pool's, by extended result code
/// ([`classify::sqlite_code`]): busy, locked, cannot open … = transient.
pub(crate) fn lite_err(e: rusqlite::Error) -> StoreError {
    let class = match &e {
        rusqlite::Error::SqliteFailure(f, _) => classify::sqlite_code(f.extended_code),
        rusqlite::Error::FromSqlConversionFailure(..)
        | rusqlite::Error::IntegralValueOutOfRange(..)
        | rusqlite::Error::InvalidColumnType(..)
        | rusqlite::Error::InvalidColumnIndex(_)
        | rusqlite::Error::InvalidColumnName(_)
        | rusqlite::Error::InvalidParameterCount(..)
        | rusqlite::Error::ToSqlConversionFailure(_) => Class::Permanent,
        _ => Class::Unknown,
    };
    classify::store_error(e, class)
}
