//! The token lifecycle: a pure function from (state, observation, now, policy) to a
//! [`Transition`]. Every product rule lives here.
//!
//! ```
//! use chrono::{Duration, TimeZone, Utc};
//! use lightwidget_core::*;
//! use rand::SeedableRng;
//!
//! let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
//! let account = NewAccount::new("owner", ConnectionKind::Consumer, "1789", "paul").into_account();
//! let token = Token::new("secret", now).expiring_in(60 * 86_400);
//! let record = AccountRecord { account, state: TokenState::connected(token, now), version: 1 };
//! let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
//! let t = lifecycle::apply(
//!     &record,
//!     Observation::Failed(ProviderError::Expired { reason: ExpiryReason::PasswordChanged, message: String::new() }),
//!     now + Duration::days(3),
//!     &RefreshPolicy::default(),
//!     &mut rng,
//! );
//! assert!(matches!(t.state.status, TokenStatus::Expired { reason: ExpiryReason::PasswordChanged, .. }));
//! assert_eq!(t.notices.len(), 1);
//! ```

mod acknowledged;
mod freshness;
mod hooks;
pub mod incident;
mod notices;
mod outbox;
mod rules;
mod succession;

use chrono::{DateTime, Utc};
use rand::RngCore;

pub use acknowledged::Acknowledged;
pub use freshness::{Freshness, IssuedAt, freshness};
pub use hooks::{Hook, owner_views};
pub use notices::{
    Suppression, USED_LINK_RETENTION, Unsubscribed, fan_out, notice_recipients, unsubscribe,
};
pub use outbox::{DeliveryAttempt, settle_delivery};
use rules::Ctx;
pub use succession::Succession;

use crate::{
    Account, AccountId, AccountRecord, CheckInfo, ExpiryReason, Notice, ProviderError,
    RefreshPolicy, Token, TokenEvent, TokenEventKind, TokenState,
};

/// Something that was learned about an account's token.
#[derive(Clone, Debug)]
pub enum Observation {
    /// A refresh returned a new token.
    Refreshed(Token),
    /// A validity check succeeded.
    Checked(CheckInfo),
    /// A keeper call (refresh or check) failed, classified.
    Failed(ProviderError),
    /// The host reports the result of its own Graph call with this token.
    HostReported(Result<(), ProviderError>),
    /// The account came due and its lifetime has ended (no call is made).
    Lapsed,
    /// The deauthorize callback arrived: the owner removed the app.
    Deauthorized,
    /// The owner connected again with a new token (renewal).
    Reconnected {
        /// The new token.
        token: Token,
        /// Updated account metadata (username, page, entitlements), if any. Its id and
        /// owner are ignored: a reconnect never moves an account.
        account: Option<Account>,
    },
    /// The host asked for a refresh as soon as possible.
    RefreshRequested,
    /// An ambiguous failure (Graph codes 3, 10, 200-299: the owner's permission or the
    /// app's capability) not confirmed yet ([`incident::judge`]): the account is held
    /// as it is, re-checked at `recheck_at`; no history, no notice.
    Suspected {
        /// The failure.
        error: ProviderError,
        /// First ambiguous failure of this run.
        since: DateTime<Utc>,
        /// The confirming re-check.
        recheck_at: DateTime<Utc>,
    },
    /// The account is held by an open app-wide incident: nothing about it changes but
    /// the hold and when it is looked at again; no history, no notice.
    Held {
        /// The failure that was held, if a call was made (`None`: no probe permit, no call).
        error: Option<ProviderError>,
        /// The incident.
        incident: crate::IncidentId,
        /// When to look again.
        until: DateTime<Utc>,
    },
    /// The owner logged in to the host with Instagram or Facebook, and the login's OAuth
    /// exchange produced `token` for this account. A login whose token is the one already
    /// held (and working) only moves the last successful check: no history entry, no
    /// hook. A new token, or a login that revives a token that was not active, is a
    /// renewal exactly like [`Observation::Reconnected`].
    LoggedIn {
        /// The token the login obtained.
        token: Token,
        /// Updated account metadata (username, page), if any. Its id and owner are
        /// ignored: a login never moves an account.
        account: Option<Account>,
    },
}

/// What happened, in one word (for counters and logs).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Outcome {
    /// Token refreshed.
    Refreshed,
    /// Token checked and fine.
    Checked,
    /// Token expired now.
    Expired(ExpiryReason),
    /// App removed now.
    Revoked,
    /// Owner reconnected.
    Reconnected,
    /// A failure that will be retried.
    Retry,
    /// Nothing changed that needs writing.
    Unchanged,
    /// State changed without a provider call (rescheduled, host report, request).
    Updated,
    /// Held in its last known state: an ambiguous failure waiting for its confirming
    /// re-check, or an app-wide incident.
    Held,
}

/// The result of [`apply`]: what to write, atomically.
#[derive(Clone, Debug)]
pub struct Transition {
    /// The account (possibly with updated metadata).
    pub account: Account,
    /// The version the transition was computed from (fencing).
    pub expected_version: i64,
    /// The new state.
    pub state: TokenState,
    /// Whether the token value changed (stores re-encrypt only then).
    pub token_changed: bool,
    /// History to append.
    pub events: Vec<TokenEvent>,
    /// Notices to enqueue.
    pub notices: Vec<Notice>,
    /// What happened.
    pub outcome: Outcome,
    /// The account was held (an app-wide incident, or an ambiguous error under
    /// suspicion) and Graph has just confirmed its token again: it recovered without
    /// the owner doing anything ([`LifecycleHooks::on_recovered`](crate::LifecycleHooks::on_recovered)).
    pub recovered: bool,
}

impl Transition {
    /// The account id.
    pub fn account_id(&self) -> AccountId {
        self.account.id
    }
    /// Whether anything needs writing.
    pub fn is_noop(&self) -> bool {
        self.outcome == Outcome::Unchanged
    }
}

/// Applies an observation to an account's state. Pure: no I/O, time and randomness
/// are arguments.
///
/// Rules (one small handler per observation):
/// - An expiry / revocation reported by Meta ends the token at once, with its reason,
///   one history event and one notice per episode; later observations add nothing
///   until the owner reconnects.
/// - Transient failures and rate limits never expire a token inside its lifetime: they
///   back off (exponential, jittered, honouring `retry_after`, capped by the remaining
///   lifetime) and raise one "expires soon" warning once the end is near.
/// - A removed permission (Graph codes 10, 200-299, or a check whose scopes lack one
///   of [`RefreshPolicy::required_scopes`]) ends the token with
///   [`ExpiryReason::PermissionRemoved`]: a token that cannot serve the feed is never
///   shown ACTIVE.
/// - Configuration failures (not the token's fault) back off at least
///   `persistent_backoff_min`; the token stays active until its lifetime ends.
/// - A refresh that returns a token expiring *earlier* than the current one is not
///   allowed to replace it.
/// - A reconnect never changes the account's owner.
/// - A login moves the last successful check; it adds a history entry (and renews) only
///   when its token differs from the one held, or the held one was not active.
pub fn apply(
    record: &AccountRecord,
    obs: Observation,
    now: DateTime<Utc>,
    policy: &RefreshPolicy,
    rng: &mut dyn RngCore,
) -> Transition {
    apply_owned(record.clone(), obs, now, policy, rng)
}

/// [`apply`] taking the record by value, for callers that are done with it (the
/// keeper's sweep): the new state is built in place instead of from a copy.
pub(crate) fn apply_owned(
    record: AccountRecord,
    obs: Observation,
    now: DateTime<Utc>,
    policy: &RefreshPolicy,
    rng: &mut dyn RngCore,
) -> Transition {
    let version = record.version;
    let mut cx = Ctx::new(record, now, policy);
    let outcome = match obs {
        Observation::Reconnected { token, account } => cx.reconnected(token, account, rng),
        Observation::Deauthorized => cx.deauthorized(),
        Observation::LoggedIn { token, account } => cx.logged_in(token, account, rng),
        // Nothing else changes a token that no longer works.
        _ if !cx.state.status.is_active() => Outcome::Unchanged,
        Observation::Refreshed(new) => cx.refreshed(new, rng),
        Observation::Checked(info) => cx.checked(info, rng),
        Observation::Failed(err) => cx.failed(&err, rng),
        Observation::HostReported(result) => cx.host_reported(result, rng),
        Observation::Lapsed => cx.lapsed(rng),
        Observation::RefreshRequested => cx.refresh_requested(rng),
        Observation::Suspected {
            error,
            since,
            recheck_at,
        } => cx.held(
            error.to_string(),
            crate::Hold::Suspect { since },
            recheck_at,
        ),
        Observation::Held {
            error,
            incident,
            until,
        } => {
            let since = match cx.state.hold {
                Some(crate::Hold::Incident { incident: i, since }) if i == incident => since,
                _ => now,
            };
            let message = error.map(|e| e.to_string());
            cx.held_by(message, crate::Hold::Incident { incident, since }, until)
        }
    };
    if outcome != Outcome::Unchanged {
        cx.finish(rng);
    }
    cx.into_transition(version, outcome)
}

/// Builds the record of a newly connected account and its first history event.
pub fn connect(
    account: Account,
    token: Token,
    now: DateTime<Utc>,
    policy: &RefreshPolicy,
    rng: &mut dyn RngCore,
) -> (AccountRecord, TokenEvent) {
    let expires_at = token.expires_at;
    let mut state = TokenState::connected(token, now);
    state.next_action_at = policy.schedule(&state, now, rng);
    (
        AccountRecord {
            account,
            state,
            version: 0,
        },
        TokenEvent::new(now, TokenEventKind::Connected { expires_at }),
    )
}
