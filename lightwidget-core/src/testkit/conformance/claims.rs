//! Claims and leases: due accounts in order, each to one claimer, until its lease ends
//! or is released.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use lightwidget_core::{testkit, InMemoryStore};
//! testkit::claim_is_exclusive(&InMemoryStore::new()).await;
//! testkit::release_returns_lease(&InMemoryStore::new()).await;
//! # }
//! ```

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use super::super::fixtures::{LEASE, insert, record, secs, t0};
use crate::TokenStore;

/// Only due accounts are claimed, earliest first, up to the limit; `None` is never due.
pub async fn claim_due_selects_due_in_order<S: TokenStore + ?Sized>(s: &S) {
    let now = t0() + secs(1000);
    let late = record("o", "1", Some(now - secs(10)));
    let early = record("o", "2", Some(now - secs(500)));
    let exact = record("o", "3", Some(now));
    let future = record("o", "4", Some(now + secs(1)));
    let never = record("o", "5", None);
    for r in [&late, &early, &exact, &future, &never] {
        insert(s, r).await;
    }
    let first = s.claim_due(now, 2, LEASE, "w1").await.unwrap();
    let ids: Vec<_> = first.iter().map(|r| r.account.id).collect();
    assert_eq!(
        ids,
        vec![early.account.id, late.account.id],
        "claim_due orders by next_action_at and honours the limit"
    );
    assert!(
        first.iter().all(|r| r.version == 1),
        "a claim increments the version"
    );
    let rest = s.claim_due(now, 10, LEASE, "w1").await.unwrap();
    let ids: Vec<_> = rest.iter().map(|r| r.account.id).collect();
    assert_eq!(
        ids,
        vec![exact.account.id],
        "next_action_at == now is due; the future and None are not"
    );
}

/// A claimed account is not handed to a second claimer while its lease lasts.
pub async fn claim_is_exclusive<S: TokenStore + ?Sized>(s: &S) {
    let now = t0();
    for i in 0..10 {
        insert(s, &record("o", &format!("u{i}"), Some(now - secs(i)))).await;
    }
    let a = s.claim_due(now, 6, LEASE, "a").await.unwrap();
    let b = s.claim_due(now + secs(1), 100, LEASE, "b").await.unwrap();
    assert_eq!(a.len(), 6);
    assert_eq!(
        b.len(),
        4,
        "the second claimer gets only what the first did not"
    );
    let ids: HashSet<_> = a.iter().chain(&b).map(|r| r.account.id).collect();
    assert_eq!(ids.len(), 10, "no account handed out twice");
    assert!(
        s.claim_due(now + secs(2), 100, LEASE, "c")
            .await
            .unwrap()
            .is_empty()
    );
}

/// Many concurrent claimers: every due account exactly once.
pub async fn claim_is_exclusive_concurrently<S: TokenStore>(s: Arc<S>) {
    let now = t0();
    let n = 200;
    for i in 0..n {
        insert(
            &*s,
            &record("o", &format!("c{i}"), Some(now - secs(i % 17))),
        )
        .await;
    }
    let mut tasks = Vec::new();
    for w in 0..8 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let got = s
                    .claim_due(now, 7, LEASE, &format!("w{w}"))
                    .await
                    .expect("claim");
                if got.is_empty() {
                    break;
                }
                mine.extend(got.into_iter().map(|r| r.account.id));
                tokio::task::yield_now().await;
            }
            mine
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("claimer task"));
    }
    let unique: HashSet<_> = all.iter().collect();
    assert_eq!(
        all.len(),
        n as usize,
        "every due account claimed (got {})",
        all.len()
    );
    assert_eq!(
        unique.len(),
        all.len(),
        "no account claimed twice by concurrent claimers"
    );
}

/// After the lease ends, the account can be claimed again.
pub async fn lease_expiry_allows_reclaim<S: TokenStore + ?Sized>(s: &S) {
    let r = record("o", "1", Some(t0()));
    insert(s, &r).await;
    let lease = Duration::from_secs(60);
    assert_eq!(s.claim_due(t0(), 10, lease, "a").await.unwrap().len(), 1);
    assert!(
        s.claim_due(t0() + secs(59), 10, lease, "b")
            .await
            .unwrap()
            .is_empty(),
        "lease still held"
    );
    let again = s.claim_due(t0() + secs(61), 10, lease, "b").await.unwrap();
    assert_eq!(again.len(), 1, "an ended lease can be claimed again");
    assert_eq!(again[0].version, 2);
}

/// release gives a lease back at once.
pub async fn release_returns_lease<S: TokenStore + ?Sized>(s: &S) {
    let r = record("o", "1", Some(t0()));
    insert(s, &r).await;
    let c = s.claim_due(t0(), 1, LEASE, "a").await.unwrap().remove(0);
    s.release(c.account.id, c.version - 1).await.unwrap(); // wrong version: no-op
    assert!(
        s.claim_due(t0(), 1, LEASE, "b").await.unwrap().is_empty(),
        "release with a stale version is a no-op"
    );
    s.release(c.account.id, c.version).await.unwrap();
    assert_eq!(
        s.claim_due(t0(), 1, LEASE, "b").await.unwrap().len(),
        1,
        "a released account is claimable again"
    );
}

/// The heartbeat: `extend_leases` renews a held lease, renews one that ran out but
/// nobody claimed, and reports as lost one another worker claimed, a stale version and
/// an unknown id.
pub async fn extend_leases_renews_only_held_leases<S: TokenStore + ?Sized>(s: &S) {
    let taken = record("o", "1", Some(t0() - secs(10)));
    let kept = record("o", "2", Some(t0()));
    let lapsed = record("o", "3", Some(t0()));
    for r in [&taken, &kept, &lapsed] {
        insert(s, r).await;
    }
    let mine = s.claim_due(t0(), 3, LEASE, "a").await.unwrap();
    assert_eq!(mine.len(), 3);
    let v = |id| mine.iter().find(|r| r.account.id == id).unwrap().version;
    // Before its lease ends, `kept` is renewed for another lease.
    let soon = t0() + secs(1);
    assert_eq!(
        s.extend_leases(&[(kept.account.id, v(kept.account.id))], soon + LEASE)
            .await
            .unwrap(),
        vec![true],
        "a held lease is renewed"
    );
    // The other two run out; worker b claims the earliest one, `taken`.
    let later = t0() + LEASE + secs(2);
    let theirs = s.claim_due(later, 1, LEASE, "b").await.unwrap();
    assert_eq!(theirs.len(), 1);
    assert_eq!(theirs[0].account.id, taken.account.id, "earliest first");
    let unknown = crate::AccountId::new();
    let res = s
        .extend_leases(
            &[
                (lapsed.account.id, v(lapsed.account.id)),
                (taken.account.id, v(taken.account.id)),
                (kept.account.id, v(kept.account.id) - 1),
                (unknown, 1),
                (kept.account.id, v(kept.account.id)),
            ],
            later + LEASE,
        )
        .await
        .unwrap();
    assert_eq!(
        res,
        vec![true, false, false, false, true],
        "a lapsed lease nobody took is still ours; one another worker claimed, a stale \
         version and an unknown id are lost"
    );
    assert!(
        s.extend_leases(&[], later).await.unwrap().is_empty(),
        "an empty heartbeat is fine"
    );
    assert!(
        s.claim_due(later + secs(1), 10, LEASE, "c")
            .await
            .unwrap()
            .is_empty(),
        "renewed leases are not claimable by anyone else"
    );
}
