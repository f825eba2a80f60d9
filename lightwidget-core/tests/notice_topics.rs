//! The seeds' one checkbox (*Expired token notifications*, the `expired` topic) covers
//! every break an owner can fix; the other topics are warnings. And one-click
//! unsubscribe links: the topic of their email, once.

mod common;

use chrono::TimeDelta;
use common::*;
use lightwidget_core::lifecycle::{USED_LINK_RETENTION, Unsubscribed};
use lightwidget_core::*;

fn hours(h: i64) -> TimeDelta {
    TimeDelta::hours(h)
}

async fn only_the_expired_box(w: &World, owner: &str) {
    w.keeper
        .set_preferences(
            &Preferences::new(owner)
                .opt_in(NoticeTopic::Expired)
                .with_recipient(Recipient::Email(format!("{owner}@example.com"))),
        )
        .await
        .unwrap();
}

/// With only *Expired token notifications* ticked, every way a connection breaks sends
/// one email in the words of its own break: a password change, the app removed (the
/// deauthorize callback, or Graph saying so), a permission removed, the lifetime ended.
/// The "expires soon" warning before the lifetime ended is not sent: warnings are
/// their own topics.
#[tokio::test]
async fn the_expired_box_alone_covers_every_break() {
    let w = world();
    only_the_expired_box(&w, "o").await;
    let password = w.connect("o", "1", hours(1)).await;
    let deauthorized = w.connect("o", "2", hours(1)).await;
    let permission = w.connect("o", "3", hours(1)).await;
    let app_removed = w.connect("o", "4", hours(1)).await;
    let lapsed = w.connect("o", "5", TimeDelta::days(59)).await;

    w.keeper
        .observe(
            password,
            Err(ProviderError::Expired {
                reason: ExpiryReason::PasswordChanged,
                message: "190/460".into(),
            }),
        )
        .await
        .unwrap();
    w.keeper
        .deauthorize(ConnectionKind::Consumer, "2")
        .await
        .unwrap();
    // A permission error is held for a confirming report a window later (it could be
    // the app's); the second one ends the token.
    for _ in 0..2 {
        w.keeper
            .observe(
                permission,
                Err(ProviderError::Permission {
                    message: "(#10)".into(),
                }),
            )
            .await
            .unwrap();
        w.clock.advance(TimeDelta::minutes(61));
    }
    w.keeper
        .observe(
            app_removed,
            Err(ProviderError::Revoked {
                message: "190/458".into(),
            }),
        )
        .await
        .unwrap();
    // Refreshing the 59-day-old token keeps failing until its lifetime ends.
    w.graph.break_account(
        "5",
        ProviderError::Transient {
            retry_after: None,
            message: "503".into(),
        },
    );
    w.run_for(TimeDelta::days(2), hours(1)).await;

    for id in [password, deauthorized, permission, app_removed, lapsed] {
        assert_eq!(
            w.keeper.status(id).await.unwrap().status.label(),
            "NOT ACTIVE"
        );
    }
    let sent = w.notifier.sent();
    let mut got: Vec<(AccountId, NoticeKind)> =
        sent.iter().map(|(n, _)| (n.account_id, n.kind)).collect();
    got.sort_by_key(|(id, _)| *id);
    let mut want = vec![
        (
            password,
            NoticeKind::Expired {
                reason: ExpiryReason::PasswordChanged,
            },
        ),
        (deauthorized, NoticeKind::Revoked),
        (
            permission,
            NoticeKind::Expired {
                reason: ExpiryReason::PermissionRemoved,
            },
        ),
        (app_removed, NoticeKind::Revoked),
        (
            lapsed,
            NoticeKind::Expired {
                reason: ExpiryReason::LifetimeEnded,
            },
        ),
    ];
    want.sort_by_key(|(id, _)| *id);
    assert_eq!(got, want, "one email per break, none for the warning");
    assert!(
        sent.iter()
            .all(|(n, _)| n.kind.topic() == NoticeTopic::Expired)
    );
}

/// Preferences saved when breaks had topics of their own (`revoked`,
/// `permission_removed`) mean "tell me when it breaks": they read as the expired topic,
/// and an owner who had ticked only "app removed" still hears of a removed app.
#[tokio::test]
async fn preferences_naming_former_break_topics_still_get_break_emails() {
    let w = world();
    let old: Preferences = serde_json::from_str(
        r#"{"owner":"o","topics":["revoked"],"recipients":[{"channel":"email","to":"o@example.com"}]}"#,
    )
    .unwrap();
    w.keeper.set_preferences(&old).await.unwrap();
    assert_eq!(
        w.keeper.preferences(&"o".into()).await.unwrap().topics,
        [NoticeTopic::Expired].into()
    );
    w.connect("o", "1", hours(1)).await;
    w.keeper
        .deauthorize(ConnectionKind::Consumer, "1")
        .await
        .unwrap();
    w.keeper.dispatch_outbox().await.unwrap();
    assert_eq!(w.notifier.sent().len(), 1);
    assert_eq!(w.notifier.sent()[0].0.kind, NoticeKind::Revoked);
}

/// A link turns off its email's topic only; the same link again changes nothing and
/// says whether the owner opted back in since; a link for everything turns off what
/// was on.
#[tokio::test]
async fn an_unsubscribe_link_turns_off_its_topic_once() {
    let w = world();
    let o = OwnerId::new("o");
    w.keeper
        .set_preferences(
            &Preferences::new("o")
                .opt_in(NoticeTopic::Expired)
                .opt_in(NoticeTopic::ExpiringSoon),
        )
        .await
        .unwrap();
    let did = w
        .keeper
        .unsubscribe("link-1", &o, Some(NoticeTopic::Expired))
        .await
        .unwrap();
    assert_eq!(did, Unsubscribed::TurnedOff([NoticeTopic::Expired].into()));
    let p = w.keeper.preferences(&o).await.unwrap();
    assert_eq!(
        p.topics,
        [NoticeTopic::ExpiringSoon].into(),
        "the other topic stays on"
    );

    // Used again while still off: nothing changed.
    assert_eq!(
        w.keeper
            .unsubscribe("link-1", &o, Some(NoticeTopic::Expired))
            .await
            .unwrap(),
        Unsubscribed::LinkUsed {
            on_now: Default::default()
        }
    );
    // The owner opts back in; the old link does not undo it.
    w.keeper
        .set_preferences(&p.clone().opt_in(NoticeTopic::Expired))
        .await
        .unwrap();
    assert_eq!(
        w.keeper
            .unsubscribe("link-1", &o, Some(NoticeTopic::Expired))
            .await
            .unwrap(),
        Unsubscribed::LinkUsed {
            on_now: [NoticeTopic::Expired].into()
        }
    );
    assert!(
        w.keeper
            .preferences(&o)
            .await
            .unwrap()
            .wants(NoticeTopic::Expired)
    );

    // A fresh link for everything turns off what is on; another finds nothing to do.
    assert_eq!(
        w.keeper.unsubscribe("link-2", &o, None).await.unwrap(),
        Unsubscribed::TurnedOff([NoticeTopic::Expired, NoticeTopic::ExpiringSoon].into())
    );
    assert_eq!(
        w.keeper.unsubscribe("link-3", &o, None).await.unwrap(),
        Unsubscribed::AlreadyOff
    );
    assert!(matches!(
        w.keeper
            .unsubscribe(&"x".repeat(MAX_LINK_ID_LEN + 1), &o, None)
            .await,
        Err(Error::InvalidInput(_))
    ));
}

/// Used links are remembered in the store (a new keeper on the same store knows them)
/// and forgotten once older than the retention, on a later first use.
#[tokio::test]
async fn used_links_live_in_the_store_and_are_pruned() {
    let w = world();
    let o = OwnerId::new("o");
    w.keeper.unsubscribe("old", &o, None).await.unwrap();
    let again = Keeper::builder(w.store.clone(), w.graph.clone())
        .clock(std::sync::Arc::new(w.clock.clone()))
        .build()
        .unwrap();
    assert!(matches!(
        again.unsubscribe("old", &o, None).await.unwrap(),
        Unsubscribed::LinkUsed { .. }
    ));
    w.clock.advance(USED_LINK_RETENTION + hours(1));
    again.unsubscribe("new", &o, None).await.unwrap();
    assert!(
        w.store.mark_link_used("old", w.clock.now()).await.unwrap(),
        "pruned after the retention"
    );
    assert!(!w.store.mark_link_used("new", w.clock.now()).await.unwrap());
}
