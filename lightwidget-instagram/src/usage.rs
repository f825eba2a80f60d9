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

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn no_or_malformed_headers_mean_no_usage() {
        assert_eq!(usage_from_headers(&HeaderMap::new()), None);
        assert_eq!(
            usage_from_headers(&headers(&[("x-app-usage", "{not json")])),
            None
        );
    }

    #[test]
    fn app_usage_is_the_highest_counter() {
        let u = usage_from_headers(&headers(&[(
            "x-app-usage",
            r#"{"call_count":12,"total_cputime":40,"total_time":33}"#,
        )]))
        .unwrap();
        assert_eq!(u.max_percent, 40);
        assert_eq!(u.regain, None);
    }

    #[test]
    fn business_use_case_usage_takes_the_worst_object_and_longest_regain() {
        let u = usage_from_headers(&headers(&[
            ("x-app-usage", r#"{"call_count":5,"total_cputime":1,"total_time":2}"#),
            (
                "x-business-use-case-usage",
                r#"{"1784":[{"type":"instagram","call_count":98,"total_cputime":3,"total_time":4,"estimated_time_to_regain_access":12}],"page-1":[{"type":"pages","call_count":20,"total_cputime":99,"total_time":4,"estimated_time_to_regain_access":30},{"type":"messenger","call_count":1,"total_cputime":1,"total_time":1,"estimated_time_to_regain_access":0}]}"#,
            ),
        ]))
        .unwrap();
        assert_eq!(u.max_percent, 99);
        assert_eq!(
            u.regain,
            Some(Duration::from_secs(30 * 60)),
            "minutes → seconds"
        );
    }
}
