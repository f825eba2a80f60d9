//! Writes that must agree are one store operation: a join of the primary owner sets the
//! account's entitlements with theirs, a commit that carries a new Facebook user id (a
//! reconnect) stores it, and a commit enqueues its notices exactly as given.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use lightwidget_core::{testkit, InMemoryStore};
//! testkit::join_sets_the_primary_entitlements(&InMemoryStore::new()).await;
//! testkit::commits_store_a_new_fb_user_id(&InMemoryStore::new()).await;
//! # }
//! ```

use super::super::fixtures::{LEASE, insert, notice, record, secs, t0, transition};
use crate::{ConnectionKind, Entitlements, Membership, OwnerId, TokenStore};

fn member(owner: &str, notifications: bool) -> Membership {
    Membership::new(owner, Entitlements { notifications }, t0() + secs(1))
}

/// `join` of the primary owner writes their membership and the account's entitlements
/// together; a join of anyone else leaves the account's entitlements alone.
pub async fn join_sets_the_primary_entitlements<S: TokenStore + ?Sized>(s: &S) {
    let r = record("agency", "1", Some(t0()));
    let id = r.account.id;
    insert(s, &r).await;
    let notif = |on: bool| Entitlements { notifications: on };
    assert!(!s.join(id, &member("agency", false)).await.unwrap());
    let got = s.get(id).await.unwrap().unwrap();
    assert_eq!(
        got.account.entitlements,
        notif(false),
        "the primary owner's join sets the account's entitlements"
    );
    assert_eq!(s.owners(id).await.unwrap()[0].entitlements, notif(false));

    assert!(s.join(id, &member("client", true)).await.unwrap());
    assert!(!s.join(id, &member("client", true)).await.unwrap());
    let got = s.get(id).await.unwrap().unwrap();
    assert_eq!(
        got.account.entitlements,
        notif(false),
        "another owner's join does not touch the account's entitlements"
    );
    assert_eq!(got.account.owner.as_str(), "agency");
    let seen = s.list_by_owner(&OwnerId::new("client")).await.unwrap();
    assert_eq!(
        seen[0].account.entitlements,
        notif(true),
        "the client's own"
    );

    assert!(!s.join(id, &member("agency", true)).await.unwrap());
    let got = s.get(id).await.unwrap().unwrap();
    assert_eq!(got.account.entitlements, notif(true), "and back");
}

/// A commit whose transition carries a Facebook user id stores it (a reconnect through
/// another Facebook user), through `commit` and `commit_many` alike; one that carries
/// none keeps the stored one.
pub async fn commits_store_a_new_fb_user_id<S: TokenStore + ?Sized>(s: &S) {
    let mut r = record("o", "17841400000000301", Some(t0()));
    r.account.kind = ConnectionKind::Business;
    r.account.fb_user_id = Some("10150000000000301".into());
    let id = r.account.id;
    insert(s, &r).await;

    let cur = s.get(id).await.unwrap().unwrap();
    let mut t = transition(&cur, Some(t0() + secs(5)));
    t.account.fb_user_id = Some("10150000000000302".into());
    s.commit(&t).await.unwrap();
    let got = s.get(id).await.unwrap().unwrap();
    assert_eq!(
        got.account.fb_user_id.as_deref(),
        Some("10150000000000302"),
        "commit stores a new Facebook user id"
    );
    assert_eq!(
        s.find_by_fb_user("10150000000000302").await.unwrap().len(),
        1
    );
    assert!(
        s.find_by_fb_user("10150000000000301")
            .await
            .unwrap()
            .is_empty()
    );

    let mut t = transition(&got, Some(t0() + secs(6)));
    t.account.fb_user_id = Some("10150000000000303".into());
    let results = s.commit_many(std::slice::from_ref(&t)).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let got = s.get(id).await.unwrap().unwrap();
    assert_eq!(
        got.account.fb_user_id.as_deref(),
        Some("10150000000000303"),
        "commit_many stores a new Facebook user id"
    );

    let mut t = transition(&got, Some(t0() + secs(7)));
    t.account.fb_user_id = None;
    s.commit_many(std::slice::from_ref(&t))
        .await
        .pop()
        .unwrap()
        .unwrap();
    let got = s.get(id).await.unwrap().unwrap();
    assert_eq!(
        got.account.fb_user_id.as_deref(),
        Some("10150000000000303"),
        "a commit that carries none keeps it"
    );
}

/// A commit enqueues its notices exactly as given: the store makes no copies of its own
/// (the keeper has made one per member already).
pub async fn notices_are_enqueued_as_given<S: TokenStore + ?Sized>(s: &S) {
    let r = record("agency", "1", Some(t0()));
    let id = r.account.id;
    insert(s, &r).await;
    assert!(s.join(id, &member("client", true)).await.unwrap());
    let cur = s.get(id).await.unwrap().unwrap();
    let mut t = transition(&cur, Some(t0()));
    let n = notice(&cur, "e1:revoked", t0() + secs(3)).for_owner(&OwnerId::new("client"));
    t.notices.push(n.clone());
    s.commit(&t).await.unwrap();
    let all = s.notices(id).await.unwrap();
    assert_eq!(all.len(), 1, "one notice given, one enqueued: {all:?}");
    assert_eq!(all[0].0, n, "as given");
}

/// A write of the account's own fields (`update_account`, the primary owner's `join`)
/// moves its version, so a commit computed from the record read before it is fenced out
/// ([`StoreError::Conflict`](crate::StoreError::Conflict)) instead of writing the old
/// username, Facebook user id or entitlements back.
pub async fn account_writes_fence_stale_commits<S: TokenStore + ?Sized>(s: &S) {
    let mut r = record("o", "17841400000000401", Some(t0()));
    r.account.kind = ConnectionKind::Business;
    r.account.fb_user_id = Some("10150000000000401".into());
    let id = r.account.id;
    insert(s, &r).await;

    let before = s.get(id).await.unwrap().unwrap();
    let mut a = before.account.clone();
    a.fb_user_id = Some("10150000000000402".into());
    a.username = "renamed".into();
    s.update_account(&a).await.unwrap();
    let stale = transition(&before, Some(t0() + secs(5)));
    assert!(
        matches!(s.commit(&stale).await, Err(crate::StoreError::Conflict(_))),
        "a commit read before update_account is fenced out"
    );
    let got = s.get(id).await.unwrap().unwrap();
    assert_eq!(got.account.fb_user_id.as_deref(), Some("10150000000000402"));
    assert_eq!(got.account.username, "renamed");

    // The primary owner's entitlements through `join`.
    let read = s.get(id).await.unwrap().unwrap();
    let e = crate::Entitlements {
        notifications: !read.account.entitlements.notifications,
    };
    let me = crate::Membership::new(read.account.owner.clone(), e, t0());
    s.join(id, &me).await.unwrap();
    let stale = transition(&read, Some(t0() + secs(6)));
    let results = s.commit_many(std::slice::from_ref(&stale)).await;
    assert!(
        matches!(results.as_slice(), [Err(crate::StoreError::Conflict(_))]),
        "a commit read before the primary owner's join is fenced out: {results:?}"
    );
    let got = s.get(id).await.unwrap().unwrap();
    assert_eq!(got.account.entitlements, e);
    // A commit from the fresh record goes through.
    s.commit(&transition(&got, Some(t0() + secs(7))))
        .await
        .unwrap();
}

/// A delete racing a commit of the same account (a data-deletion request while a sweep
/// commits a result with history and a notice) leaves nothing of the account behind,
/// whichever goes first: no history, no notice in the outbox.
pub async fn delete_racing_a_commit_leaves_nothing_behind<S: TokenStore + ?Sized + 'static>(
    s: std::sync::Arc<S>,
) {
    for i in 0..20 {
        let r = record("o", &format!("race{i}"), Some(t0()));
        let id = r.account.id;
        insert(&*s, &r).await;
        let cur = s.get(id).await.unwrap().unwrap();
        let mut t = transition(&cur, Some(t0() + secs(60)));
        t.events.push(crate::TokenEvent::new(
            t0() + secs(1),
            crate::TokenEventKind::Revoked,
        ));
        t.notices
            .push(notice(&cur, &format!("race{i}"), t0() + secs(1)));
        let (committed, deleted) = tokio::join!(s.commit(&t), s.delete(id));
        assert!(
            matches!(
                committed,
                Ok(()) | Err(crate::StoreError::Conflict(_) | crate::StoreError::UnknownAccount(_))
            ) || matches!(&committed, Err(e) if e.is_transient()),
            "{committed:?}"
        );
        assert!(deleted.unwrap(), "the account was there to delete");
        assert!(s.get(id).await.unwrap().is_none());
        let history = s
            .history(id, crate::HistoryQuery::default())
            .await
            .unwrap_or_default();
        assert!(
            history.is_empty(),
            "history of a deleted account: {history:?}"
        );
        let notices = s.notices(id).await.unwrap_or_default();
        assert!(
            notices.is_empty(),
            "notices of a deleted account: {notices:?}"
        );
    }
    let left = s
        .take_outbox(t0() + secs(86_400), 1000, LEASE, "w")
        .await
        .unwrap();
    assert!(
        left.is_empty(),
        "outbox entries of deleted accounts: {left:?}"
    );
}
