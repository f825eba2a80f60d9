//! Test doubles for hosts' own tests: a [`FakeProvider`] with Instagram's refresh rules,
//! a [`RecordingNotifier`] and [`RecordingHooks`]. Like lettre's stub transport: wire
//! them into a [`Keeper`](crate::Keeper) with a [`ManualClock`](crate::ManualClock) and
//! an [`InMemoryStore`](crate::InMemoryStore), and a simulated month runs in
//! milliseconds.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use std::sync::Arc;
//! use chrono::{TimeDelta, TimeZone, Utc};
//! use lightwidget_core::testkit::{FakeProvider, RecordingHooks, RecordingNotifier};
//! use lightwidget_core::*;
//!
//! let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 1, 5, 9, 0, 0).unwrap());
//! let graph = Arc::new(FakeProvider::new(clock.clone()));
//! let notifier = Arc::new(RecordingNotifier::default());
//! let hooks = Arc::new(RecordingHooks::default());
//! let keeper = Keeper::builder(Arc::new(InMemoryStore::new()), graph.clone())
//!     .clock(Arc::new(clock.clone()))
//!     .notifier(notifier.clone())
//!     .hooks(hooks.clone())
//!     .build()
//!     .unwrap();
//! let entitled = Entitlements { notifications: true };
//! let account = NewAccount::new("user-1", ConnectionKind::Consumer, "1789", "paul")
//!     .with_entitlements(entitled);
//! keeper.connect(account, graph.token(clock.now() - TimeDelta::days(40))).await.unwrap();
//! keeper
//!     .set_preferences(&Preferences::new("user-1").opt_in_all()
//!         .with_recipient(Recipient::Email("paul@example.com".into())))
//!     .await
//!     .unwrap();
//!
//! // Meta ends the session after a password change; the next check finds out.
//! graph.break_account("1789", ProviderError::Expired {
//!     reason: ExpiryReason::PasswordChanged,
//!     message: "190/460".into(),
//! });
//! clock.advance(TimeDelta::days(1));
//! keeper.sweep().await.unwrap();
//! keeper.dispatch_outbox().await.unwrap();
//! assert_eq!(notifier.sent().len(), 1);
//! assert_eq!(hooks.expired().len(), 1);
//! # }
//! ```

use crate::sync::Locked;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};

use crate::{
    Account, AccountId, CheckInfo, Clock, DeliveryError, ExpiryReason, LifecycleHooks, Notice,
    Notifier, ProviderError, Recipient, Token, TokenProvider, TokenStatus,
};

#[derive(Default)]
struct Script {
    /// Errors returned first-in first-out, before healthy behaviour.
    queued: HashMap<String, VecDeque<ProviderError>>,
    /// Errors returned on every call until healed.
    broken: HashMap<String, ProviderError>,
    /// What a healthy check reports.
    check_info: HashMap<String, CheckInfo>,
    /// When each account was refreshed.
    refreshes: HashMap<String, Vec<DateTime<Utc>>>,
}

/// A Graph API stand-in with the rules that matter to a keeper: a refresh returns a
/// new token with a fresh lifetime (default 60 days), and is refused (as Meta does)
/// when the token is under 24 hours old or already expired; a check fails once the
/// token's lifetime ended. Errors can be queued or made permanent per Instagram user id.
///
/// Token values it issues start with [`FakeProvider::TOKEN_PREFIX`], so a test can
/// assert that none reaches a log ([`FakeProvider::issued_values`]).
///
/// ```
/// use chrono::{TimeDelta, Utc};
/// use lightwidget_core::testkit::FakeProvider;
/// use lightwidget_core::SystemClock;
/// let graph = FakeProvider::new(SystemClock);
/// let t = graph.token(Utc::now());
/// assert!(t.secret().starts_with(FakeProvider::TOKEN_PREFIX));
/// assert_eq!(t.lifetime(), Some(TimeDelta::days(60)));
/// ```
pub struct FakeProvider {
    clock: Box<dyn Clock>,
    lifetime: TimeDelta,
    script: Mutex<Script>,
    checks: AtomicUsize,
    violations: AtomicUsize,
    issued: AtomicUsize,
}

impl std::fmt::Debug for FakeProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeProvider")
            .field("lifetime", &self.lifetime)
            .field("issued", &self.issued.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl FakeProvider {
    /// How every token value it issues begins.
    pub const TOKEN_PREFIX: &'static str = "IGAAfake";

    /// A healthy provider reading time from `clock` (share the keeper's).
    pub fn new(clock: impl Clock) -> Self {
        Self {
            clock: Box::new(clock),
            lifetime: TimeDelta::days(60),
            script: Mutex::default(),
            checks: AtomicUsize::new(0),
            violations: AtomicUsize::new(0),
            issued: AtomicUsize::new(0),
        }
    }

    /// Sets the lifetime of the tokens it issues (default 60 days).
    pub fn with_lifetime(mut self, lifetime: TimeDelta) -> Self {
        self.lifetime = lifetime;
        self
    }

    /// A new token issued at `issued_at`, as a login or a refresh would return it.
    pub fn token(&self, issued_at: DateTime<Utc>) -> Token {
        let n = self.issued.fetch_add(1, Ordering::SeqCst);
        let token = Token::new(Self::value(n), issued_at);
        match issued_at.checked_add_signed(self.lifetime) {
            Some(at) => token.expiring_at(at),
            None => token,
        }
    }

    fn value(n: usize) -> String {
        format!("{}{n:06}secret", Self::TOKEN_PREFIX)
    }

    /// Every token value issued so far.
    pub fn issued_values(&self) -> Vec<String> {
        (0..self.issued.load(Ordering::SeqCst))
            .map(Self::value)
            .collect()
    }

    /// Every call for this Instagram user id fails with `error` until [`heal`](Self::heal).
    pub fn break_account(&self, ig_user_id: &str, error: ProviderError) {
        self.script.locked().broken.insert(ig_user_id.into(), error);
    }

    /// Undoes [`break_account`](Self::break_account).
    pub fn heal(&self, ig_user_id: &str) {
        self.script.locked().broken.remove(ig_user_id);
    }

    /// The next calls for this Instagram user id fail with these errors, in order.
    pub fn script(&self, ig_user_id: &str, errors: impl IntoIterator<Item = ProviderError>) {
        self.script
            .locked()
            .queued
            .entry(ig_user_id.into())
            .or_default()
            .extend(errors);
    }

    /// What a healthy check of this Instagram user id reports from now on (default:
    /// nothing beyond "fine").
    pub fn report_on_check(&self, ig_user_id: &str, info: CheckInfo) {
        self.script
            .locked()
            .check_info
            .insert(ig_user_id.into(), info);
    }

    /// When this Instagram user id was refreshed (successful or not).
    pub fn refreshes(&self, ig_user_id: &str) -> Vec<DateTime<Utc>> {
        self.script
            .locked()
            .refreshes
            .get(ig_user_id)
            .cloned()
            .unwrap_or_default()
    }

    /// How many refresh calls this Instagram user id got.
    pub fn refresh_count(&self, ig_user_id: &str) -> usize {
        self.script
            .locked()
            .refreshes
            .get(ig_user_id)
            .map_or(0, Vec::len)
    }

    /// Check calls so far.
    pub fn checks(&self) -> usize {
        self.checks.load(Ordering::SeqCst)
    }

    /// Refresh calls that broke Instagram's rules (token under 24 h old or expired).
    pub fn violations(&self) -> usize {
        self.violations.load(Ordering::SeqCst)
    }

    fn scripted(&self, ig_user_id: &str) -> Option<ProviderError> {
        let mut s = self.script.locked();
        if let Some(e) = s.broken.get(ig_user_id) {
            return Some(e.clone());
        }
        s.queued.get_mut(ig_user_id).and_then(VecDeque::pop_front)
    }
}

#[async_trait]
impl TokenProvider for FakeProvider {
    async fn refresh(&self, account: &Account, token: &Token) -> Result<Token, ProviderError> {
        tokio::task::yield_now().await;
        let now = self.clock.now();
        self.script
            .locked()
            .refreshes
            .entry(account.ig_user_id.to_string())
            .or_default()
            .push(now);
        if let Some(e) = self.scripted(&account.ig_user_id) {
            return Err(e);
        }
        if now - token.issued_at < TimeDelta::hours(24) || token.is_lapsed(now) {
            self.violations.fetch_add(1, Ordering::SeqCst);
            return Err(ProviderError::Expired {
                reason: ExpiryReason::LifetimeEnded,
                message: "refresh rules broken".into(),
            });
        }
        Ok(self.token(now))
    }

    async fn check(&self, account: &Account, token: &Token) -> Result<CheckInfo, ProviderError> {
        tokio::task::yield_now().await;
        self.checks.fetch_add(1, Ordering::SeqCst);
        if let Some(e) = self.scripted(&account.ig_user_id) {
            return Err(e);
        }
        if token.is_lapsed(self.clock.now()) {
            return Err(ProviderError::Expired {
                reason: ExpiryReason::LifetimeEnded,
                message: "Session has expired".into(),
            });
        }
        Ok(self
            .script
            .locked()
            .check_info
            .get(account.ig_user_id.as_str())
            .cloned()
            .unwrap_or_default())
    }
}

/// A [`Notifier`] that records what it delivers, and can be told to fail.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use lightwidget_core::testkit::RecordingNotifier;
/// use lightwidget_core::{Notifier, Recipient};
/// # let r = lightwidget_core::testkit::record("o", "1", None);
/// # let notice = lightwidget_core::testkit::expired_notice(&r);
/// let n = RecordingNotifier::default(); // the "email" channel
/// n.fail_next_transiently(1);
/// let to = Recipient::Email("o@example.com".into());
/// assert!(n.deliver(&notice, &to).await.unwrap_err().is_transient());
/// n.deliver(&notice, &to).await.unwrap();
/// assert_eq!(n.sent().len(), 1);
/// # }
/// ```
#[derive(Debug)]
pub struct RecordingNotifier {
    channel: &'static str,
    sent: Mutex<Vec<(Notice, Recipient)>>,
    fail_transient: AtomicUsize,
    fail_permanent: AtomicUsize,
}

impl Default for RecordingNotifier {
    fn default() -> Self {
        Self::new("email")
    }
}

impl RecordingNotifier {
    /// A notifier serving `channel` (`"email"`, `"webhook"`).
    pub fn new(channel: &'static str) -> Self {
        Self {
            channel,
            sent: Mutex::default(),
            fail_transient: AtomicUsize::new(0),
            fail_permanent: AtomicUsize::new(0),
        }
    }

    /// Everything delivered so far, in order.
    pub fn sent(&self) -> Vec<(Notice, Recipient)> {
        self.sent.locked().clone()
    }

    /// The next `n` deliveries fail with a transient error (`421 try again later`).
    pub fn fail_next_transiently(&self, n: usize) {
        self.fail_transient.store(n, Ordering::SeqCst);
    }

    /// The next `n` deliveries (after any transient failures) fail for good, with an
    /// SMTP-like cause (`550 5.1.1 no such user here`).
    pub fn fail_next_permanently(&self, n: usize) {
        self.fail_permanent.store(n, Ordering::SeqCst);
    }

    fn take_one(counter: &AtomicUsize) -> bool {
        counter
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }
}

#[async_trait]
impl Notifier for RecordingNotifier {
    fn channel(&self) -> &'static str {
        self.channel
    }

    async fn deliver(&self, notice: &Notice, to: &Recipient) -> Result<(), DeliveryError> {
        if Self::take_one(&self.fail_transient) {
            return Err(DeliveryError::transient("421 try again later"));
        }
        if Self::take_one(&self.fail_permanent) {
            let cause = std::io::Error::other("550 5.1.1 no such user here");
            return Err(DeliveryError::permanent("SMTP").with_source(cause));
        }
        self.sent.locked().push((notice.clone(), to.clone()));
        Ok(())
    }
}

/// [`LifecycleHooks`] that record which accounts each callback was called for.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use lightwidget_core::testkit::RecordingHooks;
/// use lightwidget_core::LifecycleHooks;
/// let hooks = RecordingHooks::default();
/// # let r = lightwidget_core::testkit::record("o", "1", None);
/// hooks.on_renewed(&r.account).await;
/// assert_eq!(hooks.renewed(), vec![r.account.id]);
/// assert!(hooks.expired().is_empty());
/// # }
/// ```
#[derive(Debug, Default)]
pub struct RecordingHooks {
    renewed: Mutex<Vec<AccountId>>,
    renewed_for: Mutex<Vec<(AccountId, crate::OwnerId)>>,
    refreshed: Mutex<Vec<AccountId>>,
    expired: Mutex<Vec<AccountId>>,
    recovered: Mutex<Vec<AccountId>>,
}

impl RecordingHooks {
    /// Accounts `on_renewed` was called for, in order.
    pub fn renewed(&self) -> Vec<AccountId> {
        self.renewed.locked().clone()
    }
    /// `(account, owner)` of each `on_renewed` call, in order: one per owner of a
    /// shared account.
    pub fn renewed_for(&self) -> Vec<(AccountId, crate::OwnerId)> {
        self.renewed_for.locked().clone()
    }
    /// Accounts `on_refreshed` was called for, in order.
    pub fn refreshed(&self) -> Vec<AccountId> {
        self.refreshed.locked().clone()
    }
    /// Accounts `on_expired` was called for, in order.
    pub fn expired(&self) -> Vec<AccountId> {
        self.expired.locked().clone()
    }
    /// Accounts `on_recovered` was called for, in order (once per owner).
    pub fn recovered(&self) -> Vec<AccountId> {
        self.recovered.locked().clone()
    }
}

#[async_trait]
impl LifecycleHooks for RecordingHooks {
    async fn on_renewed(&self, account: &Account) {
        self.renewed.locked().push(account.id);
        self.renewed_for
            .locked()
            .push((account.id, account.owner.clone()));
    }
    async fn on_refreshed(&self, account: &Account) {
        self.refreshed.locked().push(account.id);
    }
    async fn on_expired(&self, account: &Account, _status: &TokenStatus) {
        self.expired.locked().push(account.id);
    }
    async fn on_recovered(&self, account: &Account) {
        self.recovered.locked().push(account.id);
    }
}
