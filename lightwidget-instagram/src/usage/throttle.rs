//! The throttle the usage headers feed: one per client (one per app), shared by the
//! keeper's refreshes and checks and the gateway's calls. Paces calls above the
//! high-water mark and stops them while Meta throttles, for the app or for one business
//! object (see the [module](super) documentation).

use lightwidget_core::sync::Locked;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use lightwidget_core::{Clock, ConnectionKind, ProviderError, telemetry};
use reqwest::header::HeaderMap;
use tokio::time::Instant;

use super::{APP_WINDOW, spacing, usage_from_headers};

/// One usage figure as last read: its percentage, its window, and when it was read.
#[derive(Clone, Copy, Debug)]
struct Reading {
    percent: u32,
    window: Duration,
    at: Instant,
}

/// What the throttle knows of the app, or of one business object.
#[derive(Default, Debug)]
struct Unit {
    /// The last usage reading at or above the mark (none below it).
    reading: Option<Reading>,
    /// Meta throttles it until then (its own error, or its regain time).
    stop: Option<DateTime<Utc>>,
    /// When the last call admitted goes out.
    last: Option<Instant>,
}

impl Unit {
    /// The reading, while within its window (an older one counted only calls that
    /// have aged out since).
    fn reading(&self, now: Instant) -> Option<Reading> {
        self.reading
            .filter(|r| now.saturating_duration_since(r.at) < r.window)
    }

    fn stopped(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.stop.filter(|t| *t > now)
    }

    /// How long a call must wait for its slot at this spacing.
    fn wait(&self, spacing: Option<Duration>, now: Instant) -> Duration {
        match (spacing, self.last) {
            (Some(s), Some(last)) => last
                .checked_add(s)
                .map_or(Duration::MAX, |t| t.saturating_duration_since(now)),
            _ => Duration::ZERO,
        }
    }

    /// Meta's stop: its time supersedes the pace of the usage read (once it is over,
    /// the next answer tells the usage again).
    fn stop_until(&mut self, until: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        let fresh = self.stopped(now).is_none();
        self.stop = Some(self.stop.map_or(until, |t| t.max(until)));
        self.reading = None;
        fresh
    }
}

/// The app calls this client admitted, per minute, over the last [`APP_WINDOW`]: with
/// the app's usage, a lower bound of its allowance (this client's calls are part of
/// the app's).
#[derive(Debug)]
struct Calls {
    start: Instant,
    minutes: VecDeque<(u64, u64)>,
}

impl Calls {
    const MINUTES: u64 = APP_WINDOW.as_secs() / 60;

    fn minute(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.start).as_secs() / 60
    }

    fn add(&mut self, now: Instant) {
        let m = self.minute(now);
        match self.minutes.back_mut() {
            Some((at, n)) if *at == m => *n += 1,
            _ => self.minutes.push_back((m, 1)),
        }
        while self
            .minutes
            .front()
            .is_some_and(|(at, _)| at + Self::MINUTES <= m)
        {
            self.minutes.pop_front();
        }
    }

    fn count(&self, now: Instant) -> u64 {
        let m = self.minute(now);
        self.minutes
            .iter()
            .filter(|(at, _)| at + Self::MINUTES > m)
            .map(|(_, n)| n)
            .sum()
    }
}

#[derive(Debug)]
struct State {
    app: Unit,
    objects: HashMap<String, Unit>,
    calls: Calls,
}

/// How one app's calls may go now (see the [module](self) documentation): paced above
/// the high-water mark, stopped while Meta throttles — the whole app, or single
/// business objects (an Instagram account, a Page).
pub(crate) struct Throttle {
    kind: ConnectionKind,
    high_water: u32,
    allowance: u64,
    max_wait: Duration,
    default_wait: Duration,
    clock: Arc<dyn Clock>,
    state: Mutex<State>,
}

fn later(now: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    TimeDelta::from_std(d)
        .ok()
        .and_then(|d| now.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

fn scope_label(app: bool) -> &'static str {
    if app { "app" } else { "account" }
}

impl Throttle {
    pub(crate) fn new(cfg: &crate::GraphConfig, kind: ConnectionKind) -> Self {
        Self {
            kind,
            high_water: cfg.usage_threshold,
            allowance: u64::from(cfg.usage_allowance.max(1)),
            max_wait: cfg.usage_max_wait,
            default_wait: cfg.default_throttle,
            clock: cfg.clock.clone(),
            state: Mutex::new(State {
                app: Unit::default(),
                objects: HashMap::new(),
                calls: Calls {
                    start: Instant::now(),
                    minutes: VecDeque::new(),
                },
            }),
        }
    }

    /// The app's allowance per window: the configured one, or more when this client's
    /// own calls prove it (they are at most `percent` % of it).
    fn app_allowance(&self, percent: u32, ours: u64) -> u64 {
        self.allowance
            .max(ours.saturating_mul(100) / u64::from(percent.max(1)))
    }

    /// Admits one call of the app for these business objects (none: an app-level call):
    /// `Ok(wait)` — the caller waits that long for its slot, at most `max_wait` — or a
    /// `RateLimited` error saying how long until the call may go, without a request:
    /// Meta's stop, or a slot further away than `max_wait`.
    pub(crate) fn admit(&self, ids: &[&str]) -> Result<Duration, ProviderError> {
        let wall = self.clock.now();
        let now = Instant::now();
        let mut guard = self.state.locked();
        let st = &mut *guard;
        // Meta throttles: nothing goes before its time.
        let mut stop = st.app.stopped(wall).map(|t| (t, true));
        for id in ids {
            if let Some(t) = st.objects.get(*id).and_then(|u| u.stopped(wall))
                && stop.is_none_or(|(s, _)| t > s)
            {
                stop = Some((t, false));
            }
        }
        if let Some((until, app)) = stop {
            drop(guard);
            let left = (until - wall).to_std().unwrap_or_default();
            telemetry::graph_pause(self.kind, scope_label(app), "refused", left);
            return Err(ProviderError::RateLimited {
                retry_after: Some(left),
                message: format!(
                    "Meta throttles this {}: calls stopped until {until}",
                    scope_label(app)
                ),
            });
        }
        // Pacing: the furthest slot of the app and of each object paced.
        let ours = st.calls.count(now);
        let mut worst: Option<(bool, u32, Duration)> = None;
        let app_reading = st.app.reading(now);
        let app_spacing = app_reading.and_then(|r| {
            spacing(
                r.percent,
                self.high_water,
                r.window,
                self.app_allowance(r.percent, ours),
            )
        });
        let mut wait = st.app.wait(app_spacing, now);
        if let (Some(r), Some(s)) = (app_reading, app_spacing) {
            worst = Some((true, r.percent, s));
        }
        for id in ids {
            let Some(u) = st.objects.get(*id) else {
                continue;
            };
            let Some(r) = u.reading(now) else { continue };
            let s = spacing(r.percent, self.high_water, r.window, self.allowance);
            let w = u.wait(s, now);
            if let Some(s) = s
                && (w > wait || worst.is_none())
            {
                wait = wait.max(w);
                worst = Some((false, r.percent, s));
            }
        }
        if wait > self.max_wait {
            drop(guard);
            let (app, percent, s) = worst.unwrap_or((true, 0, wait));
            telemetry::graph_pause(self.kind, scope_label(app), "refused", wait);
            return Err(ProviderError::RateLimited {
                retry_after: Some(wait),
                message: format!(
                    "Graph API {} usage at {percent} % (high-water mark {} %): calls go {:.1} s apart, the next in {:.1} s",
                    scope_label(app),
                    self.high_water,
                    s.as_secs_f64(),
                    wait.as_secs_f64()
                ),
            });
        }
        let go = now.checked_add(wait).unwrap_or(now);
        st.app.last = Some(go);
        st.calls.add(now);
        for id in ids {
            if let Some(u) = st.objects.get_mut(*id)
                && u.reading(now).is_some()
            {
                u.last = Some(go);
            }
        }
        drop(guard);
        if !wait.is_zero() {
            let app = worst.is_none_or(|(app, _, _)| app);
            telemetry::graph_pause(self.kind, scope_label(app), "waited", wait);
        }
        Ok(wait)
    }

    /// Notes an answer's usage headers: paces what is at or above the high-water mark
    /// (and no longer what fell below it); stops a business object for its
    /// `estimated_time_to_regain_access` when Meta names one. Returns Meta's regain
    /// time, if any (for the classification of an error).
    pub(crate) fn note(&self, headers: &HeaderMap) -> Option<Duration> {
        let u = usage_from_headers(headers)?;
        let wall = self.clock.now();
        let now = Instant::now();
        let mut st = self.state.locked();
        if let Some(p) = u.app_percent {
            telemetry::graph_usage(self.kind, "app", p);
            let was = st.app.reading(now);
            if p >= self.high_water {
                st.app.reading = Some(Reading {
                    percent: p,
                    window: APP_WINDOW,
                    at: now,
                });
                // The answer that says so came from a call that just went.
                st.app.last.get_or_insert(now);
                let ours = st.calls.count(now);
                let s = spacing(p, self.high_water, APP_WINDOW, self.app_allowance(p, ours));
                telemetry::graph_spacing(self.kind, s.unwrap_or_default());
                let spacing_ms = s.unwrap_or_default().as_millis() as u64;
                if was.is_none() {
                    tracing::warn!(
                        kind = self.kind.as_str(),
                        percent = p,
                        spacing_ms,
                        "Graph API app usage at or above the high-water mark: pacing this app's calls"
                    );
                } else if was.is_some_and(|w| w.percent != p) {
                    tracing::debug!(
                        kind = self.kind.as_str(),
                        percent = p,
                        spacing_ms,
                        "Graph API app usage changed: new pace"
                    );
                }
            } else {
                st.app.reading = None;
                telemetry::graph_spacing(self.kind, Duration::ZERO);
                if was.is_some() {
                    tracing::info!(
                        kind = self.kind.as_str(),
                        percent = p,
                        "Graph API app usage below the high-water mark: calls no longer paced"
                    );
                }
            }
        }
        if let Some(max) = u.business.iter().map(|b| b.percent).max() {
            telemetry::graph_usage(self.kind, "account", max);
        }
        for b in &u.business {
            if let Some(d) = b.regain {
                let e = st.objects.entry(b.id.clone()).or_default();
                if e.stop_until(later(wall, d), wall) {
                    telemetry::graph_pause(self.kind, "account", "stopped", d);
                    tracing::warn!(
                        business_id = %b.id,
                        percent = b.percent,
                        wait_secs = d.as_secs(),
                        "Meta throttles this account (estimated_time_to_regain_access): stopping its calls"
                    );
                }
            }
            if b.regain.is_some() {
                // Stopped for Meta's time, not paced.
            } else if b.percent >= self.high_water {
                let e = st.objects.entry(b.id.clone()).or_default();
                if e.reading(now).is_none() {
                    tracing::warn!(
                        business_id = %b.id,
                        percent = b.percent,
                        "Graph API business use case usage at or above the high-water mark: pacing this account's calls"
                    );
                }
                e.reading = Some(Reading {
                    percent: b.percent,
                    window: b.window,
                    at: now,
                });
                // The answer that says so came from a call that just went.
                e.last.get_or_insert(now);
            } else if let Some(e) = st.objects.get_mut(&b.id) {
                e.reading = None;
            }
        }
        // Forget what is neither paced nor stopped, so the map stays as small as the
        // accounts held back now.
        st.objects
            .retain(|_, u| u.stopped(wall).is_some() || u.reading(now).is_some());
        u.regain
    }

    /// Stops every call of this app for `wait` (Meta's throttle); `true` if it was not
    /// stopped yet.
    pub(crate) fn stop_app(&self, wait: Duration) -> bool {
        let wall = self.clock.now();
        let fresh = self.state.locked().app.stop_until(later(wall, wait), wall);
        if fresh {
            telemetry::graph_pause(self.kind, "app", "stopped", wait);
        }
        fresh
    }

    /// Stops calls for these business objects for `wait`; `true` if one was not stopped.
    pub(crate) fn stop_objects(&self, ids: &[&str], wait: Duration) -> bool {
        let wall = self.clock.now();
        let until = later(wall, wait);
        let mut fresh = false;
        {
            let mut st = self.state.locked();
            for id in ids {
                fresh |= st
                    .objects
                    .entry((*id).to_owned())
                    .or_default()
                    .stop_until(until, wall);
            }
        }
        if fresh {
            telemetry::graph_pause(self.kind, "account", "stopped", wait);
        }
        fresh
    }

    /// Whether the whole app is stopped now (Meta's throttle).
    pub(crate) fn app_stopped(&self) -> bool {
        self.state.locked().app.stopped(self.clock.now()).is_some()
    }

    /// The stop for a throttle error that names no time.
    pub(crate) fn default_wait(&self) -> Duration {
        self.default_wait
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usage::tests::headers;

    fn throttle() -> (Throttle, lightwidget_core::ManualClock) {
        let clock = lightwidget_core::ManualClock::new(Utc::now());
        let cfg = crate::GraphConfig::builder("app", "secret")
            .clock(Arc::new(clock.clone()))
            .build()
            .unwrap();
        (Throttle::new(&cfg, ConnectionKind::Consumer), clock)
    }

    fn left(e: ProviderError) -> Duration {
        assert!(e.is_rate_limited(), "{e:?}");
        e.retry_after().unwrap()
    }

    #[test]
    fn the_pace_spreads_the_budget_left_over_the_window() {
        let hour = APP_WINDOW;
        let s = |p| spacing(p, 90, hour, 20_000).unwrap();
        // Budget left: 2 000 calls at 90 %, 1 000 at 95 %, 200 at 99 %.
        assert_eq!(s(90), Duration::from_millis(1800));
        assert_eq!(s(95), Duration::from_millis(3600));
        assert_eq!(s(99), Duration::from_secs(18));
        assert_eq!(s(100), s(99), "one point of headroom at least");
        assert_eq!(s(250), s(99));
        // Monotonic: as usage falls, calls speed up.
        for p in 90..99 {
            assert!(s(p) < s(p + 1), "{p}");
        }
        // In proportion to the window (an account's 24-hour window is 24 times slower)
        // and inversely to the allowance.
        let day = Duration::from_secs(86_400);
        assert_eq!(spacing(95, 90, day, 20_000), Some(s(95) * 24));
        assert_eq!(spacing(95, 90, hour, 40_000), Some(s(95) / 2));
        assert_eq!(spacing(89, 90, hour, 20_000), None);
        // Degenerate inputs neither panic nor stop.
        assert_eq!(spacing(95, 90, hour, 0), Some(hour));
        assert_eq!(
            spacing(0, 0, Duration::ZERO, u64::MAX),
            Some(Duration::ZERO)
        );
        assert_eq!(
            spacing(100, 101, hour, 1),
            None,
            "a mark above 100 never paces"
        );
    }

    #[tokio::test]
    async fn below_the_mark_calls_go_at_once_and_at_95_percent_they_are_spaced_not_stopped() {
        let (t, _) = throttle();
        t.note(&headers(&[("x-app-usage", r#"{"call_count":89}"#)]));
        for _ in 0..10 {
            assert_eq!(t.admit(&[]).unwrap(), Duration::ZERO, "below the mark");
        }
        t.note(&headers(&[("x-app-usage", r#"{"call_count":95}"#)]));
        // The next call waits for its slot, 3.6 s after the last one; the one after
        // that would wait 7.2 s, more than the 5 s a caller is held: refused, with its
        // slot's time — seconds, not an hour.
        let w = t.admit(&[]).unwrap();
        assert!(
            w > Duration::from_millis(3500) && w <= Duration::from_millis(3600),
            "{w:?}"
        );
        let e = left(t.admit(&[]).unwrap_err());
        assert!(
            e > Duration::from_millis(7100) && e <= Duration::from_millis(7200),
            "{e:?}"
        );
        // Usage falls to 91 %: the spacing shrinks to 2 s at once (the slot after the
        // one taken is 5.6 s away, no longer 7.2 s).
        t.note(&headers(&[("x-app-usage", r#"{"call_count":91}"#)]));
        let e2 = left(t.admit(&[]).unwrap_err());
        assert!(
            e2 > Duration::from_millis(5500) && e2 <= Duration::from_millis(5600),
            "{e2:?}"
        );
        // And below the mark the pace is gone.
        t.note(&headers(&[("x-app-usage", r#"{"call_count":60}"#)]));
        assert_eq!(t.admit(&[]).unwrap(), Duration::ZERO);
        assert_eq!(t.admit(&["1784"]).unwrap(), Duration::ZERO);
    }

    #[test]
    fn this_clients_own_calls_raise_the_allowance_they_prove() {
        let (t, _) = throttle();
        for _ in 0..100_000 {
            t.admit(&[]).unwrap();
        }
        // 100 000 calls of this client in the window are at most 95 % of the app's: it
        // may make at least 105 263 an hour, so at 95 % the 5 263 calls left go 0.68 s
        // apart (not 3.6 s, the pace of the configured 20 000).
        assert_eq!(t.app_allowance(50, 100_000), 200_000);
        assert_eq!(t.app_allowance(95, 100_000), 105_263);
        t.note(&headers(&[("x-app-usage", r#"{"call_count":95}"#)]));
        let w = t.admit(&[]).unwrap();
        assert!(w <= Duration::from_millis(700), "{w:?}");
    }

    #[test]
    fn at_100_percent_calls_are_probed_at_the_slowest_pace_not_stopped() {
        let (t, _) = throttle();
        t.note(&headers(&[("x-app-usage", r#"{"call_count":100}"#)]));
        let e = left(t.admit(&[]).unwrap_err());
        assert!(
            e > Duration::from_secs(17) && e <= Duration::from_secs(18),
            "{e:?}"
        );
    }

    #[test]
    fn meta_stops_the_app_for_its_time_and_the_stop_only_grows() {
        let (t, clock) = throttle();
        assert!(t.stop_app(Duration::from_secs(600)));
        assert!(!t.stop_app(Duration::from_secs(60)));
        assert_eq!(left(t.admit(&[]).unwrap_err()), Duration::from_secs(600));
        assert_eq!(
            left(t.admit(&["1784"]).unwrap_err()),
            Duration::from_secs(600),
            "every account"
        );
        assert!(t.stop_objects(&["1784"], Duration::from_secs(900)));
        assert_eq!(
            left(t.admit(&["1784"]).unwrap_err()),
            Duration::from_secs(900),
            "the longer of both"
        );
        clock.advance(TimeDelta::minutes(10));
        assert_eq!(t.admit(&[]).unwrap(), Duration::ZERO);
        assert_eq!(
            left(t.admit(&["1784"]).unwrap_err()),
            Duration::from_secs(300)
        );
        clock.advance(TimeDelta::minutes(5));
        assert_eq!(t.admit(&["1784"]).unwrap(), Duration::ZERO);
    }

    #[test]
    fn a_busy_business_object_paces_only_its_own_calls_and_a_regain_time_stops_it() {
        let (t, clock) = throttle();
        let regain = t.note(&headers(&[(
            "x-business-use-case-usage",
            r#"{"1784":[{"type":"instagram","call_count":95}],"1999":[{"type":"instagram","call_count":40}]}"#,
        )]));
        assert_eq!(regain, None);
        // 1784 at 95 % of its 24-hour window: one call per 86.4 s, counted from the
        // call whose answer said so.
        let e = left(t.admit(&["1784"]).unwrap_err());
        assert!(
            e > Duration::from_secs(86) && e <= Duration::from_millis(86_400),
            "{e:?}"
        );
        assert_eq!(
            t.admit(&["1999"]).unwrap(),
            Duration::ZERO,
            "another account"
        );
        assert_eq!(t.admit(&[]).unwrap(), Duration::ZERO, "the app");
        // Meta names a regain time: a stop for exactly that long.
        let regain = t.note(&headers(&[(
            "x-business-use-case-usage",
            r#"{"1784":[{"type":"instagram","call_count":100,"estimated_time_to_regain_access":7}]}"#,
        )]));
        assert_eq!(regain, Some(Duration::from_secs(7 * 60)));
        assert_eq!(
            left(t.admit(&["1999", "1784"]).unwrap_err()),
            Duration::from_secs(420)
        );
        clock.advance(TimeDelta::minutes(7));
        // Meta's time supersedes the pace: once it is over, the next call goes at once
        // and its answer tells the usage again.
        assert_eq!(t.admit(&["1784"]).unwrap(), Duration::ZERO);
        // Its usage falls: it goes at once.
        t.note(&headers(&[(
            "x-business-use-case-usage",
            r#"{"1784":[{"type":"instagram","call_count":12}]}"#,
        )]));
        assert_eq!(t.admit(&["1784"]).unwrap(), Duration::ZERO);
        assert!(
            t.state.locked().objects.is_empty(),
            "nothing held back is kept"
        );
    }
}
