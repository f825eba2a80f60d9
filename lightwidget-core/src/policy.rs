//! When to refresh, check, retry and warn.

use chrono::{DateTime, TimeDelta, Utc};
use rand::RngCore;

use crate::{Error, RequiredScopes, TokenState, TokenStatus, time};

/// How far ahead of expiry refreshing starts.
#[derive(Clone, Copy, PartialEq, Debug)]
pub enum RefreshWindow {
    /// Refresh once the remaining life falls under this fraction of the lifetime
    /// (default 0.5: a 60-day token is refreshed after ~30 days).
    FractionOfLifetime(f64),
    /// Refresh once the remaining life falls under this duration.
    Before(std::time::Duration),
}

/// What the keeper should do with a due account.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Action {
    /// Refresh the token.
    Refresh,
    /// Check the token still works.
    Check,
    /// The lifetime ended: expire without calling the provider.
    Lapse,
}

/// The refresh / check / retry / warning schedule. Build with [`RefreshPolicy::builder`].
///
/// ```
/// use std::time::Duration;
/// use lightwidget_core::RefreshPolicy;
/// let policy = RefreshPolicy::builder()
///     .check_interval(Duration::from_secs(6 * 3600))
///     .build()
///     .unwrap();
/// assert_eq!(policy.check_interval(), Duration::from_secs(6 * 3600));
/// assert!(RefreshPolicy::builder().refresh_jitter(1.5).build().is_err());
/// ```
#[derive(Clone, Debug)]
pub struct RefreshPolicy {
    min_token_age: TimeDelta,
    window: RefreshWindow,
    refresh_jitter: f64,
    check_interval: TimeDelta,
    check_jitter: f64,
    backoff_initial: TimeDelta,
    backoff_max: TimeDelta,
    persistent_backoff_min: TimeDelta,
    expiry_warning_lead: TimeDelta,
    data_access_warning_lead: TimeDelta,
    required_scopes: RequiredScopes,
}

impl Default for RefreshPolicy {
    fn default() -> Self {
        RefreshPolicyBuilder::default()
            .build()
            .expect("default policy is valid")
    }
}

/// Builder for [`RefreshPolicy`]; [`build`](RefreshPolicyBuilder::build) validates:
/// fractions outside their range (or NaN), zero durations where a delay is needed, and
/// durations beyond `TimeDelta`'s range are [`Error::Config`]. Any accepted value is
/// safe with any date: the schedule saturates at the end of time instead of overflowing.
#[derive(Clone, Debug)]
pub struct RefreshPolicyBuilder {
    min_token_age: std::time::Duration,
    window: RefreshWindow,
    refresh_jitter: f64,
    check_interval: std::time::Duration,
    check_jitter: f64,
    backoff_initial: std::time::Duration,
    backoff_max: std::time::Duration,
    persistent_backoff_min: std::time::Duration,
    expiry_warning_lead: std::time::Duration,
    data_access_warning_lead: std::time::Duration,
    required_scopes: RequiredScopes,
}

const HOUR: u64 = 3600;
const DAY: u64 = 24 * HOUR;

impl Default for RefreshPolicyBuilder {
    fn default() -> Self {
        Self {
            min_token_age: secs(DAY),
            window: RefreshWindow::FractionOfLifetime(0.5),
            refresh_jitter: 0.2,
            check_interval: secs(12 * HOUR),
            check_jitter: 0.1,
            backoff_initial: secs(60),
            backoff_max: secs(6 * HOUR),
            persistent_backoff_min: secs(HOUR),
            expiry_warning_lead: secs(7 * DAY),
            data_access_warning_lead: secs(7 * DAY),
            required_scopes: RequiredScopes::default(),
        }
    }
}

fn secs(s: u64) -> std::time::Duration {
    std::time::Duration::from_secs(s)
}

macro_rules! setter {
    ($(#[$doc:meta])* $name:ident: $ty:ty) => {
        $(#[$doc])*
        pub fn $name(mut self, v: $ty) -> Self {
            self.$name = v;
            self
        }
    };
}

impl RefreshPolicyBuilder {
    setter!(
        /// Minimum token age before a refresh (Instagram: 24 h).
        min_token_age: std::time::Duration
    );
    setter!(
        /// Fraction of the refresh window used to spread refreshes (0..=1, default 0.2).
        refresh_jitter: f64
    );
    setter!(
        /// How often tokens that need no refresh are checked (default 12 h).
        check_interval: std::time::Duration
    );
    setter!(
        /// Fraction of the check interval used to spread checks (0..=1, default 0.1).
        check_jitter: f64
    );
    setter!(
        /// First retry delay after a transient failure (default 1 min).
        backoff_initial: std::time::Duration
    );
    setter!(
        /// Longest retry delay (default 6 h).
        backoff_max: std::time::Duration
    );
    setter!(
        /// Shortest retry delay after a permission or configuration failure (default 1 h).
        persistent_backoff_min: std::time::Duration
    );
    setter!(
        /// Warn this long before expiry when refreshing keeps failing (default 7 days).
        expiry_warning_lead: std::time::Duration
    );
    setter!(
        /// Warn this long before data access lapses (default 7 days).
        data_access_warning_lead: std::time::Duration
    );

    /// The scopes each connection kind must keep (default [`RequiredScopes::default`]).
    /// A check that reports the token's scopes without one of them ends the token with
    /// [`ExpiryReason::PermissionRemoved`](crate::ExpiryReason::PermissionRemoved);
    /// [`RequiredScopes::none`] turns that rule off.
    pub fn required_scopes(mut self, r: RequiredScopes) -> Self {
        self.required_scopes = r;
        self
    }

    /// When refreshing starts (default: remaining life ≤ half the lifetime).
    pub fn refresh_window(mut self, w: RefreshWindow) -> Self {
        self.window = w;
        self
    }

    /// Validates and builds.
    pub fn build(self) -> Result<RefreshPolicy, Error> {
        let frac = |name: &str, v: f64| {
            if (0.0..=1.0).contains(&v) {
                Ok(v)
            } else {
                Err(Error::Config(format!(
                    "{name} must be within 0..=1, got {v}"
                )))
            }
        };
        let dur = |name: &str, v: std::time::Duration| {
            if v.is_zero() {
                return Err(Error::Config(format!("{name} must be greater than zero")));
            }
            TimeDelta::from_std(v).map_err(|_| Error::Config(format!("{name} is too large")))
        };
        if let RefreshWindow::FractionOfLifetime(f) = self.window
            && !(f > 0.0 && f < 1.0)
        {
            return Err(Error::Config(format!(
                "refresh window fraction must be within (0, 1), got {f}"
            )));
        }
        if let RefreshWindow::Before(d) = self.window {
            dur("refresh window", d)?;
        }
        if self.backoff_initial > self.backoff_max {
            return Err(Error::Config(
                "backoff_initial must not exceed backoff_max".into(),
            ));
        }
        Ok(RefreshPolicy {
            min_token_age: TimeDelta::from_std(self.min_token_age)
                .map_err(|_| Error::Config("min_token_age is too large".into()))?,
            window: self.window,
            refresh_jitter: frac("refresh_jitter", self.refresh_jitter)?,
            check_interval: dur("check_interval", self.check_interval)?,
            check_jitter: frac("check_jitter", self.check_jitter)?,
            backoff_initial: dur("backoff_initial", self.backoff_initial)?,
            backoff_max: dur("backoff_max", self.backoff_max)?,
            persistent_backoff_min: dur("persistent_backoff_min", self.persistent_backoff_min)?,
            expiry_warning_lead: dur("expiry_warning_lead", self.expiry_warning_lead)?,
            data_access_warning_lead: dur(
                "data_access_warning_lead",
                self.data_access_warning_lead,
            )?,
            required_scopes: self.required_scopes,
        })
    }
}

pub(crate) use crate::backoff::unit;

/// `d × f`, at millisecond precision, saturating.
fn scale(d: TimeDelta, f: f64) -> TimeDelta {
    // `as` saturates (NaN becomes 0); `TimeDelta::MIN` is -i64::MAX ms.
    let ms = (d.num_milliseconds() as f64 * f) as i64;
    TimeDelta::try_milliseconds(ms).unwrap_or(if ms < 0 {
        TimeDelta::MIN
    } else {
        TimeDelta::MAX
    })
}

impl RefreshPolicy {
    /// A builder with the defaults.
    pub fn builder() -> RefreshPolicyBuilder {
        RefreshPolicyBuilder::default()
    }

    /// The validity-check interval.
    pub fn check_interval(&self) -> std::time::Duration {
        self.check_interval.to_std().unwrap_or_default()
    }

    /// How long an active token may go without a confirmation from Graph before its
    /// status says "not verified since …": twice the check interval (24 h by default),
    /// so one late or failed check is not enough.
    pub fn unverified_after(&self) -> std::time::Duration {
        self.check_interval().saturating_mul(2)
    }

    /// The minimum token age before a refresh.
    pub fn min_token_age(&self) -> TimeDelta {
        self.min_token_age
    }

    /// Lead time of the "expires soon and refresh keeps failing" warning.
    pub fn expiry_warning_lead(&self) -> TimeDelta {
        self.expiry_warning_lead
    }

    /// Lead time of the "data access expires soon" warning.
    pub fn data_access_warning_lead(&self) -> TimeDelta {
        self.data_access_warning_lead
    }

    /// The scopes each connection kind must keep.
    pub fn required_scopes(&self) -> &RequiredScopes {
        &self.required_scopes
    }

    /// When the refresh window of the state's token opens (`None`: never expires).
    /// Never earlier than `issued_at + min_token_age`.
    pub fn refresh_window_start(&self, state: &TokenState) -> Option<DateTime<Utc>> {
        let t = &state.token;
        let expires = t.expires_at?;
        let len = match self.window {
            RefreshWindow::FractionOfLifetime(f) => scale(expires - t.issued_at, f),
            RefreshWindow::Before(d) => time::delta(d),
        };
        let earliest = time::plus(t.issued_at, self.min_token_age);
        Some(time::minus(expires, len).max(earliest))
    }

    /// Whether the token is old enough to be refreshed.
    pub fn old_enough(&self, state: &TokenState, now: DateTime<Utc>) -> bool {
        now - state.token.issued_at >= self.min_token_age
    }

    /// What to do with a due account at `now`.
    pub fn due_action(&self, state: &TokenState, now: DateTime<Utc>) -> Action {
        if state.token.is_lapsed(now) {
            return Action::Lapse;
        }
        if state.token.expires_at.is_some() && self.old_enough(state, now) {
            let in_window = self.refresh_window_start(state).is_some_and(|ws| now >= ws);
            if in_window || state.refresh_requested {
                return Action::Refresh;
            }
        }
        Action::Check
    }

    /// The next regular action time after a success at `now`: the earliest of the
    /// (jittered) refresh time, the next (jittered) check, the data-access warning (if
    /// not given yet) and the data-access expiry; always strictly after `now` (at least
    /// one second), so nothing is due again at the check that scheduled it. `None` for
    /// tokens that are not active. Saturates at the end of time instead of overflowing.
    pub fn schedule(
        &self,
        state: &TokenState,
        now: DateTime<Utc>,
        rng: &mut dyn RngCore,
    ) -> Option<DateTime<Utc>> {
        if !matches!(state.status, TokenStatus::Active) {
            return None;
        }
        let t = &state.token;
        let check_at = time::plus(
            now,
            scale(self.check_interval, 1.0 - self.check_jitter * unit(rng)),
        );
        let mut next = check_at;
        if let (Some(ws), Some(exp)) = (self.refresh_window_start(state), t.expires_at) {
            let refresh_at = if state.refresh_requested {
                time::plus(t.issued_at, self.min_token_age)
            } else {
                time::plus(
                    ws,
                    scale(
                        (exp - ws).max(TimeDelta::zero()),
                        self.refresh_jitter * unit(rng),
                    ),
                )
            };
            next = next.min(refresh_at).min(exp);
        }
        if let Some(dae) = t.data_access_expires_at {
            if state.warnings.data_access_for.is_none() {
                next = next.min(time::minus(dae, self.data_access_warning_lead));
            }
            next = next.min(dae);
        }
        Some(next.max(time::plus(now, time::MIN_STEP)))
    }

    /// When to retry after the `failures`-th consecutive failure at `now`: exponential
    /// backoff with jitter (half fixed, half random), at least `retry_after`, at least
    /// `persistent_backoff_min` if `persistent`, and capped so several attempts still
    /// happen before the token's lifetime ends. Always at least one second after `now`;
    /// saturates instead of overflowing.
    pub fn retry_at(
        &self,
        failures: u32,
        retry_after: Option<std::time::Duration>,
        persistent: bool,
        expires_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
        rng: &mut dyn RngCore,
    ) -> DateTime<Utc> {
        let backoff = crate::Backoff::new(
            self.backoff_initial.to_std().unwrap_or_default(),
            self.backoff_max
                .to_std()
                .unwrap_or(std::time::Duration::MAX),
        );
        let mut delay = time::delta(backoff.delay(failures, rng));
        if persistent {
            delay = delay.max(self.persistent_backoff_min);
        }
        let remaining = expires_at.filter(|e| *e > now).map(|e| e - now);
        if let Some(remaining) = remaining {
            delay = delay.min(scale(remaining, 0.5));
        }
        if let Some(ra) = retry_after.map(time::delta) {
            let ra = match remaining {
                // Never wait past the end of the lifetime for a throttle to lift.
                Some(remaining) => ra.min(scale(remaining, 0.9)),
                None => ra,
            };
            delay = delay.max(ra);
        }
        time::plus(now, delay.max(time::MIN_STEP))
    }
}
