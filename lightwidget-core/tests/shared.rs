//! Shared accounts (#17.1) and the app-scoped Facebook user id (#17.4), through the
//! Keeper: one token, many owners, each with their own entitlements, preferences,
//! notices and history.

mod common;

use chrono::TimeDelta;
use common::*;
use lightwidget_core::*;

fn owner(o: &str) -> OwnerId {
    OwnerId::new(o)
}

async fn join(w: &World, who: &str, user: &str, entitled: bool) -> AccountId {
    w.keeper
        .connect(
            NewAccount::new(who, ConnectionKind::Consumer, user, format!("@{user}"))
                .with_entitlements(Entitlements {
                    notifications: entitled,
                }),
            w.graph.token(w.clock.now()),
        )
        .await
        .expect("join")
}

/// Each owner's copy of a notice is decided by their own plan and preferences, and
/// shows only in their own notices and history.
#[tokio::test]
async fn each_owner_gets_their_own_copy_of_a_notice() {
    let w = world();
    let id = w.connect("agency", "shop", TimeDelta::days(1)).await; // entitled
    w.clock.advance(TimeDelta::minutes(1));
    assert_eq!(join(&w, "client", "shop", false).await, id); // free plan
    assert_eq!(join(&w, "intern", "shop", true).await, id); // entitled, not opted in
    w.opt_in("agency").await;
    w.opt_in("client").await;
    w.clock.advance(TimeDelta::minutes(1));
    w.keeper
        .deauthorize(ConnectionKind::Consumer, "shop")
        .await
        .unwrap();
    let report = w.keeper.dispatch_outbox().await.unwrap();
    assert_eq!((report.sent, report.suppressed), (1, 2), "{report:?}");
    let sent = w.notifier.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0.owner, owner("agency"));
    assert_eq!(sent[0].1, Recipient::Email("agency@example.com".into()));

    for (who, state) in [
        ("agency", NoticeState::Delivered),
        ("client", NoticeState::Suppressed),
        ("intern", NoticeState::Suppressed),
    ] {
        let mine = w.keeper.notices_for(&owner(who), id).await.unwrap();
        assert_eq!(mine.len(), 1, "{who}: one copy of their own");
        assert_eq!(mine[0].0.owner, owner(who));
        assert_eq!(mine[0].1, state, "{who}");
        assert!(mine[0].0.dedupe_key.ends_with(&format!("#{who}")));
    }
    let client: Vec<&str> = w
        .keeper
        .history_for(&owner("client"), id, HistoryQuery::default())
        .await
        .unwrap()
        .iter()
        .map(|e| e.event.kind.name())
        .collect();
    assert_eq!(
        client,
        [
            "notice_suppressed",
            "revoked",
            "reconnected",
            "reconnected",
            "joined"
        ],
        "the client's view: their joining and the renewals since (theirs, the intern's), \
         not the agency's connect, not another owner's notice or joining"
    );
    let agency = w
        .keeper
        .history_for(&owner("agency"), id, HistoryQuery::default())
        .await
        .unwrap();
    assert!(
        agency
            .iter()
            .all(|e| !matches!(e.event.kind, TokenEventKind::Joined { .. })),
        "the agency does not see who else joined"
    );
    assert_eq!(
        agency
            .iter()
            .filter(|e| e.event.kind.name() == "notice_sent")
            .count(),
        1
    );
    // The operator's history has all of it.
    assert_eq!(
        w.keeper
            .history(id, HistoryQuery::default())
            .await
            .unwrap()
            .iter()
            .filter(|e| e.event.kind.name().starts_with("notice_"))
            .count(),
        3
    );
    assert!(matches!(
        w.keeper.notices_for(&owner("stranger"), id).await,
        Err(Error::UnknownAccount(_))
    ));
}

/// A renewal by any owner fixes the account for all of them, and the widget-first hook
/// fires for every owner.
#[tokio::test]
async fn a_renewal_by_any_owner_fixes_it_for_all() {
    let w = world();
    let id = w.connect("agency", "shop", TimeDelta::days(1)).await;
    join(&w, "client", "shop", true).await;
    w.keeper
        .deauthorize(ConnectionKind::Consumer, "shop")
        .await
        .unwrap();
    for who in ["agency", "client"] {
        let st = w.keeper.status_for(&owner(who), id).await.unwrap();
        assert!(!st.status.is_active(), "{who} sees NOT ACTIVE");
    }
    let before = w.hooks.renewed_for().len();
    // The client renews (their connect is a renewal of the shared account).
    join(&w, "client", "shop", true).await;
    for who in ["agency", "client"] {
        let st = w.keeper.status_for(&owner(who), id).await.unwrap();
        assert!(st.status.is_active(), "{who} sees ACTIVE again");
    }
    let hooked: Vec<OwnerId> = w.hooks.renewed_for()[before..]
        .iter()
        .map(|(_, o)| o.clone())
        .collect();
    assert_eq!(hooked, [owner("agency"), owner("client")]);
    // on_expired fired once per owner too.
    assert_eq!(w.hooks.expired(), [id, id]);
}

/// Per-owner entitlements: one owner's plan never changes another's.
#[tokio::test]
async fn entitlements_are_per_owner() {
    let w = world();
    let id = w.connect("agency", "shop", TimeDelta::days(1)).await;
    join(&w, "client", "shop", false).await;
    w.keeper
        .set_owner_entitlements(
            &owner("client"),
            id,
            Entitlements {
                notifications: true,
            },
        )
        .await
        .unwrap();
    assert!(
        w.keeper
            .status_for(&owner("client"), id)
            .await
            .unwrap()
            .account
            .entitlements
            .notifications
    );
    w.keeper
        .set_owner_entitlements(&owner("agency"), id, Entitlements::default())
        .await
        .unwrap();
    let ms = w.keeper.owners(id).await.unwrap();
    assert!(!ms[0].entitlements.notifications && ms[1].entitlements.notifications);
    assert!(
        !w.keeper
            .status(id)
            .await
            .unwrap()
            .account
            .entitlements
            .notifications,
        "the primary's mirror follows"
    );
    assert!(matches!(
        w.keeper
            .set_owner_entitlements(&owner("stranger"), id, Entitlements::default())
            .await,
        Err(Error::UnknownAccount(_))
    ));
    // A reconnect by each owner sets their own entitlements, nobody else's.
    join(&w, "agency", "shop", true).await;
    join(&w, "client", "shop", false).await;
    let ms = w.keeper.owners(id).await.unwrap();
    assert!(ms[0].entitlements.notifications && !ms[1].entitlements.notifications);
    assert!(
        w.keeper
            .status(id)
            .await
            .unwrap()
            .account
            .entitlements
            .notifications,
        "the primary's reconnect updated the mirror; the client's did not"
    );
}

/// Facebook Login's callbacks name the app-scoped Facebook user id: they match it, never
/// an Instagram id that happens to be equal.
#[tokio::test]
async fn facebook_callbacks_match_the_app_scoped_user_id_not_the_instagram_id() {
    let w = world();
    let fb_user = "10158000000000001";
    let ig_business = "17841400000000077";
    let business = w
        .keeper
        .connect(
            NewAccount::new("agency", ConnectionKind::Business, ig_business, "shop")
                .with_page_id("page-1")
                .with_fb_user_id(fb_user),
            w.graph.token(w.clock.now()),
        )
        .await
        .unwrap();
    // A consumer account whose Instagram id is the same digits as the Facebook user id.
    let consumer = w.connect("other", fb_user, TimeDelta::days(1)).await;
    assert_eq!(
        w.keeper
            .status(business)
            .await
            .unwrap()
            .account
            .fb_user_id
            .as_deref(),
        Some(fb_user)
    );
    assert!(
        w.keeper
            .deauthorize_facebook_user(ig_business)
            .await
            .unwrap()
            .is_empty(),
        "the Instagram id is not a Facebook user id"
    );
    assert_eq!(
        w.keeper.deauthorize_facebook_user(fb_user).await.unwrap(),
        [business]
    );
    assert!(matches!(
        w.keeper.status(business).await.unwrap().status,
        TokenStatus::Revoked { .. }
    ));
    assert!(w.keeper.status(consumer).await.unwrap().status.is_active());
    // A second owner's connect keeps (or updates) the Facebook user id.
    w.keeper
        .connect(
            NewAccount::new("client", ConnectionKind::Business, ig_business, "shop")
                .with_page_id("page-1"),
            w.graph.token(w.clock.now()),
        )
        .await
        .unwrap();
    assert_eq!(
        w.keeper
            .status(business)
            .await
            .unwrap()
            .account
            .fb_user_id
            .as_deref(),
        Some(fb_user)
    );
    // Data deletion removes it for everyone, and says what it deleted.
    assert_eq!(
        w.keeper.delete_facebook_user(fb_user).await.unwrap(),
        [business]
    );
    assert!(matches!(
        w.keeper.status(business).await,
        Err(Error::UnknownAccount(_))
    ));
    assert!(
        w.keeper
            .statuses(&owner("client"))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        w.keeper.status(consumer).await.is_ok(),
        "the other account is untouched"
    );
    assert!(
        w.keeper
            .delete_facebook_user(fb_user)
            .await
            .unwrap()
            .is_empty()
    );
}
