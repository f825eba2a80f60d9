//! Shared fakes for the keeper tests: a scripted Graph provider, a recording notifier
//! and recording hooks. Deterministic: time comes from a ManualClock.
#![allow(dead_code, missing_docs)]

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use lightwidget_core::*;

pub fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 5, 9, 0, 0).unwrap()
}

pub const LIFETIME_DAYS: i64 = 60;

/// A Graph API stand-in with the real rules that matter to the keeper.
pub struct FakeGraph {
    pub clock: ManualClock,
    /// Errors to return (first in first out) per Instagram user id, before healthy behaviour.
    pub script: Mutex<HashMap<String, VecDeque<ProviderError>>>,
    /// Permanent breakage per Instagram user id.
    pub broken: Mutex<HashMap<String, ProviderError>>,
    pub refreshes: Mutex<HashMap<String, Vec<DateTime<Utc>>>>,
    pub checks: AtomicUsize,
    /// Refresh calls that broke Instagram's rules (token < 24 h old or already expired).
    pub violations: AtomicUsize,
    pub issued: AtomicUsize,
}

impl FakeGraph {
    pub fn new(clock: ManualClock) -> Arc<Self> {
        Arc::new(Self {
            clock,
            script: Mutex::default(),
            broken: Mutex::default(),
            refreshes: Mutex::default(),
            checks: AtomicUsize::new(0),
            violations: AtomicUsize::new(0),
            issued: AtomicUsize::new(0),
        })
    }

    pub fn token(&self, issued_at: DateTime<Utc>) -> Token {
        let n = self.issued.fetch_add(1, Ordering::SeqCst);
        Token::new(format!("IGAAsecret{n:06}zz"), issued_at)
            .expiring_at(issued_at + TimeDelta::days(LIFETIME_DAYS))
    }

    pub fn break_user(&self, user: &str, e: ProviderError) {
        self.broken.lock().unwrap().insert(user.into(), e);
    }

    pub fn script(&self, user: &str, errors: impl IntoIterator<Item = ProviderError>) {
        self.script
            .lock()
            .unwrap()
            .entry(user.into())
            .or_default()
            .extend(errors);
    }

    pub fn refresh_count(&self, user: &str) -> usize {
        self.refreshes.lock().unwrap().get(user).map_or(0, Vec::len)
    }

    fn scripted(&self, user: &str) -> Option<ProviderError> {
        if let Some(e) = self.broken.lock().unwrap().get(user) {
            return Some(e.clone());
        }
        self.script
            .lock()
            .unwrap()
            .get_mut(user)
            .and_then(VecDeque::pop_front)
    }
}

#[async_trait]
impl TokenProvider for FakeGraph {
    async fn refresh(&self, account: &Account, token: &Token) -> Result<Token, ProviderError> {
        tokio::task::yield_now().await;
        let now = self.clock.now();
        self.refreshes
            .lock()
            .unwrap()
            .entry(account.ig_user_id.clone())
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
        Ok(CheckInfo::default())
    }
}

/// Records deliveries; can be told to fail.
#[derive(Default)]
pub struct RecordingNotifier {
    pub sent: Mutex<Vec<(Notice, Recipient)>>,
    pub fail_transient: Mutex<usize>,
    pub fail_permanent: Mutex<usize>,
}

#[async_trait]
impl Notifier for RecordingNotifier {
    fn channel(&self) -> &'static str {
        "email"
    }
    async fn deliver(&self, notice: &Notice, to: &Recipient) -> Result<(), DeliveryError> {
        {
            let mut f = self.fail_transient.lock().unwrap();
            if *f > 0 {
                *f -= 1;
                return Err(DeliveryError::transient("421 try again later"));
            }
            let mut f = self.fail_permanent.lock().unwrap();
            if *f > 0 {
                *f -= 1;
                let cause = std::io::Error::other("550 5.1.1 no such user here");
                return Err(DeliveryError::permanent("SMTP").with_source(cause));
            }
        }
        self.sent.lock().unwrap().push((notice.clone(), to.clone()));
        Ok(())
    }
}

#[derive(Default)]
pub struct RecordingHooks {
    pub renewed: Mutex<Vec<AccountId>>,
    pub expired: Mutex<Vec<AccountId>>,
}

#[async_trait]
impl LifecycleHooks for RecordingHooks {
    async fn on_renewed(&self, account: &Account) {
        self.renewed.lock().unwrap().push(account.id);
    }
    async fn on_expired(&self, account: &Account, _status: &TokenStatus) {
        self.expired.lock().unwrap().push(account.id);
    }
}

pub struct World {
    pub clock: ManualClock,
    pub graph: Arc<FakeGraph>,
    pub store: Arc<InMemoryStore>,
    pub notifier: Arc<RecordingNotifier>,
    pub hooks: Arc<RecordingHooks>,
    pub keeper: Keeper,
}

pub fn world() -> World {
    world_with(|b| b)
}

pub fn world_with(f: impl FnOnce(KeeperBuilder) -> KeeperBuilder) -> World {
    let clock = ManualClock::new(start());
    let graph = FakeGraph::new(clock.clone());
    let store = Arc::new(InMemoryStore::new());
    let notifier = Arc::new(RecordingNotifier::default());
    let hooks = Arc::new(RecordingHooks::default());
    let b = Keeper::builder(store.clone(), graph.clone())
        .clock(Arc::new(clock.clone()))
        .notifier(notifier.clone())
        .hooks(hooks.clone())
        .rng_seed(42)
        .worker_id("test-keeper");
    let keeper = f(b).build().expect("valid keeper");
    World {
        clock,
        graph,
        store,
        notifier,
        hooks,
        keeper,
    }
}

impl World {
    pub async fn connect(&self, owner: &str, user: &str, age: TimeDelta) -> AccountId {
        let token = self.graph.token(self.clock.now() - age);
        self.keeper
            .connect(
                NewAccount::new(owner, ConnectionKind::Consumer, user, format!("@{user}"))
                    .with_entitlements(Entitlements {
                        notifications: true,
                    }),
                token,
            )
            .await
            .expect("connect")
    }

    /// Advances the clock in steps, sweeping and dispatching after each.
    pub async fn run_for(&self, total: TimeDelta, step: TimeDelta) {
        let end = self.clock.now() + total;
        while self.clock.now() < end {
            self.clock.advance(step);
            self.keeper.sweep().await.expect("sweep");
            self.keeper.dispatch_outbox().await.expect("dispatch");
        }
    }

    pub async fn opt_in(&self, owner: &str) {
        self.keeper
            .set_preferences(
                &Preferences::new(owner)
                    .opt_in_all()
                    .with_recipient(Recipient::Email(format!("{owner}@example.com"))),
            )
            .await
            .unwrap();
    }

    pub async fn history_names(&self, id: AccountId) -> Vec<&'static str> {
        self.keeper
            .history(
                id,
                HistoryQuery {
                    before: None,
                    limit: 1000,
                },
            )
            .await
            .unwrap()
            .into_iter()
            .rev()
            .map(|e| e.event.kind.name())
            .collect()
    }
}
