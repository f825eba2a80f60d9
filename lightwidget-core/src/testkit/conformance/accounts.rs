//! Accounts: insert, read, find, update, delete, preferences, counts, heartbeat.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use lightwidget_core::{testkit, InMemoryStore};
//! testkit::insert_get_find(&InMemoryStore::new()).await;
//! testkit::state_roundtrip(&InMemoryStore::new()).await;
//! # }
//! ```

use chrono::TimeDelta;

use super::super::fixtures::{LEASE, insert, notice, record, secs, t0, transition};
use crate::{
    Account, AccountId, ConnectionKind, Entitlements, ExpiryReason, HistoryQuery, NoticeTopic,
    OwnerId, Preferences, Recipient, RetryState, StoreError, Token, TokenStatus, TokenStore,
    Warnings,
};

/// insert / get / find / list_by_owner, and duplicates refused.
pub async fn insert_get_find<S: TokenStore + ?Sized>(s: &S) {
    let a = record("owner-a", "100", Some(t0()));
    let b = record("owner-a", "200", None);
    let c = record("owner-c", "300", None);
    for r in [&a, &b, &c] {
        insert(s, r).await;
    }
    let got = s
        .get(a.account.id)
        .await
        .unwrap()
        .expect("get finds an inserted account");
    assert_eq!(
        got.account, a.account,
        "get returns the account as inserted"
    );
    let found = s
        .find(ConnectionKind::Consumer, "200")
        .await
        .unwrap()
        .expect("find by kind and user id");
    assert_eq!(found.account.id, b.account.id);
    assert!(
        s.find(ConnectionKind::Business, "200")
            .await
            .unwrap()
            .is_none(),
        "find must match the connection kind"
    );
    let listed: Vec<AccountId> = s
        .list_by_owner(&OwnerId::new("owner-a"))
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.account.id)
        .collect();
    assert_eq!(
        listed.len(),
        2,
        "list_by_owner returns only that owner's accounts"
    );
    assert!(listed.contains(&a.account.id) && listed.contains(&b.account.id));
    let dup = record("someone-else", "100", None);
    match s.insert(&dup, &[]).await {
        Err(StoreError::Duplicate { kind, ig_user_id }) => {
            assert_eq!(kind, ConnectionKind::Consumer);
            assert_eq!(ig_user_id, "100");
        }
        other => panic!(
            "a second account with the same kind and user id must be refused with Duplicate, got {other:?}"
        ),
    }
    // The same Instagram user under the other kind is a different account.
    let mut other_kind = record("owner-a", "100", None);
    other_kind.account.kind = ConnectionKind::Business;
    insert(s, &other_kind).await;
}

/// Every field of the token state survives a round trip.
pub async fn state_roundtrip<S: TokenStore + ?Sized>(s: &S) {
    let mut r = record("owner", "42", Some(t0() + secs(3600)));
    r.account.page_id = Some("page-9".into());
    r.account.username = "best.of.instagram".into();
    r.state.token = Token::new("EAAG-roundtrip-secret-Ω", t0() - secs(86_400))
        .expiring_at(t0() + TimeDelta::days(59))
        .with_data_access_expires_at(Some(t0() + TimeDelta::days(80)))
        .with_scopes(["instagram_basic", "pages_show_list"]);
    r.state.last_checked_at = Some(t0() - secs(10));
    r.state.retry = RetryState {
        failures: 3,
        failing_since: Some(t0() - secs(600)),
        last_error: Some("temporary provider failure: HTTP 503".into()),
    };
    r.state.warnings = Warnings {
        expiring_for: Some(t0() + TimeDelta::days(59)),
        data_access_for: None,
    };
    r.state.episode = 4;
    r.state.refresh_requested = true;
    insert(s, &r).await;
    let got = s.get(r.account.id).await.unwrap().unwrap();
    assert_eq!(got.account, r.account);
    let (a, b) = (&got.state, &r.state);
    assert_eq!(a.token.secret(), b.token.secret(), "token value round trip");
    assert_eq!(a.token.issued_at, b.token.issued_at);
    assert_eq!(a.token.expires_at, b.token.expires_at);
    assert_eq!(
        a.token.data_access_expires_at,
        b.token.data_access_expires_at
    );
    assert_eq!(a.token.scopes, b.token.scopes);
    assert_eq!(a.status, b.status);
    assert_eq!(a.last_checked_at, b.last_checked_at);
    assert_eq!(a.next_action_at, b.next_action_at);
    assert_eq!(a.retry, b.retry);
    assert_eq!(a.warnings, b.warnings);
    assert_eq!(a.episode, b.episode);
    assert_eq!(a.refresh_requested, b.refresh_requested);

    // Expired status with a reason, and a token that never expires.
    let mut t = transition(&got, None);
    t.state.status = TokenStatus::Expired {
        reason: ExpiryReason::Unknown {
            code: 190,
            subcode: Some(999),
        },
        at: t0() + secs(5),
    };
    t.state.token = Token::new("EAAG-page-token", t0());
    t.token_changed = true;
    s.commit(&t).await.expect("commit");
    let got = s.get(r.account.id).await.unwrap().unwrap();
    assert_eq!(
        got.state.status, t.state.status,
        "expired status and reason round trip"
    );
    assert_eq!(
        got.state.token.secret(),
        "EAAG-page-token",
        "a changed token is written"
    );
    assert_eq!(
        got.state.token.expires_at, None,
        "a never-expiring token stays never-expiring"
    );
    let mut t = transition(&got, None);
    t.state.status = TokenStatus::Revoked { at: t0() + secs(6) };
    s.commit(&t).await.unwrap();
    assert_eq!(
        s.get(r.account.id).await.unwrap().unwrap().state.status,
        t.state.status
    );
}

/// Preferences default to nothing and round-trip.
pub async fn preferences_roundtrip<S: TokenStore + ?Sized>(s: &S) {
    let owner = OwnerId::new("owner-p");
    let p = s.preferences(&owner).await.unwrap();
    assert!(
        p.topics.is_empty() && p.recipients.is_empty(),
        "opt-in: nothing by default"
    );
    let p = Preferences::new(owner.clone())
        .opt_in(NoticeTopic::Expired)
        .opt_in(NoticeTopic::DataAccessExpiring)
        .with_recipient(Recipient::Email("paul@example.com".into()))
        .with_recipient(Recipient::Webhook(
            "https://hooks.example.com/lw".parse().unwrap(),
        ));
    s.set_preferences(&p).await.unwrap();
    assert_eq!(s.preferences(&owner).await.unwrap(), p);
    let off = Preferences::new(owner.clone());
    s.set_preferences(&off).await.unwrap();
    assert_eq!(
        s.preferences(&owner).await.unwrap(),
        off,
        "preferences are replaced, not merged"
    );
}

/// count_by_status and update_account.
pub async fn counts_and_updates<S: TokenStore + ?Sized>(s: &S) {
    let a = record("o", "1", None);
    let b = record("o", "2", None);
    insert(s, &a).await;
    insert(s, &b).await;
    let cur = s.get(b.account.id).await.unwrap().unwrap();
    let mut t = transition(&cur, None);
    t.state.status = TokenStatus::Revoked { at: t0() };
    s.commit(&t).await.unwrap();
    let c = s.count_by_status().await.unwrap();
    assert_eq!((c.active, c.expired, c.revoked), (1, 0, 1));
    let mut acc: Account = a.account.clone();
    acc.username = "renamed".into();
    acc.owner = OwnerId::new("new-owner");
    acc.entitlements = Entitlements {
        notifications: false,
    };
    s.update_account(&acc).await.unwrap();
    let got = s.get(a.account.id).await.unwrap().unwrap();
    assert_eq!(got.account, acc);
    assert_eq!(
        got.state.token.secret(),
        a.state.token.secret(),
        "update_account leaves the token alone"
    );
}

/// Unknown accounts give typed errors.
pub async fn unknown_accounts<S: TokenStore + ?Sized>(s: &S) {
    let ghost = record("o", "ghost", None);
    assert!(s.get(ghost.account.id).await.unwrap().is_none());
    assert!(matches!(
        s.commit(&transition(&ghost, None)).await,
        Err(StoreError::UnknownAccount(_))
    ));
    assert!(matches!(
        s.history(ghost.account.id, HistoryQuery::default()).await,
        Err(StoreError::UnknownAccount(_))
    ));
    assert!(matches!(
        s.update_account(&ghost.account).await,
        Err(StoreError::UnknownAccount(_))
    ));
}

/// delete removes the account, its history and its notices; others stay.
pub async fn delete_removes_everything<S: TokenStore + ?Sized>(s: &S) {
    let a = record("o", "del-a", Some(t0()));
    let b = record("o", "del-b", Some(t0()));
    insert(s, &a).await;
    insert(s, &b).await;
    let cur = s.get(a.account.id).await.unwrap().unwrap();
    let mut t = transition(&cur, Some(t0()));
    t.notices.push(notice(&cur, "e0:expired", t0()));
    s.commit(&t).await.unwrap();
    assert!(
        s.delete(a.account.id).await.unwrap(),
        "delete reports an existing account"
    );
    assert!(
        !s.delete(a.account.id).await.unwrap(),
        "a second delete finds nothing"
    );
    assert!(s.get(a.account.id).await.unwrap().is_none());
    assert!(
        s.find(ConnectionKind::Consumer, "del-a")
            .await
            .unwrap()
            .is_none()
    );
    assert!(matches!(
        s.history(a.account.id, HistoryQuery::default()).await,
        Err(StoreError::UnknownAccount(_))
    ));
    assert!(
        s.notices(a.account.id).await.unwrap().is_empty(),
        "its notices are gone"
    );
    assert!(
        s.take_outbox(t0() + secs(5), 10, LEASE, "w")
            .await
            .unwrap()
            .is_empty(),
        "nothing left to send for it"
    );
    let claimed = s.claim_due(t0(), 10, LEASE, "w").await.unwrap();
    assert_eq!(
        claimed.iter().map(|r| r.account.id).collect::<Vec<_>>(),
        vec![b.account.id]
    );
    // The same Instagram account can connect again afterwards.
    insert(s, &record("o", "del-a", None)).await;
}

/// The sweep heartbeat keeps the latest sweep.
pub async fn sweep_heartbeat<S: TokenStore + ?Sized>(s: &S) {
    assert_eq!(s.last_sweep().await.unwrap(), None);
    s.record_sweep("w1", t0()).await.unwrap();
    s.record_sweep("w2", t0() + secs(5)).await.unwrap();
    let (w, at) = s.last_sweep().await.unwrap().unwrap();
    assert_eq!((w.as_str(), at), ("w2", t0() + secs(5)));
}
