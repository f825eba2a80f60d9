//! End-to-end keeper throughput against the loopback Graph sandbox, persisted in SQLite
//! with encryption at rest, side by side with a bare reqwest client sending the same
//! refresh requests at the same concurrency (and `wrk`, when installed).
//!
//! `cargo bench --bench keeper_throughput` · env: LW_BENCH_ACCOUNTS (5000),
//! LW_BENCH_CONCURRENCY (64), LW_BENCH_KEEPER_ONLY=1 / LW_BENCH_BARE_ONLY=1 (stop after that
//! phase, with a marker and a 1 s pause before it, so a profiler such as `perf record -p`
//! or `callgrind_control -i on` can cover that phase alone).

#[path = "support/mod.rs"]
mod support;

use std::sync::Arc;
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

async fn run() {
    let n = env("LW_BENCH_ACCOUNTS", 5000);
    let conc = env("LW_BENCH_CONCURRENCY", 64);
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let users: Vec<_> = (0..n)
        .map(|i| sandbox.create_consumer_user(&format!("u{i}")))
        .collect();

    // --- keeper: claim -> refresh over HTTP -> lifecycle -> encrypted SQLite commit
    let path = std::env::temp_dir().join(format!("lw-bench-{}.db", uuid::Uuid::new_v4().simple()));
    let store = SqlStore::open_sqlite(
        &path,
        Encryption::Keyring(Keyring::new(Key::new("b", &[5u8; 32]).unwrap())),
    )
    .await
    .unwrap();
    let now = Utc::now();
    let mut rng = rand::rngs::SmallRng::seed_from_u64(1);
    let records: Vec<AccountRecord> = users
        .iter()
        .map(|u| {
            let t = sandbox.issue_consumer_token(u, TimeDelta::days(35));
            let a =
                NewAccount::new("o", ConnectionKind::Consumer, &u.id, &u.username).into_account();
            let (mut r, _) = lifecycle::connect(a, t, now, &RefreshPolicy::default(), &mut rng);
            r.state.next_action_at = Some(now - TimeDelta::seconds(1));
            r
        })
        .collect();
    for chunk in records.chunks(5000) {
        store.insert_many(chunk).await.unwrap();
    }
    let client = InstagramLogin::new(sandbox.consumer_config().build().unwrap()).unwrap();
    let timed = Timed::new(GraphProvider::new(Some(Arc::new(client)), None));
    let samples = timed.samples.clone();
    let keeper = Keeper::builder(Arc::new(store.clone()), Arc::new(timed))
        .concurrency(conc)
        .batch_size(500)
        .lease(Duration::from_secs(600))
        .build()
        .unwrap();
    if std::env::var_os("LW_BENCH_KEEPER_ONLY").is_some() {
        // A marker and a pause, so a profiler can attach to the sweep alone.
        eprintln!("sweep starts in 1 s (pid {})", std::process::id());
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    reset_peak_rss();
    let rss0 = rss_mib();
    let cpu0 = cpu_time();
    let t0 = Instant::now();
    let report = keeper.sweep().await.unwrap();
    let keeper_wall = t0.elapsed();
    let keeper_cpu = cpu_time() - cpu0;
    let keeper_peak = peak_rss_mib();
    assert_eq!(report.refreshed, n, "every account refreshed: {report:?}");
    let mut k_lat = samples.lock().unwrap().clone();
    k_lat.sort();
    if std::env::var_os("LW_BENCH_KEEPER_ONLY").is_some() {
        println!(
            "keeper: {n} refreshes in {:.2} s = {:.0}/s, CPU per refresh {:.0} µs, p50 {:.2} ms, p99 {:.2} ms",
            keeper_wall.as_secs_f64(),
            n as f64 / keeper_wall.as_secs_f64(),
            keeper_cpu.as_micros() as f64 / n as f64,
            ms(percentile(&k_lat, 50.0)),
            ms(percentile(&k_lat, 99.0)),
        );
        let _ = std::fs::remove_file(&path);
        return;
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
    let http = reqwest::Client::new();
    let base = sandbox.base_url();
    let bare_only = std::env::var_os("LW_BENCH_BARE_ONLY").is_some();
    if bare_only {
        eprintln!("bare starts in 1 s (pid {})", std::process::id());
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let cpu1 = cpu_time();
    let t1 = Instant::now();
    let mut b_lat: Vec<Duration> = futures::stream::iter(tokens)
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
    let bare_wall = t1.elapsed();
    let bare_cpu = cpu_time() - cpu1;
    b_lat.sort();
    if bare_only {
        println!(
            "bare: {n} refreshes in {:.2} s = {:.0}/s, CPU per refresh {:.0} µs",
            bare_wall.as_secs_f64(),
            n as f64 / bare_wall.as_secs_f64(),
            bare_cpu.as_micros() as f64 / n as f64,
        );
        let _ = std::fs::remove_file(&path);
        return;
    }

    let k_rate = n as f64 / keeper_wall.as_secs_f64();
    let b_rate = n as f64 / bare_wall.as_secs_f64();
    println!(
        "\nkeeper end-to-end throughput: {n} accounts due, concurrency {conc}, SQLite + AES-256-GCM"
    );
    println!("| client | refreshes/s | p50 | p99 | CPU per refresh |");
    println!("|---|---|---|---|---|");
    println!(
        "| keeper (claim, refresh, apply, commit) | {k_rate:.0} | {:.2} ms | {:.2} ms | {:.0} µs |",
        ms(percentile(&k_lat, 50.0)),
        ms(percentile(&k_lat, 99.0)),
        keeper_cpu.as_micros() as f64 / n as f64
    );
    println!(
        "| bare reqwest (refresh only) | {b_rate:.0} | {:.2} ms | {:.2} ms | {:.0} µs |",
        ms(percentile(&b_lat, 50.0)),
        ms(percentile(&b_lat, 99.0)),
        bare_cpu.as_micros() as f64 / n as f64
    );
    println!("\nratio keeper / bare = {:.2}", k_rate / b_rate);
    println!(
        "process RSS before sweep {rss0:.1} MiB, peak during sweep {keeper_peak:.1} MiB (includes the in-process sandbox)"
    );
    println!("(CPU time includes the sandbox server, which shares the process)");

    // --- the sandbox's own ceiling, for context: a raw load tool on /me
    let probe = sandbox.issue_consumer_token(&users[0], TimeDelta::days(1));
    let me = format!("{}v25.0/me?access_token={}", base, probe.secret());
    match std::process::Command::new("wrk")
        .args(["-t2", &format!("-c{conc}"), "-d5s", &me])
        .output()
    {
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
    let _ = std::fs::remove_file(&path);
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
