//! The daemon's HTTP API under load, side by side with a bare reqwest client in one run:
//!
//! - `status`: `GET /v1/accounts/{id}` (key check, store read, JSON) against a bare
//!   `GET /v25.0/me` of the Graph sandbox (one loopback round trip to a small JSON answer);
//! - `feed`: `GET /v1/accounts/{id}/media?limit=25` (key check, the Graph gateway, a call
//!   to the sandbox, JSON again) against the same media call made bare to the sandbox.
//!
//! The daemon is the release program (`lightwidget-keeper run`, SQLite, sealed tokens) in
//! its own process; the sandbox and the load (`CONNS` connections) share this one. Rounds
//! alternate the four modes so the machine's noise falls on all of them.
//!
//! ```text
//! cargo bench -p lightwidget-keeper --bench api   # LW_BENCH_ROUNDS=3 LW_BENCH_SECS=3 LW_BENCH_CONCURRENCY=16
//! ```

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::TimeDelta;
use lightwidget::instagram::sandbox::{Sandbox, SandboxConfig};
use secrecy::ExposeSecret;
use serde_json::json;

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Daemon {
    child: Child,
    dir: std::path::PathBuf,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Requests per second and latency percentiles of one mode in one round.
struct Figures {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    errors: u64,
}

async fn load(
    client: &reqwest::Client,
    url: &str,
    bearer: Option<&str>,
    conns: u64,
    secs: u64,
) -> Figures {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let client = client.clone();
        let url = url.to_owned();
        let bearer = bearer.map(str::to_owned);
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(4096);
            let mut errors = 0u64;
            while Instant::now() < deadline {
                let t = Instant::now();
                let mut r = client.get(&url);
                if let Some(b) = &bearer {
                    r = r.bearer_auth(b);
                }
                match r.send().await {
                    Ok(resp) if resp.status().is_success() => {
                        let _ = resp.bytes().await;
                        lat.push(t.elapsed().as_micros() as u32);
                    }
                    _ => errors += 1,
                }
            }
            (lat, errors)
        }));
    }
    let start = Instant::now();
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await.expect("a load task");
        all.extend(l);
        errors += e;
    }
    let wall = start.elapsed().as_secs_f64().max(secs as f64);
    all.sort_unstable();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .map_or(0.0, |&us| f64::from(us) / 1000.0)
    };
    Figures {
        rps: all.len() as f64 / wall,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        errors,
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let rounds = env_num("LW_BENCH_ROUNDS", 3);
    let secs = env_num("LW_BENCH_SECS", 3);
    let conns = env_num("LW_BENCH_CONCURRENCY", 16);
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let user = sandbox.create_consumer_user("bench.shop");
    sandbox.set_media_count(&user, 40);
    let token = sandbox.issue_consumer_token(&user, TimeDelta::days(10));
    let cfg = SandboxConfig::default();

    let dir = std::env::temp_dir().join(format!("lw-api-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let vars: Vec<(&str, String)> = vec![
        (
            "LIGHTWIDGET_DATABASE_URL",
            format!("sqlite://{}", dir.join("keeper.db").display()),
        ),
        (
            "LIGHTWIDGET_KEYS",
            "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=".into(),
        ),
        ("LIGHTWIDGET_CONSUMER_APP_ID", cfg.consumer_app.0.clone()),
        (
            "LIGHTWIDGET_CONSUMER_APP_SECRET",
            cfg.consumer_app.1.clone(),
        ),
        ("LIGHTWIDGET_GRAPH_BASE_URL", sandbox.base_url().to_string()),
        ("LIGHTWIDGET_HTTP_LISTEN", format!("127.0.0.1:{port}")),
        ("LIGHTWIDGET_API_RATE_LIMIT_PER_SECOND", "1000000".into()),
        ("RUST_LOG", "error".into()),
    ];
    let cmd = |args: &[&str]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_lightwidget-keeper"));
        c.args(args)
            .env_remove("LIGHTWIDGET_CONFIG")
            .envs(vars.iter().map(|(k, v)| (*k, v)))
            .stdin(Stdio::null());
        c
    };
    let key = cmd(&["keys", "create", "--name", "bench", "--scope", "write"])
        .output()
        .unwrap();
    assert!(
        key.status.success(),
        "{}",
        String::from_utf8_lossy(&key.stderr)
    );
    let key = String::from_utf8(key.stdout).unwrap().trim().to_owned();
    let _daemon = Daemon {
        child: cmd(&["run"])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
        dir,
    };
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(conns as usize)
        .build()
        .unwrap();
    for _ in 0..200 {
        if client.get(format!("{base}/healthz")).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let created: serde_json::Value = client
        .post(format!("{base}/v1/accounts"))
        .bearer_auth(&key)
        .json(&json!({
            "owner": "bench", "kind": "consumer", "ig_user_id": user.id, "username": user.username,
            "token": token.secret_string().expose_secret(),
            "issued_at": token.issued_at, "expires_at": token.expires_at,
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["account"]["id"]
        .as_str()
        .expect("connected")
        .to_owned();
    let graph = sandbox.base_url();
    let t = token.secret_string().expose_secret().to_owned();
    let fields = "id,caption,media_type,media_url,permalink,thumbnail_url,timestamp";
    let modes: Arc<Vec<(&str, String, Option<String>)>> = Arc::new(vec![
        (
            "status · keeper API",
            format!("{base}/v1/accounts/{id}"),
            Some(key.clone()),
        ),
        (
            "status · bare reqwest",
            format!("{graph}v25.0/me?fields=id,username&access_token={t}"),
            None,
        ),
        (
            "feed · keeper API",
            format!("{base}/v1/accounts/{id}/media?limit=25"),
            Some(key.clone()),
        ),
        (
            "feed · bare reqwest",
            format!("{graph}v25.0/me/media?fields={fields}&limit=25&access_token={t}"),
            None,
        ),
    ]);
    // Warm up every path once (connections, the gateway's first call).
    for (_, url, bearer) in modes.iter() {
        load(&client, url, bearer.as_deref(), 2, 1).await;
    }
    println!(
        "api bench: {rounds} rounds × {secs} s per mode, {conns} connections, 2-core machine\n"
    );
    println!("| mode | round | req/s | p50 ms | p99 ms | errors |");
    println!("|---|---|---|---|---|---|");
    let mut results: Vec<Vec<Figures>> = (0..modes.len()).map(|_| Vec::new()).collect();
    for round in 1..=rounds {
        for (i, (name, url, bearer)) in modes.iter().enumerate() {
            let f = load(&client, url, bearer.as_deref(), conns, secs).await;
            println!(
                "| {name} | {round} | {:.0} | {:.2} | {:.2} | {} |",
                f.rps, f.p50_ms, f.p99_ms, f.errors
            );
            results[i].push(f);
        }
    }
    println!("\n| mode | median req/s | median p99 ms | keeper/bare req/s |");
    println!("|---|---|---|---|");
    let med = |i: usize| {
        (
            median(results[i].iter().map(|f| f.rps).collect()),
            median(results[i].iter().map(|f| f.p99_ms).collect()),
        )
    };
    for (i, (name, _, _)) in modes.iter().enumerate() {
        let (rps, p99) = med(i);
        let ratio = if i % 2 == 0 {
            format!("{:.2}", rps / med(i + 1).0.max(1.0))
        } else {
            String::new()
        };
        println!("| {name} | {rps:.0} | {p99:.2} | {ratio} |");
    }
}
