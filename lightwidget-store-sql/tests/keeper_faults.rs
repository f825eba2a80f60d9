//! The keeper through a database fault in the middle of a sweep, per backend: 300 accounts
//! due for a refresh, refreshed at 30 a second (a ~10 s sweep), and 3 s in the database
//! becomes unavailable for 10 s or more. Every result obtained from the provider is
//! committed when the database is back: none given up, no account refreshed twice.
//! (PostgreSQL refusing and terminating connections is in the workspace's
//! `tests/faults.rs`, with the real Graph API sandbox.) Each test prints its figures.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{TimeDelta, TimeZone, Utc};
use lightwidget_core::testkit::FakeProvider;
use lightwidget_core::{
    AccountId, Clock, ConnectionKind, HistoryQuery, Keeper, ManualClock, NewAccount, TokenEventKind,
};
use lightwidget_store_sql::SqlStore;
use sqlx::{Connection, Executor};
use support::*;

const N: usize = 300;

/// How many `Refreshed` events each account's history holds.
async fn refreshed(keeper: &Keeper, ids: &[AccountId]) -> Vec<usize> {
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let h = keeper
            .history(
                *id,
                HistoryQuery {
                    before: None,
                    limit: 100,
                },
            )
            .await
            .unwrap_or_default();
        out.push(
            h.iter()
                .filter(|e| matches!(e.event.kind, TokenEventKind::Refreshed { .. }))
                .count(),
        );
    }
    out
}

/// Runs the keeper on `store` with `N` accounts due, calls `down` 3 s in and `up` after
/// `outage`; returns once every account was refreshed (or 90 s after), checking and
/// printing the figures.
async fn through_fault<D, U, DF, UF>(name: &str, store: SqlStore, outage: Duration, down: D, up: U)
where
    D: FnOnce() -> DF,
    U: FnOnce() -> UF,
    DF: std::future::Future<Output = ()>,
    UF: std::future::Future<Output = ()>,
{
    let store = Arc::new(store);
    // Time stands still for the policy and the leases (the fault is real time), so a
    // lease never runs out here: a result given up would leave its account unrefreshed.
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 1, 5, 9, 0, 0).unwrap());
    let graph = Arc::new(FakeProvider::new(clock.clone()));
    let keeper = Keeper::builder(store.clone(), graph.clone())
        .clock(Arc::new(clock.clone()))
        .rate_limit_per_second(30)
        .concurrency(8)
        .batch_size(50)
        .poll_interval(Duration::from_millis(200))
        .build()
        .unwrap();
    let mut ids = Vec::with_capacity(N);
    for i in 0..N {
        let token = graph.token(clock.now() - TimeDelta::days(40));
        let a = NewAccount::new(
            format!("o{i}"),
            ConnectionKind::Consumer,
            format!("u{i}"),
            format!("@u{i}"),
        );
        ids.push(keeper.connect(a, token).await.unwrap());
    }
    // A day later every token is due for its refresh.
    clock.advance(TimeDelta::days(1));
    let bg = keeper.clone();
    let stop = Arc::new(tokio::sync::Notify::new());
    let stopped = stop.clone();
    let run = tokio::spawn(async move { bg.run(async move { stopped.notified().await }).await });
    tokio::time::sleep(Duration::from_secs(3)).await;
    let before = (0..N)
        .map(|i| graph.refresh_count(&format!("u{i}")))
        .sum::<usize>();
    down().await;
    tokio::time::sleep(outage).await;
    up().await;
    let restored = Instant::now();
    let counts = loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let counts = refreshed(&keeper, &ids).await;
        if counts.iter().all(|c| *c >= 1) || restored.elapsed() > Duration::from_secs(90) {
            break counts;
        }
    };
    let caught_up = restored.elapsed();
    stop.notify_one();
    keeper.shutdown();
    let _ = run.await;
    let calls: usize = (0..N).map(|i| graph.refresh_count(&format!("u{i}"))).sum();
    let missing = counts.iter().filter(|c| **c == 0).count();
    let twice = counts.iter().filter(|c| **c > 1).count();
    let given_up = keeper.stats().store_errors;
    println!(
        "{name}, {:.0} s mid-sweep ({before} of {N} refreshed before): refresh calls {calls}, \
         results given up {given_up}, never committed {missing}, refreshed twice {twice}, \
         all committed {:.1} s after the fault ended",
        outage.as_secs_f64(),
        caught_up.as_secs_f64()
    );
    store.close().await;
    assert!(before < N, "the fault began mid-sweep");
    assert_eq!((given_up, missing, twice, calls), (0, 0, 0, N));
}

/// The store's MariaDB user locked (`ACCOUNT LOCK`: 4151) and its sessions killed, for
/// 10 s: what a planned failover or maintenance does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs MariaDB/MySQL at LIGHTWIDGET_TEST_MYSQL_URL (default mysql://root@127.0.0.1:3306/test); run with --include-ignored"]
async fn mariadb_user_locked_and_sessions_killed_for_ten_seconds_loses_no_result() {
    let server = Server::connect("LIGHTWIDGET_TEST_MYSQL_URL").await;
    let url = server.fresh_url().await;
    let db = url.rsplit('/').next().unwrap().to_owned();
    let user = format!("lw_k_{}", &db[3..15]);
    let root_url = support::server("LIGHTWIDGET_TEST_MYSQL_URL");
    let mut root = sqlx::MySqlConnection::connect(&root_url).await.unwrap();
    root.execute(sqlx::AssertSqlSafe(format!(
        "CREATE USER '{user}'@'%' IDENTIFIED BY 'pw'; GRANT ALL ON {db}.* TO '{user}'@'%'"
    )))
    .await
    .unwrap();
    let mut u = url::Url::parse(&url).unwrap();
    u.set_username(&user).unwrap();
    u.set_password(Some("pw")).unwrap();
    let store = SqlStore::builder(u.to_string())
        .keyring(keyring())
        .acquire_timeout(Duration::from_secs(1))
        .connect()
        .await
        .unwrap();
    let admin = Arc::new(tokio::sync::Mutex::new(root));
    let kill = {
        let user = user.clone();
        move |lock: &'static str| {
            let admin = admin.clone();
            let user = user.clone();
            async move {
                let mut root = admin.lock().await;
                root.execute(sqlx::AssertSqlSafe(format!(
                    "ALTER USER '{user}'@'%' ACCOUNT {lock}"
                )))
                .await
                .unwrap();
                if lock == "LOCK" {
                    let ids: Vec<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                        "SELECT id FROM information_schema.processlist WHERE user = '{user}'"
                    )))
                    .fetch_all(&mut *root)
                    .await
                    .unwrap();
                    for id in ids {
                        let _ = root
                            .execute(sqlx::AssertSqlSafe(format!("KILL {id}")))
                            .await;
                    }
                }
            }
        }
    };
    let (down, up) = (kill.clone(), kill);
    through_fault(
        "MariaDB user locked and sessions killed",
        store,
        Duration::from_secs(10),
        || down("LOCK"),
        || up("UNLOCK"),
    )
    .await;
    server.cleanup().await;
    let mut root = sqlx::MySqlConnection::connect(&root_url).await.unwrap();
    root.execute(sqlx::AssertSqlSafe(format!(
        "DROP USER IF EXISTS '{user}'@'%'"
    )))
    .await
    .unwrap();
}

/// Another process holds SQLite's write lock for 15 s (past the store's 10 s busy
/// timeout: its writes fail busy meanwhile).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_write_lock_held_elsewhere_for_fifteen_seconds_loses_no_result() {
    let path = temp_sqlite_path();
    let url = format!("sqlite://{}", path.display());
    let store = SqlStore::builder(&url)
        .keyring(keyring())
        .connect()
        .await
        .unwrap();
    let other = Arc::new(tokio::sync::Mutex::new(
        sqlx::SqliteConnection::connect(&url).await.unwrap(),
    ));
    let (o1, o2) = (other.clone(), other);
    through_fault(
        "SQLite write lock held by another connection",
        store,
        Duration::from_secs(15),
        || async move {
            o1.lock().await.execute("BEGIN IMMEDIATE").await.unwrap();
        },
        || async move {
            o2.lock().await.execute("ROLLBACK").await.unwrap();
        },
    )
    .await;
    let _ = std::fs::remove_file(&path);
}
