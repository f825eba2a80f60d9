//! The core conformance suite, unchanged, on every backend.

mod support;

use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_passes_the_conformance_suite() {
    lightwidget_core::testkit::run_all(fresh_sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL at LIGHTWIDGET_TEST_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/test); run with --include-ignored"]
async fn postgres_passes_the_conformance_suite() {
    let server = Server::connect("LIGHTWIDGET_TEST_POSTGRES_URL").await;
    lightwidget_core::testkit::run_all(|| server.fresh()).await;
    server.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs MariaDB/MySQL at LIGHTWIDGET_TEST_MYSQL_URL (default mysql://root@127.0.0.1:3306/test); run with --include-ignored"]
async fn mariadb_passes_the_conformance_suite() {
    let server = Server::connect("LIGHTWIDGET_TEST_MYSQL_URL").await;
    lightwidget_core::testkit::run_all(|| server.fresh()).await;
    server.cleanup().await;
}

/// A used link stays used after the process restarts: the record is in the database,
/// not in memory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_used_link_stays_used_after_reopening_the_database() {
    use lightwidget_core::TokenStore;
    let path = temp_sqlite_path();
    let at = lightwidget_core::testkit::t0();
    let store = lightwidget_store_sql::SqlStore::open_sqlite(&path, enc())
        .await
        .unwrap();
    assert!(store.mark_link_used("link-1", at).await.unwrap());
    store.close().await;
    drop(store);
    let again = lightwidget_store_sql::SqlStore::open_sqlite(&path, enc())
        .await
        .unwrap();
    assert!(!again.mark_link_used("link-1", at).await.unwrap());
}
