//! Driver errors classified per backend, provoked on the real servers: lock-wait timeouts,
//! deadlocks and serialization failures come back as transient
//! ([`StoreError::Unavailable`]), so the keeper retries them instead of giving up.
//! MariaDB's are told apart by error number (sqlx's `code()` is the SQLSTATE there,
//! `HY000` for a lock-wait timeout), PostgreSQL's by SQLSTATE.

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

/// The database error behind `e`: its SQLSTATE, or on MySQL / MariaDB its error number.
fn db_code(e: &StoreError) -> Option<String> {
    let sqlx::Error::Database(d) = std::error::Error::source(e)?.downcast_ref::<sqlx::Error>()?
    else {
        return None;
    };
    match d.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>() {
        Some(m) => Some(m.number().to_string()),
        None => d.code().map(|c| c.into_owned()),
    }
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
