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

use chrono::{DateTime, Utc};
use rand::RngCore;
use uuid::Uuid;

use crate::{
    Account, AccountId, AccountRecord, CheckInfo, ExpiryReason, Notice, NoticeKind, ProviderError,
    RefreshPolicy, ReportedExpiry, RetryState, Token, TokenEvent, TokenEventKind, TokenState,
    TokenStatus, Warnings,
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
        /// Updated account metadata (username, owner, page), if any.
        account: Option<Account>,
    },
    /// The host asked for a refresh as soon as possible.
    RefreshRequested,
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

struct Ctx<'a> {
    account: Account,
    state: TokenState,
    token_changed: bool,
    events: Vec<TokenEvent>,
    notices: Vec<Notice>,
    now: DateTime<Utc>,
    policy: &'a RefreshPolicy,
}

impl Ctx<'_> {
    fn event(&mut self, kind: TokenEventKind) {
        self.events.push(TokenEvent::new(self.now, kind));
    }

    fn notice(&mut self, kind: NoticeKind, dedupe: String) {
        self.notices.push(Notice {
            id: Uuid::now_v7(),
            dedupe_key: format!("{}:{dedupe}", self.account.id),
            account_id: self.account.id,
            owner: self.account.owner.clone(),
            username: self.account.username.clone(),
            connection: self.account.kind,
            kind,
            created_at: self.now,
        });
    }

    fn expire(&mut self, reason: ExpiryReason) -> Outcome {
        self.state.status = TokenStatus::Expired {
            reason,
            at: self.now,
        };
        self.state.next_action_at = None;
        self.state.refresh_requested = false;
        self.event(TokenEventKind::Expired { reason });
        let ep = self.state.episode;
        self.notice(NoticeKind::Expired { reason }, format!("e{ep}:expired"));
        Outcome::Expired(reason)
    }

    fn revoke(&mut self) -> Outcome {
        let was_active = self.state.status.is_active();
        self.state.status = TokenStatus::Revoked { at: self.now };
        self.state.next_action_at = None;
        self.state.refresh_requested = false;
        self.event(TokenEventKind::Revoked);
        if was_active {
            // An owner already told their connection is broken is not told again.
            let ep = self.state.episode;
            self.notice(NoticeKind::Revoked, format!("e{ep}:revoked"));
        }
        Outcome::Revoked
    }

    fn succeed(&mut self) {
        self.state.last_checked_at = Some(self.now);
        self.state.retry = RetryState::default();
    }

    fn fail(&mut self, err: &ProviderError, persistent: bool, rng: &mut dyn RngCore) -> Outcome {
        if self.state.token.is_lapsed(self.now) {
            return self.expire(ExpiryReason::LifetimeEnded);
        }
        let r = &mut self.state.retry;
        r.failures = r.failures.saturating_add(1);
        r.failing_since.get_or_insert(self.now);
        r.last_error = Some(err.to_string());
        let failures = r.failures;
        self.state.next_action_at = Some(self.policy.retry_at(
            failures,
            err.retry_after(),
            persistent,
            self.state.token.expires_at,
            self.now,
            rng,
        ));
        if let Some(exp) = self.state.token.expires_at
            && exp - self.now <= self.policy.expiry_warning_lead()
            && self.state.warnings.expiring_for != Some(exp)
        {
            self.state.warnings.expiring_for = Some(exp);
            self.notice(
                NoticeKind::ExpiringSoon { at: exp },
                format!("expiring:{}", exp.timestamp()),
            );
        }
        Outcome::Retry
    }

    fn warn_data_access(&mut self) {
        if !self.state.status.is_active() {
            return;
        }
        if let Some(dae) = self.state.token.data_access_expires_at
            && self.now >= dae - self.policy.data_access_warning_lead()
            && self.now < dae
            && self.state.warnings.data_access_for != Some(dae)
        {
            self.state.warnings.data_access_for = Some(dae);
            self.notice(
                NoticeKind::DataAccessExpiring { at: dae },
                format!("data_access:{}", dae.timestamp()),
            );
        }
    }

    fn reschedule(&mut self, rng: &mut dyn RngCore) {
        self.state.next_action_at = self.policy.schedule(&self.state, self.now, rng);
    }
}

/// Applies an observation to an account's state. Pure: no I/O, time and randomness
/// are arguments.
///
/// Rules:
/// - An expiry / revocation reported by Meta ends the token at once, with its reason,
///   one history event and one notice per episode; later observations add nothing
///   until the owner reconnects.
/// - Transient failures and rate limits never expire a token inside its lifetime: they
///   back off (exponential, jittered, honouring `retry_after`, capped by the remaining
///   lifetime) and raise one "expires soon" warning once the end is near.
/// - Permission and configuration failures back off at least
///   `persistent_backoff_min`; the token stays active until its lifetime ends.
/// - A refresh that returns a token expiring *earlier* than the current one is not
///   allowed to replace it.
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
/// keeper): the new state is built in place instead of from a copy.
pub fn apply_owned(
    record: AccountRecord,
    obs: Observation,
    now: DateTime<Utc>,
    policy: &RefreshPolicy,
    rng: &mut dyn RngCore,
) -> Transition {
    let version = record.version;
    let mut cx = Ctx {
        account: record.account,
        state: record.state,
        token_changed: false,
        events: Vec::new(),
        notices: Vec::new(),
        now,
        policy,
    };
    let active = cx.state.status.is_active();
    let outcome = match obs {
        Observation::Reconnected { token, account } => {
            if let Some(mut a) = account {
                a.id = cx.account.id;
                cx.account = a;
            }
            let expires_at = token.expires_at;
            cx.state.token = token;
            cx.token_changed = true;
            cx.state.status = TokenStatus::Active;
            cx.state.episode = cx.state.episode.saturating_add(1);
            cx.state.warnings = Warnings::default();
            cx.state.refresh_requested = false;
            cx.succeed();
            cx.event(TokenEventKind::Reconnected { expires_at });
            cx.reschedule(rng);
            Outcome::Reconnected
        }
        Observation::Deauthorized => {
            if matches!(cx.state.status, TokenStatus::Revoked { .. }) {
                Outcome::Unchanged
            } else {
                cx.revoke()
            }
        }
        // Nothing else changes a token that no longer works.
        _ if !active => Outcome::Unchanged,
        Observation::Refreshed(new) => {
            let older = match (new.expires_at, cx.state.token.expires_at) {
                (Some(n), Some(o)) => n < o,
                _ => false,
            };
            cx.succeed();
            if !older {
                let dae = new
                    .data_access_expires_at
                    .or(cx.state.token.data_access_expires_at);
                let scopes = if new.scopes.is_empty() {
                    std::mem::take(&mut cx.state.token.scopes)
                } else {
                    new.scopes.clone()
                };
                let expires_at = new.expires_at;
                cx.token_changed = !new.same_value(&cx.state.token)
                    || new.expires_at != cx.state.token.expires_at
                    || new.issued_at != cx.state.token.issued_at;
                cx.state.token = new.with_data_access_expires_at(dae).with_scopes(scopes);
                cx.state.refresh_requested = false;
                cx.state.warnings.expiring_for = None;
                cx.event(TokenEventKind::Refreshed { expires_at });
            }
            cx.reschedule(rng);
            if older {
                Outcome::Checked
            } else {
                Outcome::Refreshed
            }
        }
        Observation::Checked(info) => {
            cx.succeed();
            match info.expires_at {
                ReportedExpiry::Unknown => {}
                ReportedExpiry::Never => {
                    if cx.state.token.expires_at.is_some() {
                        cx.state.token.expires_at = None;
                        cx.token_changed = true;
                    }
                }
                ReportedExpiry::At(t) => {
                    if cx.state.token.expires_at != Some(t) {
                        cx.state.token.expires_at = Some(t);
                        cx.token_changed = true;
                    }
                }
            }
            if let Some(dae) = info.data_access_expires_at
                && cx.state.token.data_access_expires_at != Some(dae)
            {
                cx.state.token.data_access_expires_at = Some(dae);
                cx.token_changed = true;
            }
            if let Some(scopes) = info.scopes
                && scopes != cx.state.token.scopes
            {
                cx.state.token.scopes = scopes;
                cx.token_changed = true;
            }
            if cx.state.token.is_lapsed(now) {
                cx.expire(ExpiryReason::LifetimeEnded)
            } else if cx
                .state
                .token
                .data_access_expires_at
                .is_some_and(|d| d <= now)
            {
                cx.expire(ExpiryReason::DataAccessExpired)
            } else {
                cx.reschedule(rng);
                Outcome::Checked
            }
        }
        Observation::Failed(err) => match &err {
            ProviderError::Expired { reason, .. } => cx.expire(*reason),
            ProviderError::Revoked { .. } => cx.revoke(),
            ProviderError::Transient { .. } | ProviderError::RateLimited { .. } => {
                cx.fail(&err, false, rng)
            }
            _ => cx.fail(&err, true, rng),
        },
        Observation::HostReported(Ok(())) => {
            cx.succeed();
            cx.reschedule(rng);
            Outcome::Updated
        }
        Observation::HostReported(Err(err)) => match &err {
            ProviderError::Expired { reason, .. } => cx.expire(*reason),
            ProviderError::Revoked { .. } => cx.revoke(),
            // The host's own transient trouble does not move our schedule.
            _ => Outcome::Unchanged,
        },
        Observation::Lapsed => {
            if cx.state.token.is_lapsed(now) {
                cx.expire(ExpiryReason::LifetimeEnded)
            } else {
                cx.reschedule(rng);
                Outcome::Updated
            }
        }
        Observation::RefreshRequested => {
            cx.state.refresh_requested = true;
            cx.reschedule(rng);
            Outcome::Updated
        }
    };
    if !matches!(outcome, Outcome::Unchanged) {
        cx.warn_data_access();
        if cx.state.status.is_active() && cx.state.next_action_at.is_none() {
            cx.reschedule(rng);
        }
    }
    Transition {
        account: cx.account,
        expected_version: version,
        state: cx.state,
        token_changed: cx.token_changed,
        events: cx.events,
        notices: cx.notices,
        outcome,
    }
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
