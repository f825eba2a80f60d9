//! Encryption at rest, bad rows, outages, rotation and multi-pool concurrency on real databases.

mod support;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use lightwidget_core::testkit::{record, t0, transition};
use lightwidget_core::{AccountRecord, StoreError, TokenStore};
use lightwidget_store_sql::{Encryption, Error, Key, Keyring, SqlStore, SqlStoreBuilder};
use support::*;

#[tokio::test]
async fn the_sqlite_file_never_contains_a_token_value() {
    let path = temp_sqlite_path();
    let store = SqlStore::open_sqlite(&path, enc()).await.unwrap();
    let mut secrets = Vec::new();
    for i in 0..20 {
        let r = record("o", &format!("u{i}"), Some(t0()));
        secrets.push(r.state.token.secret().to_owned());
        store.insert(&r, &[]).await.unwrap();
    }
    // And through a commit that changes the token.
    let r = store
        .claim_due(t0(), 1, Duration::from_secs(60), "w")
        .await
        .unwrap()
        .remove(0);
    let mut t = transition(&r, None);
    t.state.token = lightwidget_core::Token::new("IGAArotated-token-value-xyz", t0());
    t.token_changed = true;
    secrets.push("IGAArotated-token-value-xyz".into());
    store.commit(&t).await.unwrap();
    store.close().await;
    let mut bytes = std::fs::read(&path).unwrap();
    for ext in ["-wal", "-shm"] {
        if let Ok(b) = std::fs::read(format!("{}{ext}", path.display())) {
            bytes.extend(b);
        }
    }
    let hay = String::from_utf8_lossy(&bytes);
    assert!(hay.contains("u19"), "the file does hold the rows");
    for s in &secrets {
        assert!(
            !hay.contains(s.as_str()),
            "token value found in the database file"
        );
    }
    assert!(!hay.contains("IGAAtoken"), "no token prefix in the file");
}

/// A builder for an encrypted SQLite store at `path`, for tests that set one option.
fn sqlite_at(path: &std::path::Path) -> SqlStoreBuilder {
    SqlStore::builder(format!("sqlite://{}", path.display())).encryption(enc())
}

async fn seeded(
    path: &std::path::Path,
    enc: Encryption,
    n: usize,
) -> (SqlStore, Vec<AccountRecord>) {
    let store = SqlStore::open_sqlite(path, enc).await.unwrap();
    let mut recs = Vec::new();
    for i in 0..n {
        let r = record("o", &format!("k{i}"), Some(t0()));
        store.insert(&r, &[]).await.unwrap();
        recs.push(r);
    }
    (store, recs)
}

#[tokio::test]
async fn a_missing_key_or_tampered_ciphertext_affects_that_account_only() {
    let path = temp_sqlite_path();
    let (store, recs) = seeded(&path, enc(), 3).await;
    // Tamper with one row's ciphertext; move another row's ciphertext onto a third.
    sqlx::query("UPDATE lw_accounts SET token_ct = CAST(X'00112233445566778899AABBCCDDEEFF00112233445566778899AABBCCDDEEFF0011223344556677' AS BLOB) WHERE id = ?")
        .bind(recs[0].account.id.to_string())
        .execute(store.pool())
        .await
        .unwrap();
    sqlx::query("UPDATE lw_accounts SET token_ct = (SELECT token_ct FROM lw_accounts WHERE id = ?) WHERE id = ?")
        .bind(recs[2].account.id.to_string())
        .bind(recs[1].account.id.to_string())
        .execute(store.pool())
        .await
        .unwrap();
    for r in &recs[..2] {
        match store.get(r.account.id).await {
            Err(StoreError::Corrupt { account, message }) => {
                assert_eq!(account, r.account.id);
                assert!(message.contains("failed authentication"), "{message}");
            }
            other => panic!("expected Corrupt, got {other:?}"),
        }
    }
    let ok = store.get(recs[2].account.id).await.unwrap().unwrap();
    assert_eq!(ok.state.token.secret(), recs[2].state.token.secret());
    // claim_due skips the bad rows and hands out the good one.
    let claimed = store
        .claim_due(t0(), 10, Duration::from_secs(60), "w")
        .await
        .unwrap();
    assert_eq!(
        claimed.iter().map(|r| r.account.id).collect::<Vec<_>>(),
        vec![recs[2].account.id]
    );
    store.close().await;

    // A store opened with a different keyring: a clear error naming the missing key.
    let other = Keyring::new(Key::new("k9", &[9u8; 32]).unwrap());
    let store = SqlStore::open_sqlite(&path, Encryption::Keyring(other))
        .await
        .unwrap();
    let err = store.get(recs[2].account.id).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("\"k1\", which is not in the keyring"),
        "{err}"
    );
}

/// Rows whose columns no longer parse (hand-edited, or written by something else) are
/// skipped by claims and leased so they do not come back in every batch; the readable
/// rows are still handed out, and reading a bad row names it.
#[tokio::test]
async fn rows_that_do_not_parse_are_skipped_by_claims_and_named_by_reads() {
    let path = temp_sqlite_path();
    let (store, recs) = seeded(&path, enc(), 4).await;
    sqlx::query("UPDATE lw_accounts SET retry = 'not json' WHERE id = ?")
        .bind(recs[0].account.id.to_string())
        .execute(store.pool())
        .await
        .unwrap();
    sqlx::query("UPDATE lw_accounts SET issued_at = 'yesterday' WHERE id = ?")
        .bind(recs[1].account.id.to_string())
        .execute(store.pool())
        .await
        .unwrap();
    match store.get(recs[0].account.id).await {
        Err(StoreError::Corrupt { account, message }) => {
            assert_eq!(account, recs[0].account.id);
            assert!(message.contains("retry state"), "{message}");
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    let err = store.get(recs[1].account.id).await.unwrap_err();
    assert!(!err.is_transient(), "{err:?}");
    let lease = Duration::from_secs(60);
    let mut claimed: Vec<_> = store
        .claim_due(t0(), 10, lease, "w")
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.account.id)
        .collect();
    claimed.sort();
    let mut want = vec![recs[2].account.id, recs[3].account.id];
    want.sort();
    assert_eq!(claimed, want, "the readable rows are handed out");
    let again = store.claim_due(t0(), 10, lease, "w").await.unwrap();
    assert!(
        again.is_empty(),
        "the unreadable rows were leased too, not handed out again: {again:?}"
    );
    store.close().await;
    let _ = std::fs::remove_file(&path);
}

#[tokio::test]
async fn rotate_reencrypts_rows_on_older_keys() {
    let path = temp_sqlite_path();
    let (store, recs) = seeded(&path, enc(), 25).await;
    store.close().await;
    let ring = Keyring::new(Key::new("k2", &[2u8; 32]).unwrap())
        .with_older(Key::new("k1", &[7u8; 32]).unwrap());
    let store = SqlStore::open_sqlite(&path, Encryption::Keyring(ring))
        .await
        .unwrap();
    // Readable before rotation through the older key.
    assert_eq!(
        store
            .get(recs[3].account.id)
            .await
            .unwrap()
            .unwrap()
            .state
            .token
            .secret(),
        recs[3].state.token.secret()
    );
    assert_eq!(store.rotate(10).await.unwrap(), 25);
    assert_eq!(
        store.rotate(10).await.unwrap(),
        0,
        "nothing left on the old key"
    );
    store.close().await;
    // Now readable with the new key alone.
    let only_new = Keyring::new(Key::new("k2", &[2u8; 32]).unwrap());
    let store = SqlStore::open_sqlite(&path, Encryption::Keyring(only_new))
        .await
        .unwrap();
    for r in &recs {
        assert_eq!(
            store
                .get(r.account.id)
                .await
                .unwrap()
                .unwrap()
                .state
                .token
                .secret(),
            r.state.token.secret()
        );
    }
}

#[tokio::test]
async fn configuration_errors_are_clear() {
    let e = SqlStore::builder("redis://x")
        .keyring(keyring())
        .connect()
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::Config(_))
            && e.to_string().contains("sqlite://, postgres:// or mysql://"),
        "{e}"
    );
    let e = SqlStore::builder("sqlite://x.db")
        .connect()
        .await
        .unwrap_err();
    assert!(e.to_string().contains("no encryption configured"), "{e}");
    for url in [
        "sqlite::memory:",
        "sqlite://file:x?mode=memory&cache=shared",
    ] {
        let e = SqlStore::builder(url)
            .keyring(keyring())
            .connect()
            .await
            .unwrap_err();
        assert!(
            matches!(e, Error::Config(_)) && e.to_string().contains("give a file"),
            "{url}: {e}"
        );
    }
    let e = Keyring::parse(&"k1:short".to_string().into()).unwrap_err();
    assert!(
        e.to_string().contains("base64") || e.to_string().contains("32 bytes"),
        "{e}"
    );
    let e = SqlStore::builder("postgres://nobody:secretpw@127.0.0.1:1/db")
        .keyring(keyring())
        .acquire_timeout(Duration::from_secs(2))
        .connect()
        .await
        .unwrap_err();
    assert!(e.is_transient(), "{e:?}");
    assert!(
        !e.to_string().contains("secretpw"),
        "the password is hidden: {e}"
    );
}

#[tokio::test]
async fn a_closed_database_gives_typed_transient_errors_and_loses_nothing() {
    let path = temp_sqlite_path();
    let (store, recs) = seeded(&path, enc(), 5).await;
    store.close().await;
    let err = store
        .claim_due(t0(), 10, Duration::from_secs(60), "w")
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable { .. }), "{err:?}");
    assert!(err.is_transient());
    let res = store.commit_many(&[transition(&recs[0], None)]).await;
    assert!(
        res[0].as_ref().is_err_and(StoreError::is_unavailable),
        "{res:?}"
    );
    // "Back": reopen the file; everything is there.
    let store = SqlStore::open_sqlite(&path, enc()).await.unwrap();
    assert_eq!(
        store
            .claim_due(t0(), 10, Duration::from_secs(60), "w")
            .await
            .unwrap()
            .len(),
        5
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL at LIGHTWIDGET_TEST_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/test); run with --include-ignored"]
async fn postgres_connections_killed_mid_run_recover() {
    let server = Server::connect("LIGHTWIDGET_TEST_POSTGRES_URL").await;
    let url = server.fresh_url().await;
    let store = SqlStore::builder(&url)
        .keyring(keyring())
        .max_connections(2)
        .connect()
        .await
        .unwrap();
    let r = record("o", "pg1", Some(t0()));
    store.insert(&r, &[]).await.unwrap();
    let db = url.rsplit('/').next().unwrap().to_owned();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db}' AND pid <> pg_backend_pid()"
    )))
    .execute(&sqlx::PgPool::connect(&server_url()).await.unwrap())
    .await
    .unwrap();
    // The first call on a killed connection may fail (typed, transient); the pool then
    // reconnects and nothing was lost.
    let mut claimed = None;
    for _ in 0..5 {
        match store
            .claim_due(t0(), 10, Duration::from_secs(60), "w")
            .await
        {
            Ok(v) => {
                claimed = Some(v);
                break;
            }
            Err(e) => assert!(e.is_transient(), "a killed connection is transient: {e:?}"),
        }
    }
    assert_eq!(claimed.expect("recovered").len(), 1);
    store.close().await;
    server.cleanup().await;
}

fn server_url() -> String {
    support::server("LIGHTWIDGET_TEST_POSTGRES_URL")
}

async fn race(stores: Vec<SqlStore>) {
    let n = 300;
    for i in 0..n {
        stores[0]
            .insert(&record("o", &format!("r{i}"), Some(t0())), &[])
            .await
            .unwrap();
    }
    let mut tasks = Vec::new();
    for (w, s) in stores.into_iter().enumerate() {
        for t in 0..2 {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let got = s
                        .claim_due(t0(), 13, Duration::from_secs(300), &format!("w{w}.{t}"))
                        .await
                        .expect("claim");
                    if got.is_empty() {
                        break;
                    }
                    for r in &got {
                        mine.push(r.account.id);
                    }
                    // Commit half of them (rescheduled), as a keeper would.
                    let ts: Vec<_> = got
                        .iter()
                        .map(|r| transition(r, Some(t0() + chrono::TimeDelta::days(1))))
                        .collect();
                    for res in s.commit_many(&ts).await {
                        res.expect("the lease holder commits");
                    }
                }
                mine
            }));
        }
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let unique: HashSet<_> = all.iter().collect();
    assert_eq!(all.len(), n, "every due account claimed");
    assert_eq!(unique.len(), n, "no account claimed twice across pools");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn separate_pools_claim_each_account_once_on_sqlite() {
    let path = temp_sqlite_path();
    let mut stores = Vec::new();
    for _ in 0..3 {
        stores.push(SqlStore::open_sqlite(&path, enc()).await.unwrap());
    }
    race(stores).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL at LIGHTWIDGET_TEST_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/test); run with --include-ignored"]
async fn separate_pools_claim_each_account_once_on_postgres() {
    let server = Server::connect("LIGHTWIDGET_TEST_POSTGRES_URL").await;
    let url = server.fresh_url().await;
    let mut stores = Vec::new();
    for _ in 0..3 {
        stores.push(
            SqlStore::builder(&url)
                .keyring(keyring())
                .max_connections(3)
                .connect()
                .await
                .unwrap(),
        );
    }
    race(stores).await;
    server.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs MariaDB/MySQL at LIGHTWIDGET_TEST_MYSQL_URL (default mysql://root@127.0.0.1:3306/test); run with --include-ignored"]
async fn separate_pools_claim_each_account_once_on_mariadb() {
    let server = Server::connect("LIGHTWIDGET_TEST_MYSQL_URL").await;
    let url = server.fresh_url().await;
    let mut stores = Vec::new();
    for _ in 0..3 {
        stores.push(
            SqlStore::builder(&url)
                .keyring(keyring())
                .max_connections(3)
                .connect()
                .await
                .unwrap(),
        );
    }
    race(stores).await;
    server.cleanup().await;
}

#[allow(dead_code)]
fn _assert_send(s: Arc<SqlStore>) -> Arc<dyn TokenStore> {
    s
}

#[tokio::test]
async fn insert_many_writes_every_record_in_one_transaction() {
    insert_many_case(fresh_sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL at LIGHTWIDGET_TEST_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/test); run with --include-ignored"]
async fn postgres_insert_many_is_one_statement_with_the_same_outcome() {
    insert_many_on_server("LIGHTWIDGET_TEST_POSTGRES_URL").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs MariaDB/MySQL at LIGHTWIDGET_TEST_MYSQL_URL (default mysql://root@127.0.0.1:3306/test); run with --include-ignored"]
async fn mysql_insert_many_writes_every_record_in_one_transaction() {
    insert_many_on_server("LIGHTWIDGET_TEST_MYSQL_URL").await;
}

/// [`insert_many_case`] in a fresh database of the server named by `var`.
async fn insert_many_on_server(var: &str) {
    let server = Server::connect(var).await;
    let store = SqlStore::builder(server.fresh_url().await)
        .keyring(keyring())
        .connect()
        .await
        .unwrap();
    insert_many_case(store.clone()).await;
    store.close().await;
    server.cleanup().await;
}

/// 50 accounts in one `insert_many`: every one readable with its token and its owner as
/// its only member; an empty batch is nothing; a batch with a duplicate writes nothing.
async fn insert_many_case(store: SqlStore) {
    store.insert_many(&[]).await.unwrap();
    let recs: Vec<_> = (0..50)
        .map(|i| record("o", &format!("bulk{i}"), Some(t0())))
        .collect();
    store.insert_many(&recs).await.unwrap();
    assert_eq!(store.count_by_status().await.unwrap().active, 50);
    let got = store.get(recs[17].account.id).await.unwrap().unwrap();
    assert_eq!(got.state.token.secret(), recs[17].state.token.secret());
    assert_eq!(got.account, recs[17].account);
    assert_eq!(got.state.next_action_at, recs[17].state.next_action_at);
    assert_eq!(got.version, recs[17].version);
    // Each owner is their account's only member (shared accounts, #17).
    let owners = store.owners(recs[17].account.id).await.unwrap();
    assert_eq!(owners.len(), 1);
    assert_eq!(owners[0].owner.as_str(), "o");
    assert_eq!(
        store
            .list_by_owner(&lightwidget_core::OwnerId::new("o"))
            .await
            .unwrap()
            .len(),
        50
    );
    // A duplicate fails the whole batch and writes nothing.
    let batch = vec![record("o", "fresh", None), record("o", "bulk3", None)];
    assert!(store.insert_many(&batch).await.is_err());
    assert!(
        store
            .find(lightwidget_core::ConnectionKind::Consumer, "fresh")
            .await
            .unwrap()
            .is_none()
    );
}

/// SQLite: the write-ahead log is copied into the database file by the background
/// checkpointer, not by whichever write crosses SQLite's 1,000-page threshold. With the
/// checkpointer off (and fewer pages than the threshold) the database file stays as
/// it was, which shows the growth below comes from the checkpointer.
#[tokio::test]
async fn sqlite_checkpoints_in_the_background() {
    async fn main_file_growth(every: Duration) -> u64 {
        let path = temp_sqlite_path();
        let store = sqlite_at(&path)
            .sqlite_checkpoint_every(every)
            .connect()
            .await
            .unwrap();
        // Let the first tick (right after connect) pass.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let before = std::fs::metadata(&path).unwrap().len();
        let recs: Vec<AccountRecord> = (0..1000)
            .map(|i| record("o", &format!("ck{i}"), Some(t0())))
            .collect();
        store.insert_many(&recs).await.unwrap();
        tokio::time::sleep(Duration::from_millis(400)).await;
        let after = std::fs::metadata(&path).unwrap().len();
        store.close().await;
        let _ = std::fs::remove_file(&path);
        after.saturating_sub(before)
    }
    let with = main_file_growth(Duration::from_millis(50)).await;
    let without = main_file_growth(Duration::ZERO).await;
    assert!(
        with > 100 * 1024,
        "the checkpointer copied the new pages into the database file (grew {with} bytes)"
    );
    assert_eq!(without, 0, "without it the pages stay in the log");
}

/// SQLite claims run as a job on the store's own connection thread. A claim whose caller
/// gave up (its future dropped, e.g. by a timeout) while the job waited for SQLite's
/// lock must not leave leases nobody will work: the job rolls back.
#[tokio::test]
async fn an_abandoned_sqlite_claim_leases_nothing() {
    use sqlx::Connection;
    let path = temp_sqlite_path();
    let (store, _) = seeded(&path, enc(), 5).await;
    // Another connection holds the write lock, so the claim waits inside SQLite.
    let mut other = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut other)
        .await
        .unwrap();
    let lease = Duration::from_secs(600);
    let cut = tokio::time::timeout(
        Duration::from_millis(300),
        store.claim_due(t0(), 10, lease, "gone"),
    )
    .await;
    assert!(cut.is_err(), "the claim was still waiting for the lock");
    sqlx::query("COMMIT").execute(&mut other).await.unwrap();
    // The connection thread runs jobs in order: the abandoned claim ends (rolled back)
    // before this one starts.
    let got = store.claim_due(t0(), 10, lease, "next").await.unwrap();
    assert_eq!(got.len(), 5, "all five are still free");
}

/// SQLite's read-ahead (on by default) only reads: claims lease the same accounts in the
/// same order with it as without it, and closing the store while one may be running is
/// clean.
#[tokio::test]
async fn sqlite_read_ahead_changes_no_claim() {
    let lease = Duration::from_secs(600);
    let mut runs = Vec::new();
    for read_ahead in [true, false] {
        let path = temp_sqlite_path();
        let store = sqlite_at(&path)
            .sqlite_read_ahead(read_ahead)
            .connect()
            .await
            .unwrap();
        for i in 0..23 {
            let mut r = record("o", &format!("k{i}"), Some(t0()));
            r.state.next_action_at = Some(t0() + chrono::TimeDelta::seconds(i * 7 % 23));
            store.insert(&r, &[]).await.unwrap();
        }
        let now = t0() + chrono::TimeDelta::seconds(60);
        let mut order = Vec::new();
        // Full batches (each starts a read-ahead), then the short last one.
        for _ in 0..5 {
            let got = store.claim_due(now, 5, lease, "w").await.unwrap();
            order.push(
                got.iter()
                    .map(|r| (r.account.ig_user_id.clone(), r.version))
                    .collect::<Vec<_>>(),
            );
        }
        assert!(
            store
                .claim_due(now, 5, lease, "w")
                .await
                .unwrap()
                .is_empty(),
            "everything due is leased"
        );
        // A claim that fills its batch, then close at once, read-ahead or not.
        let later = now + chrono::TimeDelta::seconds(601);
        assert_eq!(
            store.claim_due(later, 5, lease, "x").await.unwrap().len(),
            5
        );
        store.close().await;
        let again = SqlStore::open_sqlite(&path, enc()).await.unwrap();
        assert_eq!(
            again.claim_due(later, 100, lease, "y").await.unwrap().len(),
            18,
            "after a close, every account not leased by the last claim is claimable"
        );
        again.close().await;
        runs.push(order);
    }
    assert_eq!(
        runs[0], runs[1],
        "the same claims with and without read-ahead"
    );
    let sizes: Vec<usize> = runs[0].iter().map(Vec::len).collect();
    assert_eq!(sizes, [5, 5, 5, 5, 3]);
}

/// Writes without a pause (a long sweep, a bulk import): passive checkpoints alone never
/// shrink the log file and, with commits always landing while they run, never let SQLite
/// start the log over (it grew to 1.1 GB during a 300k sweep); past `sqlite_wal_limit`
/// the checkpointer truncates it under the write gate. The file is seen to shrink (only a
/// truncating checkpoint does that) and nothing written is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_log_is_truncated_past_its_limit_under_writes_without_pause() {
    let path = temp_sqlite_path();
    let store = SqlStore::builder(format!("sqlite://{}", path.display()))
        .keyring(keyring())
        .sqlite_checkpoint_every(Duration::from_millis(20))
        .sqlite_wal_limit(1 << 20)
        .connect()
        .await
        .unwrap();
    let wal = format!("{}-wal", path.display());
    let size = |p: &str| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    // Three writers, so one always waits at the store's write gate, as claims and
    // commits do during a sweep.
    let writers: Vec<_> = (0..3)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                for b in 0..20 {
                    let recs: Vec<_> = (0..500)
                        .map(|i| record(&format!("o{i}"), &format!("w{w}-{b}-{i}"), Some(t0())))
                        .collect();
                    store.insert_many(&recs).await.unwrap();
                }
            })
        })
        .collect();
    let (mut last, mut largest, mut shrunk) = (0, 0, 0);
    while writers.iter().any(|w| !w.is_finished()) {
        let now = size(&wal);
        if now < last {
            shrunk += 1;
        }
        (last, largest) = (now, largest.max(now));
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    for w in writers {
        w.await.unwrap();
    }
    assert!(
        shrunk > 0,
        "the log file never shrank (largest {largest} bytes, limit 1 MiB)"
    );
    assert_eq!(store.count_by_status().await.unwrap().active, 30_000);
    store.close().await;
    for ext in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{ext}", path.display()));
    }
}
