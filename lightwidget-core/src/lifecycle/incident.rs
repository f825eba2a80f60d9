//! Telling one broken token from a broken app: the pure rules of app-wide incidents.
//!
//! Every failed call is sorted by [`scope_of`] into the account's own failure, an app-level
//! failure, an ambiguous one or a transient one, and recorded in a sliding [`Window`] per
//! app (connection kind). [`judge`] then says what a failure means for its account:
//!
//! | failure | Graph says | verdict |
//! |---|---|---|
//! | transient, throttled | 1, 2, 4, 17, 32, 341, 613, 5xx, `is_transient` | [`Verdict::Apply`]: back off as usual |
//! | the account's own | 190/102 with a subcode (458-467, 492), the app removed by the user | [`Verdict::Apply`]: the token ends at once, even in a wave (the wave is one operator alert) |
//! | ambiguous | 3, 10, 200-299 (the owner's permission *or* the app's capability) | [`Verdict::Suspect`]: held, re-checked after `confirm_after`; ends only if it still fails and it is the only account failing that way among at least `min_accounts` seen (or the whole window passed without the app failing as a whole) |
//! | the app's | "Error validating application", other configuration errors | held while an incident is open, else backs off (never ends a token) |
//!
//! An incident opens when, within `window`, at least `min_accounts` distinct accounts of
//! the app had an app-level or ambiguous failure as their latest outcome, and they are at
//! least `min_share` of the accounts whose calls were seen. While it is open, the
//! app's failing accounts are held ([`Verdict::Hold`]), no owner is told, and only
//! `probes` calls per `probe_every` are made for held accounts; `resolve_after`
//! consecutive probe successes resolve it, and every held account is re-verified.
//! A single account's failure still ends that account: with one account per app the two
//! cannot be told apart, so it ends after its confirming re-check.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use crate::{AccountId, ExpiryReason, Hold, IncidentId, ProviderError};

/// Settings of incident detection. [`Default`] documents the defaults.
#[derive(Clone, Copy, PartialEq, Debug)]
pub struct IncidentPolicy {
    /// Failures within this window are compared (default 1 h: accounts come due spread
    /// over the check interval's jitter, so a shorter window sees too few of them on a
    /// small app). An ambiguous failure waits at most this long for its verdict.
    pub window: Duration,
    /// Fewest distinct failing accounts that make an incident (default 3).
    pub min_accounts: usize,
    /// Smallest share of the accounts seen in the window that must fail (default 0.5).
    pub min_share: f64,
    /// How long an ambiguous failure waits for its confirming re-check (default 3 min;
    /// shorter than `window`, so the re-check sees the other accounts' answers).
    pub confirm_after: Duration,
    /// Probe calls allowed per `probe_every` while an incident is open (default 3).
    pub probes: u32,
    /// The probe period (default 5 min).
    pub probe_every: Duration,
    /// Consecutive successful probes that resolve an incident (default 2).
    pub resolve_after: u32,
    /// When a held account comes due again without a probe permit (default 30 min; on
    /// resolution every held account is due at once).
    pub held_recheck: Duration,
}

impl Default for IncidentPolicy {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(60 * 60),
            min_accounts: 3,
            min_share: 0.5,
            confirm_after: Duration::from_secs(3 * 60),
            probes: 3,
            probe_every: Duration::from_secs(5 * 60),
            resolve_after: 2,
            held_recheck: Duration::from_secs(30 * 60),
        }
    }
}

impl IncidentPolicy {
    /// Checks the settings; the message names the one that is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if self.min_accounts < 2 {
            return Err("incident min_accounts must be at least 2".into());
        }
        if !(self.min_share > 0.0 && self.min_share <= 1.0) {
            return Err("incident min_share must be in (0, 1]".into());
        }
        if self.window.is_zero() || self.window > Duration::from_secs(24 * 3600) {
            return Err("incident window must be between 1 s and 24 h".into());
        }
        if self.confirm_after >= self.window {
            return Err("incident confirm_after must be shorter than the window".into());
        }
        if self.probes == 0 || self.resolve_after == 0 {
            return Err("incident probes and resolve_after must be at least 1".into());
        }
        if self.probe_every.is_zero() || self.held_recheck.is_zero() {
            return Err("incident probe_every and held_recheck must be positive".into());
        }
        if self.probe_every > Duration::from_secs(24 * 3600)
            || self.held_recheck > Duration::from_secs(24 * 3600)
        {
            return Err("incident probe_every and held_recheck must be at most 24 h".into());
        }
        Ok(())
    }
}

/// Whose failure a failed call is.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum FailureScope {
    /// Will pass by itself (server errors, throttling): not counted.
    Transient,
    /// The account's own: its token, its owner's action (Meta's subcodes say so).
    Account,
    /// Could be the owner's removed permission or the app's lost capability.
    Ambiguous,
    /// The app's: configuration, an app Graph cannot validate.
    App,
}

/// Sorts a classified provider error.
pub fn scope_of(e: &ProviderError) -> FailureScope {
    match e {
        ProviderError::Transient { .. } | ProviderError::RateLimited { .. } => {
            FailureScope::Transient
        }
        ProviderError::Expired { .. } | ProviderError::Revoked { .. } => FailureScope::Account,
        ProviderError::Permission { .. } => FailureScope::Ambiguous,
        _ => FailureScope::App,
    }
}

/// The latest outcome of each account whose call was seen within the window.
#[derive(Clone, Default, Debug)]
pub struct Window {
    samples: VecDeque<(DateTime<Utc>, AccountId, Option<FailureScope>)>,
}

/// Most samples a window keeps (the oldest go first).
const WINDOW_CAP: usize = 20_000;

/// What the window shows.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Assessment {
    /// Distinct accounts seen.
    pub seen: usize,
    /// Of which failing with an app-level or ambiguous error (their latest outcome).
    pub app_failing: usize,
    /// Of which failing with their own error.
    pub account_failing: usize,
}

impl Window {
    /// Records one call's outcome (`None` = success).
    pub fn record(&mut self, at: DateTime<Utc>, account: AccountId, failure: Option<FailureScope>) {
        if self.samples.len() >= WINDOW_CAP {
            self.samples.pop_front();
        }
        self.samples.push_back((at, account, failure));
    }

    /// Drops samples older than the window and counts the rest.
    pub fn assess(&mut self, now: DateTime<Utc>, policy: &IncidentPolicy) -> Assessment {
        let horizon = crate::time::minus(now, crate::time::delta(policy.window));
        while self.samples.front().is_some_and(|(at, _, _)| *at < horizon) {
            self.samples.pop_front();
        }
        let mut latest: HashMap<AccountId, Option<FailureScope>> = HashMap::new();
        for (_, id, f) in &self.samples {
            if *f != Some(FailureScope::Transient) {
                latest.insert(*id, *f);
            }
        }
        let mut a = Assessment {
            seen: latest.len(),
            ..Assessment::default()
        };
        for f in latest.values() {
            match f {
                Some(FailureScope::Ambiguous | FailureScope::App) => a.app_failing += 1,
                Some(FailureScope::Account) => a.account_failing += 1,
                _ => {}
            }
        }
        a
    }
}

fn many(failing: usize, seen: usize, policy: &IncidentPolicy) -> bool {
    failing >= policy.min_accounts && failing as f64 >= policy.min_share * seen.max(1) as f64
}

impl Assessment {
    /// The app is failing as a whole.
    pub fn app_wide(&self, policy: &IncidentPolicy) -> bool {
        many(self.app_failing, self.seen, policy)
    }
    /// Many accounts are ending at once with their own errors (a wave).
    pub fn wave(&self, policy: &IncidentPolicy) -> bool {
        many(self.account_failing, self.seen, policy)
    }
}

/// What a failure means for its account.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Verdict {
    /// The usual lifecycle: end the token on the account's own error, back off on the rest.
    Apply,
    /// Ambiguous and not confirmed yet: hold the account, re-check it at `recheck_at`.
    Suspect {
        /// First ambiguous failure (kept across re-checks).
        since: DateTime<Utc>,
        /// The confirming re-check.
        recheck_at: DateTime<Utc>,
    },
    /// The app is failing as a whole and no incident is open yet: open one, then hold.
    Open,
    /// Held by this open incident.
    Hold(IncidentId),
}

/// Judges one failure of an account (see the module's table).
///
/// An ambiguous failure is confirmed (ends its token) when it fails again at least
/// `confirm_after` after the first failure while it is the only account of the app
/// failing that way among at least `min_accounts` seen in the window, or when a whole
/// `window` has passed since without the app failing as a whole: with other accounts
/// failing too, or too few seen, the keeper cannot tell one broken account from a
/// broken app any sooner. A suspicion not repeated within [`SUSPICION_FORGOTTEN`] starts
/// afresh.
///
/// `open` is the app's open app-wide incident, `hold` the account's current hold,
/// `assessment` the app's window including this failure.
pub fn judge(
    scope: FailureScope,
    assessment: &Assessment,
    open: Option<IncidentId>,
    hold: Option<&Hold>,
    now: DateTime<Utc>,
    policy: &IncidentPolicy,
) -> Verdict {
    match scope {
        FailureScope::Transient | FailureScope::Account => Verdict::Apply,
        FailureScope::App | FailureScope::Ambiguous => {
            if let Some(id) = open {
                return Verdict::Hold(id);
            }
            if assessment.app_wide(policy) {
                return Verdict::Open;
            }
            if scope == FailureScope::App {
                return Verdict::Apply;
            }
            let since = match hold {
                // A suspicion not repeated for a day is forgotten: a fresh one.
                Some(Hold::Suspect { since })
                    if now.signed_duration_since(*since) < SUSPICION_FORGOTTEN =>
                {
                    *since
                }
                // Held by an incident that has since been resolved: a fresh suspicion.
                _ => now,
            };
            let confirm = TimeDelta::from_std(policy.confirm_after).unwrap_or(TimeDelta::MAX);
            let longest = TimeDelta::from_std(policy.window).unwrap_or(TimeDelta::MAX);
            let waited = now.signed_duration_since(since);
            // Confirmed early only when this account is the one failing among enough
            // others seen to tell one from all; otherwise (other accounts failing too, too
            // few seen) once the whole window has passed without the app failing as a
            // whole.
            let alone = assessment.app_failing <= 1 && assessment.seen >= policy.min_accounts;
            if (waited >= confirm && alone) || waited >= longest {
                Verdict::Apply
            } else {
                Verdict::Suspect {
                    since,
                    recheck_at: crate::time::plus_std(now, policy.confirm_after),
                }
            }
        }
    }
}

/// How long an unrepeated ambiguous failure is remembered (a day): a later one starts a
/// new suspicion instead of ending the token at once.
pub const SUSPICION_FORGOTTEN: TimeDelta = TimeDelta::days(1);

/// Whether an incident whose last alert counted `alerted` accounts should alert again
/// now that `accounts` are affected: once per doubling.
pub fn needs_update(alerted: u64, accounts: u64) -> bool {
    accounts >= alerted.saturating_mul(2).max(alerted + 1)
}

/// Probe permits of one open incident: `probes` calls per `probe_every`.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct ProbeBudget {
    period_start: Option<DateTime<Utc>>,
    used: u32,
}

impl ProbeBudget {
    /// Takes a permit if one is left in the current period.
    pub fn take(&mut self, now: DateTime<Utc>, policy: &IncidentPolicy) -> bool {
        let period = TimeDelta::from_std(policy.probe_every).unwrap_or(TimeDelta::MAX);
        match self.period_start {
            Some(s) if now.signed_duration_since(s) < period => {}
            _ => {
                self.period_start = Some(now);
                self.used = 0;
            }
        }
        if self.used < policy.probes {
            self.used += 1;
            true
        } else {
            false
        }
    }
}

/// The expiry reason a confirmed ambiguous failure ends a token with.
pub const CONFIRMED_AMBIGUOUS: ExpiryReason = ExpiryReason::PermissionRemoved;

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 7, 12, 0, 0).unwrap()
    }

    fn perm() -> ProviderError {
        ProviderError::Permission {
            message: "Graph error 3: Application does not have the capability".into(),
        }
    }

    #[test]
    fn scopes_follow_the_table() {
        assert_eq!(scope_of(&perm()), FailureScope::Ambiguous);
        let e = ProviderError::Expired {
            reason: ExpiryReason::PasswordChanged,
            message: String::new(),
        };
        assert_eq!(scope_of(&e), FailureScope::Account);
        let t = ProviderError::Transient {
            retry_after: None,
            message: String::new(),
        };
        assert_eq!(scope_of(&t), FailureScope::Transient);
        let f = ProviderError::Fatal {
            message: String::new(),
        };
        assert_eq!(scope_of(&f), FailureScope::App);
    }

    #[test]
    fn forty_failures_in_a_tenth_of_a_second_are_app_wide_one_is_not() {
        let p = IncidentPolicy::default();
        let mut w = Window::default();
        let first = AccountId::new();
        w.record(t0(), first, Some(FailureScope::Ambiguous));
        let a = w.assess(t0(), &p);
        assert!(!a.app_wide(&p), "one account is not the app");
        // The first failure is only a suspicion: nothing ends yet.
        assert!(matches!(
            judge(FailureScope::Ambiguous, &a, None, None, t0(), &p),
            Verdict::Suspect { .. }
        ));
        for i in 0..39 {
            w.record(
                t0() + TimeDelta::milliseconds(i),
                AccountId::new(),
                Some(FailureScope::Ambiguous),
            );
        }
        let a = w.assess(t0() + TimeDelta::milliseconds(100), &p);
        assert_eq!(a.app_failing, 40);
        assert!(a.app_wide(&p));
        assert_eq!(
            judge(FailureScope::Ambiguous, &a, None, None, t0(), &p),
            Verdict::Open
        );
        let id = IncidentId::new();
        assert_eq!(
            judge(FailureScope::Ambiguous, &a, Some(id), None, t0(), &p),
            Verdict::Hold(id)
        );
    }

    #[test]
    fn a_single_accounts_ambiguous_failure_ends_it_after_the_confirming_recheck() {
        let p = IncidentPolicy::default();
        let mut w = Window::default();
        // Many healthy accounts, one failing.
        for _ in 0..20 {
            w.record(t0(), AccountId::new(), None);
        }
        let me = AccountId::new();
        w.record(t0(), me, Some(FailureScope::Ambiguous));
        let a = w.assess(t0(), &p);
        let Verdict::Suspect { since, recheck_at } =
            judge(FailureScope::Ambiguous, &a, None, None, t0(), &p)
        else {
            panic!("first failure must be a suspicion");
        };
        assert_eq!(since, t0());
        assert_eq!(recheck_at, t0() + TimeDelta::minutes(3));
        let hold = Hold::Suspect { since };
        // The re-check fails the same way: confirmed, the token ends.
        w.record(recheck_at, me, Some(FailureScope::Ambiguous));
        let a = w.assess(recheck_at, &p);
        assert_eq!(
            judge(
                FailureScope::Ambiguous,
                &a,
                None,
                Some(&hold),
                recheck_at,
                &p
            ),
            Verdict::Apply
        );
    }

    #[test]
    fn successes_from_before_an_outage_do_not_confirm_its_first_failures() {
        // 20 accounts checked fine in the last hour, then the app breaks: the first
        // failures must wait, not end, even though many successes are in the window.
        let p = IncidentPolicy::default();
        let mut w = Window::default();
        for _ in 0..20 {
            w.record(t0() - TimeDelta::minutes(30), AccountId::new(), None);
        }
        let (a, b) = (AccountId::new(), AccountId::new());
        w.record(t0(), a, Some(FailureScope::Ambiguous));
        w.record(
            t0() + TimeDelta::minutes(1),
            b,
            Some(FailureScope::Ambiguous),
        );
        let at = t0() + TimeDelta::minutes(3);
        w.record(at, a, Some(FailureScope::Ambiguous));
        let asm = w.assess(at, &p);
        assert!(!asm.app_wide(&p), "2 of 22 is not the app yet");
        let hold = Hold::Suspect { since: t0() };
        assert!(
            matches!(
                judge(FailureScope::Ambiguous, &asm, None, Some(&hold), at, &p),
                Verdict::Suspect { .. }
            ),
            "another account fails the same way: wait"
        );
        // A day-old suspicion is forgotten: a new failure is a new suspicion.
        let old = Hold::Suspect {
            since: t0() - TimeDelta::days(2),
        };
        let mut lone = Window::default();
        for _ in 0..5 {
            lone.record(at, AccountId::new(), None);
        }
        lone.record(at, a, Some(FailureScope::Ambiguous));
        let asm = lone.assess(at, &p);
        assert!(matches!(
            judge(FailureScope::Ambiguous, &asm, None, Some(&old), at, &p),
            Verdict::Suspect { .. }
        ));
    }

    #[test]
    fn account_errors_always_apply_and_a_wave_is_seen() {
        let p = IncidentPolicy::default();
        let mut w = Window::default();
        for _ in 0..10 {
            w.record(t0(), AccountId::new(), Some(FailureScope::Account));
        }
        let a = w.assess(t0(), &p);
        assert!(a.wave(&p));
        assert!(!a.app_wide(&p));
        assert_eq!(
            judge(
                FailureScope::Account,
                &a,
                Some(IncidentId::new()),
                None,
                t0(),
                &p
            ),
            Verdict::Apply
        );
    }

    #[test]
    fn a_recovered_account_no_longer_counts_and_old_samples_age_out() {
        let p = IncidentPolicy::default();
        let mut w = Window::default();
        let ids: Vec<_> = (0..4).map(|_| AccountId::new()).collect();
        for id in &ids {
            w.record(t0(), *id, Some(FailureScope::Ambiguous));
        }
        assert!(w.assess(t0(), &p).app_wide(&p));
        for id in &ids[..2] {
            w.record(t0() + TimeDelta::minutes(1), *id, None);
        }
        assert!(!w.assess(t0() + TimeDelta::minutes(1), &p).app_wide(&p));
        let later = t0() + TimeDelta::minutes(62);
        assert_eq!(w.assess(later, &p), Assessment::default());
    }

    #[test]
    fn share_matters_not_only_the_count() {
        let p = IncidentPolicy::default();
        let mut w = Window::default();
        for _ in 0..100 {
            w.record(t0(), AccountId::new(), None);
        }
        for _ in 0..5 {
            w.record(t0(), AccountId::new(), Some(FailureScope::Ambiguous));
        }
        assert!(!w.assess(t0(), &p).app_wide(&p), "5 of 105 is not the app");
    }

    #[test]
    fn probes_are_few_per_period_and_updates_once_per_doubling() {
        let p = IncidentPolicy::default();
        let mut b = ProbeBudget::default();
        let granted = (0..10).filter(|_| b.take(t0(), &p)).count();
        assert_eq!(granted, 3);
        assert!(b.take(t0() + TimeDelta::minutes(5), &p));
        assert!(needs_update(10, 20));
        assert!(!needs_update(10, 19));
        assert!(needs_update(0, 1));
    }

    #[test]
    fn the_policy_is_validated() {
        assert!(IncidentPolicy::default().validate().is_ok());
        let bad = IncidentPolicy {
            min_accounts: 1,
            ..IncidentPolicy::default()
        };
        assert!(bad.validate().unwrap_err().contains("min_accounts"));
        let bad = IncidentPolicy {
            confirm_after: Duration::from_secs(3600),
            ..IncidentPolicy::default()
        };
        assert!(bad.validate().unwrap_err().contains("confirm_after"));
        let bad = IncidentPolicy {
            min_share: f64::NAN,
            ..IncidentPolicy::default()
        };
        assert!(bad.validate().is_err());
    }
}
