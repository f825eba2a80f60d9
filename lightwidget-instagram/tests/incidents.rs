//! An app-wide Graph error over real HTTP (#26.1): the sandbox answers every call of the
//! app with "(#3) Application does not have the capability to make this API call."; the
//! keeper with the real clients ends no token, tells no owner, opens one incident, and
//! re-verifies every account once Graph answers again. Also: "Error validating
//! application" (the app cannot be validated) never expires a token.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{TimeDelta, TimeZone, Utc};
use lightwidget_core::testkit::RecordingNotifier;
use lightwidget_core::*;
use lightwidget_instagram::sandbox::{Sandbox, SandboxConfig};
use lightwidget_instagram::*;

#[derive(Default)]
struct Alerts(Mutex<Vec<IncidentAlert>>);

#[async_trait]
impl OperatorAlerts for Alerts {
    async fn alert(&self, a: &IncidentAlert) -> Result<(), DeliveryError> {
        self.0.lock().unwrap().push(a.clone());
        Ok(())
    }
}

struct Setup {
    clock: ManualClock,
    sandbox: Sandbox,
    keeper: Keeper,
    notifier: Arc<RecordingNotifier>,
    alerts: Arc<Alerts>,
}

async fn setup() -> Setup {
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 3, 1, 8, 0, 0).unwrap());
    let sandbox = Sandbox::start(SandboxConfig {
        clock: Arc::new(clock.clone()),
        ..Default::default()
    })
    .await
    .unwrap();
    let consumer = InstagramLogin::new(
        sandbox
            .consumer_config()
            .clock(Arc::new(clock.clone()))
            .build()
            .unwrap(),
    )
    .unwrap();
    let provider =
        GraphProvider::new(Some(Arc::new(consumer)), None).with_clock(Arc::new(clock.clone()));
    let notifier = Arc::new(RecordingNotifier::default());
    let alerts = Arc::new(Alerts::default());
    let keeper = Keeper::builder(Arc::new(InMemoryStore::new()), Arc::new(provider))
        .clock(Arc::new(clock.clone()))
        .notifier(notifier.clone())
        .operator_alerts(alerts.clone())
        .rng_seed(5)
        .build()
        .unwrap();
    Setup {
        clock,
        sandbox,
        keeper,
        notifier,
        alerts,
    }
}

impl Setup {
    async fn accounts(&self, n: usize) -> Vec<AccountId> {
        let mut ids = Vec::new();
        for i in 0..n {
            let u = self.sandbox.create_consumer_user(&format!("shop{i}"));
            // Three days old: checked every 12 h, not refreshed yet.
            let t = self.sandbox.issue_consumer_token(&u, TimeDelta::days(3));
            let owner = format!("owner{i}");
            let id = self
                .keeper
                .connect(
                    NewAccount::new(owner.as_str(), ConnectionKind::Consumer, &u.id, &u.username)
                        .with_entitlements(Entitlements {
                            notifications: true,
                        }),
                    t,
                )
                .await
                .unwrap();
            self.keeper
                .set_preferences(
                    &Preferences::new(owner.as_str())
                        .opt_in_all()
                        .with_recipient(Recipient::Email(format!("{owner}@example.com"))),
                )
                .await
                .unwrap();
            ids.push(id);
        }
        ids
    }

    async fn run(&self, total: TimeDelta, step: TimeDelta) {
        let end = self.clock.now() + total;
        while self.clock.now() < end {
            self.clock.advance(step);
            self.keeper.sweep().await.unwrap();
            self.keeper.dispatch_outbox().await.unwrap();
        }
    }

    async fn ended(&self, ids: &[AccountId]) -> usize {
        let mut n = 0;
        for id in ids {
            if !self.keeper.status(*id).await.unwrap().status.is_active() {
                n += 1;
            }
        }
        n
    }

    fn changes(&self) -> Vec<IncidentChange> {
        self.alerts
            .0
            .lock()
            .unwrap()
            .iter()
            .map(|a| a.change)
            .collect()
    }
}

#[tokio::test]
async fn an_app_wide_capability_error_over_http_ends_nothing_and_recovers_on_its_own() {
    let s = setup().await;
    let ids = s.accounts(25).await;
    s.sandbox.set_app_error(
        3,
        "(#3) Application does not have the capability to make this API call.",
    );
    s.run(TimeDelta::hours(14), TimeDelta::minutes(5)).await;
    assert_eq!(s.ended(&ids).await, 0, "no token ended");
    assert!(s.notifier.sent().is_empty(), "no owner told");
    let open = s.keeper.incidents(true, 10).await.unwrap();
    assert_eq!(open.len(), 1, "{open:?}");
    assert!(open[0].error.contains("(#3)"), "{:?}", open[0].error);
    assert_eq!(
        s.changes()
            .iter()
            .filter(|c| **c == IncidentChange::Opened)
            .count(),
        1
    );

    s.sandbox.clear_app_error();
    let healed = s.clock.now();
    s.run(TimeDelta::hours(1), TimeDelta::minutes(5)).await;
    assert!(s.keeper.incidents(true, 10).await.unwrap().is_empty());
    assert_eq!(
        s.changes()
            .iter()
            .filter(|c| **c == IncidentChange::Resolved)
            .count(),
        1,
        "{:?}",
        s.changes()
    );
    for id in &ids {
        let st = s.keeper.status(*id).await.unwrap();
        assert!(st.status.is_active());
        assert!(st.hold.is_none(), "{st:?}");
        assert!(
            st.verified_at.is_some_and(|v| v > healed),
            "re-verified: {st:?}"
        );
    }
    assert!(s.notifier.sent().is_empty());
}

#[tokio::test]
async fn an_app_graph_cannot_validate_never_expires_a_token() {
    let s = setup().await;
    let ids = s.accounts(2).await;
    s.sandbox.set_app_error(
        190,
        "Error validating application. Application has been deleted.",
    );
    s.run(TimeDelta::hours(14), TimeDelta::minutes(30)).await;
    assert_eq!(s.ended(&ids).await, 0, "the app's fault is no token's end");
    assert!(s.notifier.sent().is_empty());
}
