//! Shared accounts: owners join and leave, the last leave deletes, per-owner notice
//! copies and owner-scoped history, and the app-scoped Facebook user id.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use lightwidget_core::{testkit, InMemoryStore};
//! testkit::owners_join_and_leave(&InMemoryStore::new()).await;
//! testkit::notices_fan_out_per_owner(&InMemoryStore::new()).await;
//! # }
//! ```

use crate::Acknowledged;
use std::sync::Arc;

use super::super::fixtures::{LEASE, insert, notice, record, secs, t0, transition};
use crate::{
    AccountRecord, Departure, Entitlements, HistoryQuery, Membership, Notice, OutboxOutcome,
    OwnerId, StoreError, TokenEvent, TokenEventKind, TokenStore,
};

/// The copies of `n` for the members of `r`'s account, as the keeper makes them before a
/// commit ([`crate::lifecycle::fan_out`]).
async fn per_owner<S: TokenStore + ?Sized>(s: &S, r: &AccountRecord, n: Notice) -> Vec<Notice> {
    let owners: Vec<OwnerId> = s
        .owners(r.account.id)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.owner)
        .collect();
    crate::lifecycle::fan_out(&[n], &owners)
}

fn member(owner: &str, notifications: bool, secs_after: i64) -> Membership {
    Membership::new(
        owner,
        Entitlements { notifications },
        t0() + secs(secs_after),
    )
}

fn names<S: ?Sized>(ms: &[Membership], _: &S) -> Vec<String> {
    ms.iter().map(|m| m.owner.0.clone()).collect()
}

/// Insert makes the record's owner the first member; join adds (or updates), leave
/// removes, the last leave deletes the account with its token, history and notices;
/// a primary who leaves hands the account to the earliest remaining member.
pub async fn owners_join_and_leave<S: TokenStore + ?Sized>(s: &S) {
    let r = record("agency", "1", Some(t0()));
    let id = r.account.id;
    insert(s, &r).await;
    let ms = s.owners(id).await.unwrap();
    assert_eq!(names(&ms, s), ["agency"], "insert adds the first owner");
    assert!(
        ms[0].entitlements.notifications,
        "with the record's entitlements"
    );

    assert!(
        s.join(id, &member("client", false, 1)).await.unwrap(),
        "joined"
    );
    assert!(
        !s.join(id, &member("client", true, 2)).await.unwrap(),
        "a second join only updates"
    );
    let ms = s.owners(id).await.unwrap();
    assert_eq!(names(&ms, s), ["agency", "client"], "in join order");
    assert!(ms[1].entitlements.notifications, "entitlements updated");
    assert_eq!(ms[1].joined_at, t0() + secs(1), "joined_at kept");

    let seen = s.list_by_owner(&OwnerId::new("client")).await.unwrap();
    assert_eq!(seen.len(), 1, "a member lists the shared account");
    assert_eq!(seen[0].account.id, id);
    assert_eq!(
        seen[0].account.owner.as_str(),
        "client",
        "viewed as the member"
    );
    assert_eq!(
        s.list_by_owner(&OwnerId::new("agency"))
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        s.join(crate::AccountId::new(), &member("x", true, 0))
            .await
            .is_err_and(|e| matches!(e, StoreError::UnknownAccount(_))),
        "joining an unknown account"
    );

    // The primary leaves: the client keeps the account and becomes the primary.
    assert_eq!(
        s.leave(id, &OwnerId::new("agency"), t0() + secs(3))
            .await
            .unwrap(),
        Departure::Left
    );
    assert_eq!(
        s.leave(id, &OwnerId::new("agency"), t0() + secs(3))
            .await
            .unwrap(),
        Departure::NotAMember
    );
    let got = s.get(id).await.unwrap().expect("still there");
    assert_eq!(
        got.account.owner.as_str(),
        "client",
        "the next member is primary"
    );
    assert_eq!(
        got.state.token.secret(),
        r.state.token.secret(),
        "the token is kept"
    );
    assert!(
        s.list_by_owner(&OwnerId::new("agency"))
            .await
            .unwrap()
            .is_empty()
    );
    let hist = s.history(id, HistoryQuery::default()).await.unwrap();
    assert!(
        hist.iter().any(|h| matches!(&h.event.kind, TokenEventKind::Left { owner } if owner.as_str() == "agency")
            && h.owner.as_ref().is_some_and(|o| o.as_str() == "agency")),
        "a Left event of the agency: {hist:?}"
    );

    // The last leave deletes everything, and the account can be connected afresh.
    assert_eq!(
        s.leave(id, &OwnerId::new("client"), t0() + secs(4))
            .await
            .unwrap(),
        Departure::Deleted
    );
    assert!(s.get(id).await.unwrap().is_none(), "account deleted");
    assert!(s.find(r.account.kind, "1").await.unwrap().is_none());
    assert!(matches!(
        s.owners(id).await,
        Err(StoreError::UnknownAccount(_))
    ));
    assert!(matches!(
        s.history(id, HistoryQuery::default()).await,
        Err(StoreError::UnknownAccount(_))
    ));
    assert!(s.notices(id).await.unwrap().is_empty());
    insert(s, &record("agency", "1", Some(t0()))).await;
}

/// Many owners joining one account at once all end up members of that one account.
pub async fn concurrent_joins<S: TokenStore>(s: Arc<S>) {
    let r = record("first", "shared", Some(t0()));
    let id = r.account.id;
    insert(&*s, &r).await;
    let mut tasks = Vec::new();
    for i in 0..24 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let mut joined = 0;
            // Each owner joins twice: the second is an update.
            for _ in 0..2 {
                loop {
                    match s
                        .join(id, &member(&format!("o{i:02}"), i % 2 == 0, i))
                        .await
                    {
                        Ok(j) => {
                            joined += usize::from(j);
                            break;
                        }
                        Err(e) if e.is_transient() => tokio::task::yield_now().await,
                        Err(e) => panic!("join: {e}"),
                    }
                }
            }
            joined
        }));
    }
    let mut joined = 0;
    for t in tasks {
        joined += t.await.unwrap();
    }
    assert_eq!(joined, 24, "every owner joined exactly once");
    let ms = s.owners(id).await.unwrap();
    assert_eq!(ms.len(), 25, "all are members: {:?}", names(&ms, &*s));
    assert_eq!(ms[0].owner.as_str(), "first", "the first owner stays first");
    for i in 0..24 {
        let o = OwnerId::new(format!("o{i:02}"));
        let mine = s.list_by_owner(&o).await.unwrap();
        assert_eq!(mine.len(), 1, "{o} sees one account");
        assert_eq!(mine[0].account.id, id);
    }
    assert_eq!(s.count_by_status().await.unwrap().active, 1, "one account");
}

/// The per-owner copies of a notice (made by the keeper, `crate::lifecycle::fan_out`)
/// are enqueued as given, each with its owner in the dedupe key; an owner sees only
/// their copies, their own notice outcomes, and the token's events from when they
/// joined. (That the keeper makes one copy per member is
/// [`keeper_fans_out_notices_per_owner`](super::keeper_fans_out_notices_per_owner).)
pub async fn notices_fan_out_per_owner<S: TokenStore + ?Sized>(s: &S) {
    let r = record("agency", "1", Some(t0()));
    let id = r.account.id;
    insert(s, &r).await;
    // A token event before the client joined: the client does not see it.
    let cur = s.get(id).await.unwrap().unwrap();
    let mut t = transition(&cur, Some(t0()));
    t.events.push(TokenEvent::new(
        t0() + secs(1),
        TokenEventKind::Refreshed { expires_at: None },
    ));
    s.commit(&t).await.unwrap();
    assert!(s.join(id, &member("client", true, 2)).await.unwrap());
    let cur = s.get(id).await.unwrap().unwrap();
    let mut t = transition(&cur, Some(t0()));
    t.events
        .push(TokenEvent::new(t0() + secs(3), TokenEventKind::Revoked));
    t.notices = per_owner(s, &cur, notice(&cur, "e1:revoked", t0() + secs(3))).await;
    s.commit(&t).await.unwrap();
    // The same notice again (a retried commit) adds nothing.
    let cur = s.get(id).await.unwrap().unwrap();
    let mut t = transition(&cur, Some(t0()));
    t.notices = per_owner(s, &cur, notice(&cur, "e1:revoked", t0() + secs(4))).await;
    s.commit(&t).await.unwrap();

    let all = s.notices(id).await.unwrap();
    let mut owners: Vec<&str> = all.iter().map(|(n, _)| n.owner.as_str()).collect();
    owners.sort_unstable();
    assert_eq!(owners, ["agency", "client"], "one copy per owner: {all:?}");
    for (n, _) in &all {
        assert!(
            n.dedupe_key.ends_with(&format!("#{}", n.owner)),
            "the dedupe key names the owner: {}",
            n.dedupe_key
        );
        assert!(n.is_owner_copy());
    }
    assert_ne!(all[0].0.id, all[1].0.id, "distinct ids");

    // Deliver the client's copy, suppress the agency's.
    let taken = s
        .take_outbox(t0() + secs(10), 10, LEASE, "w")
        .await
        .unwrap();
    assert_eq!(taken.len(), 2);
    for e in &taken {
        let outcome = if e.notice.owner.as_str() == "client" {
            OutboxOutcome::Delivered {
                channels: vec!["email".into()],
            }
        } else {
            OutboxOutcome::Suppressed {
                why: "not opted in".into(),
            }
        };
        s.ack_outbox(
            e.notice.id,
            e.version,
            &Acknowledged::of(&e.notice, &outcome),
            t0() + secs(11),
        )
        .await
        .unwrap();
    }

    let client = s
        .history_for(id, &OwnerId::new("client"), HistoryQuery::default())
        .await
        .unwrap();
    let kinds: Vec<&str> = client.iter().map(|h| h.event.kind.name()).collect();
    assert_eq!(
        kinds,
        ["notice_sent", "revoked", "joined"],
        "the client: token events since joining, and only their own notices"
    );
    assert!(
        client
            .iter()
            .all(|h| h.owner.is_none() || h.owner.as_ref().is_some_and(|o| o.as_str() == "client"))
    );
    let agency = s
        .history_for(id, &OwnerId::new("agency"), HistoryQuery::default())
        .await
        .unwrap();
    let kinds: Vec<&str> = agency.iter().map(|h| h.event.kind.name()).collect();
    assert_eq!(
        kinds,
        ["notice_suppressed", "revoked", "refreshed", "connected"],
        "the agency: all token events, its own notices, not the client's joining"
    );
    // Paging works on the scoped history too.
    let page = s
        .history_for(
            id,
            &OwnerId::new("agency"),
            HistoryQuery {
                before: Some(agency[1].seq),
                limit: 1,
            },
        )
        .await
        .unwrap();
    assert_eq!(page, agency[2..3]);
    assert!(matches!(
        s.history_for(id, &OwnerId::new("stranger"), HistoryQuery::default())
            .await,
        Err(StoreError::UnknownAccount(_))
    ));
    // The operator's history has everything.
    assert_eq!(
        s.history(id, HistoryQuery::default()).await.unwrap().len(),
        6
    );
}

/// The app-scoped Facebook user id is stored at insert, found by
/// `find_by_fb_user` (never by the Instagram id), kept by commits that carry none and
/// changed by `update_account` (for commits that carry one, see
/// [`commits_store_a_new_fb_user_id`](super::commits_store_a_new_fb_user_id)).
pub async fn facebook_user_ids<S: TokenStore + ?Sized>(s: &S) {
    let mut r = record("o", "17841400000000001", Some(t0()));
    r.account.kind = crate::ConnectionKind::Business;
    r.account.fb_user_id = Some("10150000000000009".into());
    r.account.page_id = Some("page-1".into());
    let id = r.account.id;
    insert(s, &r).await;
    let mut other = record("o", "17841400000000002", Some(t0()));
    other.account.kind = crate::ConnectionKind::Business;
    other.account.fb_user_id = Some("10150000000000009".into());
    insert(s, &other).await;
    insert(s, &record("o", "10150000000000009", Some(t0()))).await;

    let got = s.get(id).await.unwrap().unwrap();
    assert_eq!(got.account.fb_user_id.as_deref(), Some("10150000000000009"));
    let found = s.find_by_fb_user("10150000000000009").await.unwrap();
    let mut ids: Vec<_> = found.iter().map(|r| r.account.id).collect();
    ids.sort();
    let mut want = vec![id, other.account.id];
    want.sort();
    assert_eq!(
        ids, want,
        "both accounts of that Facebook user, not the IG id match"
    );
    assert!(
        s.find_by_fb_user("17841400000000001")
            .await
            .unwrap()
            .is_empty(),
        "an Instagram id is not a Facebook user id"
    );
    // A commit (e.g. a refresh) keeps it; update_account changes it.
    let mut t = transition(&got, Some(t0() + secs(5)));
    t.account.fb_user_id = None;
    s.commit(&t).await.unwrap();
    let got = s.get(id).await.unwrap().unwrap();
    assert_eq!(got.account.fb_user_id.as_deref(), Some("10150000000000009"));
    let mut a = got.account.clone();
    a.fb_user_id = Some("10150000000000010".into());
    s.update_account(&a).await.unwrap();
    assert_eq!(
        s.find_by_fb_user("10150000000000010").await.unwrap().len(),
        1
    );
    assert_eq!(
        s.find_by_fb_user("10150000000000009").await.unwrap().len(),
        1
    );
    let claimed = s.claim_due(t0() + secs(10), 10, LEASE, "w").await.unwrap();
    let c = claimed
        .iter()
        .find(|c| c.account.id == id)
        .expect("claimed");
    assert_eq!(c.account.fb_user_id.as_deref(), Some("10150000000000010"));
}

// ---- Lookup by username (#29.4) ----

/// `find_by_username` finds the accounts of one kind by username, ignoring ASCII case,
/// never those of the other kind nor by Instagram id, and follows `update_account`.
pub async fn usernames<S: TokenStore + ?Sized>(s: &S) {
    use crate::ConnectionKind::{Business, Consumer};
    let mut biz = record("o", "17841400000000101", Some(t0()));
    biz.account.kind = Business;
    biz.account.username = "Dunn.Ortho_812".into();
    insert(s, &biz).await;
    // The same person's Instagram Login connection: another id, same username.
    let mut ig = record("o", "27000000000000101", Some(t0()));
    ig.account.username = "dunn.ortho_812".into();
    insert(s, &ig).await;
    insert(s, &record("o", "dunn.ortho_812", Some(t0()))).await;

    let found = s
        .find_by_username(Business, "dunn.ortho_812")
        .await
        .unwrap();
    assert_eq!(
        found.iter().map(|r| r.account.id).collect::<Vec<_>>(),
        vec![biz.account.id],
        "the business account by username, ASCII case ignored"
    );
    assert_eq!(found[0].account.ig_user_id, "17841400000000101");
    let found = s
        .find_by_username(Consumer, "DUNN.ORTHO_812")
        .await
        .unwrap();
    assert_eq!(
        found.iter().map(|r| r.account.id).collect::<Vec<_>>(),
        vec![ig.account.id],
        "the consumer account only (an Instagram id is not a username)"
    );
    assert!(
        s.find_by_username(Business, "dunn.ortho")
            .await
            .unwrap()
            .is_empty(),
        "no prefix match"
    );
    assert!(
        s.find_by_username(Business, "dunn%ortho_812")
            .await
            .unwrap()
            .is_empty(),
        "no pattern match"
    );
    let mut a = biz.account.clone();
    a.username = "renamed.shop".into();
    s.update_account(&a).await.unwrap();
    assert!(
        s.find_by_username(Business, "dunn.ortho_812")
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        s.find_by_username(Business, "renamed.shop")
            .await
            .unwrap()
            .len(),
        1
    );
}
