//! Upgrading a database of the previous schema (before shared accounts, #17): every
//! existing account keeps its owner as its only member, with its entitlements, and that
//! owner still sees all of its history. SQLite always; PostgreSQL and MariaDB with
//! `--include-ignored`.

mod support;

use std::borrow::Cow;

use lightwidget_core::{HistoryQuery, OwnerId, TokenStore};
use lightwidget_store_sql::{Encryption, SqlStore};
use sqlx::AnyPool;
use sqlx::migrate::Migrator;
use support::*;

/// The migrations of `m` before `first_new` (the schema as it was).
fn before(mut m: Migrator, first_new: i64) -> Migrator {
    m.migrations = Cow::Owned(
        m.migrations
            .iter()
            .filter(|x| x.version < first_new)
            .cloned()
            .collect(),
    );
    m
}

/// Writes one account and its connect event as the previous schema stored them (the
/// token in plaintext, key id "plain"), `?` placeholders or `$n` ones.
async fn old_rows(pool: &AnyPool, pg: bool, id: &str) {
    let p = |n: usize| if pg { format!("${n}") } else { "?".into() };
    let values: Vec<String> = (1..=9).map(p).collect();
    let sql = format!(
        "INSERT INTO lw_accounts (id, owner, kind, ig_user_id, username, notifications, token_ct, \
         token_key, issued_at, scopes, status, retry, warnings, episode, refresh_requested, version, \
         next_action_at) VALUES ({}, {}, 'consumer', {}, 'paul', 1, {}, {}, {}, '[]', 'active', {}, \
         {}, 0, 0, 0, {})",
        values[0],
        values[1],
        values[2],
        values[3],
        values[4],
        values[5],
        values[6],
        values[7],
        values[8]
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id.to_owned())
        .bind("agency-1".to_owned())
        .bind("17841400000000042".to_owned())
        .bind(b"IGAAold-token".to_vec())
        .bind("plain".to_owned())
        .bind(1_767_225_600_000i64)
        .bind(r#"{"failures":0,"failing_since":null,"last_error":null}"#.to_owned())
        .bind(r#"{"expiring_for":null,"data_access_for":null}"#.to_owned())
        .bind(1_767_225_600_000i64 + 86_400_000)
        .execute(pool)
        .await
        .expect("old account row");
    let sql = format!(
        "INSERT INTO lw_history (account_id, at, event) VALUES ({}, {}, {})",
        p(1),
        p(2),
        p(3)
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id.to_owned())
        .bind(1_767_225_600_000i64)
        .bind(r#"{"event":"connected","expires_at":null}"#.to_owned())
        .execute(pool)
        .await
        .expect("old history row");
}

async fn check_upgraded(store: &SqlStore, id: &str) {
    let id = id.parse().unwrap();
    let owner = OwnerId::new("agency-1");
    let ms = store.owners(id).await.expect("owners after the upgrade");
    assert_eq!(ms.len(), 1, "the owner is the only member: {ms:?}");
    assert_eq!(ms[0].owner, owner);
    assert!(ms[0].entitlements.notifications, "entitlements copied");
    assert_eq!(
        ms[0].joined_at.timestamp_millis(),
        1_767_225_600_000,
        "joined at the first event"
    );
    let mine = store.list_by_owner(&owner).await.unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].state.token.secret(), "IGAAold-token");
    assert_eq!(mine[0].account.fb_user_id, None);
    let hist = store
        .history_for(id, &owner, HistoryQuery::default())
        .await
        .unwrap();
    assert_eq!(
        hist.len(),
        1,
        "the owner sees the history from before: {hist:?}"
    );
    assert_eq!(hist[0].owner, None, "a token event");
    // And the upgraded account is shared like a new one.
    let now = chrono::Utc::now();
    let client = lightwidget_core::Membership::new("client-1", Default::default(), now);
    assert!(store.join(id, &client).await.unwrap());
    assert_eq!(store.owners(id).await.unwrap().len(), 2);
}

#[tokio::test]
async fn sqlite_upgrade_keeps_the_owner_as_the_only_member() {
    sqlx::any::install_default_drivers();
    let path = temp_sqlite_path();
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let pool = AnyPool::connect(&url).await.unwrap();
    before(sqlx::migrate!("migrations/sqlite"), 2)
        .run(&pool)
        .await
        .expect("the previous schema");
    let id = uuid::Uuid::now_v7().to_string();
    old_rows(&pool, false, &id).await;
    pool.close().await;
    let store = SqlStore::open_sqlite(&path, Encryption::Plaintext)
        .await
        .expect("open and migrate");
    check_upgraded(&store, &id).await;
    store.close().await;
    let _ = std::fs::remove_file(&path);
}

#[tokio::test]
#[ignore = "needs PostgreSQL at LIGHTWIDGET_TEST_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/test); run with --include-ignored"]
async fn postgres_upgrade_keeps_the_owner_as_the_only_member() {
    let server = Server::connect("LIGHTWIDGET_TEST_POSTGRES_URL").await;
    let url = server.fresh_url().await;
    let pool = AnyPool::connect(&url).await.unwrap();
    before(sqlx::migrate!("migrations/postgres"), 3)
        .run(&pool)
        .await
        .expect("the previous schema");
    let id = uuid::Uuid::now_v7().to_string();
    old_rows(&pool, true, &id).await;
    pool.close().await;
    let store = SqlStore::builder(url)
        .encryption(Encryption::Plaintext)
        .connect()
        .await
        .expect("connect and migrate");
    check_upgraded(&store, &id).await;
    store.close().await;
    server.cleanup().await;
}

#[tokio::test]
#[ignore = "needs MariaDB/MySQL at LIGHTWIDGET_TEST_MYSQL_URL (default mysql://root@127.0.0.1:3306/test); run with --include-ignored"]
async fn mariadb_upgrade_keeps_the_owner_as_the_only_member() {
    let server = Server::connect("LIGHTWIDGET_TEST_MYSQL_URL").await;
    let url = server.fresh_url().await;
    let pool = AnyPool::connect(&url).await.unwrap();
    before(sqlx::migrate!("migrations/mysql"), 2)
        .run(&pool)
        .await
        .expect("the previous schema");
    let id = uuid::Uuid::now_v7().to_string();
    old_rows(&pool, false, &id).await;
    pool.close().await;
    let store = SqlStore::builder(url)
        .encryption(Encryption::Plaintext)
        .connect()
        .await
        .expect("connect and migrate");
    check_upgraded(&store, &id).await;
    store.close().await;
    server.cleanup().await;
}
