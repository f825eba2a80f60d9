//! #29.4 and #29.5 at the keeper: a connect never rolls a fresher token back (typed
//! refusal, `force` to override, the same token again changes nothing), and the
//! wrong-button hint finds the other kind by username when the ids differ.

mod common;

use chrono::TimeDelta;
use common::*;
use lightwidget_core::*;

fn account(owner: &str, ig: &str) -> NewAccount {
    NewAccount::new(owner, ConnectionKind::Consumer, ig, "shop").with_entitlements(Entitlements {
        notifications: true,
    })
}

async fn rows(w: &World, id: AccountId) -> usize {
    w.keeper
        .history(id, HistoryQuery::default())
        .await
        .unwrap()
        .len()
}

#[tokio::test]
async fn an_older_token_is_refused_with_nothing_saved_unless_forced() {
    let w = world();
    let now = w.clock.now();
    let fresh = w.graph.token(now - TimeDelta::days(1));
    let id = w
        .keeper
        .connect(account("a", "555"), fresh.clone())
        .await
        .unwrap();
    let before = rows(&w, id).await;

    let old = w.graph.token(now - TimeDelta::days(10));
    let err = w
        .keeper
        .connect(account("b", "555"), old.clone())
        .await
        .unwrap_err();
    match &err {
        Error::StaleToken {
            account,
            issued_at,
            held_issued_at,
            ..
        } => {
            assert_eq!(*account, id);
            assert_eq!(*issued_at, Some(old.issued_at));
            assert_eq!(*held_issued_at, fresh.issued_at);
        }
        other => panic!("expected StaleToken, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(msg.contains("older") && msg.contains("force"), "{msg}");
    assert!(!msg.contains(old.secret()) && !msg.contains(fresh.secret()));
    assert!(!format!("{err:?}").contains(old.secret()));
    assert!(w.keeper.access_token(id).await.unwrap().same_value(&fresh));
    assert_eq!(rows(&w, id).await, before, "no row");
    assert_eq!(
        w.keeper.owners(id).await.unwrap().len(),
        1,
        "b did not join"
    );
    assert!(w.hooks.renewed().is_empty());

    // Forced: installed on purpose, one `reconnected` row, b joins.
    let (same_id, outcome) = w
        .keeper
        .connect_with(
            account("b", "555"),
            old.clone(),
            ConnectOptions::default().force(true),
        )
        .await
        .unwrap();
    assert_eq!((same_id, outcome), (id, ConnectOutcome::Renewed));
    assert!(w.keeper.access_token(id).await.unwrap().same_value(&old));
    assert_eq!(w.keeper.owners(id).await.unwrap().len(), 2);
    let h = w.keeper.history(id, HistoryQuery::default()).await.unwrap();
    assert_eq!(
        h.iter()
            .filter(|e| e.event.kind.name() == "reconnected")
            .count(),
        1
    );
}

#[tokio::test]
async fn re_running_an_import_after_a_refresh_never_rolls_the_token_back() {
    let w = world();
    // Imported 40 days old: inside the refresh window.
    let imported = w.graph.token(w.clock.now() - TimeDelta::days(40));
    let id = w
        .keeper
        .connect(account("a", "777"), imported.clone())
        .await
        .unwrap();
    w.clock.advance(TimeDelta::minutes(1));
    assert_eq!(w.keeper.sweep().await.unwrap().refreshed, 1);
    let refreshed = w.keeper.access_token(id).await.unwrap();
    assert!(!refreshed.same_value(&imported));
    let before = rows(&w, id).await;

    // The same import file again, for every owner.
    for owner in ["a", "b"] {
        let err = w
            .keeper
            .connect(account(owner, "777"), imported.clone())
            .await
            .unwrap_err();
        assert!(matches!(err, Error::StaleToken { .. }), "{err}");
    }
    assert!(
        w.keeper
            .access_token(id)
            .await
            .unwrap()
            .same_value(&refreshed)
    );
    assert_eq!(rows(&w, id).await, before);
}

#[tokio::test]
async fn the_same_token_again_changes_nothing_but_metadata() {
    let w = world();
    let t = w.graph.token(w.clock.now() - TimeDelta::days(1));
    let id = w
        .keeper
        .connect(account("a", "888"), t.clone())
        .await
        .unwrap();
    let before = rows(&w, id).await;
    let status = w.keeper.status(id).await.unwrap();
    // Again, now carrying a Facebook user id: no row, no hook, the id is stored.
    let (again, outcome) = w
        .keeper
        .connect_with(
            account("a", "888").with_fb_user_id("10150000000000042"),
            t.clone(),
            ConnectOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!((again, outcome), (id, ConnectOutcome::Unchanged));
    assert_eq!(rows(&w, id).await, before, "no reconnected row");
    assert!(w.hooks.renewed().is_empty());
    assert_eq!(
        w.keeper.status(id).await.unwrap().next_action_at,
        status.next_action_at
    );
    let by_fb = w.store.find_by_fb_user("10150000000000042").await.unwrap();
    assert_eq!(by_fb.len(), 1);
    // Even forced, the same token is not re-installed.
    let (_, outcome) = w
        .keeper
        .connect_with(
            account("a", "888"),
            t,
            ConnectOptions::default().force(true),
        )
        .await
        .unwrap();
    assert_eq!(outcome, ConnectOutcome::Unchanged);
    assert_eq!(rows(&w, id).await, before);
}

#[tokio::test]
async fn an_unknown_issue_time_compares_by_expiry() {
    let w = world();
    let now = w.clock.now();
    let held = w.graph.token(now - TimeDelta::days(1)); // expires in 59 days
    let id = w
        .keeper
        .connect(account("a", "999"), held.clone())
        .await
        .unwrap();
    let unknown = ConnectOptions::default().issued_at_unknown(true);
    // Issued "now" as a stand-in, but it expires before the held token: older.
    let earlier = Token::new("IGAAearlier", now).expiring_at(now + TimeDelta::days(58));
    let err = w
        .keeper
        .connect_with(account("a", "999"), earlier, unknown)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::StaleToken {
                issued_at: None,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("unknown time"), "{err}");
    // A token that never expires cannot be shown newer either.
    let never = Token::new("IGAAnever", now);
    assert!(matches!(
        w.keeper
            .connect_with(account("a", "999"), never, unknown)
            .await,
        Err(Error::StaleToken { .. })
    ));
    // A later expiry is newer.
    let later = Token::new("IGAAlater", now).expiring_at(now + TimeDelta::days(60));
    let (_, outcome) = w
        .keeper
        .connect_with(account("a", "999"), later.clone(), unknown)
        .await
        .unwrap();
    assert_eq!(outcome, ConnectOutcome::Renewed);
    assert!(w.keeper.access_token(id).await.unwrap().same_value(&later));
}

#[tokio::test]
async fn the_hint_finds_the_other_kind_by_username_not_only_by_id() {
    let w = world();
    let t = w.graph.token(w.clock.now());
    // Facebook Login stored the Instagram business account id ...
    w.keeper
        .connect(
            NewAccount::new(
                "o",
                ConnectionKind::Business,
                "17841400000000555",
                "Dunn.Ortho812",
            ),
            t.clone(),
        )
        .await
        .unwrap();
    // ... Instagram Login names the same account with its Instagram-scoped id.
    let renewal = w.graph.token(w.clock.now());
    let err = w
        .keeper
        .reconnect_as(
            ConnectionKind::Consumer,
            "27000000000000555",
            "dunn.ortho812",
            renewal.clone(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::NotConnected {
                kind: ConnectionKind::Consumer,
                hint: Some(ConnectionKind::Business),
                ..
            }
        ),
        "{err:?}"
    );
    // Without the username (the id alone) there is no hint; another username, none.
    assert!(matches!(
        w.keeper
            .reconnect(
                ConnectionKind::Consumer,
                "27000000000000555",
                renewal.clone()
            )
            .await,
        Err(Error::NotConnected { hint: None, .. })
    ));
    assert!(matches!(
        w.keeper
            .reconnect_as(
                ConnectionKind::Consumer,
                "27000000000000555",
                "other",
                renewal
            )
            .await,
        Err(Error::NotConnected { hint: None, .. })
    ));
}

mod props {
    use chrono::{DateTime, Utc};
    use lightwidget_core::lifecycle::{Freshness, IssuedAt, freshness};
    use lightwidget_core::*;
    use proptest::prelude::*;

    fn any_instant() -> impl Strategy<Value = DateTime<Utc>> {
        let lo = DateTime::<Utc>::MIN_UTC.timestamp();
        let hi = DateTime::<Utc>::MAX_UTC.timestamp();
        prop_oneof![
            Just(DateTime::<Utc>::MIN_UTC),
            Just(DateTime::<Utc>::MAX_UTC),
            (lo..=hi).prop_map(|s| DateTime::from_timestamp(s, 0).unwrap()),
        ]
    }

    fn any_token() -> impl Strategy<Value = Token> {
        (
            "[A-Za-z]{1,3}",
            any_instant(),
            proptest::option::of(any_instant()),
        )
            .prop_map(|(v, issued, exp)| {
                let t = Token::new(format!("IGAA{v}"), issued);
                match exp {
                    Some(at) => t.expiring_at(at),
                    None => t,
                }
            })
    }

    proptest! {
        /// Any dates: a verdict, never a panic; with known issue times "older" is exactly
        /// "issued before", and the same value is always `Same`.
        #[test]
        fn freshness_is_total_and_follows_its_definition(held in any_token(), given in any_token()) {
            let known = freshness(&held, &given, IssuedAt::Known);
            let unknown = freshness(&held, &given, IssuedAt::Unknown);
            if held.same_value(&given) {
                prop_assert_eq!(known, Freshness::Same);
                prop_assert_eq!(unknown, Freshness::Same);
            } else {
                prop_assert_eq!(known == Freshness::Older, given.issued_at < held.issued_at);
                prop_assert_eq!(
                    unknown == Freshness::Newer,
                    matches!((given.expires_at, held.expires_at), (Some(g), Some(h)) if g > h)
                );
            }
        }

        /// Connect with any dates and options: an id, or a typed refusal.
        #[test]
        fn connect_with_any_dates_never_panics(
            first in any_token(),
            second in any_token(),
            force in any::<bool>(),
            unknown in any::<bool>(),
        ) {
            let w = super::world();
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                let opts = ConnectOptions::default().force(force).issued_at_unknown(unknown);
                let a = NewAccount::new("o", ConnectionKind::Consumer, "1", "shop");
                let _ = w.keeper.connect_with(a.clone(), first, opts).await;
                match w.keeper.connect_with(a, second, opts).await {
                    Ok(_)
                    | Err(Error::StaleToken { .. })
                    | Err(Error::InvalidToken(_)) => {}
                    Err(e) => panic!("unexpected {e:?}"),
                }
            });
        }
    }
}
