//! Failures that hit every account at once (#26): an app-wide Graph error holds tokens
//! instead of ending them, tells no owner and alerts the operator once per change; one
//! account's own error still ends it; a wave of Meta's own session resets ends every
//! token and is one alert; incidents survive a restart; a status without recent
//! confirmation says so.

mod common;

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::TimeDelta;
use common::*;
use lightwidget_core::*;

#[derive(Default)]
struct Alerts(Mutex<Vec<IncidentAlert>>);

#[async_trait]
impl OperatorAlerts for Alerts {
    async fn alert(&self, a: &IncidentAlert) -> std::result::Result<(), DeliveryError> {
        self.0.lock().unwrap().push(a.clone());
        Ok(())
    }
}

impl Alerts {
    fn changes(&self) -> Vec<(IncidentKind, IncidentChange)> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(|a| (a.incident.kind, a.change))
            .collect()
    }
    fn count(&self, change: IncidentChange) -> usize {
        self.changes().iter().filter(|(_, c)| *c == change).count()
    }
}

fn app_error() -> ProviderError {
    ProviderError::Permission {
        message:
            "Graph error 3: (#3) Application does not have the capability to make this API call."
                .into(),
    }
}

fn with_alerts() -> (World, Arc<Alerts>) {
    let alerts = Arc::new(Alerts::default());
    let a = alerts.clone();
    (world_with(move |b| b.operator_alerts(a)), alerts)
}

async fn connect_many(w: &World, n: usize) -> Vec<(String, AccountId)> {
    let mut out = Vec::new();
    for i in 0..n {
        let user = format!("shop{i}");
        let id = w
            .connect(&format!("owner{i}"), &user, TimeDelta::days(1))
            .await;
        w.opt_in(&format!("owner{i}")).await;
        out.push((user, id));
    }
    out
}

async fn ended(w: &World, ids: &[(String, AccountId)]) -> usize {
    let mut n = 0;
    for (_, id) in ids {
        if !w.keeper.status(*id).await.unwrap().status.is_active() {
            n += 1;
        }
    }
    n
}

/// 40 accounts of one app fail with "(#3) Application does not have the capability":
/// none ends, no owner is told, the operator gets one "opened" alert (and an update per
/// doubling of the count), checks back off to a few probes; when Graph heals the
/// incident resolves with one alert and every held account is verified again.
#[tokio::test]
async fn an_app_wide_error_ends_no_token_tells_no_owner_and_alerts_once_per_change() {
    let alerts = Arc::new(Alerts::default());
    let hooks = Arc::new(lightwidget_core::testkit::RecordingHooks::default());
    let (a, h) = (alerts.clone(), hooks.clone());
    let w = world_with(move |b| b.operator_alerts(a).hooks(h));
    let accounts = connect_many(&w, 40).await;
    for (user, _) in &accounts {
        w.graph.break_account(user, app_error());
    }
    // Every account comes due for its 12 h check and fails the same way.
    w.run_for(TimeDelta::hours(14), TimeDelta::minutes(5)).await;

    assert_eq!(ended(&w, &accounts).await, 0, "no token ended");
    assert!(
        w.notifier.sent().is_empty(),
        "no owner told: {:?}",
        w.notifier.sent()
    );
    assert_eq!(
        alerts.count(IncidentChange::Opened),
        1,
        "{:?}",
        alerts.changes()
    );
    assert!(
        alerts.count(IncidentChange::Updated) <= 5,
        "{:?}",
        alerts.changes()
    );
    let open = w.keeper.incidents(true, 10).await.unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].kind, IncidentKind::AppWide);
    assert!(open[0].error.contains("capability"));
    let owner_view = w
        .keeper
        .status_for(&OwnerId::new("owner7"), accounts[7].1)
        .await
        .unwrap();
    assert!(owner_view.status.is_active());
    assert!(
        matches!(owner_view.hold, Some(Hold::Incident { .. })),
        "the status names the incident: {owner_view:?}"
    );
    assert!(
        owner_view.headline().contains("side since"),
        "{}",
        owner_view.headline()
    );
    assert!(
        w.keeper
            .health(std::time::Duration::from_secs(3600))
            .await
            .unwrap()
            .incidents
            .len()
            == 1
    );

    // While it lasts, calls back off to a few probes.
    let calls_before = w.graph.checks();
    w.run_for(TimeDelta::hours(2), TimeDelta::minutes(5)).await;
    let probes = w.graph.checks() - calls_before;
    assert!(
        probes <= 3 * 24 + 3,
        "2 h of incident: at most 3 probes per 5 min, got {probes}"
    );
    assert!(probes > 0, "probes are made");
    assert_eq!(ended(&w, &accounts).await, 0);

    // Graph heals: probes succeed, the incident resolves, everyone is verified again.
    for (user, _) in &accounts {
        w.graph.heal(user);
    }
    let healed_at = w.clock.now();
    w.run_for(TimeDelta::hours(1), TimeDelta::minutes(5)).await;
    assert_eq!(
        alerts.count(IncidentChange::Resolved),
        1,
        "{:?}",
        alerts.changes()
    );
    assert!(w.keeper.incidents(true, 10).await.unwrap().is_empty());
    for (_, id) in &accounts {
        let s = w.keeper.status(*id).await.unwrap();
        assert!(s.status.is_active());
        assert_eq!(s.hold, None, "{s:?}");
        assert!(
            s.verified_at.is_some_and(|v| v > healed_at),
            "re-verified: {s:?}"
        );
    }
    assert!(w.notifier.sent().is_empty(), "still no owner told");
    // The host hears that each held account recovered, once (one owner each).
    let mut recovered = hooks.recovered();
    recovered.sort();
    let mut all: Vec<AccountId> = accounts.iter().map(|(_, id)| *id).collect();
    all.sort();
    assert_eq!(recovered, all, "on_recovered once per held account");
    assert!(hooks.expired().is_empty());
    assert_eq!(
        w.keeper.stats().incident_alerts as usize,
        alerts.changes().len()
    );
    let resolved_at = w.keeper.incidents(false, 1).await.unwrap()[0]
        .resolved_at
        .unwrap();
    eprintln!(
        "figures: 40 accounts; ended 0; owner notices 0; alerts {:?}; Graph calls in 2 h of incident {probes}; resolved {} min after Graph healed",
        alerts.changes(),
        (resolved_at - healed_at).num_minutes()
    );
}

/// One account among many healthy ones loses a permission: it is held for its
/// confirming re-check, then ends with PermissionRemoved and its owner is told once; no
/// incident, no alert.
#[tokio::test]
async fn one_accounts_removed_permission_still_ends_it_after_a_confirming_recheck() {
    let (w, alerts) = with_alerts();
    let accounts = connect_many(&w, 12).await;
    let (user, id) = &accounts[3];
    w.graph.break_account(
        user,
        ProviderError::Permission {
            message: "Graph error 10: Application does not have permission for this action".into(),
        },
    );
    w.run_for(TimeDelta::hours(14), TimeDelta::minutes(1)).await;
    let s = w.keeper.status(*id).await.unwrap();
    assert_eq!(
        s.status.reason(),
        Some(ExpiryReason::PermissionRemoved),
        "{s:?}"
    );
    assert_eq!(ended(&w, &accounts).await, 1);
    assert_eq!(w.notifier.sent().len(), 1, "its owner is told once");
    assert!(alerts.changes().is_empty(), "{:?}", alerts.changes());
    assert!(w.keeper.incidents(false, 10).await.unwrap().is_empty());
}

/// Meta resets many sessions at once (190/460 on every account): each token ends as
/// usual, each owner is told, and the operator gets one alert naming the wave.
#[tokio::test]
async fn a_wave_of_account_errors_ends_every_token_and_is_one_alert() {
    let (w, alerts) = with_alerts();
    let accounts = connect_many(&w, 10).await;
    for (user, _) in &accounts {
        w.graph.break_account(
            user,
            ProviderError::Expired {
                reason: ExpiryReason::PasswordChanged,
                message: "Graph error 190/460".into(),
            },
        );
    }
    w.run_for(TimeDelta::hours(14), TimeDelta::minutes(5)).await;
    assert_eq!(ended(&w, &accounts).await, 10, "every token ended");
    assert_eq!(w.notifier.sent().len(), 10, "every owner told");
    let opened: Vec<_> = alerts
        .changes()
        .into_iter()
        .filter(|c| c.1 == IncidentChange::Opened)
        .collect();
    assert_eq!(
        opened,
        vec![(IncidentKind::AccountWave, IncidentChange::Opened)]
    );
    // The wave passes: one resolution.
    w.run_for(TimeDelta::hours(1), TimeDelta::minutes(5)).await;
    assert_eq!(
        alerts.count(IncidentChange::Resolved),
        1,
        "{:?}",
        alerts.changes()
    );
}

/// A restart during an incident keeps it: the new keeper holds the accounts of the
/// incident it reads from the store and does not announce it again.
#[tokio::test]
async fn an_incident_survives_a_restart() {
    let (w, alerts) = with_alerts();
    let accounts = connect_many(&w, 10).await;
    for (user, _) in &accounts {
        w.graph.break_account(user, app_error());
    }
    w.run_for(TimeDelta::hours(14), TimeDelta::minutes(5)).await;
    assert_eq!(alerts.count(IncidentChange::Opened), 1);

    let again = Arc::new(Alerts::default());
    let second = Keeper::builder(w.store.clone(), w.graph.clone())
        .clock(Arc::new(w.clock.clone()))
        .notifier(w.notifier.clone())
        .operator_alerts(again.clone())
        .rng_seed(7)
        .build()
        .unwrap();
    for _ in 0..24 {
        w.clock.advance(TimeDelta::minutes(5));
        second.sweep().await.unwrap();
        second.dispatch_outbox().await.unwrap();
    }
    assert_eq!(
        ended(&w, &accounts).await,
        0,
        "the restarted keeper ends nothing"
    );
    assert!(w.notifier.sent().is_empty());
    assert_eq!(
        again.count(IncidentChange::Opened),
        0,
        "not announced twice"
    );
    assert_eq!(second.incidents(true, 10).await.unwrap().len(), 1);
}

/// A token whose checks keep failing transiently for longer than twice the check
/// interval is still ACTIVE, but its status says since when it was not verified.
#[tokio::test]
async fn a_status_without_recent_confirmation_says_not_verified_since() {
    let w = world();
    let id = w.connect("o", "shop", TimeDelta::days(1)).await;
    let connected = w.clock.now();
    assert!(!w.keeper.status(id).await.unwrap().unverified);
    w.graph.break_account(
        "shop",
        ProviderError::Transient {
            retry_after: None,
            message: "HTTP 503".into(),
        },
    );
    w.run_for(TimeDelta::hours(25), TimeDelta::minutes(30))
        .await;
    let s = w.keeper.status(id).await.unwrap();
    assert!(s.status.is_active());
    assert!(s.unverified, "{s:?}");
    assert_eq!(s.verified_at, Some(connected));
    assert!(
        s.headline().starts_with("ACTIVE (not verified since"),
        "{}",
        s.headline()
    );
    w.graph.heal("shop");
    w.run_for(TimeDelta::hours(3), TimeDelta::minutes(30)).await;
    assert!(!w.keeper.status(id).await.unwrap().unverified);
}

/// The app breaks while many accounts' recent successes are still in the window: the
/// first failures are held, not confirmed, until the incident opens; nobody is told.
#[tokio::test]
async fn an_outage_after_a_healthy_hour_ends_no_token_at_its_start() {
    let (w, alerts) = with_alerts();
    let accounts = connect_many(&w, 60).await;
    // Checks run fine for a while (due times are spread over the check interval).
    w.run_for(TimeDelta::hours(12), TimeDelta::minutes(5)).await;
    assert!(w.graph.checks() > 0);
    for (user, _) in &accounts {
        w.graph.break_account(user, app_error());
    }
    // Their next checks come due over the following hours: the first failures meet a
    // window full of the successes of the hour before.
    w.run_for(TimeDelta::hours(14), TimeDelta::minutes(5)).await;
    assert_eq!(
        ended(&w, &accounts).await,
        0,
        "no token ended at the outage's start"
    );
    assert!(w.notifier.sent().is_empty(), "{:?}", w.notifier.sent());
    assert_eq!(
        alerts.count(IncidentChange::Opened),
        1,
        "{:?}",
        alerts.changes()
    );
}

/// Two keepers share the store: the incident is opened and announced once, the keeper
/// that saw no failure does not resolve it, and a resolution is announced once.
#[tokio::test]
async fn two_keepers_announce_each_change_once() {
    let (w, alerts) = with_alerts();
    let accounts = connect_many(&w, 30).await;
    let other_alerts = Arc::new(Alerts::default());
    let other = Keeper::builder(w.store.clone(), w.graph.clone())
        .clock(Arc::new(w.clock.clone()))
        .notifier(w.notifier.clone())
        .operator_alerts(other_alerts.clone())
        .rng_seed(11)
        .worker_id("other-keeper")
        .build()
        .unwrap();
    for (user, _) in &accounts {
        w.graph.break_account(user, app_error());
    }
    // Both sweep in turn.
    for _ in 0..(14 * 12) {
        w.clock.advance(TimeDelta::minutes(5));
        w.keeper.sweep().await.unwrap();
        other.sweep().await.unwrap();
    }
    let opened = alerts.count(IncidentChange::Opened) + other_alerts.count(IncidentChange::Opened);
    assert_eq!(
        opened,
        1,
        "{:?} / {:?}",
        alerts.changes(),
        other_alerts.changes()
    );
    assert_eq!(
        alerts.count(IncidentChange::Resolved) + other_alerts.count(IncidentChange::Resolved),
        0,
        "nothing resolves while Graph still fails"
    );
    assert_eq!(ended(&w, &accounts).await, 0);
    // A third keeper starts with an empty window and sees nothing: it resolves nothing.
    let third = Keeper::builder(w.store.clone(), w.graph.clone())
        .clock(Arc::new(w.clock.clone()))
        .operator_alerts(other_alerts.clone())
        .build()
        .unwrap();
    w.clock.advance(TimeDelta::hours(2));
    third.sweep().await.unwrap();
    assert_eq!(
        w.keeper.incidents(true, 10).await.unwrap().len(),
        1,
        "still open"
    );

    for (user, _) in &accounts {
        w.graph.heal(user);
    }
    for _ in 0..24 {
        w.clock.advance(TimeDelta::minutes(5));
        w.keeper.sweep().await.unwrap();
        other.sweep().await.unwrap();
    }
    assert_eq!(
        alerts.count(IncidentChange::Resolved) + other_alerts.count(IncidentChange::Resolved),
        1,
        "{:?} / {:?}",
        alerts.changes(),
        other_alerts.changes()
    );
    let updates =
        alerts.count(IncidentChange::Updated) + other_alerts.count(IncidentChange::Updated);
    assert!(
        updates <= 4,
        "one update per doubling, not one per keeper: {updates}"
    );
    for (_, id) in &accounts {
        let s = w.keeper.status(*id).await.unwrap();
        assert!(s.status.is_active() && s.hold.is_none(), "{s:?}");
    }
}
