//! The keeper tests' world: the published test doubles of `lightwidget_core::testkit`
//! wired into a keeper over an in-memory store. Deterministic: time comes from a
//! ManualClock.
#![allow(dead_code, missing_docs)]

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
pub use lightwidget_core::testkit::{FakeProvider, RecordingHooks, RecordingNotifier};
use lightwidget_core::*;

pub fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 5, 9, 0, 0).unwrap()
}

pub type FakeGraph = FakeProvider;

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
    let graph = Arc::new(FakeProvider::new(clock.clone()));
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
