//! Commits: fencing, atomicity of state + history + outbox, batches, history order.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use lightwidget_core::{testkit, InMemoryStore};
//! testkit::stale_commit_is_fenced(&InMemoryStore::new()).await;
//! testkit::commit_many_fences_each(&InMemoryStore::new()).await;
//! # }
//! ```

use std::time::Duration;

use chrono::TimeDelta;
use uuid::Uuid;

use super::super::fixtures::{LEASE, insert, notice, record, secs, t0, transition};
use crate::{
    AccountRecord, ExpiryReason, HistoryQuery, NoticeState, StoreError, Token, TokenEvent,
    TokenEventKind, TokenStatus, TokenStore, Transition,
};

/// A worker whose lease was taken over cannot overwrite the newer state.
pub async fn stale_commit_is_fenced<S: TokenStore + ?Sized>(s: &S) {
    let r = record("o", "1", Some(t0()));
    insert(s, &r).await;
    let lease = Duration::from_secs(60);
    let a = s.claim_due(t0(), 1, lease, "a").await.unwrap().remove(0);
    let b = s
        .claim_due(t0() + secs(120), 1, lease, "b")
        .await
        .unwrap()
        .remove(0);
    let mut ta = transition(&a, Some(t0() + TimeDelta::days(1)));
    ta.state.token = Token::new("stale-token-from-a", t0());
    ta.token_changed = true;
    match s.commit(&ta).await {
        Err(StoreError::Conflict(id)) => assert_eq!(id, r.account.id),
        other => panic!("a commit from a lost lease must be refused with Conflict, got {other:?}"),
    }
    let tb = transition(&b, Some(t0() + TimeDelta::days(2)));
    s.commit(&tb)
        .await
        .expect("the current lease holder commits");
    let got = s.get(r.account.id).await.unwrap().unwrap();
    assert_eq!(got.state.next_action_at, Some(t0() + TimeDelta::days(2)));
    assert_ne!(
        got.state.token.secret(),
        "stale-token-from-a",
        "the stale token must not be written"
    );
    // A host update (unleased, from a read) fences a keeper commit computed earlier.
    let read = s.get(r.account.id).await.unwrap().unwrap();
    s.commit(&transition(&read, None)).await.unwrap();
    assert!(matches!(
        s.commit(&transition(&read, None)).await,
        Err(StoreError::Conflict(_))
    ));
}

/// State, history and outbox are written together; the lease is cleared.
pub async fn commit_is_atomic<S: TokenStore + ?Sized>(s: &S) {
    let r = record("o", "1", Some(t0()));
    insert(s, &r).await;
    let c = s.claim_due(t0(), 1, LEASE, "a").await.unwrap().remove(0);
    let mut t = transition(&c, Some(t0() + secs(10)));
    t.state.status = TokenStatus::Expired {
        reason: ExpiryReason::PasswordChanged,
        at: t0(),
    };
    t.events.push(TokenEvent::new(
        t0(),
        TokenEventKind::Expired {
            reason: ExpiryReason::PasswordChanged,
        },
    ));
    t.notices.push(notice(&c, "e0:expired", t0()));
    s.commit(&t).await.unwrap();
    let got = s.get(r.account.id).await.unwrap().unwrap();
    assert_eq!(
        got.version,
        c.version + 1,
        "a commit increments the version"
    );
    assert!(matches!(got.state.status, TokenStatus::Expired { .. }));
    let h = s
        .history(r.account.id, HistoryQuery::default())
        .await
        .unwrap();
    assert_eq!(h.len(), 2, "connected + expired");
    assert_eq!(h[0].event.kind.name(), "expired");
    let n = s.notices(r.account.id).await.unwrap();
    assert_eq!(n.len(), 1);
    assert_eq!(n[0].1, NoticeState::Pending);
    // The lease is cleared: due again at t0+10s.
    assert_eq!(
        s.claim_due(t0() + secs(10), 5, LEASE, "b")
            .await
            .unwrap()
            .len(),
        1,
        "commit clears the lease"
    );
}

/// `commit_many`: each transition is fenced on its own.
pub async fn commit_many_fences_each<S: TokenStore + ?Sized>(s: &S) {
    let mut recs = Vec::new();
    for i in 0..5 {
        let r = record("o", &format!("m{i}"), Some(t0()));
        insert(s, &r).await;
        recs.push(r);
    }
    let claimed = s.claim_due(t0(), 10, LEASE, "a").await.unwrap();
    assert_eq!(claimed.len(), 5);
    let mut ts: Vec<Transition> = claimed
        .iter()
        .map(|c| {
            let mut t = transition(c, Some(t0() + TimeDelta::days(1)));
            t.events.push(TokenEvent::new(
                t0(),
                TokenEventKind::Refreshed { expires_at: None },
            ));
            t
        })
        .collect();
    ts[2].expected_version = 0; // stale
    let res = s.commit_many(&ts).await;
    assert_eq!(res.len(), 5);
    for (i, r) in res.iter().enumerate() {
        if i == 2 {
            assert!(
                matches!(r, Err(StoreError::Conflict(_))),
                "the stale transition is refused: {r:?}"
            );
        } else {
            assert!(r.is_ok(), "the others commit: {r:?}");
        }
    }
    let stale = s.get(ts[2].account.id).await.unwrap().unwrap();
    assert_eq!(
        stale.state.next_action_at,
        Some(t0()),
        "the refused transition wrote nothing"
    );
    assert_eq!(
        s.history(ts[2].account.id, HistoryQuery::default())
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        s.history(ts[1].account.id, HistoryQuery::default())
            .await
            .unwrap()
            .len(),
        2
    );
}

/// `commit_many` over a batch larger than any single statement a store may use, mixing
/// token changes, several events per account, a notice, a repeated account, a stale
/// version and an unknown account: each is fenced and written on its own, in order.
pub async fn commit_many_large_mixed_batch<S: TokenStore + ?Sized>(s: &S) {
    const N: usize = 300;
    let recs: Vec<AccountRecord> = (0..N)
        .map(|i| record("o", &format!("big{i}"), Some(t0())))
        .collect();
    for r in &recs {
        insert(s, r).await;
    }
    let mut claimed = s.claim_due(t0(), N, LEASE, "a").await.unwrap();
    assert_eq!(claimed.len(), N);
    claimed.sort_by_key(|r| r.account.ig_user_id.clone());
    let mut ts: Vec<Transition> = claimed
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let mut t = transition(c, Some(t0() + TimeDelta::hours(i as i64 + 1)));
            if i % 3 == 0 {
                t.state.token = Token::new(format!("IGAArenewed-{i}-{}", Uuid::new_v4()), t0())
                    .expiring_at(t0() + TimeDelta::days(61))
                    .with_scopes(["instagram_business_basic", "renewed"]);
                t.token_changed = true;
            }
            for k in 0..(1 + i % 3) {
                t.events.push(TokenEvent::new(
                    t0() + secs(k as i64 + 1),
                    TokenEventKind::Refreshed { expires_at: None },
                ));
            }
            if i == 7 {
                t.notices.push(notice(c, "big:expired", t0()));
            }
            if i % 5 == 1 {
                t.account.username = format!("renamed_{i}");
                t.account.entitlements.notifications = false;
            }
            if i % 7 == 2 {
                t.state.status = TokenStatus::Expired {
                    reason: ExpiryReason::PasswordChanged,
                    at: t0() + secs(i as i64),
                };
            }
            t
        })
        .collect();
    ts[20].expected_version = 0; // stale
    // The same account twice: the second, computed from the same version, is fenced.
    let mut again = ts[10].clone();
    again.state.next_action_at = Some(t0() + TimeDelta::days(99));
    ts.insert(11, again);
    let ghost = record("o", "big-ghost", Some(t0()));
    ts.push(transition(&ghost, None));
    let res = s.commit_many(&ts).await;
    assert_eq!(res.len(), ts.len());
    for (i, r) in res.iter().enumerate() {
        let id = ts[i].account.id;
        match i {
            11 | 21 => assert!(
                matches!(r, Err(StoreError::Conflict(x)) if *x == id),
                "#{i} is fenced: {r:?}"
            ),
            _ if i == ts.len() - 1 => assert!(
                matches!(r, Err(StoreError::UnknownAccount(x)) if *x == id),
                "the unknown account is reported as such: {r:?}"
            ),
            _ => assert!(r.is_ok(), "#{i} commits: {r:?}"),
        }
    }
    for (i, c) in claimed.iter().enumerate() {
        let got = s.get(c.account.id).await.unwrap().unwrap();
        let hist = s
            .history(c.account.id, HistoryQuery::default())
            .await
            .unwrap();
        if i == 20 {
            assert_eq!(got.version, c.version, "the stale transition wrote nothing");
            assert_eq!(got.state.next_action_at, Some(t0()));
            assert!(hist.len() == 1, "only the connect event: {hist:?}");
            continue;
        }
        assert!(got.version > c.version, "#{i}: version bumped");
        assert_eq!(
            got.state.next_action_at,
            Some(t0() + TimeDelta::hours(i as i64 + 1)),
            "#{i}: the first of a repeated pair wins, the second is fenced"
        );
        let want = if i % 3 == 0 {
            ts[if i > 10 { i + 1 } else { i }].state.token.secret()
        } else {
            c.state.token.secret()
        };
        assert_eq!(got.state.token.secret(), want, "#{i}: token");
        assert_eq!(
            got.account.username,
            if i % 5 == 1 {
                format!("renamed_{i}")
            } else {
                c.account.username.clone()
            },
            "#{i}: account metadata"
        );
        assert_eq!(got.account.entitlements.notifications, i % 5 != 1);
        assert_eq!(
            got.state.status,
            if i % 7 == 2 {
                TokenStatus::Expired {
                    reason: ExpiryReason::PasswordChanged,
                    at: t0() + secs(i as i64),
                }
            } else {
                TokenStatus::Active
            },
            "#{i}: status"
        );
        assert_eq!(
            got.state.token.scopes.len(),
            if i % 3 == 0 { 2 } else { 1 },
            "#{i}: scopes"
        );
        // The insert wrote one event; the commit 1 + i % 3 more, in order (newest first).
        assert_eq!(hist.len(), 2 + i % 3, "#{i}: history {hist:?}");
        let ats: Vec<_> = hist.iter().map(|h| h.event.at).collect();
        let mut sorted = ats.clone();
        sorted.sort_by(|a, b| b.cmp(a));
        assert_eq!(ats, sorted, "#{i}: history is newest first");
    }
    assert_eq!(s.notices(claimed[7].account.id).await.unwrap().len(), 1);
    assert!(s.notices(claimed[8].account.id).await.unwrap().is_empty());
}

/// History is newest first and pages with a cursor.
pub async fn history_order_and_paging<S: TokenStore + ?Sized>(s: &S) {
    let r = record("o", "1", Some(t0()));
    insert(s, &r).await;
    for i in 1..=6 {
        let cur = s.get(r.account.id).await.unwrap().unwrap();
        let mut t = transition(&cur, Some(t0()));
        t.events.push(TokenEvent::new(
            t0() + secs(i),
            TokenEventKind::Refreshed {
                expires_at: Some(t0() + secs(i)),
            },
        ));
        s.commit(&t).await.unwrap();
    }
    let p1 = s
        .history(
            r.account.id,
            HistoryQuery {
                before: None,
                limit: 3,
            },
        )
        .await
        .unwrap();
    assert_eq!(p1.len(), 3);
    assert!(
        p1[0].seq > p1[1].seq && p1[1].seq > p1[2].seq,
        "newest first"
    );
    assert_eq!(p1[0].event.at, t0() + secs(6));
    let p2 = s
        .history(
            r.account.id,
            HistoryQuery {
                before: Some(p1[2].seq),
                limit: 3,
            },
        )
        .await
        .unwrap();
    assert_eq!(p2.len(), 3);
    assert_eq!(p2[0].event.at, t0() + secs(3));
    let p3 = s
        .history(
            r.account.id,
            HistoryQuery {
                before: Some(p2[2].seq),
                limit: 3,
            },
        )
        .await
        .unwrap();
    assert_eq!(p3.len(), 1);
    assert_eq!(p3[0].event.kind.name(), "connected");
}
