//! Per-call overhead of the Graph gateway (`Keeper::graph`) against a bare reqwest GET of
//! the same endpoint, on the same loopback sandbox, side by side in one run.
//!
//! One consumer account is connected; then every round runs, in a rotating order:
//! - **bare**: `GET /v25.0/me/media?fields=…&limit=12&access_token=…` with a plain
//!   `reqwest::Client`, the token attached by hand, the body parsed as JSON;
//! - **gateway (memory)**: `keeper.graph(id).media(None, Some(12))` — the same request —
//!   with `InMemoryStore` as the keeper's store;
//! - **gateway (SQLite)**: the same with `SqlStore` on a SQLite file in a temp directory
//!   (AES-256-GCM at rest).
//!
//! Each phase makes `LW_BENCH_CALLS` calls at `LW_BENCH_CONCURRENCY` in flight. The ratio
//! gateway / bare is taken per round (the shared VM's speed drifts, only phases run side by
//! side compare) and its median is printed.
//!
//! `cargo bench --bench gateway --features sandbox,sqlite` · env: LW_BENCH_CALLS (5000 per
//! phase), LW_BENCH_CONCURRENCY (16), LW_BENCH_ROUNDS (5), LW_BENCH_OBSERVE_MS (the
//! gateway's last-check write interval, default the library's 10 minutes; 0 writes on
//! every call, to see what the write costs).

#[path = "support/mod.rs"]
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::TimeDelta;
use futures::StreamExt;
// The fields the gateway's media calls ask for, so both phases make the same request.
use lightwidget::instagram::gateway::MEDIA_FIELDS;
use lightwidget::instagram::sandbox::{Sandbox, SandboxConfig};
use lightwidget::instagram::{GraphProvider, InstagramLogin};
use lightwidget::store_sql::{Encryption, Key, Keyring, SqlStore};
use lightwidget::*;
use support::*;

const PAGE: u32 = 12;

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
    rt.block_on(async { tokio::spawn(run()).await.expect("benchmark panicked") });
}

/// One timed phase.
#[derive(Clone, Copy)]
struct Phase {
    rate: f64,
    p50: f64,
    p99: f64,
    cpu_us: f64,
}

impl Phase {
    fn new(n: usize, wall: Duration, cpu: Duration, mut lat: Vec<Duration>) -> Self {
        lat.sort();
        Self {
            rate: n as f64 / wall.as_secs_f64(),
            p50: ms(percentile(&lat, 50.0)),
            p99: ms(percentile(&lat, 99.0)),
            cpu_us: cpu.as_micros() as f64 / n as f64,
        }
    }

    fn cells(&self) -> String {
        format!(
            "{:.0} | {:.2} / {:.2} ms | {:.0} µs",
            self.rate, self.p50, self.p99, self.cpu_us
        )
    }
}

/// What a phase calls.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Client {
    Bare,
    Memory,
    Sqlite,
}

impl Client {
    const ALL: [Client; 3] = [Client::Bare, Client::Memory, Client::Sqlite];
}

struct Bench {
    http: reqwest::Client,
    url: url::Url,
    memory: (Keeper, AccountId, Arc<dyn TokenStore>),
    sqlite: (Keeper, AccountId, Arc<dyn TokenStore>),
    conc: usize,
}

impl Bench {
    async fn phase(&self, c: Client, calls: usize) -> Phase {
        let cpu0 = cpu_time();
        let t0 = Instant::now();
        let lat: Vec<Duration> = futures::stream::iter(0..calls)
            .map(|_| self.one(c))
            .buffer_unordered(self.conc)
            .collect()
            .await;
        Phase::new(calls, t0.elapsed(), cpu_time() - cpu0, lat)
    }

    async fn one(&self, c: Client) -> Duration {
        let s = Instant::now();
        match c {
            Client::Bare => {
                let r = self.http.get(self.url.clone()).send().await.unwrap();
                assert!(r.status().is_success(), "{}", r.status());
                let v: serde_json::Value = r.json().await.unwrap();
                assert_eq!(v["data"].as_array().map(Vec::len), Some(PAGE as usize));
            }
            Client::Memory | Client::Sqlite => {
                let (k, id, _) = if c == Client::Memory {
                    &self.memory
                } else {
                    &self.sqlite
                };
                let page = k.graph(*id).media(None, Some(PAGE)).await.unwrap();
                assert_eq!(page.items.len(), PAGE as usize);
            }
        }
        s.elapsed()
    }
}

async fn keeper(
    store: Arc<dyn TokenStore>,
    sandbox: &Sandbox,
    observe: Duration,
    user: &lightwidget::instagram::sandbox::UserHandle,
) -> (Keeper, AccountId, Arc<dyn TokenStore>) {
    let ig = InstagramLogin::new(sandbox.consumer_config().build().unwrap()).unwrap();
    let k = Keeper::builder(
        store.clone(),
        Arc::new(GraphProvider::new(Some(Arc::new(ig)), None)),
    )
    .graph_observe_interval(observe)
    .build()
    .unwrap();
    // A 3-day-old token: nothing is due, the keeper only serves the gateway.
    let t = sandbox.issue_consumer_token(user, TimeDelta::days(3));
    let id = k
        .connect(
            NewAccount::new("owner", ConnectionKind::Consumer, &user.id, &user.username),
            t,
        )
        .await
        .unwrap();
    (k, id, store)
}

async fn run() {
    let calls = env("LW_BENCH_CALLS", 5000);
    let conc = env("LW_BENCH_CONCURRENCY", 16).max(1);
    let rounds = env("LW_BENCH_ROUNDS", 5).max(1);
    let observe = std::env::var("LW_BENCH_OBSERVE_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(Duration::from_secs(600), Duration::from_millis);

    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let version = sandbox
        .consumer_config()
        .build()
        .unwrap()
        .version()
        .to_owned();
    // One sandbox user per client, the same feed (30 media, albums with children).
    let users: Vec<_> = Client::ALL
        .iter()
        .enumerate()
        .map(|(i, _)| sandbox.create_consumer_user(&format!("bench{i}")))
        .collect();

    let bare_token = sandbox.issue_consumer_token(&users[0], TimeDelta::days(3));
    let mut url = sandbox
        .base_url()
        .join(&format!("{version}/me/media"))
        .unwrap();
    url.query_pairs_mut()
        .append_pair("fields", MEDIA_FIELDS)
        .append_pair("limit", &PAGE.to_string())
        .append_pair("access_token", bare_token.secret());

    let dir = std::env::temp_dir().join(format!("lw-bench-gw-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let sql = SqlStore::builder(format!("sqlite://{}", dir.join("gateway.db").display()))
        .encryption(Encryption::Keyring(Keyring::new(
            Key::new("b", &[5u8; 32]).unwrap(),
        )))
        .connect()
        .await
        .unwrap();
    let b = Bench {
        http: reqwest::Client::new(),
        url,
        memory: keeper(Arc::new(InMemoryStore::new()), &sandbox, observe, &users[1]).await,
        sqlite: keeper(Arc::new(sql.clone()), &sandbox, observe, &users[2]).await,
        conc,
    };
    let mem_store = b.memory.2.clone();
    let lite_store = b.sqlite.2.clone();
    // Every write bumps the record's version: the number of writes the calls caused.
    let versions = || async {
        (
            mem_store.get(b.memory.1).await.unwrap().unwrap().version,
            lite_store.get(b.sqlite.1).await.unwrap().unwrap().version,
        )
    };
    let before = versions().await;

    // Warm-up: connections, the SQLite page cache, the allocator.
    for c in Client::ALL {
        b.phase(c, 500.min(calls)).await;
    }
    let mut rows: Vec<[Phase; 3]> = Vec::new();
    for round in 0..rounds {
        let mut got = [None; 3];
        for k in 0..3 {
            // Rotate the order so no client always runs first (or right after another).
            let i = (round + k) % 3;
            got[i] = Some(b.phase(Client::ALL[i], calls).await);
        }
        rows.push(got.map(Option::unwrap));
    }
    let after = versions().await;

    println!(
        "\ngateway per-call overhead: GET me/media (limit {PAGE}) on the loopback sandbox, {calls} calls per phase, concurrency {conc}, {rounds} rounds (order rotated), last-check write every {observe:?}"
    );
    println!(
        "| round | bare calls/s | bare p50 / p99 | bare CPU/call | gateway (memory) calls/s | p50 / p99 | CPU/call | gateway (SQLite) calls/s | p50 / p99 | CPU/call | ratio memory | ratio SQLite |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    let (mut rm, mut rs) = (Vec::new(), Vec::new());
    for (i, [bare, mem, lite]) in rows.iter().enumerate() {
        let (a, c) = (mem.rate / bare.rate, lite.rate / bare.rate);
        rm.push(a);
        rs.push(c);
        println!(
            "| {} | {} | {} | {} | {a:.2} | {c:.2} |",
            i + 1,
            bare.cells(),
            mem.cells(),
            lite.cells()
        );
    }
    for (label, r) in [("memory", &mut rm), ("SQLite", &mut rs)] {
        r.sort_by(f64::total_cmp);
        println!(
            "ratio gateway ({label}) / bare: median {:.2} (min {:.2}, max {:.2}) over {} rounds",
            r[r.len() / 2],
            r[0],
            r[r.len() - 1],
            r.len()
        );
    }
    println!(
        "store writes caused by the {} gateway calls per store: memory {}, SQLite {}",
        calls * rounds + 500.min(calls),
        after.0 - before.0,
        after.1 - before.1
    );
    println!("(CPU per call is the whole process's, which includes the in-process sandbox server)");
    sql.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
