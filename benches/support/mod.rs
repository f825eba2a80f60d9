//! Measurement helpers shared by the `harness = false` benchmarks: CPU time and peak
//! memory from /proc, percentiles, and a provider decorator that times each call.
#![allow(dead_code, missing_docs)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use lightwidget::{Account, CheckInfo, ProviderError, Token, TokenProvider};

/// User + system CPU time of this process so far.
pub fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Linux reports in clock ticks (USER_HZ), 100 on every mainstream platform.
    Duration::from_millis(stat_ticks(&stat) * 10)
}

/// utime + stime, in clock ticks, of a /proc/[pid]/stat line: fields 14 and 15, counted
/// after the ")" that ends the command name (which may itself hold spaces and parentheses).
fn stat_ticks(stat: &str) -> u64 {
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    f.get(11).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0)
        + f.get(12).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0)
}

/// The whole machine's CPU time so far (every process, the database server's included):
/// `(busy, all)`, where busy is all but idle and I/O wait, from /proc/stat.
pub fn machine_cpu() -> (Duration, Duration) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let f: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    let all: u64 = f.iter().take(8).sum();
    let idle = f.get(3).copied().unwrap_or(0) + f.get(4).copied().unwrap_or(0);
    (
        Duration::from_millis((all - idle) * 10),
        Duration::from_millis(all * 10),
    )
}

/// User + system CPU time so far of every process on this machine whose command name is
/// `comm` (a local PostgreSQL server's processes are all named `postgres`), from
/// /proc/[pid]/stat; `None` when there is none. Processes that end between two readings
/// take their time with them: the server's pooled backends live through a sweep.
pub fn processes_cpu(comm: &str) -> Option<Duration> {
    let mut ticks = 0u64;
    let mut found = false;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let name = entry.file_name();
        if !name.to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // "pid (comm) state ...": the name sits between the first "(" and the last ")".
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        if stat.get(open + 1..close) != Some(comm) {
            continue;
        }
        found = true;
        ticks += stat_ticks(&stat);
    }
    found.then(|| Duration::from_millis(ticks * 10))
}

fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Peak resident set size (VmHWM) in MiB.
pub fn peak_rss_mib() -> f64 {
    status_kib("VmHWM:") as f64 / 1024.0
}

/// Current resident set size (VmRSS) in MiB.
pub fn rss_mib() -> f64 {
    status_kib("VmRSS:") as f64 / 1024.0
}

/// Anonymous resident memory (RssAnon) in MiB: the heap and stacks, without file pages
/// such as SQLite's memory-mapped database, which the OS may drop at any time.
pub fn anon_rss_mib() -> f64 {
    status_kib("RssAnon:") as f64 / 1024.0
}

/// Samples [`anon_rss_mib`] every 5 ms while `f` runs; returns `f`'s output and the peak.
pub async fn with_peak_anon<F: std::future::Future>(f: F) -> (F::Output, f64) {
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut peak = anon_rss_mib();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(anon_rss_mib());
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            peak.max(anon_rss_mib())
        })
    };
    let out = f.await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    (out, sampler.await.unwrap_or(0.0))
}

/// Resets the VmHWM counter (Linux >= 4.0), so phases can be measured separately.
pub fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// The `p`-th percentile (0..=100) of sorted samples.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() - 1) as f64 * p / 100.0).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Wraps a provider and records the latency of every call.
pub struct Timed<P> {
    pub inner: P,
    pub samples: Arc<Mutex<Vec<Duration>>>,
}

impl<P> Timed<P> {
    pub fn new(inner: P) -> Self {
        Self {
            inner,
            samples: Arc::default(),
        }
    }
}

#[async_trait]
impl<P: TokenProvider> TokenProvider for Timed<P> {
    async fn refresh(&self, account: &Account, token: &Token) -> Result<Token, ProviderError> {
        let t = Instant::now();
        let r = self.inner.refresh(account, token).await;
        self.samples.lock().unwrap().push(t.elapsed());
        r
    }

    async fn check(&self, account: &Account, token: &Token) -> Result<CheckInfo, ProviderError> {
        let t = Instant::now();
        let r = self.inner.check(account, token).await;
        self.samples.lock().unwrap().push(t.elapsed());
        r
    }
}

/// `LW_BENCH_READ_AHEAD=0` turns SQLite's read-ahead off (default on, as in the library).
pub fn sqlite_read_ahead() -> bool {
    std::env::var("LW_BENCH_READ_AHEAD").map_or(true, |v| v != "0")
}
