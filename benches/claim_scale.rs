//! `claim_due` latency and commit throughput as the account table grows, on SQLite (and
//! PostgreSQL when LIGHTWIDGET_TEST_POSTGRES_URL is set), plus the keeper's memory.
//!
//! `cargo bench --bench claim_scale` · env: LW_BENCH_SIZES (default "10000,100000";
//! add 1000000 for the million-account run), LW_BENCH_BACKENDS (default "sqlite,postgres"),
//! LW_BENCH_LAYOUT=packed (the 20k due accounts as the first rows instead of scattered),
//! LW_BENCH_CHECKPOINT_MS (SQLite's background checkpoint interval, default 250; 0 = SQLite's
//! own checkpoints inside writes), LW_BENCH_READ_AHEAD=0 (SQLite without read-ahead),
//! LW_BENCH_WARM=1 (read the SQLite file into the OS cache before measuring).

#[path = "support/mod.rs"]
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{TimeDelta, Utc};
use lightwidget::store_sql::{Encryption, Key, Keyring, SqlStore};
use lightwidget::*;
use support::*;

struct Instant200;

#[async_trait]
impl TokenProvider for Instant200 {
    async fn refresh(&self, _: &Account, t: &Token) -> Result<Token, ProviderError> {
        Ok(t.clone())
    }
    async fn check(&self, _: &Account, _: &Token) -> Result<CheckInfo, ProviderError> {
        Ok(CheckInfo::default())
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let sizes: Vec<usize> = std::env::var("LW_BENCH_SIZES")
        .unwrap_or_else(|_| "10000,100000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    println!(
        "| backend | accounts | claim_due(500) p50 / p99, same rows claimed and released 50x | claim_due(500) p50 / p99, 36 claim → commit cycles | commit_many(500) transitions/s | db size | keeper anon RSS Δ (sweep of 20k due) |"
    );
    println!("|---|---|---|---|---|---|---|");
    let backends = std::env::var("LW_BENCH_BACKENDS").unwrap_or_else(|_| "sqlite,postgres".into());
    for &n in &sizes {
        if backends.contains("sqlite") {
            rt.block_on(bench_sqlite(n));
        }
        if let (true, Ok(url)) = (
            backends.contains("postgres"),
            std::env::var("LIGHTWIDGET_TEST_POSTGRES_URL"),
        ) {
            rt.block_on(bench_postgres(&url, n));
        }
    }
}

fn keyring() -> Encryption {
    Encryption::Keyring(Keyring::new(Key::new("b", &[5u8; 32]).unwrap()))
}

async fn seed(store: &SqlStore, n: usize, sqlite: bool) {
    let now = Utc::now();
    let packed = std::env::var("LW_BENCH_LAYOUT").is_ok_and(|v| v == "packed");
    let mut batch = Vec::with_capacity(10_000);
    for i in 0..n {
        let a = NewAccount::new(
            format!("o{}", i % 1000),
            ConnectionKind::Consumer,
            // Zero-padded so the unique (kind, ig_user_id) key grows in order, like the ids.
            format!("u{i:09}"),
            "user",
        )
        .into_account();
        let t = Token::new(format!("IGAAbench{i:08}"), now - TimeDelta::days(10))
            .expiring_in(60 * 86_400);
        let mut s = TokenState::connected(t, now);
        // 20k due now, the rest spread over the next 30 days. The due ones are scattered
        // through the table, as in a live deployment where accounts connected over months
        // fall due by token age (seeding them as the first 20k rows packed each claim's
        // rows into a few pages, which measured page overflow rather than claims).
        // LW_BENCH_LAYOUT=packed seeds the due ones as the first 20k rows (session 1–3
        // figures before the scattered layout).
        let due = if packed {
            i < 20_000
        } else {
            (i as u64 * 7919) % (n as u64) < 20_000
        };
        s.next_action_at = Some(if due {
            now - TimeDelta::seconds(i as i64 % 600)
        } else {
            now + TimeDelta::seconds((i as i64 * 7919) % (30 * 86_400))
        });
        batch.push(AccountRecord {
            account: a,
            state: s,
            version: 0,
        });
        if batch.len() == 10_000 {
            store.insert_many(&batch).await.unwrap();
            batch.clear();
            if sqlite && i % 1_000_000 == 999_999 {
                // Keep the log short while loading: a passive checkpoint cannot restart a
                // log that is written to continuously.
                sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                    .execute(store.pool())
                    .await
                    .unwrap();
            }
        }
    }
    store.insert_many(&batch).await.unwrap();
}

/// SQLite: loads the accounts the way a bulk import into SQLite is done, with the secondary
/// indexes of the account and member tables dropped during the load and built again after
/// it (their definitions are read back from the schema, so they are the migrations' own).
/// Inserting 10M rows into an index keyed by a random time (`next_action_at`) dirties a
/// different page per row, and every page a transaction dirties goes through the log: the
/// seed fell from ~20k to ~5k accounts/s past 1M with the log at 3.6 GB. What is measured
/// afterwards runs on the complete schema.
async fn seed_sqlite(store: &SqlStore, n: usize) {
    // One connection for the schema changes: a pooled connection that did not drop the
    // indexes still has them in its cached schema and refuses to create them again.
    let mut ddl = store.pool().acquire().await.unwrap();
    let indexes: Vec<(String, String)> = sqlx::query_as(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL \
         AND tbl_name IN ('lw_accounts', 'lw_members')",
    )
    .fetch_all(&mut *ddl)
    .await
    .unwrap();
    for (name, _) in &indexes {
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP INDEX {name}")))
            .execute(&mut *ddl)
            .await
            .unwrap();
    }
    let t = Instant::now();
    seed(store, n, true).await;
    let loaded = t.elapsed();
    let t = Instant::now();
    for (_, sql) in &indexes {
        sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
            .execute(&mut *ddl)
            .await
            .unwrap();
    }
    eprintln!(
        "SQLite {n}: loaded in {:.1} s ({:.0} accounts/s), {} indexes built in {:.1} s",
        loaded.as_secs_f64(),
        n as f64 / loaded.as_secs_f64(),
        indexes.len(),
        t.elapsed().as_secs_f64()
    );
}

async fn measure(label: &str, store: SqlStore, n: usize, size: String) {
    let now = Utc::now();
    let lease = Duration::from_secs(600);
    let mut lat = Vec::new();
    for _ in 0..50 {
        let t = Instant::now();
        let got = store.claim_due(now, 500, lease, "bench").await.unwrap();
        lat.push(t.elapsed());
        for r in &got {
            store.release(r.account.id, r.version).await.unwrap();
        }
    }
    lat.sort();
    // The keeper's cycle: claim fresh due rows, commit them (which moves them back in
    // the queue), 36 times: 18k of the 20k due accounts. Claims timed on their own.
    let mut cycle = Vec::new();
    let mut committed = 0usize;
    let mut commit_time = Duration::ZERO;
    for _ in 0..36 {
        let c = Instant::now();
        let got = store.claim_due(now, 500, lease, "bench").await.unwrap();
        cycle.push(c.elapsed());
        let t = Instant::now();
        let ts: Vec<Transition> = got
            .iter()
            .map(|r| {
                let mut st = r.state.clone();
                st.last_checked_at = Some(now);
                st.next_action_at = Some(now - TimeDelta::seconds(1));
                Transition {
                    account: r.account.clone(),
                    expected_version: r.version,
                    state: st,
                    token_changed: false,
                    events: vec![],
                    notices: vec![],
                    outcome: Outcome::Checked,
                    recovered: false,
                }
            })
            .collect();
        committed += store
            .commit_many(&ts)
            .await
            .iter()
            .filter(|r| r.is_ok())
            .count();
        commit_time += t.elapsed();
    }
    cycle.sort();
    let rate = committed as f64 / commit_time.as_secs_f64();
    // Keeper memory: a full sweep over the 20k due accounts, streamed in batches.
    let keeper = Keeper::builder(Arc::new(store.clone()), Arc::new(Instant200))
        .batch_size(500)
        .build()
        .unwrap();
    // Anonymous memory only: SQLite's mmap'd file pages are page cache, not keeper memory.
    let before = anon_rss_mib();
    let (r, peak) = with_peak_anon(keeper.sweep()).await;
    r.unwrap();
    let delta = peak - before;
    println!(
        "| {label} | {n} | {:.2} / {:.2} ms | {:.2} / {:.2} ms | {rate:.0} | {size} | {delta:.1} MiB |",
        percentile(&lat, 50.0).as_secs_f64() * 1e3,
        percentile(&lat, 99.0).as_secs_f64() * 1e3,
        percentile(&cycle, 50.0).as_secs_f64() * 1e3,
        percentile(&cycle, 99.0).as_secs_f64() * 1e3,
    );
}

async fn bench_sqlite(n: usize) {
    let path = std::env::temp_dir().join(format!("lw-scale-{}.db", uuid::Uuid::new_v4().simple()));
    let every = std::env::var("LW_BENCH_CHECKPOINT_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(Duration::from_millis(250), Duration::from_millis);
    let store = SqlStore::builder(format!("sqlite://{}", path.display()))
        .encryption(keyring())
        .sqlite_checkpoint_every(every)
        .sqlite_read_ahead(support::sqlite_read_ahead())
        .connect()
        .await
        .unwrap();
    seed_sqlite(&store, n).await;
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(store.pool())
        .await
        .unwrap();
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    // Control: LW_BENCH_WARM=1 reads the whole file first, so no claim finds a page
    // the OS has dropped since the seed wrote it.
    if std::env::var("LW_BENCH_WARM").is_ok_and(|v| v == "1") {
        std::fs::read(&path).unwrap();
    }
    measure(
        "SQLite",
        store.clone(),
        n,
        format!("{:.1} MiB", size as f64 / 1048576.0),
    )
    .await;
    store.close().await;
    for ext in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{ext}", path.display()));
    }
}

async fn bench_postgres(url: &str, n: usize) {
    sqlx::any::install_default_drivers();
    let admin = sqlx::AnyPool::connect(url).await.unwrap();
    let db = format!("lw_bench_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {db}")))
        .execute(&admin)
        .await
        .unwrap();
    let mut u = url::Url::parse(url).unwrap();
    u.set_path(&format!("/{db}"));
    let store = SqlStore::builder(u.to_string())
        .encryption(keyring())
        .connect()
        .await
        .unwrap();
    let t = Instant::now();
    seed(&store, n, false).await;
    eprintln!(
        "PostgreSQL {n}: loaded in {:.1} s ({:.0} accounts/s)",
        t.elapsed().as_secs_f64(),
        n as f64 / t.elapsed().as_secs_f64()
    );
    // Steady state: without this, autovacuum starts on the freshly loaded table during
    // the measurement (insert-triggered, PostgreSQL >= 13).
    sqlx::query("VACUUM ANALYZE")
        .execute(store.pool())
        .await
        .unwrap();
    let size: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT pg_database_size('{db}')"
    )))
    .fetch_one(store.pool())
    .await
    .unwrap();
    measure(
        "PostgreSQL",
        store.clone(),
        n,
        format!("{:.1} MiB", size as f64 / 1048576.0),
    )
    .await;
    store.close().await;
    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE {db} WITH (FORCE)"
    )))
    .execute(&admin)
    .await;
}
