//! The Keeper's "must show" behaviours, deterministic (ManualClock, seeded jitter).

mod common;

use lightwidget_core::Acknowledged;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::TimeDelta;
use common::*;
use lightwidget_core::*;

fn hours(h: i64) -> TimeDelta {
    TimeDelta::hours(h)
}
fn days(d: i64) -> TimeDelta {
    TimeDelta::days(d)
}

#[tokio::test]
async fn a_simulated_year_with_a_healthy_provider_keeps_every_token_alive() {
    let w = world();
    let mut ids = Vec::new();
    // 20 accounts connected at the same instant (to see jitter spread them), 30 of mixed ages.
    for i in 0..20 {
        ids.push(w.connect("o", &format!("same{i}"), hours(2)).await);
    }
    for i in 0..30 {
        ids.push(w.connect("o", &format!("mixed{i}"), hours(i * 40)).await);
    }
    w.run_for(days(365), hours(1)).await;

    let stats = w.keeper.stats();
    assert_eq!(stats.expired, 0, "no token lapses over a year: {stats:?}");
    assert_eq!(
        w.graph.violations(),
        0,
        "never refreshed a token under 24 h old or expired"
    );
    for id in &ids {
        let s = w.keeper.status(*id).await.unwrap();
        assert!(s.status.is_active(), "{id} still active");
        assert!(
            s.expires_at.unwrap() > w.clock.now() + days(20),
            "{id} has a fresh token"
        );
        assert!(
            s.last_checked_at.unwrap() > w.clock.now() - hours(13),
            "checked within the check interval"
        );
    }
    for i in 0..20 {
        let n = w.graph.refresh_count(&format!("same{i}"));
        // Refresh window opens at half the 60-day lifetime, so ~10-12 refreshes a year.
        assert!(
            (9..=13).contains(&n),
            "same{i} refreshed {n} times in a year"
        );
    }
    // Jitter: accounts connected together are not all refreshed at the same hour.
    let firsts: HashSet<_> = (0..20)
        .map(|i| w.graph.refreshes(&format!("same{i}"))[0])
        .collect();
    assert!(
        firsts.len() >= 8,
        "first refreshes spread over {} distinct hours only",
        firsts.len()
    );
    assert!(stats.refreshed >= 50 * 9 && stats.checked > 0);
    assert!(
        w.notifier.sent().is_empty(),
        "a healthy year sends no notice"
    );
}

#[tokio::test]
async fn a_password_change_is_found_at_the_next_check_and_announced_once() {
    let w = world();
    w.opt_in("paul").await;
    let id = w.connect("paul", "1789", days(2)).await;
    w.run_for(days(3), hours(1)).await;
    w.graph.break_account(
        "1789",
        ProviderError::Expired {
            reason: ExpiryReason::PasswordChanged,
            message: "190/460".into(),
        },
    );
    w.run_for(hours(13), hours(1)).await;
    let s = w.keeper.status(id).await.unwrap();
    assert!(
        matches!(
            s.status,
            TokenStatus::Expired {
                reason: ExpiryReason::PasswordChanged,
                ..
            }
        ),
        "found within one check interval: {:?}",
        s.status
    );
    assert_eq!(s.status.label(), "NOT ACTIVE");
    assert_eq!(
        s.next_action_at, None,
        "nothing to do until the owner reconnects"
    );
    // More time, more sweeps, and the host reporting the same error: still one notice.
    w.run_for(days(10), hours(6)).await;
    w.keeper
        .observe(
            id,
            Err(ProviderError::Expired {
                reason: ExpiryReason::PasswordChanged,
                message: String::new(),
            }),
        )
        .await
        .unwrap();
    w.keeper.dispatch_outbox().await.unwrap();
    let sent = w.notifier.sent();
    assert_eq!(sent.len(), 1, "exactly one notice per expiry");
    assert_eq!(
        sent[0].0.kind,
        NoticeKind::Expired {
            reason: ExpiryReason::PasswordChanged
        }
    );
    assert_eq!(sent[0].1, Recipient::Email("paul@example.com".into()));
    let names = w.history_names(id).await;
    assert_eq!(
        names.iter().filter(|n| **n == "expired").count(),
        1,
        "{names:?}"
    );
    assert!(names.contains(&"notice_sent"), "{names:?}");
    assert_eq!(w.hooks.expired().as_slice(), &[id]);
}

#[tokio::test]
async fn a_storm_of_transient_errors_never_expires_a_token_inside_its_lifetime() {
    let w = world();
    w.opt_in("o").await;
    // 40 days old: refresh is due; 20 days of life left.
    let id = w.connect("o", "storm", days(40)).await;
    let transient = ProviderError::Transient {
        retry_after: None,
        message: "HTTP 503".into(),
    };
    w.graph.break_account("storm", transient.clone());
    let mut gaps = Vec::new();
    let mut last = w.keeper.status(id).await.unwrap().next_action_at.unwrap();
    for _ in 0..8 {
        w.clock.set(last);
        w.keeper.sweep().await.unwrap();
        let s = w.keeper.status(id).await.unwrap();
        assert!(
            s.status.is_active(),
            "transient errors never expire a valid token"
        );
        let next = s.next_action_at.unwrap();
        gaps.push(next - last);
        last = next;
    }
    let s = w.keeper.status(id).await.unwrap();
    assert_eq!(s.failures, 8);
    assert!(s.last_error.as_deref().unwrap().contains("HTTP 503"));
    assert!(gaps[7] > gaps[0] * 8, "backoff grows: {gaps:?}");

    // Rate limited with a retry time: honoured.
    w.graph.break_account(
        "storm",
        ProviderError::RateLimited {
            retry_after: Some(Duration::from_secs(7200)),
            message: "code 4".into(),
        },
    );
    w.clock.set(last);
    w.keeper.sweep().await.unwrap();
    let s = w.keeper.status(id).await.unwrap();
    assert!(
        s.next_action_at.unwrap() >= last + hours(2),
        "retry_after honoured"
    );

    // Keep failing until the end: an "expires soon" warning once, then expiry only when
    // the lifetime is over.
    w.graph.break_account("storm", transient);
    let expires = s.expires_at.unwrap();
    while w.clock.now() < expires - TimeDelta::minutes(1) {
        w.clock.advance(TimeDelta::minutes(30));
        w.keeper.sweep().await.unwrap();
        w.keeper.dispatch_outbox().await.unwrap();
        if w.clock.now() < expires {
            assert!(w.keeper.status(id).await.unwrap().status.is_active());
        }
    }
    w.run_for(hours(2), TimeDelta::minutes(30)).await;
    let s = w.keeper.status(id).await.unwrap();
    assert!(
        matches!(
            s.status,
            TokenStatus::Expired {
                reason: ExpiryReason::LifetimeEnded,
                ..
            }
        ),
        "{:?}",
        s.status
    );
    let kinds: Vec<NoticeTopic> = w
        .notifier
        .sent()
        .iter()
        .map(|(n, _)| n.kind.topic())
        .collect();
    assert_eq!(
        kinds,
        vec![NoticeTopic::ExpiringSoon, NoticeTopic::Expired],
        "one warning, one expiry notice"
    );
}

#[tokio::test]
async fn deauthorize_revokes_and_reconnect_renews_with_history_and_hook() {
    let w = world();
    w.opt_in("o").await;
    let id = w.connect("o", "42", days(1)).await;
    assert_eq!(
        w.keeper
            .deauthorize(ConnectionKind::Consumer, "42")
            .await
            .unwrap(),
        id
    );
    let s = w.keeper.status(id).await.unwrap();
    assert!(matches!(s.status, TokenStatus::Revoked { .. }));
    // A second deauthorize callback changes nothing and sends nothing.
    w.keeper
        .deauthorize(ConnectionKind::Consumer, "42")
        .await
        .unwrap();
    w.keeper.dispatch_outbox().await.unwrap();
    assert_eq!(w.notifier.sent().len(), 1);
    assert_eq!(w.notifier.sent()[0].0.kind, NoticeKind::Revoked);

    w.clock.advance(hours(3));
    let new = w.graph.token(w.clock.now());
    let again = w
        .keeper
        .reconnect(ConnectionKind::Consumer, "42", new.clone())
        .await
        .unwrap();
    assert_eq!(again, id, "renewal keeps the account");
    let s = w.keeper.status(id).await.unwrap();
    assert!(s.status.is_active());
    assert_eq!(s.last_checked_at, Some(w.clock.now()));
    assert_eq!(
        w.keeper.access_token(id).await.unwrap().secret(),
        new.secret()
    );
    assert_eq!(
        w.hooks.renewed().as_slice(),
        &[id],
        "on_renewed called once"
    );
    assert_eq!(
        w.history_names(id).await,
        vec!["connected", "revoked", "notice_sent", "reconnected"]
    );

    // Expire again in the new episode: a new notice (a new incident).
    w.keeper
        .observe(
            id,
            Err(ProviderError::Expired {
                reason: ExpiryReason::SecurityCheckpoint,
                message: String::new(),
            }),
        )
        .await
        .unwrap();
    w.keeper.dispatch_outbox().await.unwrap();
    assert_eq!(w.notifier.sent().len(), 2);
}

#[tokio::test]
async fn renewing_an_account_never_connected_says_so_with_a_hint() {
    let w = world();
    w.connect("o", "555", days(1)).await;
    let t = w.graph.token(w.clock.now());
    let err = w
        .keeper
        .reconnect(ConnectionKind::Business, "555", t.clone())
        .await
        .unwrap_err();
    match &err {
        Error::NotConnected { kind, hint, .. } => {
            assert_eq!(*kind, ConnectionKind::Business);
            assert_eq!(*hint, Some(ConnectionKind::Consumer));
        }
        other => panic!("expected NotConnected, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("no business account") && msg.contains("consumer flow"),
        "{msg}"
    );
    let err = w
        .keeper
        .reconnect(ConnectionKind::Consumer, "999", t)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotConnected { hint: None, .. }));
    assert!(matches!(
        w.keeper.status(AccountId::new()).await,
        Err(Error::UnknownAccount(_))
    ));
}

#[tokio::test]
async fn two_keepers_on_one_store_never_refresh_an_account_twice() {
    let clock = ManualClock::new(start());
    let graph = Arc::new(FakeProvider::new(clock.clone()));
    let store = Arc::new(InMemoryStore::new());
    let make = |name: &str| {
        Keeper::builder(store.clone(), graph.clone())
            .clock(Arc::new(clock.clone()))
            .batch_size(25)
            .concurrency(8)
            .worker_id(name)
            .build()
            .unwrap()
    };
    let (k1, k2) = (make("k1"), make("k2"));
    for i in 0..300 {
        let t = graph.token(clock.now() - days(35));
        k1.connect(
            NewAccount::new("o", ConnectionKind::Consumer, format!("u{i}"), "x"),
            t,
        )
        .await
        .unwrap();
    }
    clock.advance(days(6)); // everyone is in the refresh window
    let (a, b) = tokio::join!(k1.sweep(), k2.sweep());
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.refreshed + b.refreshed, 300, "{a:?} {b:?}");
    for i in 0..300 {
        assert_eq!(
            graph.refresh_count(&format!("u{i}")),
            1,
            "u{i} refreshed exactly once"
        );
    }
    assert!(
        a.refreshed > 0 && b.refreshed > 0,
        "both keepers took a share: {a:?} {b:?}"
    );
}

#[tokio::test]
async fn a_host_reconnect_during_a_keeper_refresh_wins() {
    let w = world();
    let id = w.connect("o", "race", days(40)).await;
    // The keeper claims (the refresh is due a second after connect), then the owner
    // reconnects before the keeper commits.
    w.clock.advance(TimeDelta::seconds(1));
    let claimed = w
        .store
        .claim_due(w.clock.now(), 10, Duration::from_secs(60), "k")
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    let fresh = w.graph.token(w.clock.now());
    w.keeper
        .reconnect(ConnectionKind::Consumer, "race", fresh.clone())
        .await
        .unwrap();
    let stale = lifecycle::apply(
        &claimed[0],
        Observation::Refreshed(w.graph.token(w.clock.now())),
        w.clock.now(),
        &RefreshPolicy::default(),
        &mut <rand::rngs::SmallRng as rand::SeedableRng>::seed_from_u64(1),
    );
    assert!(matches!(
        w.store.commit(&stale).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        w.keeper.access_token(id).await.unwrap().secret(),
        fresh.secret(),
        "the owner's token is kept"
    );
}

#[tokio::test]
async fn notices_respect_opt_in_and_entitlement_and_retry_until_delivered() {
    let w = world_with(|b| b.notice_backoff(Duration::from_secs(60), Duration::from_secs(600)));
    // Not opted in: suppressed and recorded.
    let quiet = w.connect("quiet", "q", days(1)).await;
    // Opted in but not entitled.
    w.opt_in("free").await;
    let free = w.connect("free", "f", days(1)).await;
    w.keeper
        .set_entitlements(
            free,
            Entitlements {
                notifications: false,
            },
        )
        .await
        .unwrap();
    // Opted in, entitled, but SMTP is down twice.
    w.opt_in("paid").await;
    let paid = w.connect("paid", "p", days(1)).await;
    w.notifier.fail_next_transiently(2);
    for id in [quiet, free, paid] {
        w.keeper
            .deauthorize(
                ConnectionKind::Consumer,
                &w.keeper.status(id).await.unwrap().account.ig_user_id,
            )
            .await
            .unwrap();
    }
    let r = w.keeper.dispatch_outbox().await.unwrap();
    assert_eq!((r.sent, r.suppressed, r.retried), (0, 2, 1), "{r:?}");
    assert!(w.history_names(quiet).await.contains(&"notice_suppressed"));
    assert!(w.history_names(free).await.contains(&"notice_suppressed"));
    // Not yet due: nothing happens.
    assert_eq!(
        w.keeper.dispatch_outbox().await.unwrap(),
        DispatchReport::default()
    );
    w.clock.advance(TimeDelta::minutes(2));
    assert_eq!(w.keeper.dispatch_outbox().await.unwrap().retried, 1);
    w.clock.advance(TimeDelta::minutes(5));
    assert_eq!(w.keeper.dispatch_outbox().await.unwrap().sent, 1);
    w.clock.advance(TimeDelta::days(1));
    assert_eq!(
        w.keeper.dispatch_outbox().await.unwrap(),
        DispatchReport::default(),
        "delivered once"
    );
    assert_eq!(w.notifier.sent().len(), 1);
    let states: Vec<_> = w
        .store
        .notices(paid)
        .await
        .unwrap()
        .into_iter()
        .map(|(_, s)| s)
        .collect();
    assert_eq!(states, vec![NoticeState::Delivered]);
}

#[tokio::test]
async fn a_failed_delivery_records_its_cause() {
    let w = world();
    w.opt_in("o").await;
    let id = w.connect("o", "bounce", days(1)).await;
    w.notifier.fail_next_permanently(1);
    w.keeper
        .deauthorize(ConnectionKind::Consumer, "bounce")
        .await
        .unwrap();
    assert_eq!(w.keeper.dispatch_outbox().await.unwrap().failed, 1);
    let h = w.keeper.history(id, HistoryQuery::default()).await.unwrap();
    let error = h
        .iter()
        .find_map(|e| match &e.event.kind {
            TokenEventKind::NoticeFailed { error, .. } => Some(error.clone()),
            _ => None,
        })
        .expect("a notice_failed event");
    assert!(error.contains("no such user here"), "{error}");
}

#[tokio::test]
async fn an_expiry_notice_is_not_sent_once_the_owner_has_renewed() {
    let w = world();
    w.opt_in("o").await;
    let id = w.connect("o", "fast", days(1)).await;
    w.keeper
        .observe(
            id,
            Err(ProviderError::Expired {
                reason: ExpiryReason::SessionInvalidated,
                message: String::new(),
            }),
        )
        .await
        .unwrap();
    w.keeper
        .reconnect(
            ConnectionKind::Consumer,
            "fast",
            w.graph.token(w.clock.now()),
        )
        .await
        .unwrap();
    let r = w.keeper.dispatch_outbox().await.unwrap();
    assert_eq!((r.sent, r.suppressed), (0, 1));
}

#[tokio::test]
async fn force_refresh_refreshes_at_the_next_sweep_once_old_enough() {
    let w = world();
    let id = w.connect("o", "force", hours(30)).await;
    let before = w.keeper.status(id).await.unwrap().expires_at.unwrap();
    w.keeper.force_refresh(id).await.unwrap();
    w.clock.advance(TimeDelta::seconds(1));
    w.keeper.sweep().await.unwrap();
    assert_eq!(w.graph.refresh_count("force"), 1);
    assert!(w.keeper.status(id).await.unwrap().expires_at.unwrap() > before);
    w.keeper
        .observe(
            id,
            Err(ProviderError::Revoked {
                message: String::new(),
            }),
        )
        .await
        .unwrap();
    assert!(
        matches!(
            w.keeper.force_refresh(id).await,
            Err(Error::InvalidInput(_))
        ),
        "a dead token cannot be force-refreshed"
    );
}

#[tokio::test]
async fn run_stops_on_shutdown_and_leaves_no_lease_behind() {
    let w = world_with(|b| b.poll_interval(Duration::from_millis(10)));
    for i in 0..30 {
        w.connect("o", &format!("s{i}"), days(40)).await;
    }
    let (tx, task) = spawn_run(&w.keeper);
    // Let it work a little, then stop it.
    while w.keeper.stats().sweeps == 0 {
        tokio::task::yield_now().await;
    }
    tx.send(()).unwrap();
    task.await.unwrap().unwrap();
    assert!(w.keeper.stats().last_sweep_at.is_some());
    assert_eq!(
        w.keeper.last_sweep().await.unwrap().unwrap().0,
        "test-keeper"
    );
    // Everything it claimed was committed or released: any due account is claimable.
    w.clock.advance(days(29));
    let due = w
        .store
        .claim_due(w.clock.now(), 100, Duration::from_secs(60), "other")
        .await
        .unwrap();
    assert_eq!(
        due.len(),
        30,
        "no account left leased by the stopped keeper"
    );
}

#[test]
fn builder_validates() {
    let clock = ManualClock::new(start());
    let mk = || {
        Keeper::builder(
            Arc::new(InMemoryStore::new()),
            Arc::new(FakeProvider::new(clock.clone())),
        )
    };
    assert!(matches!(mk().concurrency(0).build(), Err(Error::Config(_))));
    assert!(matches!(
        mk().lease(Duration::from_millis(10)).build(),
        Err(Error::Config(_))
    ));
    let n = Arc::new(RecordingNotifier::default());
    let err = mk().notifier(n.clone()).notifier(n).build().unwrap_err();
    assert!(
        err.to_string()
            .contains("two notifiers for channel \"email\""),
        "{err}"
    );
}

#[tokio::test]
async fn health_reports_a_stalled_scheduler() {
    let w = world();
    w.connect("o", "h1", days(1)).await;
    let h = w.keeper.health(Duration::from_secs(600)).await.unwrap();
    assert!(h.stale, "never swept is stale");
    assert_eq!(h.counts.active, 1);
    w.keeper.sweep().await.unwrap();
    assert!(
        !w.keeper
            .health(Duration::from_secs(600))
            .await
            .unwrap()
            .stale
    );
    w.clock.advance(TimeDelta::minutes(11));
    let h = w.keeper.health(Duration::from_secs(600)).await.unwrap();
    assert!(h.stale, "no sweep for 11 minutes");
    assert_eq!(
        h.last_sweep_at,
        Some(w.clock.now() - TimeDelta::minutes(11))
    );
}

#[tokio::test]
async fn a_keeper_killed_between_send_and_ack_loses_no_notice() {
    let w = world_with(|b| b.lease(Duration::from_secs(120)));
    w.opt_in("o").await;
    let id = w.connect("o", "crash", days(1)).await;
    w.keeper
        .deauthorize(ConnectionKind::Consumer, "crash")
        .await
        .unwrap();
    // A keeper takes the notice, delivers it, and dies before acknowledging.
    let taken = w
        .store
        .take_outbox(w.clock.now(), 10, Duration::from_secs(120), "dead-keeper")
        .await
        .unwrap();
    assert_eq!(taken.len(), 1);
    w.notifier
        .deliver(&taken[0].notice, &Recipient::Email("o@example.com".into()))
        .await
        .unwrap();
    // While its lease lasts nobody else sends it; afterwards a live keeper does.
    assert_eq!(w.keeper.dispatch_outbox().await.unwrap().sent, 0);
    w.clock.advance(TimeDelta::minutes(3));
    assert_eq!(w.keeper.dispatch_outbox().await.unwrap().sent, 1);
    let sent = w.notifier.sent();
    assert_eq!(
        sent.len(),
        2,
        "at-least-once: the crash caused one duplicate delivery"
    );
    assert_eq!(
        sent[0].0.id, sent[1].0.id,
        "both carry the same notice id, so receivers can drop the duplicate"
    );
    assert_eq!(
        w.history_names(id)
            .await
            .iter()
            .filter(|n| **n == "notice_sent")
            .count(),
        1
    );
    // And the late ack of the dead keeper is refused.
    let late = w
        .store
        .ack_outbox(
            taken[0].notice.id,
            taken[0].version,
            &Acknowledged::of(
                &taken[0].notice,
                &OutboxOutcome::Delivered { channels: vec![] },
            ),
            w.clock.now(),
        )
        .await;
    assert!(matches!(late, Err(StoreError::Conflict(_))));
}

/// Issue #21: a Page token whose data access ends within the warning window was
/// re-checked on every poll and announced again whenever `data_access_expires_at`
/// moved by a few seconds (7 emails in 55 s).
#[tokio::test]
async fn a_data_access_warning_is_sent_once_and_does_not_bring_the_account_back_every_poll() {
    let w = world_with(|b| b.poll_interval(Duration::from_secs(5)));
    w.opt_in("o").await;
    let now = w.clock.now();
    let dae = now + days(3);
    let token = Token::new("EAAGpage", now - days(30)).with_data_access_expires_at(Some(dae));
    let id =
        w.keeper
            .connect(
                NewAccount::new("o", ConnectionKind::Business, "page-1", "@page")
                    .with_entitlements(Entitlements {
                        notifications: true,
                    }),
                token,
            )
            .await
            .unwrap();
    let checks_before = w.graph.checks();
    for i in 0..12 {
        // Meta's answer moves by a few seconds from one check to the next.
        w.graph.report_on_check(
            "page-1",
            CheckInfo {
                expires_at: ReportedExpiry::Never,
                data_access_expires_at: Some(dae + TimeDelta::seconds(i * 7)),
                scopes: None,
            },
        );
        w.clock.advance(TimeDelta::seconds(5));
        w.keeper.sweep().await.unwrap();
        w.keeper.dispatch_outbox().await.unwrap();
    }
    let sent = w.notifier.sent();
    assert_eq!(sent.len(), 1, "one warning per incident: {sent:?}");
    assert!(matches!(
        sent[0].0.kind,
        NoticeKind::DataAccessExpiring { .. }
    ));
    assert_eq!(
        w.graph.checks() - checks_before,
        1,
        "checked once, then at the next real step"
    );
    let next = w.keeper.status(id).await.unwrap().next_action_at.unwrap();
    assert!(next > w.clock.now() + TimeDelta::hours(1), "{next}");
    // A re-authorised grant, later inside the window again, is a new incident.
    w.graph.report_on_check(
        "page-1",
        CheckInfo {
            expires_at: ReportedExpiry::Never,
            data_access_expires_at: Some(w.clock.now() + days(90)),
            scopes: None,
        },
    );
    w.run_for(days(88), hours(6)).await;
    let warnings = w
        .notifier
        .sent()
        .iter()
        .filter(|(n, _)| matches!(n.kind, NoticeKind::DataAccessExpiring { .. }))
        .count();
    assert_eq!(warnings, 2, "the renewed grant's own end is announced once");
}

/// Issue #21: connect refuses unusable input with a typed error, before anything is
/// saved, and never quotes the token.
#[tokio::test]
async fn connect_refuses_unusable_tokens_and_incomplete_accounts_before_saving() {
    let w = world();
    let now = w.clock.now();
    let ok = || NewAccount::new("o", ConnectionKind::Consumer, "1789", "paul");
    let live = |v: &str| Token::new(v, now).expiring_in(86_400);
    let long = "A".repeat(Token::MAX_LEN + 1);
    let cases: Vec<(NewAccount, Token, &str)> = vec![
        (ok(), live(""), "empty"),
        (ok(), live(&long), "bytes long"),
        (ok(), live("IGAAsecret with space"), "whitespace"),
        (ok(), live("IGAAsecret\ttab"), "whitespace"),
        (ok(), live("IGAAsecret\u{7f}del"), "control"),
        (ok(), live("IGAAsecret\u{0}nul"), "control"),
        (ok(), live("IGAAsecretÉ"), "non-ASCII"),
        (
            ok(),
            Token::new("IGAAsecretold", now - days(61)).expiring_in(60 * 86_400),
            "expired",
        ),
        (
            ok(),
            Token::new("IGAAsecretnow", now).expiring_at(now),
            "expired",
        ),
        (
            NewAccount::new("", ConnectionKind::Consumer, "1789", "paul"),
            live("IGAAsecretx"),
            "owner",
        ),
        (
            NewAccount::new("o", ConnectionKind::Consumer, "1789", " "),
            live("IGAAsecretx"),
            "username",
        ),
        (
            NewAccount::new("o", ConnectionKind::Consumer, "", "paul"),
            live("IGAAsecretx"),
            "Instagram user id",
        ),
    ];
    for (new, token, says) in cases {
        let secret = token.secret().to_owned();
        let err = w.keeper.connect(new, token).await.unwrap_err();
        assert!(
            matches!(err, Error::InvalidToken(_) | Error::InvalidAccount(_)),
            "{err:?}"
        );
        let text = format!("{err} {err:?}");
        assert!(text.contains(says), "{says}: {text}");
        if !secret.is_empty() {
            assert!(!text.contains(&secret), "the token leaked: {text}");
        }
        assert!(!text.contains("IGAAsecret"), "the token leaked: {text}");
    }
    let counts = w.store.count_by_status().await.unwrap();
    assert_eq!(
        counts.active + counts.expired + counts.revoked,
        0,
        "nothing saved"
    );
    // The bound is generous, and inclusive.
    let id = w
        .keeper
        .connect(ok(), live(&"A".repeat(Token::MAX_LEN)))
        .await
        .unwrap();
    // Renewal without login validates too, and keeps the working token.
    let err = w
        .keeper
        .reconnect(ConnectionKind::Consumer, "1789", live("IGAA bad"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidToken(TokenProblem::Whitespace)));
    assert_eq!(
        w.keeper.access_token(id).await.unwrap().secret().len(),
        Token::MAX_LEN
    );
    assert!(matches!(
        w.keeper
            .reconnect(ConnectionKind::Consumer, "", live("IGAAok"))
            .await,
        Err(Error::InvalidAccount(AccountProblem::EmptyIgUserId))
    ));
}

/// Issue #16, then #17: connect by another owner never moves the account; they join it
/// (shared accounts), the renewal fixes it for both, and the first keeps everything theirs.
#[tokio::test]
async fn connect_by_another_owner_joins_and_never_moves_the_account() {
    let w = world();
    let id = w.connect("owner-a", "shared", days(2)).await;
    let token_a = w.keeper.access_token(id).await.unwrap();
    let joined = w
        .keeper
        .connect(
            NewAccount::new("owner-b", ConnectionKind::Consumer, "shared", "@shared")
                .with_entitlements(Entitlements {
                    notifications: false,
                }),
            w.graph.token(w.clock.now()),
        )
        .await
        .unwrap();
    assert_eq!(joined, id, "one account per (kind, Instagram user id)");
    let owners: Vec<String> = w
        .keeper
        .owners(id)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.owner.0)
        .collect();
    assert_eq!(owners, ["owner-a", "owner-b"], "joined, not moved");
    let st = w.keeper.status(id).await.unwrap();
    assert_eq!(
        st.account.owner,
        OwnerId::new("owner-a"),
        "still the primary"
    );
    assert!(st.account.entitlements.notifications, "entitlement kept");
    let b = w
        .keeper
        .status_for(&OwnerId::new("owner-b"), id)
        .await
        .unwrap();
    assert!(
        !b.account.entitlements.notifications,
        "b's own entitlements"
    );
    assert_ne!(
        w.keeper.access_token(id).await.unwrap().secret(),
        token_a.secret(),
        "the join renewed the token, for both"
    );
    for o in ["owner-a", "owner-b"] {
        let mine = w.keeper.statuses(&OwnerId::new(o)).await.unwrap();
        assert_eq!(mine.len(), 1, "{o} lists the shared account");
        assert_eq!(mine[0].account.owner.as_str(), o, "viewed as {o}");
    }
    let hooked: Vec<String> = w
        .hooks
        .renewed_for()
        .into_iter()
        .map(|(_, o)| o.0)
        .collect();
    assert_eq!(
        hooked,
        ["owner-a", "owner-b"],
        "widget-first hook per owner"
    );
    // A stranger cannot read it, and b's history does not show a's past.
    assert!(matches!(
        w.keeper.status_for(&OwnerId::new("owner-c"), id).await,
        Err(Error::UnknownAccount(_))
    ));
    let b_names: Vec<&str> = w
        .keeper
        .history_for(&OwnerId::new("owner-b"), id, HistoryQuery::default())
        .await
        .unwrap()
        .iter()
        .map(|e| e.event.kind.name())
        .collect();
    assert_eq!(b_names, ["reconnected", "joined"]);
    // Leaving: b goes, a keeps the account; the last leave deletes it.
    assert_eq!(
        w.keeper
            .disconnect(&OwnerId::new("owner-b"), id)
            .await
            .unwrap(),
        Departure::Left
    );
    assert!(
        w.keeper
            .statuses(&OwnerId::new("owner-b"))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(matches!(
        w.keeper.disconnect(&OwnerId::new("owner-b"), id).await,
        Err(Error::UnknownAccount(_))
    ));
    let again = w.connect("owner-a", "shared", days(0)).await;
    assert_eq!(again, id, "the owner's own connect is still a renewal");
    assert_eq!(
        w.keeper
            .disconnect(&OwnerId::new("owner-a"), id)
            .await
            .unwrap(),
        Departure::Deleted
    );
    assert!(matches!(
        w.keeper.status(id).await,
        Err(Error::UnknownAccount(_))
    ));
}

/// One outcome-to-hook mapping for the sweep and the host API: each committed outcome
/// calls its hook once; outcomes that change nothing call none.
#[tokio::test]
async fn every_committed_outcome_calls_its_hook_once() {
    let w = world();
    let aged = w.connect("o", "aged", days(40)).await;
    let seen = w.connect("o", "seen", days(1)).await;
    let gone = w.connect("o", "gone", days(1)).await;
    w.clock.advance(TimeDelta::seconds(1));
    w.keeper.sweep().await.unwrap();
    assert_eq!(w.hooks.refreshed(), vec![aged], "the sweep's refresh");
    let expired = || {
        Err(ProviderError::Expired {
            reason: ExpiryReason::PasswordChanged,
            message: String::new(),
        })
    };
    w.keeper.observe(seen, expired()).await.unwrap();
    w.keeper.observe(seen, expired()).await.unwrap();
    w.keeper
        .deauthorize(ConnectionKind::Consumer, "gone")
        .await
        .unwrap();
    w.keeper
        .deauthorize(ConnectionKind::Consumer, "gone")
        .await
        .unwrap();
    assert_eq!(w.hooks.expired(), vec![seen, gone], "once per end");
    w.keeper
        .reconnect(
            ConnectionKind::Consumer,
            "seen",
            w.graph.token(w.clock.now()),
        )
        .await
        .unwrap();
    assert_eq!(w.hooks.renewed(), vec![seen]);
    assert_eq!(w.hooks.refreshed(), vec![aged]);
}

/// A sweep dated in the future (a keeper with a wrong clock) is not a sign of life: a
/// health check must not report such a store as swept recently.
#[tokio::test]
async fn a_sweep_dated_in_the_future_is_stale() {
    let w = world();
    let now = w.clock.now();
    let max_age = Duration::from_secs(600);
    w.store.record_sweep("w", now - hours(1)).await.unwrap();
    assert!(w.keeper.health(max_age).await.unwrap().stale, "an hour old");
    w.store
        .record_sweep("w", now - TimeDelta::seconds(5))
        .await
        .unwrap();
    assert!(!w.keeper.health(max_age).await.unwrap().stale, "5 s old");
    // Sweep times only move forward in the store, so the allowed skew comes first.
    w.store
        .record_sweep("w", now + TimeDelta::seconds(2))
        .await
        .unwrap();
    assert!(
        !w.keeper.health(max_age).await.unwrap().stale,
        "within the clock skew allowance"
    );
    w.store.record_sweep("w", now + hours(1)).await.unwrap();
    assert!(
        w.keeper.health(max_age).await.unwrap().stale,
        "an hour in the future is not healthy"
    );
}

/// #17 rule: a call the host made and reported as a success (`observe`) moves the last
/// successful check, and writes no history.
#[tokio::test]
async fn a_reported_success_moves_the_last_successful_check() {
    let w = world();
    let id = w.connect("o", "reported", hours(30)).await;
    let before = w.keeper.status(id).await.unwrap().last_checked_at;
    let history_before = w
        .keeper
        .history(
            id,
            HistoryQuery {
                before: None,
                limit: 50,
            },
        )
        .await
        .unwrap()
        .len();
    w.clock.advance(hours(3));
    let s = w.keeper.observe(id, Ok(())).await.unwrap();
    assert_eq!(s.last_checked_at, Some(w.clock.now()), "moved to now");
    assert_ne!(s.last_checked_at, before);
    let history_after = w
        .keeper
        .history(
            id,
            HistoryQuery {
                before: None,
                limit: 50,
            },
        )
        .await
        .unwrap()
        .len();
    assert_eq!(history_before, history_after, "a success is not history");
}

/// A write that raises notices wakes a running keeper: the owner is told at once, not
/// after the poll interval (an hour here). The same after-commit step serves every writer.
#[tokio::test]
async fn a_host_write_that_raises_a_notice_wakes_the_running_keeper() {
    let w = world_with(|b| b.poll_interval(Duration::from_secs(3600)));
    w.opt_in("o").await;
    w.connect("o", "woken", days(3)).await;
    let (tx, task) = spawn_run(&w.keeper);
    // The first round runs, then the keeper waits for an hour.
    while w.keeper.stats().sweeps == 0 {
        tokio::task::yield_now().await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(w.notifier.sent().is_empty());
    w.keeper
        .deauthorize(ConnectionKind::Consumer, "woken")
        .await
        .unwrap();
    let sent = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if !w.notifier.sent().is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    tx.send(()).unwrap();
    task.await.unwrap().unwrap();
    assert!(sent.is_ok(), "the notice waited for the poll interval");
    assert_eq!(w.notifier.sent().len(), 1);
}

/// Runs `keeper` in a task until the sender is used.
fn spawn_run(
    keeper: &Keeper,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<Result<()>>,
) {
    let k = keeper.clone();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        k.run(async {
            let _ = rx.await;
        })
        .await
    });
    (tx, task)
}
