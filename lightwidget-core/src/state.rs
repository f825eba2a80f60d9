//! The persisted state of an account's token.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{Account, Hold, Token, TokenStatus};

/// Failure bookkeeping between attempts. Transient failures live here, not in history.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Debug, Default)]
pub struct RetryState {
    /// Consecutive failed attempts (0 after a success).
    pub failures: u32,
    /// When the current run of failures started.
    pub failing_since: Option<DateTime<Utc>>,
    /// Classified description of the last failure (never contains a token).
    pub last_error: Option<String>,
}

/// Warnings already raised, so each is raised once per deadline.
#[derive(Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Debug, Default)]
pub struct Warnings {
    /// The token expiry we already warned about ("expires soon, refresh failing").
    pub expiring_for: Option<DateTime<Utc>>,
    /// The data-access expiry warned about in the current incident (`None` once data
    /// access reaches beyond the warning window again, or moved a day or more later).
    pub data_access_for: Option<DateTime<Utc>>,
}

/// Everything lightwidget tracks about an account's token.
#[derive(Clone, Debug)]
pub struct TokenState {
    /// The current token.
    pub token: Token,
    /// ACTIVE / NOT ACTIVE and why.
    pub status: TokenStatus,
    /// Last time any call with this token succeeded.
    pub last_checked_at: Option<DateTime<Utc>>,
    /// When the keeper should next look at this account; `None` = nothing to do
    /// (expired or revoked, waiting for the owner to reconnect).
    pub next_action_at: Option<DateTime<Utc>>,
    /// Failure bookkeeping.
    pub retry: RetryState,
    /// Warnings raised.
    pub warnings: Warnings,
    /// Incremented on every expiry/revocation and every reconnect; part of notice
    /// dedupe keys, so each incident is announced once.
    pub episode: u32,
    /// The host asked for a refresh as soon as the token is old enough.
    pub refresh_requested: bool,
    /// When Graph last confirmed the token works: a refresh, a check, a gateway or host
    /// call that succeeded, the connect or login that handed it over. It moves with every
    /// success, like `last_checked_at`, but is the figure [`StatusReport::unverified`]
    /// is judged on. SQL stores written before it existed read it as `last_checked_at`.
    pub verified_at: Option<DateTime<Utc>>,
    /// Why the account is held in its last known state instead of being ended (an
    /// ambiguous error waiting for its confirming re-check, an app-wide incident).
    pub hold: Option<Hold>,
}

impl TokenState {
    /// A freshly connected, active token. `next_action_at` is filled in by the lifecycle.
    pub fn connected(token: Token, now: DateTime<Utc>) -> Self {
        Self {
            token,
            status: TokenStatus::Active,
            last_checked_at: Some(now),
            next_action_at: None,
            retry: RetryState::default(),
            warnings: Warnings::default(),
            episode: 0,
            refresh_requested: false,
            verified_at: Some(now),
            hold: None,
        }
    }
}

/// An account with its token state, as read from a store.
#[derive(Clone, Debug)]
pub struct AccountRecord {
    /// The account.
    pub account: Account,
    /// Its token state.
    pub state: TokenState,
    /// Optimistic-concurrency / fencing version. Every claim and every commit
    /// increments it; a commit must name the version it was computed from.
    pub version: i64,
}

/// The host-facing summary of an account (what the Accounts page shows).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Debug)]
pub struct StatusReport {
    /// The account.
    pub account: Account,
    /// ACTIVE / NOT ACTIVE and why.
    pub status: TokenStatus,
    /// Last successful check (UTC).
    pub last_checked_at: Option<DateTime<Utc>>,
    /// When the token expires (`None` = never).
    pub expires_at: Option<DateTime<Utc>>,
    /// When data access lapses, if known.
    pub data_access_expires_at: Option<DateTime<Utc>>,
    /// When the keeper acts next.
    pub next_action_at: Option<DateTime<Utc>>,
    /// Consecutive failures of the current retry run.
    pub failures: u32,
    /// Last classified failure.
    pub last_error: Option<String>,
    /// When Graph last confirmed the token ([`TokenState::verified_at`]).
    #[serde(default)]
    pub verified_at: Option<DateTime<Utc>>,
    /// Set when no confirmation is newer than [`RefreshPolicy::unverified_after`]
    /// (the keeper was down, every check failed transiently, an incident holds it): a
    /// page then says "not verified since …" instead of a bare ACTIVE. Filled in by the
    /// keeper's status calls (it needs the time); `false` from a bare record.
    ///
    /// [`RefreshPolicy::unverified_after`]: crate::RefreshPolicy::unverified_after
    #[serde(default)]
    pub unverified: bool,
    /// Why the account is held in its last known state, if it is (the problem is on the
    /// platform's side: the page says so, and since when).
    #[serde(default)]
    pub hold: Option<Hold>,
}

impl StatusReport {
    /// Sets [`unverified`](Self::unverified): no confirmation newer than `bound` before
    /// `now` while the token is active.
    pub fn judged(mut self, now: DateTime<Utc>, bound: std::time::Duration) -> Self {
        let bound = chrono::TimeDelta::from_std(bound).unwrap_or(chrono::TimeDelta::MAX);
        self.unverified = self.status.is_active()
            && self
                .verified_at
                .is_none_or(|v| now.signed_duration_since(v) > bound);
        self
    }

    /// The status line a page shows: `ACTIVE`, `NOT ACTIVE`, or `ACTIVE (not verified
    /// since <UTC time>)` / `ACTIVE (not verified yet)`, with the platform-side hold named.
    pub fn headline(&self) -> String {
        let mut s = self.status.label().to_owned();
        if self.unverified {
            match self.verified_at {
                Some(v) => s.push_str(&format!(
                    " (not verified since {})",
                    v.format("%Y-%m-%d %H:%M UTC")
                )),
                None => s.push_str(" (not verified yet)"),
            }
        }
        if let Some(Hold::Incident { since, .. }) = self.hold {
            s.push_str(&format!(
                "; a problem on Instagram's / Facebook's side since {}: nothing to do on your side",
                since.format("%Y-%m-%d %H:%M UTC")
            ));
        }
        s
    }
}

impl From<&AccountRecord> for StatusReport {
    fn from(r: &AccountRecord) -> Self {
        Self {
            account: r.account.clone(),
            status: r.state.status,
            last_checked_at: r.state.last_checked_at,
            expires_at: r.state.token.expires_at,
            data_access_expires_at: r.state.token.data_access_expires_at,
            next_action_at: r.state.next_action_at,
            failures: r.state.retry.failures,
            last_error: r.state.retry.last_error.clone(),
            verified_at: r.state.verified_at,
            unverified: false,
            hold: r.state.hold,
        }
    }
}
