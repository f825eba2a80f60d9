//! `X-App-Usage` and `X-Business-Use-Case-Usage` headers, and the throttle they feed.
//!
//! Meta reports two kinds of usage, each a whole percentage of an allowance over a
//! **rolling** window: the app's (`X-App-Usage`, one hour) and per business object
//! (`X-Business-Use-Case-Usage`: one entry per Instagram account or Page, over 24 hours
//! for the `instagram` and `pages` types, with `estimated_time_to_regain_access` in
//! minutes). Usage falls as calls age out of the window; Meta starts throttling at 100 %.
//!
//! Each client (one per app) has one throttle, shared by the keeper's refreshes and
//! checks and the gateway's calls (`Keeper::graph`). It does two different things:
//!
//! - **Pacing** (usage at or above the high-water mark, default 90 %): calls are
//!   spaced by [`spacing`], which spreads the budget left in the window over the
//!   window. Each answer's headers are read again, so the spacing shrinks as usage
//!   falls and disappears below the mark. A call waits for its slot (at most
//!   [`max_wait`](crate::GraphConfigBuilder::usage_max_wait), default 5 s); a call
//!   whose slot is further away is refused without a request, with the time of its
//!   slot — seconds, not an hour. App usage paces every call of the app; an account's
//!   usage paces that account's calls only.
//! - **Hard stop** only when Meta itself throttles: a throttling error (codes 4, 17, 32,
//!   368, 613, 80000–80014, HTTP 429) or a non-zero `estimated_time_to_regain_access`.
//!   Then calls are refused without a request (each would extend Meta's block) for the
//!   time Meta gives (`estimated_time_to_regain_access`, `Retry-After`), or the client's
//!   [`default_throttle`](crate::GraphConfigBuilder::default_throttle) (1 h) when it
//!   gives none. Code 4 (the app's limit) stops the app; the others stop the account
//!   the call was for.
//!
//! The headers are read here; the throttle is [`throttle`](self) (`throttle.rs`).

use std::collections::HashMap;
use std::time::Duration;

use reqwest::header::HeaderMap;
use serde::Deserialize;

mod throttle;

pub(crate) use throttle::Throttle;

/// The window of `X-App-Usage`: a rolling hour.
pub const APP_WINDOW: Duration = Duration::from_secs(3600);

/// The rolling window Meta counts a `X-Business-Use-Case-Usage` entry of this `type`
/// over: 24 hours for `instagram` and `pages`, one hour for the others.
///
/// ```
/// use lightwidget_instagram::usage::{APP_WINDOW, business_window};
/// assert_eq!(business_window("instagram").as_secs(), 86_400);
/// assert_eq!(business_window("messenger"), APP_WINDOW);
/// ```
pub fn business_window(kind: &str) -> Duration {
    match kind {
        "instagram" | "pages" => Duration::from_secs(24 * 3600),
        _ => APP_WINDOW,
    }
}

/// The spacing between two calls at `percent` usage of an allowance of `allowance`
/// calls per rolling `window`, or `None` below the high-water mark (no pacing).
///
/// At or above the mark, the budget left — `allowance × (100 − percent) %` calls, at
/// least one percentage point of it even at or above 100 % — is spread evenly over the
/// window: one call per `window / budget`. It assumes nothing ages out during the window
/// (the safe case: the calls that made the usage may all be recent); as they do age
/// out, the next answer reports a lower usage and the spacing shrinks. It doubles with
/// each halving of the headroom, and is never longer than `window / (allowance / 100)`.
///
/// With the default allowance of 20 000 calls per hour (Meta's formula, 200 calls per
/// daily user, for 100 users), `X-App-Usage` at 90 % spaces calls 1.8 s apart, at 95 %
/// 3.6 s, at 99 % (and above) 18 s:
///
/// ```
/// use std::time::Duration;
/// use lightwidget_instagram::usage::{APP_WINDOW, spacing};
/// let s = |p| spacing(p, 90, APP_WINDOW, 20_000);
/// assert_eq!(s(89), None);
/// assert_eq!(s(90), Some(Duration::from_millis(1800)));
/// assert_eq!(s(95), Some(Duration::from_millis(3600)));
/// assert_eq!(s(99), Some(Duration::from_secs(18)));
/// assert_eq!(s(100), s(99));
/// ```
pub fn spacing(
    percent: u32,
    high_water: u32,
    window: Duration,
    allowance: u64,
) -> Option<Duration> {
    if percent < high_water {
        return None;
    }
    let headroom = u128::from(100u32.saturating_sub(percent).max(1));
    let budget = (u128::from(allowance) * headroom / 100).max(1);
    let nanos = window.as_nanos() / budget;
    Some(Duration::from_nanos(
        u64::try_from(nanos).unwrap_or(u64::MAX),
    ))
}

/// What the usage headers say.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Usage {
    /// The highest percentage of any counter, app or business object.
    pub max_percent: u32,
    /// The app's highest counter (`X-App-Usage`), if the header was there.
    pub app_percent: Option<u32>,
    /// The longest `estimated_time_to_regain_access` (minutes in the header), if any is
    /// non-zero.
    pub regain: Option<Duration>,
    /// `X-Business-Use-Case-Usage`, per business object id (worst entry of each).
    pub business: Vec<BusinessUsage>,
}

/// One business object's usage (`X-Business-Use-Case-Usage`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BusinessUsage {
    /// The business object id: the Instagram account or the Page.
    pub id: String,
    /// Its highest counter, in percent.
    pub percent: u32,
    /// The rolling window of that counter's entry ([`business_window`] of its `type`).
    pub window: Duration,
    /// Its `estimated_time_to_regain_access`, if non-zero.
    pub regain: Option<Duration>,
}

/// The counters of a usage entry (`X-App-Usage` is one), in percent.
#[derive(Deserialize, Default)]
struct Counters {
    #[serde(default)]
    call_count: u32,
    #[serde(default)]
    total_cputime: u32,
    #[serde(default)]
    total_time: u32,
}

impl Counters {
    /// The highest counter.
    fn percent(&self) -> u32 {
        self.call_count.max(self.total_cputime).max(self.total_time)
    }
}

/// One `X-Business-Use-Case-Usage` entry.
#[derive(Deserialize, Default)]
struct BucUsage {
    #[serde(flatten)]
    counters: Counters,
    #[serde(default)]
    estimated_time_to_regain_access: u64,
    #[serde(default, rename = "type")]
    kind: String,
}

/// Parses both headers (absent or malformed = `None`).
///
/// ```
/// use lightwidget_instagram::usage::usage_from_headers;
/// let mut h = reqwest::header::HeaderMap::new();
/// h.insert("x-business-use-case-usage", r#"{"1784":[{"type":"instagram","call_count":92,"estimated_time_to_regain_access":5}]}"#.parse().unwrap());
/// let u = usage_from_headers(&h).unwrap();
/// assert_eq!((u.max_percent, u.app_percent), (92, None));
/// assert_eq!(u.business[0].id, "1784");
/// assert_eq!(u.business[0].regain, Some(std::time::Duration::from_secs(300)));
/// ```
pub fn usage_from_headers(h: &HeaderMap) -> Option<Usage> {
    let mut u = Usage::default();
    let mut any = false;
    if let Some(v) = h.get("x-app-usage").and_then(|v| v.to_str().ok())
        && let Ok(a) = serde_json::from_str::<Counters>(v)
    {
        let p = a.percent();
        u.app_percent = Some(p);
        u.max_percent = p;
        any = true;
    }
    if let Some(v) = h
        .get("x-business-use-case-usage")
        .and_then(|v| v.to_str().ok())
        && let Ok(m) = serde_json::from_str::<HashMap<String, Vec<BucUsage>>>(v)
    {
        any = true;
        for (id, entries) in m {
            let mut b = BusinessUsage {
                id,
                percent: 0,
                window: APP_WINDOW,
                regain: None,
            };
            for e in entries {
                let p = e.counters.percent();
                let w = business_window(&e.kind);
                if p > b.percent || (p == b.percent && w > b.window) {
                    b.percent = p;
                    b.window = w;
                }
                if e.estimated_time_to_regain_access > 0 {
                    let d =
                        Duration::from_secs(e.estimated_time_to_regain_access.saturating_mul(60));
                    b.regain = Some(b.regain.map_or(d, |r| r.max(d)));
                }
            }
            u.max_percent = u.max_percent.max(b.percent);
            if let Some(d) = b.regain {
                u.regain = Some(u.regain.map_or(d, |r| r.max(d)));
            }
            u.business.push(b);
        }
        u.business.sort_by(|a, b| a.id.cmp(&b.id));
    }
    any.then_some(u)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    pub(super) fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
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
        assert_eq!(u.app_percent, Some(40));
        assert_eq!(u.regain, None);
        assert!(u.business.is_empty());
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
        assert_eq!(
            u.business,
            vec![
                BusinessUsage {
                    id: "1784".into(),
                    percent: 98,
                    window: Duration::from_secs(86_400),
                    regain: Some(Duration::from_secs(12 * 60))
                },
                BusinessUsage {
                    id: "page-1".into(),
                    percent: 99,
                    window: Duration::from_secs(86_400),
                    regain: Some(Duration::from_secs(30 * 60))
                },
            ]
        );
    }
}
