//! The handlers of [`apply`](super::apply): one small function per observation, over
//! a working copy of the account's state.

use chrono::{DateTime, Utc};
use rand::RngCore;
use uuid::Uuid;

use super::{Outcome, Transition};
use crate::time;
use crate::{
    Account, AccountRecord, CheckInfo, ExpiryReason, Notice, NoticeKind, ProviderError,
    RefreshPolicy, ReportedExpiry, RetryState, Token, TokenEvent, TokenEventKind, TokenState,
    TokenStatus, Warnings,
};

/// A data-access expiry moved later by at least this much is a re-authorised grant,
/// not Meta's answer drifting between checks.
const DATA_ACCESS_RENEWED: chrono::TimeDelta = chrono::TimeDelta::days(1);

/// The state being transformed, and what the transformation produced so far.
pub(super) struct Ctx<'a> {
    pub(super) account: Account,
    pub(super) state: TokenState,
    token_changed: bool,
    events: Vec<TokenEvent>,
    notices: Vec<Notice>,
    now: DateTime<Utc>,
    policy: &'a RefreshPolicy,
    held_before: bool,
}

impl<'a> Ctx<'a> {
    pub(super) fn new(
        record: AccountRecord,
        now: DateTime<Utc>,
        policy: &'a RefreshPolicy,
    ) -> Self {
        Self {
            account: record.account,
            held_before: record.state.hold.is_some() && record.state.status.is_active(),
            state: record.state,
            token_changed: false,
            events: Vec::new(),
            notices: Vec::new(),
            now,
            policy,
        }
    }

    pub(super) fn into_transition(self, expected_version: i64, outcome: Outcome) -> Transition {
        // Held, then confirmed by Graph (a check or a refresh that succeeded): recovered.
        let recovered = self.held_before
            && self.state.hold.is_none()
            && self.state.status.is_active()
            && matches!(outcome, Outcome::Checked | Outcome::Refreshed);
        Transition {
            recovered,
            account: self.account,
            expected_version,
            state: self.state,
            token_changed: self.token_changed,
            events: self.events,
            notices: self.notices,
            outcome,
        }
    }

    // ------------------------------------------------------------------ handlers

    /// The owner connected again: a new token, a new episode, warnings cleared. The
    /// account's metadata may be updated, but never its id or its owner.
    pub(super) fn reconnected(
        &mut self,
        token: Token,
        account: Option<Account>,
        rng: &mut dyn RngCore,
    ) -> Outcome {
        if let Some(mut a) = account {
            a.id = self.account.id;
            std::mem::swap(&mut a.owner, &mut self.account.owner);
            self.account = a;
        }
        let expires_at = token.expires_at;
        self.state.token = token;
        self.token_changed = true;
        self.state.status = TokenStatus::Active;
        self.state.episode = self.state.episode.saturating_add(1);
        self.state.warnings = Warnings::default();
        self.state.refresh_requested = false;
        self.succeed();
        self.event(TokenEventKind::Reconnected { expires_at });
        self.reschedule(rng);
        Outcome::Reconnected
    }

    /// The owner logged in with Instagram / Facebook. The same working token: only the
    /// last successful check moves (and what the login learnt about the token's expiry,
    /// data access and scopes is adopted), no history entry. Anything else is a renewal.
    pub(super) fn logged_in(
        &mut self,
        token: Token,
        account: Option<Account>,
        rng: &mut dyn RngCore,
    ) -> Outcome {
        if !self.state.status.is_active() || !token.same_value(&self.state.token) {
            return self.reconnected(token, account, rng);
        }
        if let Some(mut a) = account {
            a.id = self.account.id;
            std::mem::swap(&mut a.owner, &mut self.account.owner);
            self.account = a;
        }
        self.adopt(CheckInfo {
            expires_at: match token.expires_at {
                Some(at) => ReportedExpiry::At(at),
                None => ReportedExpiry::Unknown,
            },
            data_access_expires_at: token.data_access_expires_at,
            scopes: (!token.scopes.is_empty()).then(|| token.scopes.clone()),
        });
        self.succeed();
        self.reschedule(rng);
        Outcome::Checked
    }

    /// The owner removed the app (once: a second callback changes nothing).
    pub(super) fn deauthorized(&mut self) -> Outcome {
        if matches!(self.state.status, TokenStatus::Revoked { .. }) {
            Outcome::Unchanged
        } else {
            self.revoke()
        }
    }

    /// A refresh returned a token. One expiring earlier than the current token does not
    /// replace it (the call still proves the current token works).
    pub(super) fn refreshed(&mut self, new: Token, rng: &mut dyn RngCore) -> Outcome {
        let older = match (new.expires_at, self.state.token.expires_at) {
            (Some(n), Some(o)) => n < o,
            _ => false,
        };
        self.succeed();
        if older {
            self.reschedule(rng);
            return Outcome::Checked;
        }
        let dae = new
            .data_access_expires_at
            .or(self.state.token.data_access_expires_at);
        let scopes = if new.scopes.is_empty() {
            std::mem::take(&mut self.state.token.scopes)
        } else {
            new.scopes.clone()
        };
        let expires_at = new.expires_at;
        self.token_changed = !new.same_value(&self.state.token)
            || new.expires_at != self.state.token.expires_at
            || new.issued_at != self.state.token.issued_at;
        self.state.token = new.with_data_access_expires_at(dae).with_scopes(scopes);
        self.state.refresh_requested = false;
        self.state.warnings.expiring_for = None;
        self.event(TokenEventKind::Refreshed { expires_at });
        self.reschedule(rng);
        Outcome::Refreshed
    }

    /// A validity check succeeded: adopt what it reported, then expire the token if its
    /// lifetime or its data access has ended.
    ///
    /// A check that reports the token's scopes without one the connection kind requires
    /// ([`RefreshPolicy::required_scopes`]) ends it with
    /// [`ExpiryReason::PermissionRemoved`]: the owner unticked a permission, and the feed
    /// fails until they grant it again. The call still succeeded, so the last successful
    /// check moves.
    pub(super) fn checked(&mut self, info: CheckInfo, rng: &mut dyn RngCore) -> Outcome {
        // A check that reports no scopes (Instagram Login's `/me`) proves the token works,
        // not that the permission a feed call was refused for is there: an ambiguous
        // suspicion stays until a call that can tell succeeds or fails again.
        let keep = match self.state.hold {
            Some(h @ crate::Hold::Suspect { .. }) if info.scopes.is_none() => Some(h),
            _ => None,
        };
        self.succeed();
        self.state.hold = keep;
        let reported_scopes = info.scopes.is_some();
        self.adopt(info);
        let now = self.now;
        if reported_scopes
            && !self
                .policy
                .required_scopes()
                .missing(self.account.kind, &self.state.token.scopes)
                .is_empty()
        {
            self.expire(ExpiryReason::PermissionRemoved)
        } else if self.state.token.is_lapsed(now) {
            self.expire(ExpiryReason::LifetimeEnded)
        } else if self
            .state
            .token
            .data_access_expires_at
            .is_some_and(|d| d <= now)
        {
            self.expire(ExpiryReason::DataAccessExpired)
        } else {
            self.reschedule(rng);
            Outcome::Checked
        }
    }

    /// A keeper call failed: end the token on an expiry, a revocation or a removed
    /// permission (Graph codes 10, 200-299: the token cannot serve the feed until the
    /// owner grants it again, so it is never shown ACTIVE), back off on anything else
    /// (longer for failures that will not pass by themselves).
    pub(super) fn failed(&mut self, err: &ProviderError, rng: &mut dyn RngCore) -> Outcome {
        match err {
            ProviderError::Expired { reason, .. } => self.expire(*reason),
            ProviderError::Revoked { .. } => self.revoke(),
            ProviderError::Permission { .. } => self.expire(ExpiryReason::PermissionRemoved),
            ProviderError::Transient { .. } | ProviderError::RateLimited { .. } => {
                self.fail(err, false, rng)
            }
            _ => self.fail(err, true, rng),
        }
    }

    /// The host reported its own Graph call: success is a successful check; an expiry
    /// ends the token; the host's transient trouble does not move our schedule.
    pub(super) fn host_reported(
        &mut self,
        result: Result<(), ProviderError>,
        rng: &mut dyn RngCore,
    ) -> Outcome {
        match result {
            Ok(()) => {
                self.succeed();
                self.reschedule(rng);
                Outcome::Updated
            }
            Err(ProviderError::Expired { reason, .. }) => self.expire(reason),
            Err(ProviderError::Revoked { .. }) => self.revoke(),
            Err(ProviderError::Permission { .. }) => self.expire(ExpiryReason::PermissionRemoved),
            Err(_) => Outcome::Unchanged,
        }
    }

    /// The account came due without a call: expire it if its lifetime ended.
    pub(super) fn lapsed(&mut self, rng: &mut dyn RngCore) -> Outcome {
        if self.state.token.is_lapsed(self.now) {
            self.expire(ExpiryReason::LifetimeEnded)
        } else {
            self.reschedule(rng);
            Outcome::Updated
        }
    }

    /// The host asked for a refresh as soon as the token is old enough.
    pub(super) fn refresh_requested(&mut self, rng: &mut dyn RngCore) -> Outcome {
        self.state.refresh_requested = true;
        self.reschedule(rng);
        Outcome::Updated
    }

    /// An ambiguous failure waiting for its confirming re-check: the status, the
    /// schedule's rules and the owner's notices stay as they are; the failure is noted.
    pub(super) fn held(
        &mut self,
        error: String,
        hold: crate::Hold,
        until: DateTime<Utc>,
    ) -> Outcome {
        self.held_by(Some(error), hold, until)
    }

    /// Held (see [`crate::Hold`]): looked at again at `until` (never later than the
    /// token's own end, which still lapses it).
    pub(super) fn held_by(
        &mut self,
        error: Option<String>,
        hold: crate::Hold,
        until: DateTime<Utc>,
    ) -> Outcome {
        if let Some(e) = error {
            let r = &mut self.state.retry;
            r.failures = r.failures.saturating_add(1);
            r.failing_since.get_or_insert(self.now);
            r.last_error = Some(e);
        }
        self.state.hold = Some(hold);
        let until = match self.state.token.expires_at {
            Some(exp) if exp < until => exp.max(self.now),
            _ => until,
        };
        self.state.next_action_at = Some(until);
        Outcome::Held
    }

    /// Rules that apply after every change: the data-access warning, and an active
    /// token always has a next action.
    pub(super) fn finish(&mut self, rng: &mut dyn RngCore) {
        self.warn_data_access();
        if self.state.status.is_active() && self.state.next_action_at.is_none() {
            self.reschedule(rng);
        }
    }

    // ------------------------------------------------------------------ building blocks

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

    /// Takes over what a check reported about the token.
    fn adopt(&mut self, info: CheckInfo) {
        let t = &mut self.state.token;
        match info.expires_at {
            ReportedExpiry::Unknown => {}
            ReportedExpiry::Never => {
                if t.expires_at.is_some() {
                    t.expires_at = None;
                    self.token_changed = true;
                }
            }
            ReportedExpiry::At(at) => {
                if t.expires_at != Some(at) {
                    t.expires_at = Some(at);
                    self.token_changed = true;
                }
            }
        }
        if let Some(dae) = info.data_access_expires_at
            && t.data_access_expires_at != Some(dae)
        {
            t.data_access_expires_at = Some(dae);
            self.token_changed = true;
        }
        if let Some(scopes) = info.scopes
            && scopes != t.scopes
        {
            t.scopes = scopes;
            self.token_changed = true;
        }
    }

    fn expire(&mut self, reason: ExpiryReason) -> Outcome {
        self.state.hold = None;
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
        self.state.hold = None;
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
        self.state.verified_at = Some(self.now);
        self.state.retry = RetryState::default();
        self.state.hold = None;
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

    /// One "data access ends soon" warning per incident: raised once the data-access
    /// expiry is within the warning lead. Meta's answer moves by seconds between checks:
    /// that is the same incident. A grant the owner re-authorised (data access extended
    /// by a day or more, or out of the warning window again) is a new one.
    fn warn_data_access(&mut self) {
        if !self.state.status.is_active() {
            return;
        }
        let Some(dae) = self.state.token.data_access_expires_at else {
            return;
        };
        let window_opens = time::minus(dae, self.policy.data_access_warning_lead());
        let warned = &mut self.state.warnings.data_access_for;
        if self.now < window_opens || warned.is_some_and(|w| dae - w >= DATA_ACCESS_RENEWED) {
            *warned = None;
        }
        if warned.is_some() || self.now < window_opens || self.now >= dae {
            return;
        }
        *warned = Some(dae);
        let ep = self.state.episode;
        self.notice(
            NoticeKind::DataAccessExpiring { at: dae },
            format!("e{ep}:data_access:{}", dae.timestamp()),
        );
    }

    /// Schedules the next regular action. Warnings are raised first, so the schedule
    /// never points back at a warning already given.
    fn reschedule(&mut self, rng: &mut dyn RngCore) {
        self.warn_data_access();
        self.state.next_action_at = self.policy.schedule(&self.state, self.now, rng);
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeDelta, TimeZone};
    use rand::SeedableRng;
    use rand::rngs::SmallRng;

    use crate::lifecycle::{Observation, Outcome, apply};
    use crate::{
        AccountRecord, ConnectionKind, ExpiryReason, NewAccount, RefreshPolicy, Token,
        TokenEventKind, TokenState, TokenStatus,
    };

    fn t0() -> chrono::DateTime<chrono::Utc> {
        chrono::Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
    }

    fn record(token: Token) -> AccountRecord {
        let account = NewAccount::new("instagram:1789", ConnectionKind::Consumer, "1789", "paul")
            .into_account();
        AccountRecord {
            account,
            state: TokenState::connected(token, t0()),
            version: 3,
        }
    }

    fn login(
        r: &AccountRecord,
        token: Token,
        at: chrono::DateTime<chrono::Utc>,
    ) -> crate::Transition {
        let mut rng = SmallRng::seed_from_u64(1);
        apply(
            r,
            Observation::LoggedIn {
                token,
                account: None,
            },
            at,
            &RefreshPolicy::default(),
            &mut rng,
        )
    }

    #[test]
    fn a_login_with_the_token_already_held_only_moves_the_last_check() {
        let held = Token::new("IGAAheld", t0()).expiring_in(60 * 86_400);
        let r = record(held.clone());
        let later = t0() + TimeDelta::days(3);
        let t = login(&r, held, later);
        assert_eq!(t.state.last_checked_at, Some(later), "last check moved");
        assert!(t.events.is_empty(), "no history entry: {:?}", t.events);
        assert!(t.notices.is_empty());
        assert_eq!(t.outcome, Outcome::Checked);
        assert_eq!(t.outcome.hook(), None, "no widget-first hook");
        assert!(!t.token_changed);
        assert_eq!(t.state.episode, r.state.episode);
    }

    #[test]
    fn a_login_with_a_new_token_is_a_renewal_with_one_history_entry() {
        let r = record(Token::new("IGAAold", t0()).expiring_in(60 * 86_400));
        let later = t0() + TimeDelta::days(3);
        let new = Token::new("IGAAnew", later).expiring_in(60 * 86_400);
        let t = login(&r, new, later);
        assert_eq!(t.state.last_checked_at, Some(later));
        assert_eq!(t.events.len(), 1, "{:?}", t.events);
        assert!(matches!(
            t.events[0].kind,
            TokenEventKind::Reconnected { .. }
        ));
        assert_eq!(t.outcome, Outcome::Reconnected);
        assert!(t.token_changed);
        assert!(t.state.token.same_value(&Token::new("IGAAnew", later)));
    }

    #[test]
    fn a_login_that_revives_a_dead_token_is_a_renewal_even_with_the_same_value() {
        let held = Token::new("EAAGpage", t0());
        let mut r = record(held.clone());
        r.state.status = TokenStatus::Expired {
            reason: ExpiryReason::DataAccessExpired,
            at: t0(),
        };
        let t = login(&r, held, t0() + TimeDelta::hours(1));
        assert!(t.state.status.is_active());
        assert_eq!(t.events.len(), 1);
        assert_eq!(t.outcome, Outcome::Reconnected);
    }

    #[test]
    fn a_login_never_changes_the_owner() {
        let held = Token::new("IGAAheld", t0()).expiring_in(60 * 86_400);
        let r = record(held.clone());
        let mut other =
            NewAccount::new("someone-else", ConnectionKind::Consumer, "1789", "paul.new")
                .into_account();
        other.id = crate::AccountId::new();
        let mut rng = SmallRng::seed_from_u64(1);
        let t = apply(
            &r,
            Observation::LoggedIn {
                token: held,
                account: Some(other),
            },
            t0(),
            &RefreshPolicy::default(),
            &mut rng,
        );
        assert_eq!(t.account.owner, r.account.owner);
        assert_eq!(t.account.id, r.account.id);
        assert_eq!(t.account.username, "paul.new", "metadata updated");
    }
}
