//! Starting on a database whose schema is being created, and on one whose migration was
//! interrupted: 8 processes (this test binary, run again as children) start at once on
//! a fresh, empty database, 10 times on each backend — every start succeeds and the
//! schema is usable after — and a MySQL / MariaDB migration left half-applied (its DDL
//! is not transactional) is completed by the next start. Each test prints its figures.

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lightwidget_core::TokenStore;
use lightwidget_core::testkit::{record, t0, transition};
use lightwidget_store_sql::{Error, SqlStore};
use sqlx::{AnyPool, Executor, Row};
use support::*;

const PROCESSES: usize = 8;
const TRIALS: usize = 10;
/// The child's database URL, and when (unix ms) it starts.
const CHILD_URL: &str = "LW_TEST_CHILD_START_URL";
const CHILD_AT: &str = "LW_TEST_CHILD_START_AT";

/// The child: started by [`start_together`] with the database URL in the environment,
/// it waits for the common start time, connects (migrating) and exits; a failed start
/// fails it (exit code 101) with the error on stderr. Run without the variable (as in a
/// plain `cargo test`), it does nothing.
#[tokio::test]
async fn child_start() {
    let Ok(url) = std::env::var(CHILD_URL) else {
        return;
    };
    let at: u64 = std::env::var(CHILD_AT).unwrap().parse().unwrap();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    if let Some(wait) = Duration::from_millis(at).checked_sub(now) {
        tokio::time::sleep(wait).await;
    }
    let store = SqlStore::builder(&url)
        .keyring(keyring())
        .max_connections(2)
        .connect()
        .await
        .unwrap_or_else(|e| panic!("START FAILED: {e}"));
    store.close().await;
}

/// Starts [`PROCESSES`] children on `url` at the same moment; returns the stderr of
/// those that failed.
fn start_together(url: &str) -> Vec<String> {
    let exe = std::env::current_exe().unwrap();
    let at = SystemTime::now().duration_since(UNIX_EPOCH).unwrap() + Duration::from_millis(700);
    let children: Vec<_> = (0..PROCESSES)
        .map(|_| {
            Command::new(&exe)
                .args(["--exact", "child_start", "--nocapture", "--test-threads=1"])
                .env(CHILD_URL, url)
                .env(CHILD_AT, at.as_millis().to_string())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn a child test process")
        })
        .collect();
    children
        .into_iter()
        .filter_map(|c| {
            let out = c.wait_with_output().unwrap();
            (!out.status.success()).then(|| {
                let err = String::from_utf8_lossy(&out.stderr);
                err.lines()
                    .find(|l| l.contains("START FAILED"))
                    .unwrap_or(&err)
                    .to_owned()
            })
        })
        .collect()
}

/// Whether the schema at `url` is complete and usable: every migration recorded as
/// successful, and an account can be inserted, claimed and committed.
async fn usable(url: &str) -> Result<(), String> {
    let store = SqlStore::builder(url)
        .keyring(keyring())
        .max_connections(2)
        .connect()
        .await
        .map_err(|e| format!("start after the race: {e}"))?;
    let out = async {
        let pool = store.pool();
        let count = |sql: &'static str| async move {
            sqlx::query(sql)
                .fetch_one(pool)
                .await
                .and_then(|r| r.try_get::<i64, _>(0))
                .map_err(|e| e.to_string())
        };
        let all = count("SELECT COUNT(*) FROM _sqlx_migrations").await?;
        let bad = count("SELECT COUNT(*) FROM _sqlx_migrations WHERE NOT success").await?;
        if all == 0 || bad > 0 {
            return Err(format!("{bad} of {all} migrations not successful"));
        }
        let r = record("o", "race", Some(t0()));
        store.insert(&r, &[]).await.map_err(|e| e.to_string())?;
        let claimed = store
            .claim_due(t0(), 10, Duration::from_secs(60), "w")
            .await
            .map_err(|e| e.to_string())?;
        if claimed.len() != 1 {
            return Err(format!("claimed {}", claimed.len()));
        }
        store
            .commit(&transition(&claimed[0], None))
            .await
            .map_err(|e| e.to_string())
    }
    .await;
    store.close().await;
    out
}

/// [`TRIALS`] × [`PROCESSES`] starts at once on a fresh database from `fresh`; prints
/// and checks the failed starts and broken schemas.
async fn race<F, Fut>(backend: &str, mut fresh: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = String>,
{
    let (mut failed, mut broken) = (0, 0);
    let mut errors = Vec::new();
    for _ in 0..TRIALS {
        let url = fresh().await;
        let failures = tokio::task::spawn_blocking({
            let url = url.clone();
            move || start_together(&url)
        })
        .await
        .unwrap();
        failed += failures.len();
        errors.extend(failures);
        if let Err(e) = usable(&url).await {
            broken += 1;
            errors.push(e);
        }
    }
    println!(
        "{backend}: {PROCESSES} processes x {TRIALS} trials on an empty database: \
         failed starts {failed} of {}, broken schemas {broken} of {TRIALS}",
        PROCESSES * TRIALS
    );
    assert_eq!((failed, broken), (0, 0), "{errors:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_processes_starting_together_all_start() {
    let dir = std::env::temp_dir().join(format!("lw-start-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let d = dir.clone();
    race("SQLite", || {
        let path = d.join(format!("{}.db", uuid::Uuid::new_v4().simple()));
        async move { format!("sqlite://{}", path.display()) }
    })
    .await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL at LIGHTWIDGET_TEST_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/test); run with --include-ignored"]
async fn postgres_processes_starting_together_all_start() {
    let server = Server::connect("LIGHTWIDGET_TEST_POSTGRES_URL").await;
    race("PostgreSQL", || server.fresh_url()).await;
    server.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs MariaDB/MySQL at LIGHTWIDGET_TEST_MYSQL_URL (default mysql://root@127.0.0.1:3306/test); run with --include-ignored"]
async fn mariadb_processes_starting_together_all_start() {
    let server = Server::connect("LIGHTWIDGET_TEST_MYSQL_URL").await;
    race("MariaDB", || server.fresh_url()).await;
    server.cleanup().await;
}

/// The statements of a migration (its line comments left out; no `;` in its strings).
fn statements(sql: &str) -> Vec<String> {
    let code: Vec<&str> = sql
        .lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .collect();
    code.join("\n")
        .split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Leaves migration `version` of the MySQL migrations half-applied on `url`, as a
/// process killed in its middle does: the earlier migrations done, this one recorded as
/// not successful and its first `done` statements run (DDL commits each on its own).
async fn interrupt_mysql_migration(url: &str, version: i64, done: usize) {
    let m = sqlx::migrate!("migrations/mysql");
    let pool = AnyPool::connect(url).await.unwrap();
    let mut before = sqlx::migrate!("migrations/mysql");
    before.migrations = before
        .migrations
        .iter()
        .filter(|x| x.version < version)
        .cloned()
        .collect::<Vec<_>>()
        .into();
    before.run(&pool).await.unwrap();
    let mig = m.iter().find(|x| x.version == version).unwrap();
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (?, ?, FALSE, ?, -1)",
    )
    .bind(version)
    .bind(mig.description.to_string())
    .bind(mig.checksum.to_vec())
    .execute(&pool)
    .await
    .unwrap();
    let statements = statements(mig.sql.as_str());
    assert!(statements.len() > done, "{} statements", statements.len());
    for s in &statements[..done] {
        pool.execute(sqlx::AssertSqlSafe(s.clone())).await.unwrap();
    }
    pool.close().await;
}

/// Each MySQL migration interrupted after each of its statements: the next start
/// completes it, and the schema is usable. Before, sqlx refused every later start
/// ("migration … is partially applied") until `_sqlx_migrations` was edited by hand.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs MariaDB/MySQL at LIGHTWIDGET_TEST_MYSQL_URL (default mysql://root@127.0.0.1:3306/test); run with --include-ignored"]
async fn mariadb_an_interrupted_migration_is_completed_by_the_next_start() {
    let server = Server::connect("LIGHTWIDGET_TEST_MYSQL_URL").await;
    let m = sqlx::migrate!("migrations/mysql");
    let mut cases = 0;
    for mig in m.iter() {
        let n = statements(mig.sql.as_str()).len();
        // After the first statement, in the middle, and before the last.
        let mut points = vec![1, n / 2, n.saturating_sub(1)];
        points.dedup();
        for done in points.into_iter().filter(|d| *d >= 1 && *d < n) {
            let url = server.fresh_url().await;
            interrupt_mysql_migration(&url, mig.version, done).await;
            usable(&url)
                .await
                .unwrap_or_else(|e| panic!("migration {} cut after {done}: {e}", mig.version));
            cases += 1;
        }
    }
    println!("MariaDB: {cases} interrupted migrations, all completed on the next start");
    assert!(cases >= 3);
    server.cleanup().await;
}

/// A half-applied migration this version does not know: a typed error that says
/// exactly what to do, not sqlx's generic refusal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs MariaDB/MySQL at LIGHTWIDGET_TEST_MYSQL_URL (default mysql://root@127.0.0.1:3306/test); run with --include-ignored"]
async fn mariadb_an_interrupted_migration_that_cannot_be_completed_names_the_repair() {
    let server = Server::connect("LIGHTWIDGET_TEST_MYSQL_URL").await;
    let url = server.fresh_url().await;
    SqlStore::builder(&url)
        .keyring(keyring())
        .connect()
        .await
        .unwrap()
        .close()
        .await;
    let pool = AnyPool::connect(&url).await.unwrap();
    pool.execute(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (9999, 'from the future', FALSE, X'00', -1)",
    )
    .await
    .unwrap();
    pool.close().await;
    let e = SqlStore::builder(&url)
        .keyring(keyring())
        .connect()
        .await
        .unwrap_err();
    match &e {
        Error::MigrationInterrupted {
            version, repair, ..
        } => {
            assert_eq!(*version, 9999);
            assert!(
                repair.contains("UPDATE _sqlx_migrations SET success = TRUE WHERE version = 9999"),
                "{repair}"
            );
        }
        other => panic!("expected MigrationInterrupted, got {other:?}"),
    }
    assert!(e.to_string().contains("To repair:"), "{e}");
    server.cleanup().await;
}
