//! Driver errors classified per backend by class, provoked on the real servers: lock-wait
//! and statement timeouts, deadlocks, serialization failures, refused and terminated
//! connections, a database not accepting connections, too many connections, read-only
//! during a failover, a locked user, SQLite busy — each comes back as transient
//! ([`StoreError::Unavailable`]), so the keeper retries them instead of giving up.
//! MariaDB's are told apart by error number (sqlx's `code()` is the SQLSTATE there,
//! `HY000` for a lock-wait timeout), PostgreSQL's by SQLSTATE. The full tables, and the
//! classes no server here can be made to produce, are unit-tested in the crate
//! (`classify.rs`).

mod support;

use std::time::Duration;

use lightwidget_core::testkit::{record, t0, transition};
use lightwidget_core::{AccountRecord, StoreError, TokenStore};
use lightwidget_store_sql::SqlStore;
use sqlx::{Connection, Executor};
use support::*;

/// A store with one pooled connection (so a session setting reaches all its work) on a
/// fresh database holding two accounts.
async fn two_accounts(url: &str) -> (SqlStore, AccountRecord, AccountRecord) {
    let store = SqlStore::builder(url)
        .keyring(keyring())
        .max_connections(1)
        .connect()
        .await
        .unwrap();
    let a = record("o", "a", Some(t0()));
    let b = record("o", "b", Some(t0()));
    // b first, so that it comes first in a table scan too.
    store.insert(&b, &[]).await.unwrap();
    store.insert(&a, &[]).await.unwrap();
    (store, a, b)
}

/// `e` is transient and came from database error `code`.
#[track_caller]
fn assert_transient(e: &StoreError, code: &str) {
    assert!(
        matches!(e, StoreError::Unavailable { .. }) && e.is_transient(),
        "must be transient: {e:?}"
    );
    assert_eq!(db_code(e).as_deref(), Some(code), "{e:?}");
}

/// A batch that failed as a whole: every transition transient, saying why (`commit_many`
/// repeats the batch's error per transition, by message).
#[track_caller]
fn assert_batch_transient(results: &[Result<(), StoreError>], says: &str) {
    assert!(!results.is_empty());
    for r in results {
        let e = r.as_ref().expect_err("the batch must fail");
        assert!(e.is_transient(), "must be transient: {e:?}");
        assert!(e.to_string().contains(says), "{says:?} expected: {e}");
    }
}

/// A statement that locks `r`'s row (by primary key: a scan would lock more rows on
/// MariaDB at REPEATABLE READ).
fn lock(r: &AccountRecord) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(format!(
        "UPDATE lw_accounts SET username = 'other' WHERE id = '{}'",
        r.account.id
    ))
}

/// The database error behind `e` (anywhere in its causes): its SQLSTATE, or on MySQL /
/// MariaDB its error number.
fn db_code(e: &StoreError) -> Option<String> {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(cause) = next {
        if let Some(sqlx::Error::Database(d)) = cause.downcast_ref::<sqlx::Error>() {
            return match d.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>() {
                Some(m) => Some(m.number().to_string()),
                None => d.code().map(|c| c.into_owned()),
            };
        }
        next = cause.source();
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs MariaDB/MySQL at LIGHTWIDGET_TEST_MYSQL_URL (default mysql://root@127.0.0.1:3306/test); run with --include-ignored"]
async fn mariadb_lock_wait_timeout_is_transient() {
    let server = Server::connect("LIGHTWIDGET_TEST_MYSQL_URL").await;
    let url = server.fresh_url().await;
    let (store, a, _) = two_accounts(&url).await;
    store
        .pool()
        .execute("SET SESSION innodb_lock_wait_timeout = 1")
        .await
        .unwrap();
    let mut other = sqlx::MySqlConnection::connect(&url).await.unwrap();
    other.execute("BEGIN").await.unwrap();
    other.execute(lock(&a)).await.unwrap();
    let e = store.commit(&transition(&a, None)).await.unwrap_err();
    assert_transient(&e, "1205");
    let e = store.update_account(&a.account).await.unwrap_err();
    assert_transient(&e, "1205");
    other.execute("ROLLBACK").await.unwrap();
    // Once the lock is gone, the same commit goes through.
    store.commit(&transition(&a, None)).await.unwrap();
    store.close().await;
    server.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs MariaDB/MySQL at LIGHTWIDGET_TEST_MYSQL_URL (default mysql://root@127.0.0.1:3306/test); run with --include-ignored"]
async fn mariadb_deadlock_is_transient() {
    let server = Server::connect("LIGHTWIDGET_TEST_MYSQL_URL").await;
    let url = server.fresh_url().await;
    let (store, a, b) = two_accounts(&url).await;
    let mut other = sqlx::MySqlConnection::connect(&url).await.unwrap();
    other.execute("BEGIN").await.unwrap();
    // InnoDB rolls back the transaction that changed the fewest rows: make the other one
    // heavier, so the store's is the victim.
    for i in 0..50 {
        sqlx::query("INSERT INTO lw_history (account_id, at, event) VALUES ('x', ?, '{}')")
            .bind(i)
            .execute(&mut other)
            .await
            .unwrap();
    }
    other.execute(lock(&a)).await.unwrap();
    // The store writes b, then waits for a; the other then asks for b.
    let batch = [transition(&b, None), transition(&a, None)];
    let store2 = store.clone();
    let commit = tokio::spawn(async move { store2.commit_many(&batch).await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Either way the other's lock ends; if it was the victim, the store's batch commits.
    let _ = other.execute(lock(&b)).await;
    other.execute("ROLLBACK").await.unwrap();
    let results = commit.await.unwrap();
    assert_batch_transient(&results, "1213");
    // Nothing of the batch was written: it commits in full on retry.
    let retry = store
        .commit_many(&[transition(&b, None), transition(&a, None)])
        .await;
    assert!(retry.iter().all(Result::is_ok), "{retry:?}");
    store.close().await;
    server.cleanup().await;
}

/// PostgreSQL at REPEATABLE READ (set on the database, so the store's sessions get it):
/// a row another transaction changed and committed while the store waited for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL at LIGHTWIDGET_TEST_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/test); run with --include-ignored"]
async fn postgres_serialization_failure_is_transient() {
    let server = Server::connect("LIGHTWIDGET_TEST_POSTGRES_URL").await;
    let url = server.fresh_url().await;
    let db = url.rsplit('/').next().unwrap().to_owned();
    let mut other = sqlx::PgConnection::connect(&url).await.unwrap();
    other
        .execute(sqlx::AssertSqlSafe(format!(
            "ALTER DATABASE {db} SET default_transaction_isolation = 'repeatable read'"
        )))
        .await
        .unwrap();
    let (store, a, _) = two_accounts(&url).await;
    other.execute("BEGIN").await.unwrap();
    other.execute(lock(&a)).await.unwrap();
    let store2 = store.clone();
    let t = transition(&a, None);
    let commit = tokio::spawn(async move { store2.commit(&t).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    other.execute("COMMIT").await.unwrap();
    let e = commit.await.unwrap().unwrap_err();
    assert_transient(&e, "40001");
    store.commit(&transition(&a, None)).await.unwrap();
    store.close().await;
    drop(other);
    server.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL at LIGHTWIDGET_TEST_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/test); run with --include-ignored"]
async fn postgres_deadlock_is_transient() {
    let server = Server::connect("LIGHTWIDGET_TEST_POSTGRES_URL").await;
    let url = server.fresh_url().await;
    let (store, a, b) = two_accounts(&url).await;
    let mut other = sqlx::PgConnection::connect(&url).await.unwrap();
    other.execute("BEGIN").await.unwrap();
    other.execute(lock(&a)).await.unwrap();
    // The store's batch writes b, then waits for a; the other then asks for b. The store
    // waited first, so its deadlock check (after deadlock_timeout, 1 s) finds the cycle.
    let batch = [transition(&b, None), transition(&a, None)];
    let store2 = store.clone();
    let commit = tokio::spawn(async move { store2.commit_many(&batch).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    other.execute(lock(&b)).await.unwrap();
    other.execute("ROLLBACK").await.unwrap();
    let results = commit.await.unwrap();
    assert_batch_transient(&results, "deadlock detected");
    let retry = store
        .commit_many(&[transition(&b, None), transition(&a, None)])
        .await;
    assert!(retry.iter().all(Result::is_ok), "{retry:?}");
    store.close().await;
    drop(other);
    server.cleanup().await;
}

// ---------------------------------------------------------------------------------------
// Unavailability by class, on the real servers. Every fault is scoped to a fresh
// database or a dedicated user of the test's own; nothing server-wide is changed.

/// Runs `op` until it has failed with each of `codes` (SQLSTATE / error number; "" for a
/// driver-level error such as a reset connection or a pool timeout) or `tries` ran out;
/// every failure must be transient. Returns the codes seen.
async fn transient_until<F, Fut>(codes: &[&str], tries: usize, mut op: F) -> Vec<String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), StoreError>>,
{
    let mut seen: Vec<String> = Vec::new();
    for _ in 0..tries {
        match op().await {
            Ok(()) => panic!("must fail while the fault lasts (seen so far {seen:?})"),
            Err(e) => {
                assert!(
                    e.is_transient() && !e.is_permanent(),
                    "must be transient: {e:?}"
                );
                let code = db_code(&e).unwrap_or_default();
                eprintln!("transient ({code}): {e}");
                if !seen.contains(&code) {
                    seen.push(code);
                }
            }
        }
        if codes.iter().all(|c| seen.iter().any(|s| s == c)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for c in codes {
        assert!(seen.iter().any(|s| s == c), "{c} expected among {seen:?}");
    }
    seen
}

/// Retries `op` until it succeeds (the fault is gone), for up to 10 s.
async fn recovers<F, Fut>(mut op: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), StoreError>>,
{
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        match op().await {
            Ok(()) => return,
            Err(e) if std::time::Instant::now() < deadline => {
                assert!(e.is_transient(), "{e:?}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("did not recover: {e:?}"),
        }
    }
}

/// An admin connection to the server (another database than the test's).
async fn pg_admin() -> sqlx::PgConnection {
    sqlx::PgConnection::connect(&server("LIGHTWIDGET_TEST_POSTGRES_URL"))
        .await
        .unwrap()
}

/// Terminates every session on database `db` but the caller's.
async fn pg_terminate(admin: &mut sqlx::PgConnection, db: &str) {
    admin
        .execute(sqlx::AssertSqlSafe(format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = '{db}' AND pid <> pg_backend_pid()"
        )))
        .await
        .unwrap();
}

fn db_name(url: &str) -> String {
    url.rsplit('/').next().unwrap().to_owned()
}

/// What an administrator, a failover or a restart does: the database refuses new
/// connections (`ALLOW_CONNECTIONS false`: SQLSTATE 55000) and its sessions are
/// terminated (57P01 or a reset connection). Every call fails transient, on both of the
/// store's pools, and works again once the database takes connections.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL at LIGHTWIDGET_TEST_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/test); run with --include-ignored"]
async fn postgres_refused_and_terminated_connections_are_transient() {
    let server = Server::connect("LIGHTWIDGET_TEST_POSTGRES_URL").await;
    let url = server.fresh_url().await;
    let db = db_name(&url);
    let (store, a, _) = two_accounts(&url).await;
    let mut admin = pg_admin().await;
    admin
        .execute(sqlx::AssertSqlSafe(format!(
            "ALTER DATABASE {db} ALLOW_CONNECTIONS false"
        )))
        .await
        .unwrap();
    pg_terminate(&mut admin, &db).await;
    // commit: the shared pool; commit_many: the native one.
    transient_until(&["55000"], 10, || async {
        store.commit(&transition(&a, None)).await
    })
    .await;
    transient_until(&["55000"], 10, || async {
        store
            .commit_many(&[transition(&a, None)])
            .await
            .pop()
            .unwrap()
    })
    .await;
    let e = store.get(a.account.id).await.unwrap_err();
    assert!(e.is_transient(), "{e:?}");
    admin
        .execute(sqlx::AssertSqlSafe(format!(
            "ALTER DATABASE {db} ALLOW_CONNECTIONS true"
        )))
        .await
        .unwrap();
    recovers(|| async { store.commit(&transition(&a, None)).await }).await;
    store.close().await;
    drop(admin);
    server.cleanup().await;
}

/// Sets `setting` on database `db` for new sessions and terminates the current ones, so
/// the store's next connections have it.
async fn pg_set(admin: &mut sqlx::PgConnection, db: &str, setting: &str) {
    admin
        .execute(sqlx::AssertSqlSafe(format!(
            "ALTER DATABASE {db} SET {setting}"
        )))
        .await
        .unwrap();
    pg_terminate(admin, db).await;
}

/// A failover target that is still read-only (`default_transaction_read_only`, as on a
/// standby being promoted): 25006, transient; writes go through once it is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL at LIGHTWIDGET_TEST_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/test); run with --include-ignored"]
async fn postgres_read_only_during_failover_is_transient() {
    let server = Server::connect("LIGHTWIDGET_TEST_POSTGRES_URL").await;
    let url = server.fresh_url().await;
    let db = db_name(&url);
    let (store, a, _) = two_accounts(&url).await;
    let mut admin = pg_admin().await;
    pg_set(&mut admin, &db, "default_transaction_read_only = on").await;
    transient_until(&["25006"], 10, || async {
        store.commit(&transition(&a, None)).await
    })
    .await;
    transient_until(&["25006"], 10, || async {
        store
            .commit_many(&[transition(&a, None)])
            .await
            .pop()
            .unwrap()
    })
    .await;
    pg_set(&mut admin, &db, "default_transaction_read_only = off").await;
    recovers(|| async { store.commit(&transition(&a, None)).await }).await;
    store.close().await;
    drop(admin);
    server.cleanup().await;
}

/// `lock_timeout` (55P03) and `statement_timeout` (57014) while another session holds
/// the row: transient, and the commit goes through once the lock is released.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL at LIGHTWIDGET_TEST_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/test); run with --include-ignored"]
async fn postgres_lock_and_statement_timeouts_are_transient() {
    let server = Server::connect("LIGHTWIDGET_TEST_POSTGRES_URL").await;
    let url = server.fresh_url().await;
    let db = db_name(&url);
    let (store, a, _) = two_accounts(&url).await;
    let mut admin = pg_admin().await;
    let mut other = sqlx::PgConnection::connect(&url).await.unwrap();
    for (setting, code) in [
        ("lock_timeout = '300ms'", "55P03"),
        ("statement_timeout = '300ms'", "57014"),
    ] {
        pg_set(&mut admin, &db, "lock_timeout = 0").await;
        admin
            .execute(sqlx::AssertSqlSafe(format!(
                "ALTER DATABASE {db} SET statement_timeout = 0"
            )))
            .await
            .unwrap();
        // `other` was terminated too: a new one holds the row.
        other = sqlx::PgConnection::connect(&url).await.unwrap();
        pg_set(&mut admin, &db, setting).await;
        let mut holder = sqlx::PgConnection::connect(&url).await.unwrap();
        holder
            .execute("SET lock_timeout = 0; SET statement_timeout = 0")
            .await
            .unwrap();
        holder.execute("BEGIN").await.unwrap();
        holder.execute(lock(&a)).await.unwrap();
        transient_until(&[code], 10, || async {
            store.commit(&transition(&a, None)).await
        })
        .await;
        transient_until(&[code], 10, || async {
            store
                .commit_many(&[transition(&a, None)])
                .await
                .pop()
                .unwrap()
        })
        .await;
        holder.execute("ROLLBACK").await.unwrap();
        drop(holder);
    }
    drop(other);
    pg_set(&mut admin, &db, "statement_timeout = 0").await;
    recovers(|| async { store.commit(&transition(&a, None)).await }).await;
    store.close().await;
    drop(admin);
    server.cleanup().await;
}

/// Too many connections: a role of the test's own whose `CONNECTION LIMIT` drops to what
/// it has (0 once its sessions are terminated). New connections are refused (53300, which
/// sqlx's pool retries until the acquire timeout, then reports as timed out): transient,
/// and the store works again once the limit is lifted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL at LIGHTWIDGET_TEST_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/test); run with --include-ignored"]
async fn postgres_too_many_connections_is_transient() {
    let server = Server::connect("LIGHTWIDGET_TEST_POSTGRES_URL").await;
    let url = server.fresh_url().await;
    let db = db_name(&url);
    let (store, a, _) = two_accounts(&url).await;
    store.close().await;
    let role = format!("lw_role_{}", &db[3..15]);
    let mut admin = pg_admin().await;
    let mut on_db = sqlx::PgConnection::connect(&url).await.unwrap();
    admin
        .execute(sqlx::AssertSqlSafe(format!(
            "CREATE ROLE {role} LOGIN PASSWORD 'pw'"
        )))
        .await
        .unwrap();
    on_db
        .execute(sqlx::AssertSqlSafe(format!(
            "GRANT ALL ON ALL TABLES IN SCHEMA public TO {role}; \
             GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO {role}; \
             GRANT ALL ON SCHEMA public TO {role}"
        )))
        .await
        .unwrap();
    drop(on_db);
    let mut role_url = url::Url::parse(&url).unwrap();
    role_url.set_username(&role).unwrap();
    role_url.set_password(Some("pw")).unwrap();
    let role_url = role_url.to_string();
    let store = SqlStore::builder(&role_url)
        .keyring(keyring())
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(1))
        .connect()
        .await
        .unwrap();
    store.commit(&transition(&a, None)).await.unwrap();
    let a = store.get(a.account.id).await.unwrap().unwrap();
    admin
        .execute(sqlx::AssertSqlSafe(format!(
            "ALTER ROLE {role} CONNECTION LIMIT 0"
        )))
        .await
        .unwrap();
    pg_terminate(&mut admin, &db).await;
    // sqlx's pool retries a 53300 until its acquire timeout, then reports that.
    transient_until(&[""], 3, || async {
        store.commit(&transition(&a, None)).await
    })
    .await;
    admin
        .execute(sqlx::AssertSqlSafe(format!(
            "ALTER ROLE {role} CONNECTION LIMIT -1"
        )))
        .await
        .unwrap();
    recovers(|| async { store.commit(&transition(&a, None)).await }).await;
    store.close().await;
    pg_terminate(&mut admin, &db).await;
    server.cleanup().await;
    admin
        .execute(sqlx::AssertSqlSafe(format!("DROP ROLE IF EXISTS {role}")))
        .await
        .unwrap();
}

/// A MariaDB user of the test's own on database `db`, and the URL to connect as it.
async fn maria_user(root: &mut sqlx::MySqlConnection, url: &str, extra: &str) -> (String, String) {
    let db = db_name(url);
    let user = format!("lw_u_{}", &db[3..15]);
    root.execute(sqlx::AssertSqlSafe(format!(
        "CREATE USER '{user}'@'%' IDENTIFIED BY 'pw' {extra}; \
         GRANT ALL ON {db}.* TO '{user}'@'%'"
    )))
    .await
    .unwrap();
    let mut u = url::Url::parse(url).unwrap();
    u.set_username(&user).unwrap();
    u.set_password(Some("pw")).unwrap();
    (user, u.to_string())
}

/// Kills every session of `user` (`KILL` of the test's own connections).
async fn maria_kill(root: &mut sqlx::MySqlConnection, user: &str) {
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

/// The store as `user_url` on a migrated database with one account.
async fn store_as(user_url: &str, a: &AccountRecord) -> SqlStore {
    let store = SqlStore::builder(user_url)
        .keyring(keyring())
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(2))
        .connect()
        .await
        .unwrap();
    assert!(store.get(a.account.id).await.unwrap().is_some());
    store
}

/// The store's user locked (`ACCOUNT LOCK`, MariaDB 4151) and its sessions killed (lost
/// connection or 1927): what a planned failover or maintenance does. Transient, and the
/// store works again once the user is unlocked. Then `max_user_connections` reached
/// (a user's `MAX_USER_CONNECTIONS`: 1226), likewise.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs MariaDB/MySQL at LIGHTWIDGET_TEST_MYSQL_URL (default mysql://root@127.0.0.1:3306/test); run with --include-ignored"]
async fn mariadb_locked_user_killed_sessions_and_user_connection_limit_are_transient() {
    let server = Server::connect("LIGHTWIDGET_TEST_MYSQL_URL").await;
    let url = server.fresh_url().await;
    let (root_store, a, _) = two_accounts(&url).await;
    root_store.close().await;
    let mut root = sqlx::MySqlConnection::connect(&support::server("LIGHTWIDGET_TEST_MYSQL_URL"))
        .await
        .unwrap();
    let (user, user_url) = maria_user(&mut root, &url, "").await;
    let store = store_as(&user_url, &a).await;

    // Killed sessions: the next call may fail (transient), then the pool reconnects.
    maria_kill(&mut root, &user).await;
    recovers(|| async { store.commit(&transition(&a, None)).await }).await;
    let a = store.get(a.account.id).await.unwrap().unwrap();

    // Locked user, sessions killed.
    root.execute(sqlx::AssertSqlSafe(format!(
        "ALTER USER '{user}'@'%' ACCOUNT LOCK"
    )))
    .await
    .unwrap();
    maria_kill(&mut root, &user).await;
    transient_until(&["4151"], 10, || async {
        store.commit(&transition(&a, None)).await
    })
    .await;
    root.execute(sqlx::AssertSqlSafe(format!(
        "ALTER USER '{user}'@'%' ACCOUNT UNLOCK"
    )))
    .await
    .unwrap();
    recovers(|| async { store.commit(&transition(&a, None)).await }).await;
    let a = store.get(a.account.id).await.unwrap().unwrap();

    // The user's connection limit taken by another session.
    root.execute(sqlx::AssertSqlSafe(format!(
        "ALTER USER '{user}'@'%' WITH MAX_USER_CONNECTIONS 1"
    )))
    .await
    .unwrap();
    maria_kill(&mut root, &user).await;
    let mut taken = sqlx::MySqlConnection::connect(&user_url).await.unwrap();
    transient_until(&["1226"], 10, || async {
        store.commit(&transition(&a, None)).await
    })
    .await;
    taken.execute("SELECT 1").await.unwrap();
    drop(taken);
    recovers(|| async { store.commit(&transition(&a, None)).await }).await;

    store.close().await;
    server.cleanup().await;
    root.execute(sqlx::AssertSqlSafe(format!(
        "DROP USER IF EXISTS '{user}'@'%'"
    )))
    .await
    .unwrap();
}

/// A statement timeout (`max_statement_time`, MariaDB 1969) while another session holds
/// the row: transient.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs MariaDB/MySQL at LIGHTWIDGET_TEST_MYSQL_URL (default mysql://root@127.0.0.1:3306/test); run with --include-ignored"]
async fn mariadb_statement_timeout_is_transient() {
    let server = Server::connect("LIGHTWIDGET_TEST_MYSQL_URL").await;
    let url = server.fresh_url().await;
    let (store, a, _) = two_accounts(&url).await;
    store
        .pool()
        .execute("SET SESSION max_statement_time = 0.3")
        .await
        .unwrap();
    let mut other = sqlx::MySqlConnection::connect(&url).await.unwrap();
    other.execute("BEGIN").await.unwrap();
    other.execute(lock(&a)).await.unwrap();
    transient_until(&["1969"], 3, || async {
        store.commit(&transition(&a, None)).await
    })
    .await;
    other.execute("ROLLBACK").await.unwrap();
    store.commit(&transition(&a, None)).await.unwrap();
    store.close().await;
    server.cleanup().await;
}

/// SQLite busy (5) from another connection holding the write lock past the busy timeout
/// (10 s): transient on both of the store's paths (the dedicated connection's batched
/// commits, the pool's writes), and the same commit goes through once the lock is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_busy_is_transient() {
    let path = temp_sqlite_path();
    let url = format!("sqlite://{}", path.display());
    let (store, a, _) = two_accounts(&url).await;
    let mut other = sqlx::SqliteConnection::connect(&url).await.unwrap();
    other.execute("BEGIN IMMEDIATE").await.unwrap();
    let ts = [transition(&a, None)];
    let batch = store.commit_many(&ts);
    let single = store.update_account(&a.account);
    let (batch, single) = tokio::join!(batch, single);
    for e in [batch[0].as_ref().unwrap_err(), single.as_ref().unwrap_err()] {
        assert!(e.is_transient() && !e.is_permanent(), "{e:?}");
        assert!(
            e.to_string().contains("locked") || e.to_string().contains("busy"),
            "{e}"
        );
    }
    other.execute("ROLLBACK").await.unwrap();
    store.commit(&transition(&a, None)).await.unwrap();
    store.close().await;
    let _ = std::fs::remove_file(&path);
}
