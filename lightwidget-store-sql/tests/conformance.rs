//! The core conformance suite, unchanged, on every backend.

mod support;

use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_passes_the_conformance_suite() {
    lightwidget_core::testkit::run_all(fresh_sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_passes_the_conformance_suite() {
    let Some(server) = Server::connect("LIGHTWIDGET_TEST_POSTGRES_URL").await else {
        return;
    };
    lightwidget_core::testkit::run_all(|| server.fresh()).await;
    server.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_passes_the_conformance_suite() {
    let Some(server) = Server::connect("LIGHTWIDGET_TEST_MYSQL_URL").await else {
        return;
    };
    lightwidget_core::testkit::run_all(|| server.fresh()).await;
    server.cleanup().await;
}
