//! `X-App-Usage` and `X-Business-Use-Case-Usage` headers.

use std::collections::HashMap;
use std::time::Duration;

use reqwest::header::HeaderMap;
use serde::Deserialize;

/// What the usage headers say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Usage {
    /// The highest percentage of any counter.
    pub max_percent: u32,
    /// `estimated_time_to_regain_access` (minutes in the header), if given and non-zero.
    pub regain: Option<Duration>,
}

#[derive(Deserialize, Default)]
struct AppUsage {
    #[serde(default)]
    call_count: u32,
    #[serde(default)]
    total_cputime: u32,
    #[serde(default)]
    total_time: u32,
}

#[derive(Deserialize, Default)]
struct BucUsage {
    #[serde(default)]
    call_count: u32,
    #[serde(default)]
    total_cputime: u32,
    #[serde(default)]
    total_time: u32,
    #[serde(default)]
    estimated_time_to_regain_access: u64,
}

/// Parses both headers (absent or malformed = `None`).
pub fn usage_from_headers(h: &HeaderMap) -> Option<Usage> {
    let mut max = None::<u32>;
    let mut regain = None::<Duration>;
    if let Some(v) = h.get("x-app-usage").and_then(|v| v.to_str().ok())
        && let Ok(u) = serde_json::from_str::<AppUsage>(v)
    {
        max = Some(u.call_count.max(u.total_cputime).max(u.total_time));
    }
    if let Some(v) = h
        .get("x-business-use-case-usage")
        .and_then(|v| v.to_str().ok())
        && let Ok(m) = serde_json::from_str::<HashMap<String, Vec<BucUsage>>>(v)
    {
        for u in m.values().flatten() {
            let p = u.call_count.max(u.total_cputime).max(u.total_time);
            max = Some(max.unwrap_or(0).max(p));
            if u.estimated_time_to_regain_access > 0 {
                let d = Duration::from_secs(u.estimated_time_to_regain_access * 60);
                regain = Some(regain.map_or(d, |r| r.max(d)));
            }
        }
    }
    max.map(|m| Usage {
        max_percent: m,
        regain,
    })
}
