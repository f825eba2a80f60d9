//! `X-App-Usage` and `X-Business-Use-Case-Usage` headers, and the throttle they feed.
//!
//! Meta reports two kinds of usage: the app's (`X-App-Usage`, one figure per app) and
//! per business object (`X-Business-Use-Case-Usage`: one entry per Instagram account or
//! Page, with `estimated_time_to_regain_access` in minutes). The client's throttle keeps both:
//! a pause for the whole app, and pauses per business object id, so one busy account
//! holds back only its own calls. Each client (one per app) has one throttle, shared by
//! the keeper's refreshes and checks and the gateway's calls (`Keeper::graph`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use lightwidget_core::Clock;
use reqwest::header::HeaderMap;
use serde::Deserialize;

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
    /// Its `estimated_time_to_regain_access`, if non-zero.
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
        && let Ok(a) = serde_json::from_str::<AppUsage>(v)
    {
        let p = a.call_count.max(a.total_cputime).max(a.total_time);
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
                regain: None,
            };
            for e in entries {
                b.percent = b
                    .percent
                    .max(e.call_count.max(e.total_cputime).max(e.total_time));
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

/// The calls one app may make now: paused for the whole app, or for single business
/// objects (an Instagram account, a Page), until a time.
///
/// - Usage at or above the high-water mark (default 90 %) pauses: the app when
///   `X-App-Usage` says so, a business object when its `X-Business-Use-Case-Usage`
///   entry does — for its `estimated_time_to_regain_access` if given, else for the
///   client's default throttle.
/// - A rate-limit error pauses the app (code 4) or the account the call was for (any
///   other throttling code), for Meta's regain time or the default.
///
/// While paused, calls are refused without a request: each one would extend Meta's block.
pub(crate) struct Throttle {
    high_water: u32,
    default_wait: Duration,
    clock: Arc<dyn Clock>,
    app: Mutex<Option<DateTime<Utc>>>,
    objects: Mutex<HashMap<String, DateTime<Utc>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Throttle {
    pub(crate) fn new(high_water: u32, default_wait: Duration, clock: Arc<dyn Clock>) -> Self {
        Self {
            high_water,
            default_wait,
            clock,
            app: Mutex::new(None),
            objects: Mutex::default(),
        }
    }

    /// How long calls for these business objects (none: app-level calls) must still
    /// wait, if at all.
    pub(crate) fn left(&self, scope: &[&str]) -> Option<Duration> {
        let now = self.clock.now();
        let mut until = *lock(&self.app);
        if !scope.is_empty() {
            let m = lock(&self.objects);
            if !m.is_empty() {
                for id in scope {
                    if let Some(t) = m.get(*id) {
                        until = Some(until.map_or(*t, |u| u.max(*t)));
                    }
                }
            }
        }
        until
            .and_then(|t| (t - now).to_std().ok())
            .filter(|d| !d.is_zero())
    }

    /// Notes a response's usage headers: pauses what is at or above the high-water
    /// mark. Returns Meta's regain time, if any (for the classification of an error).
    pub(crate) fn note(&self, headers: &HeaderMap) -> Option<Duration> {
        let u = usage_from_headers(headers)?;
        if u.app_percent.is_some_and(|p| p >= self.high_water) {
            let wait = u.regain.unwrap_or(self.default_wait);
            if self.pause_app(wait) {
                tracing::warn!(
                    percent = u.app_percent,
                    wait_secs = wait.as_secs(),
                    "Graph API app usage high: pausing this app's calls"
                );
            }
        }
        for b in u.business.iter().filter(|b| b.percent >= self.high_water) {
            let wait = b.regain.unwrap_or(self.default_wait);
            if self.pause_objects(&[b.id.as_str()], wait) {
                tracing::warn!(
                    business_id = %b.id,
                    percent = b.percent,
                    wait_secs = wait.as_secs(),
                    "Graph API business use case usage high: pausing this account's calls"
                );
            }
        }
        u.regain
    }

    /// Pauses every call of this app for `wait` (or `None`: the default); `true` if it
    /// was not paused yet.
    pub(crate) fn pause_app(&self, wait: Duration) -> bool {
        let until = self.until(wait);
        let now = self.clock.now();
        let mut g = lock(&self.app);
        let was = g.is_some_and(|t| t > now);
        *g = Some(g.map_or(until, |t| t.max(until)));
        !was
    }

    /// Pauses calls for these business objects for `wait`; `true` if one was not paused.
    pub(crate) fn pause_objects(&self, ids: &[&str], wait: Duration) -> bool {
        let until = self.until(wait);
        let now = self.clock.now();
        let mut m = lock(&self.objects);
        // Forget lapsed pauses, so the map stays as small as the accounts throttled now.
        m.retain(|_, t| *t > now);
        let mut fresh = false;
        for id in ids {
            let t = m.entry((*id).to_owned()).or_insert_with(|| {
                fresh = true;
                until
            });
            *t = (*t).max(until);
        }
        fresh
    }

    /// The default wait, for a rate limit that names none.
    pub(crate) fn default_wait(&self) -> Duration {
        self.default_wait
    }

    fn until(&self, wait: Duration) -> DateTime<Utc> {
        let now = self.clock.now();
        TimeDelta::from_std(wait)
            .ok()
            .and_then(|d| now.checked_add_signed(d))
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }
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
                    regain: Some(Duration::from_secs(12 * 60))
                },
                BusinessUsage {
                    id: "page-1".into(),
                    percent: 99,
                    regain: Some(Duration::from_secs(30 * 60))
                },
            ]
        );
    }

    fn throttle() -> (Throttle, lightwidget_core::ManualClock) {
        let clock = lightwidget_core::ManualClock::new(Utc::now());
        (
            Throttle::new(90, Duration::from_secs(3600), Arc::new(clock.clone())),
            clock,
        )
    }

    #[test]
    fn the_high_water_mark_is_ninety_percent_of_the_app() {
        let (t, clock) = throttle();
        t.note(&headers(&[("x-app-usage", r#"{"call_count":89}"#)]));
        assert_eq!(t.left(&[]), None, "below the mark");
        t.note(&headers(&[("x-app-usage", r#"{"call_count":90}"#)]));
        assert_eq!(
            t.left(&[]),
            Some(Duration::from_secs(3600)),
            "the default wait"
        );
        assert_eq!(
            t.left(&["1784"]),
            Some(Duration::from_secs(3600)),
            "every account"
        );
        clock.advance(TimeDelta::hours(1));
        assert_eq!(t.left(&[]), None);
    }

    #[test]
    fn a_busy_business_object_pauses_only_its_own_calls_for_its_regain_time() {
        let (t, clock) = throttle();
        let regain = t.note(&headers(&[(
            "x-business-use-case-usage",
            r#"{"1784":[{"type":"instagram","call_count":95,"estimated_time_to_regain_access":7}],"1999":[{"type":"instagram","call_count":40}]}"#,
        )]));
        assert_eq!(regain, Some(Duration::from_secs(7 * 60)));
        assert_eq!(t.left(&["1784"]), Some(Duration::from_secs(7 * 60)));
        assert_eq!(t.left(&["1999"]), None, "another account is not held back");
        assert_eq!(t.left(&[]), None, "nor the app");
        assert_eq!(
            t.left(&["1999", "1784"]),
            Some(Duration::from_secs(7 * 60)),
            "a Page and its account"
        );
        clock.advance(TimeDelta::minutes(7));
        assert_eq!(t.left(&["1784"]), None);
    }

    #[test]
    fn pauses_only_grow() {
        let (t, _) = throttle();
        assert!(t.pause_objects(&["1"], Duration::from_secs(600)));
        assert!(!t.pause_objects(&["1"], Duration::from_secs(60)));
        assert_eq!(t.left(&["1"]), Some(Duration::from_secs(600)));
        assert!(t.pause_app(Duration::from_secs(60)));
        assert_eq!(
            t.left(&["1"]),
            Some(Duration::from_secs(600)),
            "the longer of both"
        );
    }
}
