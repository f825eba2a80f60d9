//! Through the Keeper's outbox with a real SMTP server: opt-in and entitlement gates,
//! retry while SMTP is down, exactly one delivery when it is back.

mod support;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{TimeDelta, TimeZone, Utc};
use lightwidget_core::*;
use lightwidget_notify::*;

struct Dead;

#[async_trait]
impl TokenProvider for Dead {
    async fn refresh(&self, _: &Account, _: &Token) -> Result<Token, ProviderError> {
        Err(ProviderError::Expired {
            reason: ExpiryReason::PasswordChanged,
            message: "190/460".into(),
        })
    }
    async fn check(&self, _: &Account, _: &Token) -> Result<CheckInfo, ProviderError> {
        Err(ProviderError::Expired {
            reason: ExpiryReason::PasswordChanged,
            message: "190/460".into(),
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notices_go_out_once_to_opted_in_entitled_owners() {
    // Reserve a port, start with SMTP "down" (nothing listening), bring it up later.
    let reserve = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = reserve.local_addr().unwrap().port();
    drop(reserve);
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 5, 1, 0, 0, 0).unwrap());
    let links = Arc::new(LinkSigner::new(
        "ls".to_string().into(),
        "https://host.example/".parse().unwrap(),
    ));
    let content = EmailContent::new("alerts@lightwidget.example", links)
        .unwrap()
        .with_clock(Arc::new(clock.clone()));
    let email =
        Arc::new(EmailNotifier::new("127.0.0.1", port, SmtpTls::Plain, None, content).unwrap());
    let store = Arc::new(InMemoryStore::new());
    let keeper = Keeper::builder(store.clone(), Arc::new(Dead))
        .clock(Arc::new(clock.clone()))
        .notifier(email)
        .notice_backoff(Duration::from_secs(60), Duration::from_secs(600))
        .build()
        .unwrap();
    let mut ids = Vec::new();
    for (owner, entitled, opted) in [
        ("paid", true, true),
        ("free", false, true),
        ("quiet", true, false),
    ] {
        let t = Token::new("IGAAx", clock.now() - TimeDelta::days(2)).expiring_in(60 * 86_400);
        let id = keeper
            .connect(
                NewAccount::new(owner, ConnectionKind::Consumer, owner, owner).with_entitlements(
                    Entitlements {
                        notifications: entitled,
                    },
                ),
                t,
            )
            .await
            .unwrap();
        if opted {
            keeper
                .set_preferences(
                    &Preferences::new(owner)
                        .opt_in(NoticeTopic::Expired)
                        .with_recipient(Recipient::Email(format!("{owner}@example.com"))),
                )
                .await
                .unwrap();
        }
        ids.push(id);
    }
    clock.advance(TimeDelta::hours(13));
    keeper.sweep().await.unwrap();
    let r = keeper.dispatch_outbox().await.unwrap();
    assert_eq!(
        (r.sent, r.suppressed, r.retried),
        (0, 2, 1),
        "SMTP down: retried; others suppressed"
    );

    // SMTP comes back on the same port.
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    let sink = support::Sink::default();
    let mut server = mailin_embedded::Server::new(sink.clone());
    server
        .with_name("sink.localhost")
        .with_tcp_listener(listener);
    std::thread::spawn(move || {
        let _ = server.serve();
    });
    clock.advance(TimeDelta::minutes(2));
    let r = keeper.dispatch_outbox().await.unwrap();
    assert_eq!(r.sent, 1);
    clock.advance(TimeDelta::days(1));
    keeper.sweep().await.unwrap();
    assert_eq!(keeper.dispatch_outbox().await.unwrap().sent, 0);
    let mails = sink.mails.lock().unwrap().clone();
    assert_eq!(mails.len(), 1, "delivered exactly once");
    assert_eq!(mails[0].0, vec!["paid@example.com".to_string()]);
    let hist = |id| {
        let store = store.clone();
        async move {
            store
                .history(id, HistoryQuery::default())
                .await
                .unwrap()
                .into_iter()
                .map(|e| e.event.kind.name())
                .collect::<Vec<_>>()
        }
    };
    assert!(hist(ids[0]).await.contains(&"notice_sent"));
    assert!(hist(ids[1]).await.contains(&"notice_suppressed"));
    assert!(hist(ids[2]).await.contains(&"notice_suppressed"));
}
