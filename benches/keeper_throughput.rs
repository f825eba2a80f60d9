//! End-to-end keeper throughput against the loopback Graph sandbox, persisted in SQLite
//! (and in PostgreSQL when `LIGHTWIDGET_TEST_POSTGRES_URL` is set) with encryption at rest,
//! side by side with a bare reqwest client sending the same refresh requests at the same
//! concurrency (and `wrk`, when installed).
//!
//! The two alternate for several rounds (fresh due accounts each round) and the ratio is
//! reported per round and as the median: on a shared 2-vCPU VM the machine's own speed
//! drifts by 2x within minutes, so only figures taken side by side compare.
//!
//! On PostgreSQL it also prints the server's own work around each keeper sweep: its
//! counters (transactions, rows, WAL), its processes' CPU time per refresh when the
//! server runs on this machine, and the ceiling that CPU time sets on the ratio: the
//! bare client's machine time over that plus the server's, the ratio a keeper would
//! reach if its own process cost no more than the bare client's.
//!
//! `cargo bench --bench keeper_throughput` · env: LW_BENCH_ACCOUNTS (5000 per round),
//! LW_BENCH_CONCURRENCY (64), LW_BENCH_ROUNDS (3), LW_BENCH_READ_AHEAD=0 (SQLite
//! without read-ahead), LW_BENCH_BACKENDS (default
//! "sqlite,postgres"; PostgreSQL in a fresh database, dropped afterwards; in the
//! one-phase profiling modes only when it is the one backend named), LW_BENCH_KEEPER_ONLY=1 /
//! LW_BENCH_BARE_ONLY=1 (one round, that phase only, with a marker and a 1 s pause
//! before it, so a profiler such as `perf record -p` or `callgrind_control -i on` can
//! cover that phase alone).

#[path = "support/mod.rs"]
mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use futures::StreamExt;
use lightwidget::instagram::sandbox::{Sandbox, SandboxConfig};
use lightwidget::instagram::{GraphProvider, InstagramLogin};
use lightwidget::store_sql::{Encryption, Key, Keyring, SqlStore};
use lightwidget::*;
use rand::SeedableRng;
use support::*;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // Everything runs on the runtime's workers, as in a service (`block_on`'s own thread
    // is not a worker: polling there adds a cross-thread wake-up to every completion).
    rt.block_on(async { tokio::spawn(run()).await.expect("benchmark panicked") });
}

/// One timed phase.
struct Phase {
    rate: f64,
    p50: f64,
    p99: f64,
    cpu_us: f64,
    /// The whole machine's busy CPU time per refresh (the database server's included).
    machine_us: f64,
    /// The share of the machine's CPU time that was busy.
    busy: f64,
    /// The local PostgreSQL server's CPU time per refresh (its processes, read from
    /// /proc), when the keeper runs on a server on this machine.
    server_us: Option<f64>,
}

impl Phase {
    fn new(
        n: usize,
        wall: Duration,
        cpu: Duration,
        machine: ((Duration, Duration), (Duration, Duration)),
        mut lat: Vec<Duration>,
    ) -> Self {
        lat.sort();
        let ((b0, a0), (b1, a1)) = machine;
        let all = (a1 - a0).as_secs_f64();
        Self {
            machine_us: (b1 - b0).as_micros() as f64 / n as f64,
            busy: if all > 0.0 {
                (b1 - b0).as_secs_f64() / all
            } else {
                0.0
            },
            rate: n as f64 / wall.as_secs_f64(),
            p50: ms(percentile(&lat, 50.0)),
            p99: ms(percentile(&lat, 99.0)),
            cpu_us: cpu.as_micros() as f64 / n as f64,
            server_us: None,
        }
    }
}

async fn marker(phase: &str) {
    eprintln!("{phase} starts in 1 s (pid {})", std::process::id());
    tokio::time::sleep(Duration::from_secs(1)).await;
}

async fn run() {
    let n = env("LW_BENCH_ACCOUNTS", 5000);
    let conc = env("LW_BENCH_CONCURRENCY", 64);
    let keeper_only = std::env::var_os("LW_BENCH_KEEPER_ONLY").is_some();
    let bare_only = std::env::var_os("LW_BENCH_BARE_ONLY").is_some();
    let rounds = if keeper_only || bare_only {
        1
    } else {
        env("LW_BENCH_ROUNDS", 3).max(1)
    };
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let opts = Opts {
        n,
        conc,
        rounds,
        keeper_only,
        bare_only,
    };
    let backends = std::env::var("LW_BENCH_BACKENDS").unwrap_or_else(|_| "sqlite,postgres".into());
    let keys = || Encryption::Keyring(Keyring::new(Key::new("b", &[5u8; 32]).unwrap()));
    if backends.contains("sqlite") {
        let path =
            std::env::temp_dir().join(format!("lw-bench-{}.db", uuid::Uuid::new_v4().simple()));
        let store = SqlStore::builder(format!("sqlite://{}", path.display()))
            .encryption(keys())
            .sqlite_read_ahead(support::sqlite_read_ahead())
            .connect()
            .await
            .unwrap();
        bench_store("SQLite", store.clone(), &sandbox, &opts, None).await;
        store.close().await;
        for ext in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{ext}", path.display()));
        }
    }
    if let (true, Ok(url)) = (
        // One-phase modes profile one backend: PostgreSQL when it is the only one named.
        backends.contains("postgres")
            && (!(keeper_only || bare_only) || !backends.contains("sqlite")),
        std::env::var("LIGHTWIDGET_TEST_POSTGRES_URL"),
    ) {
        sqlx::any::install_default_drivers();
        let admin = sqlx::AnyPool::connect(&url).await.unwrap();
        let db = format!("lw_bench_{}", uuid::Uuid::new_v4().simple());
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {db}")))
            .execute(&admin)
            .await
            .unwrap();
        let mut u = url::Url::parse(&url).unwrap();
        u.set_path(&format!("/{db}"));
        let store = SqlStore::builder(u.to_string())
            .encryption(keys())
            .connect()
            .await
            .unwrap();
        let probe = sqlx::PgPool::connect(u.as_str()).await.unwrap();
        let server = Server {
            pool: probe.clone(),
            db: db.clone(),
        };
        bench_store("PostgreSQL", store.clone(), &sandbox, &opts, Some(&server)).await;
        probe.close().await;
        store.close().await;
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE {db} WITH (FORCE)"
        )))
        .execute(&admin)
        .await;
    }
    wrk(&sandbox, conc).await;
}

struct Opts {
    n: usize,
    conc: usize,
    rounds: usize,
    keeper_only: bool,
    bare_only: bool,
}

/// Alternating keeper / bare rounds with `store` as the keeper's persistence; prints the
/// table.
async fn bench_store(
    label: &str,
    store: SqlStore,
    sandbox: &Sandbox,
    o: &Opts,
    server: Option<&Server>,
) {
    let Opts {
        n,
        conc,
        rounds,
        keeper_only,
        bare_only,
    } = *o;
    let client = InstagramLogin::new(sandbox.consumer_config().build().unwrap()).unwrap();
    let timed = Timed::new(GraphProvider::new(Some(Arc::new(client)), None));
    let samples: Arc<Mutex<Vec<Duration>>> = timed.samples.clone();
    let keeper = Keeper::builder(Arc::new(store.clone()), Arc::new(timed))
        .concurrency(conc)
        .batch_size(500)
        .lease(Duration::from_secs(600))
        .build()
        .unwrap();
    let http = reqwest::Client::new();
    let base = sandbox.base_url();
    let mut rng = rand::rngs::SmallRng::seed_from_u64(1);
    let mut results: Vec<(Phase, Phase)> = Vec::new();
    let (mut rss0, mut keeper_peak) = (0.0, 0.0);
    let mut work: Vec<Work> = Vec::new();

    for round in 0..rounds {
        // Fresh accounts for this round, all due now (earlier rounds' accounts are not).
        let users: Vec<_> = (0..n)
            .map(|i| sandbox.create_consumer_user(&format!("r{round}u{i}")))
            .collect();
        let now = Utc::now();
        let records: Vec<AccountRecord> = users
            .iter()
            .map(|u| {
                let t = sandbox.issue_consumer_token(u, TimeDelta::days(35));
                let a = NewAccount::new("o", ConnectionKind::Consumer, &u.id, &u.username)
                    .into_account();
                let (mut r, _) = lifecycle::connect(a, t, now, &RefreshPolicy::default(), &mut rng);
                r.state.next_action_at = Some(now - TimeDelta::seconds(1));
                r
            })
            .collect();
        for chunk in records.chunks(5000) {
            store.insert_many(chunk).await.unwrap();
        }
        drop(records);

        // --- keeper: claim -> refresh over HTTP -> lifecycle -> encrypted SQLite commit
        let keeper_phase = if bare_only {
            None
        } else {
            if keeper_only {
                marker("sweep").await;
            }
            samples.lock().unwrap().clear();
            reset_peak_rss();
            rss0 = rss_mib();
            let before = match server {
                Some(s) => Some(s.counters().await),
                None => None,
            };
            let cpu0 = cpu_time();
            let m0 = machine_cpu();
            let sv0 = server.and_then(|_| processes_cpu("postgres"));
            let t0 = Instant::now();
            let report = keeper.sweep().await.unwrap();
            let (wall, cpu, m1) = (t0.elapsed(), cpu_time() - cpu0, machine_cpu());
            let sv1 = server.and_then(|_| processes_cpu("postgres"));
            keeper_peak = peak_rss_mib();
            if let (Some(s), Some(before)) = (server, before) {
                work.push(s.counters().await.since(&before));
            }
            assert_eq!(report.refreshed, n, "every account refreshed: {report:?}");
            let lat = std::mem::take(&mut *samples.lock().unwrap());
            let mut phase = Phase::new(n, wall, cpu, (m0, m1), lat);
            if let (Some(a), Some(b)) = (sv0, sv1) {
                phase.server_us = Some(b.saturating_sub(a).as_micros() as f64 / n as f64);
            }
            Some(phase)
        };
        if let (true, Some(k)) = (keeper_only, &keeper_phase) {
            println!(
                "keeper: {n} refreshes in {:.1} s, {:.0}/s, CPU per refresh {:.0} µs (process) · {:.0} µs (machine, {:.0} % busy), p50 {:.2} ms, p99 {:.2} ms, peak RSS {keeper_peak:.0} MiB",
                n as f64 / k.rate,
                k.rate,
                k.cpu_us,
                k.machine_us,
                k.busy * 100.0,
                k.p50,
                k.p99
            );
            if let Some(sv) = k.server_us {
                println!("server CPU per refresh: {sv:.1} µs (its processes on this machine)");
            }
            if let Some(w) = work.last() {
                let per = |v: f64| v / n as f64;
                println!(
                    "server per refresh: {:.3} transactions, {:.2} rows inserted, {:.2} updated ({:.2} HOT), {:.1} WAL records, {:.0} WAL bytes",
                    per(w.xacts),
                    per(w.inserted),
                    per(w.updated),
                    per(w.hot),
                    per(w.wal_records),
                    per(w.wal_bytes)
                );
            }
            break;
        }

        // --- bare client: the same refresh requests, same concurrency, nothing persisted
        let tokens: Vec<String> = users
            .iter()
            .map(|u| {
                sandbox
                    .issue_consumer_token(u, TimeDelta::days(35))
                    .secret()
                    .to_owned()
            })
            .collect();
        if bare_only {
            marker("bare").await;
        }
        let cpu1 = cpu_time();
        let m0 = machine_cpu();
        let t1 = Instant::now();
        let lat: Vec<Duration> = futures::stream::iter(tokens)
            .map(|t| {
                let http = http.clone();
                let url = base.join("refresh_access_token").unwrap();
                async move {
                    let s = Instant::now();
                    let r = http
                        .get(url)
                        .query(&[
                            ("grant_type", "ig_refresh_token"),
                            ("access_token", t.as_str()),
                        ])
                        .send()
                        .await
                        .unwrap();
                    assert!(r.status().is_success());
                    let _: serde_json::Value = r.json().await.unwrap();
                    s.elapsed()
                }
            })
            .buffer_unordered(conc)
            .collect()
            .await;
        let bare = Phase::new(n, t1.elapsed(), cpu_time() - cpu1, (m0, machine_cpu()), lat);
        match keeper_phase {
            Some(k) => results.push((k, bare)),
            None => {
                println!(
                    "bare: {n} refreshes, {:.0}/s, CPU per refresh {:.0} µs",
                    bare.rate, bare.cpu_us
                );
                break;
            }
        }
    }
    if results.is_empty() {
        return;
    }

    println!(
        "\nkeeper end-to-end throughput: {n} accounts due per round, concurrency {conc}, {label} + AES-256-GCM, keeper and bare alternating"
    );
    println!(
        "| round | keeper refreshes/s | keeper p50 / p99 | keeper CPU/refresh: process · machine (busy) | bare refreshes/s | bare p50 / p99 | bare CPU/refresh: process · machine (busy) | ratio |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let mut ratios = Vec::new();
    for (i, (k, b)) in results.iter().enumerate() {
        let ratio = k.rate / b.rate;
        ratios.push(ratio);
        println!(
            "| {} | {:.0} | {:.2} / {:.2} ms | {:.0} · {:.0} µs ({:.0} %) | {:.0} | {:.2} / {:.2} ms | {:.0} · {:.0} µs ({:.0} %) | {ratio:.2} |",
            i + 1,
            k.rate,
            k.p50,
            k.p99,
            k.cpu_us,
            k.machine_us,
            k.busy * 100.0,
            b.rate,
            b.p50,
            b.p99,
            b.cpu_us,
            b.machine_us,
            b.busy * 100.0
        );
    }
    ratios.sort_by(f64::total_cmp);
    println!(
        "\nratio keeper / bare: median {:.2} (min {:.2}, max {:.2}) over {} rounds",
        ratios[ratios.len() / 2],
        ratios[0],
        ratios[ratios.len() - 1],
        ratios.len()
    );
    println!(
        "process RSS before the last sweep {rss0:.1} MiB, peak during it {keeper_peak:.1} MiB (includes the in-process sandbox)"
    );
    println!("(CPU time includes the sandbox server, which shares the process)");
    if !work.is_empty() {
        println!(
            "\nthe server's work per refresh (PostgreSQL's own counters around each keeper sweep; WAL is cluster-wide)"
        );
        println!(
            "| round | transactions | rows inserted | rows updated | of them HOT | WAL records | WAL bytes | full-page images | server CPU per refresh | ceiling |"
        );
        println!("|---|---|---|---|---|---|---|---|---|---|");
        let mut ceilings = Vec::new();
        for (i, w) in work.iter().enumerate() {
            let per = |v: f64| v / n as f64;
            // What the ratio could be if the keeper's own process cost no more than the
            // bare client's, the server's work per refresh staying what it was: the bare
            // client's machine time over that plus the server's.
            let (server, ceiling) = match results.get(i) {
                Some((k, b)) => match k.server_us {
                    Some(sv) if b.machine_us + sv > 0.0 => {
                        let c = b.machine_us / (b.machine_us + sv);
                        ceilings.push(c);
                        (format!("{sv:.1} µs"), format!("{c:.2}"))
                    }
                    _ => ("n/a".into(), "n/a".into()),
                },
                None => ("n/a".into(), "n/a".into()),
            };
            println!(
                "| {} | {:.4} | {:.2} | {:.2} | {:.2} | {:.1} | {:.0} | {:.3} | {server} | {ceiling} |",
                i + 1,
                per(w.xacts),
                per(w.inserted),
                per(w.updated),
                per(w.hot),
                per(w.wal_records),
                per(w.wal_bytes),
                per(w.wal_fpi)
            );
        }
        if !ceilings.is_empty() {
            ceilings.sort_by(f64::total_cmp);
            println!(
                "\nceiling keeper / bare with the server's work as measured (a keeper process costing what the bare client's does): median {:.2} (min {:.2}, max {:.2}); the server's CPU is its processes' user + system time from /proc, so only when it runs on this machine",
                ceilings[ceilings.len() / 2],
                ceilings[0],
                ceilings[ceilings.len() - 1]
            );
        }
    }
}

/// A PostgreSQL connection to the bench's database, reading the server's statistics.
struct Server {
    pool: sqlx::PgPool,
    db: String,
}

/// The server's counters (cumulative, or a difference of two readings).
#[derive(Clone, Copy)]
struct Work {
    xacts: f64,
    inserted: f64,
    updated: f64,
    hot: f64,
    wal_records: f64,
    wal_bytes: f64,
    wal_fpi: f64,
}

impl Work {
    fn since(&self, b: &Work) -> Work {
        Work {
            xacts: self.xacts - b.xacts,
            inserted: self.inserted - b.inserted,
            updated: self.updated - b.updated,
            hot: self.hot - b.hot,
            wal_records: self.wal_records - b.wal_records,
            wal_bytes: self.wal_bytes - b.wal_bytes,
            wal_fpi: self.wal_fpi - b.wal_fpi,
        }
    }
}

impl Server {
    /// Reads the counters once the backends have reported theirs (an idle backend flushes
    /// its statistics to the shared counters within 10 s).
    async fn counters(&self) -> Work {
        tokio::time::sleep(Duration::from_secs(11)).await;
        let row: (f64, f64, f64, f64, f64, f64, f64) = sqlx::query_as(
            "SELECT (SELECT (xact_commit + xact_rollback)::float8 FROM pg_stat_database WHERE datname = $1), \
             (SELECT COALESCE(sum(n_tup_ins), 0)::float8 FROM pg_stat_user_tables), \
             (SELECT COALESCE(sum(n_tup_upd), 0)::float8 FROM pg_stat_user_tables), \
             (SELECT COALESCE(sum(n_tup_hot_upd), 0)::float8 FROM pg_stat_user_tables), \
             wal_records::float8, wal_bytes::float8, wal_fpi::float8 FROM pg_stat_wal",
        )
        .bind(&self.db)
        .fetch_one(&self.pool)
        .await
        .unwrap();
        Work {
            xacts: row.0,
            inserted: row.1,
            updated: row.2,
            hot: row.3,
            wal_records: row.4,
            wal_bytes: row.5,
            wal_fpi: row.6,
        }
    }
}

/// The sandbox's own ceiling, for context: a raw load tool on /me.
async fn wrk(sandbox: &Sandbox, conc: usize) {
    let base = sandbox.base_url();
    let probe_user = sandbox.create_consumer_user("wrk");
    let probe = sandbox.issue_consumer_token(&probe_user, TimeDelta::days(1));
    let me = format!("{}v25.0/me?access_token={}", base, probe.secret());
    // Off the runtime's workers: they serve the sandbox meanwhile.
    let run = tokio::task::spawn_blocking(move || {
        std::process::Command::new("wrk")
            .args(["-t2", &format!("-c{conc}"), "-d5s", &me])
            .output()
    });
    match run.await.expect("wrk runner") {
        Ok(o) if o.status.success() => {
            let out = String::from_utf8_lossy(&o.stdout);
            let rps = out
                .lines()
                .find(|l| l.starts_with("Requests/sec"))
                .unwrap_or("Requests/sec: ?");
            println!(
                "wrk on the sandbox's /me (separate process, 2 threads, {conc} connections): {}",
                rps.trim()
            );
        }
        _ => println!(
            "wrk not installed: `apt-get install wrk` to compare the sandbox against a raw load tool"
        ),
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
