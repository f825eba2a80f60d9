//! Metrics through the [`metrics`](https://docs.rs/metrics) facade (feature `metrics`): the names, types and labels.
//!
//! With the feature on, the keeper records the figures below into whatever recorder the
//! host installed (e.g. `metrics-exporter-prometheus`, as the keeper daemon does for
//! `/metrics`); with it off, every call here is an empty inline function. Labels have
//! bounded cardinality only: never an account, owner, username or token.
//!
//! | name | type | labels | what |
//! |---|---|---|---|
//! | `lightwidget_refreshes_total` | counter | `kind`, `outcome` | refresh calls to Meta, by result (`ok`, `expired`, `revoked`, `transient`, `rate_limited`, `permission`, `fatal`) |
//! | `lightwidget_checks_total` | counter | `kind`, `outcome` | validity checks, same outcomes |
//! | `lightwidget_reported_calls_total` | counter | `kind`, `outcome` | Graph calls the host reported with `Keeper::observe` |
//! | `lightwidget_expiries_total` | counter | `reason` | tokens that stopped working, committed (`password_changed`, `app_removed`, `lifetime_ended`, …, `unknown`) |
//! | `lightwidget_notices_total` | counter | `topic`, `result` | outbox notices by result (`sent`, `suppressed`, `failed`, `retried`) |
//! | `lightwidget_store_errors_total` | counter | `op` | store operations that failed (`claim`, `commit`, `outbox`) |
//! | `lightwidget_commit_conflicts_total` | counter | | commits refused by fencing (the account changed meanwhile) |
//! | `lightwidget_sweep_duration_seconds` | histogram | | one whole sweep |
//! | `lightwidget_claim_duration_seconds` | histogram | | one `claim_due` call |
//! | `lightwidget_commit_duration_seconds` | histogram | | one `commit_many` call (a batch) |
//! | `lightwidget_graph_call_duration_seconds` | histogram | `kind`, `action` | one provider call (`refresh`, `check`) |
//! | `lightwidget_sweep_accounts` | gauge | | accounts claimed by the last sweep |
//! | `lightwidget_last_sweep_timestamp_seconds` | gauge | | unix time of this keeper's last sweep |
//! | `lightwidget_accounts` | gauge | `status` | accounts by status (`active`, `expired`, `revoked`), set by `Keeper::health` |
//! | `lightwidget_incidents_open` | gauge | | open app-wide incidents (accounts held, owners not told), set every sweep |
//! | `lightwidget_incident_alerts_total` | counter | `kind`, `incident`, `change` | operator alerts (`app_wide` / `account_wave`; `opened`, `updated`, `resolved`) |
//!
//! | `lightwidget_graph_usage_percent` | gauge | `kind`, `scope` | the usage Meta last reported: `scope="app"` the app's `X-App-Usage` (its highest counter), `scope="account"` the highest `X-Business-Use-Case-Usage` entry of the last answer that had one |
//! | `lightwidget_graph_call_spacing_seconds` | gauge | `kind` | the spacing of the app's calls now (0 below the high-water mark) |
//! | `lightwidget_graph_pauses_total` | counter | `kind`, `scope`, `result` | calls held back by the throttle: `waited` (for its paced slot), `refused` (slot too far, or Meta's stop), `stopped` (Meta throttled: a stop began) |
//! | `lightwidget_graph_pause_seconds` | histogram | `kind`, `scope`, `result` | the length of those pauses: the wait, the time left when refused, or the stop's length |
//!
//! The `lightwidget_graph_*` usage figures are recorded by the Graph API clients of
//! `lightwidget-instagram` through [`graph_usage`], [`graph_spacing`] and [`graph_pause`].
//! The keeper daemon adds `lightwidget_last_sweep_age_seconds` and `lightwidget_store_up`
//! at scrape time.

use std::time::Duration;

use crate::{ConnectionKind, ExpiryReason, ProviderError};

/// A bounded label for an expiry reason.
pub(crate) fn reason_label(r: &ExpiryReason) -> &'static str {
    match r {
        ExpiryReason::LifetimeEnded => "lifetime_ended",
        ExpiryReason::PasswordChanged => "password_changed",
        ExpiryReason::SecurityCheckpoint => "security_checkpoint",
        ExpiryReason::SessionInvalidated => "session_invalidated",
        ExpiryReason::AppRemoved => "app_removed",
        ExpiryReason::DataAccessExpired => "data_access_expired",
        ExpiryReason::PermissionRemoved => "permission_removed",
        _ => "unknown",
    }
}

fn outcome<T>(r: &Result<T, ProviderError>) -> &'static str {
    match r {
        Ok(_) => "ok",
        Err(e) => e.class(),
    }
}

#[cfg(feature = "metrics")]
mod imp {
    use super::*;

    pub(crate) fn provider_call<T>(
        kind: ConnectionKind,
        action: &'static str,
        r: &Result<T, ProviderError>,
        took: Duration,
    ) {
        let name = if action == "refresh" {
            "lightwidget_refreshes_total"
        } else {
            "lightwidget_checks_total"
        };
        metrics::counter!(name, "kind" => kind.as_str(), "outcome" => outcome(r)).increment(1);
        metrics::histogram!("lightwidget_graph_call_duration_seconds", "kind" => kind.as_str(), "action" => action)
            .record(took.as_secs_f64());
    }

    pub(crate) fn reported_call(kind: ConnectionKind, r: &Result<(), ProviderError>) {
        metrics::counter!("lightwidget_reported_calls_total", "kind" => kind.as_str(), "outcome" => outcome(r))
            .increment(1);
    }

    pub(crate) fn expiry(reason: &ExpiryReason) {
        metrics::counter!("lightwidget_expiries_total", "reason" => reason_label(reason))
            .increment(1);
    }

    pub(crate) fn notice(topic: &'static str, result: &'static str) {
        metrics::counter!("lightwidget_notices_total", "topic" => topic, "result" => result)
            .increment(1);
    }

    pub(crate) fn store_error(op: &'static str) {
        metrics::counter!("lightwidget_store_errors_total", "op" => op).increment(1);
    }

    pub(crate) fn conflict() {
        metrics::counter!("lightwidget_commit_conflicts_total").increment(1);
    }

    pub(crate) fn duration(name: &'static str, took: Duration) {
        metrics::histogram!(name).record(took.as_secs_f64());
    }

    pub(crate) fn sweep_done(claimed: usize, at: chrono::DateTime<chrono::Utc>) {
        metrics::gauge!("lightwidget_sweep_accounts").set(claimed as f64);
        metrics::gauge!("lightwidget_last_sweep_timestamp_seconds")
            .set(at.timestamp_millis() as f64 / 1000.0);
    }

    pub(crate) fn accounts(active: u64, expired: u64, revoked: u64) {
        for (status, n) in [
            ("active", active),
            ("expired", expired),
            ("revoked", revoked),
        ] {
            metrics::gauge!("lightwidget_accounts", "status" => status).set(n as f64);
        }
    }

    pub(crate) fn incidents_open(n: usize) {
        metrics::gauge!("lightwidget_incidents_open").set(n as f64);
    }

    pub(crate) fn incident_alert(
        kind: ConnectionKind,
        incident: &'static str,
        change: &'static str,
    ) {
        metrics::counter!("lightwidget_incident_alerts_total", "kind" => kind.as_str(), "incident" => incident, "change" => change).increment(1);
    }
}

#[cfg(not(feature = "metrics"))]
#[allow(clippy::missing_const_for_fn)]
mod imp {
    use super::*;

    #[inline(always)]
    pub(crate) fn provider_call<T>(
        _: ConnectionKind,
        _: &'static str,
        _: &Result<T, ProviderError>,
        _: Duration,
    ) {
        let _ = outcome::<T>;
    }
    #[inline(always)]
    pub(crate) fn reported_call(_: ConnectionKind, _: &Result<(), ProviderError>) {}
    #[inline(always)]
    pub(crate) fn expiry(_: &ExpiryReason) {
        let _ = reason_label;
    }
    #[inline(always)]
    pub(crate) fn notice(_: &'static str, _: &'static str) {}
    #[inline(always)]
    pub(crate) fn store_error(_: &'static str) {}
    #[inline(always)]
    pub(crate) fn conflict() {}
    #[inline(always)]
    pub(crate) fn duration(_: &'static str, _: Duration) {}
    #[inline(always)]
    pub(crate) fn sweep_done(_: usize, _: chrono::DateTime<chrono::Utc>) {}
    #[inline(always)]
    pub(crate) fn accounts(_: u64, _: u64, _: u64) {}
    #[inline(always)]
    pub(crate) fn incidents_open(_: usize) {}
    #[inline(always)]
    pub(crate) fn incident_alert(_: ConnectionKind, _: &'static str, _: &'static str) {}
}

pub(crate) use imp::*;

/// Whether the `Instant` of a duration metric is worth taking (it is not when the
/// feature is off).
pub(crate) const ON: bool = cfg!(feature = "metrics");

/// `Some(now)` when metrics are on.
#[inline(always)]
pub(crate) fn start() -> Option<std::time::Instant> {
    ON.then(std::time::Instant::now)
}

/// Records the time since `start` under `name`.
#[inline(always)]
pub(crate) fn since(name: &'static str, start: Option<std::time::Instant>) {
    if let Some(s) = start {
        duration(name, s.elapsed());
    }
}

/// Records the usage Meta reported in a Graph API answer (`scope` `"app"` for
/// `X-App-Usage`, `"account"` for `X-Business-Use-Case-Usage`) as the gauge
/// `lightwidget_graph_usage_percent`. For Graph API clients; a no-op without the
/// `metrics` feature.
pub fn graph_usage(kind: ConnectionKind, scope: &'static str, percent: u32) {
    #[cfg(feature = "metrics")]
    metrics::gauge!("lightwidget_graph_usage_percent", "kind" => kind.as_str(), "scope" => scope)
        .set(f64::from(percent));
    #[cfg(not(feature = "metrics"))]
    let _ = (kind, scope, percent);
}

/// Records the spacing of the app's calls now (zero when not paced) as the gauge
/// `lightwidget_graph_call_spacing_seconds`. For Graph API clients; a no-op without the
/// `metrics` feature.
pub fn graph_spacing(kind: ConnectionKind, spacing: Duration) {
    #[cfg(feature = "metrics")]
    metrics::gauge!("lightwidget_graph_call_spacing_seconds", "kind" => kind.as_str())
        .set(spacing.as_secs_f64());
    #[cfg(not(feature = "metrics"))]
    let _ = (kind, spacing);
}

/// Records a call the usage throttle held back (`result`: `"waited"`, `"refused"`,
/// `"stopped"`; `scope`: `"app"` or `"account"`) and for how long, as
/// `lightwidget_graph_pauses_total` and `lightwidget_graph_pause_seconds`. For
/// Graph API clients; a no-op without the `metrics` feature.
pub fn graph_pause(kind: ConnectionKind, scope: &'static str, result: &'static str, d: Duration) {
    #[cfg(feature = "metrics")]
    {
        metrics::counter!("lightwidget_graph_pauses_total", "kind" => kind.as_str(), "scope" => scope, "result" => result)
            .increment(1);
        metrics::histogram!("lightwidget_graph_pause_seconds", "kind" => kind.as_str(), "scope" => scope, "result" => result)
            .record(d.as_secs_f64());
    }
    #[cfg(not(feature = "metrics"))]
    let _ = (kind, scope, result, d);
}
