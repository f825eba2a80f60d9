//! The outbox: deduplication, take and ack (fenced, final), retries.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use lightwidget_core::{testkit, InMemoryStore};
//! testkit::notices_are_deduplicated(&InMemoryStore::new()).await;
//! testkit::outbox_retry(&InMemoryStore::new()).await;
//! # }
//! ```

use crate::Acknowledged;
use chrono::TimeDelta;

use super::super::fixtures::{LEASE, insert, notice, record, secs, t0, transition, with_notices};
use crate::{
    HistoryQuery, NoticeState, NoticeTopic, OutboxOutcome, StoreError, TokenEventKind, TokenStore,
};

/// A notice with an existing dedupe key is not enqueued again.
pub async fn notices_are_deduplicated<S: TokenStore + ?Sized>(s: &S) {
    let r = record("o", "1", Some(t0()));
    insert(s, &r).await;
    let cur = s.get(r.account.id).await.unwrap().unwrap();
    let mut t = transition(&cur, Some(t0()));
    t.notices.push(notice(&cur, "e0:expired", t0()));
    s.commit(&t).await.unwrap();
    let cur = s.get(r.account.id).await.unwrap().unwrap();
    let mut t = transition(&cur, Some(t0()));
    t.notices.push(notice(&cur, "e0:expired", t0() + secs(1)));
    t.notices.push(notice(&cur, "e1:expired", t0() + secs(1)));
    s.commit(&t).await.unwrap();
    let keys: Vec<String> = s
        .notices(r.account.id)
        .await
        .unwrap()
        .into_iter()
        .map(|(n, _)| n.dedupe_key)
        .collect();
    assert_eq!(keys.len(), 2, "duplicate dedupe key ignored: {keys:?}");
}

/// take leases entries; ack is final, fenced, and writes history.
pub async fn outbox_take_and_ack<S: TokenStore + ?Sized>(s: &S) {
    let r = with_notices(s, 3).await;
    let now = t0() + secs(100);
    let a = s.take_outbox(now, 2, LEASE, "a").await.unwrap();
    assert_eq!(a.len(), 2, "take honours the limit");
    assert!(
        a[0].notice.created_at <= a[1].notice.created_at,
        "oldest first"
    );
    let b = s.take_outbox(now, 10, LEASE, "b").await.unwrap();
    assert_eq!(b.len(), 1, "leased entries are not taken twice");
    s.ack_outbox(
        a[0].notice.id,
        a[0].version,
        &Acknowledged::of(
            &a[0].notice,
            &OutboxOutcome::Delivered {
                channels: vec!["email".into()],
            },
        ),
        now,
    )
    .await
    .unwrap();
    assert!(
        matches!(
            s.ack_outbox(
                a[0].notice.id,
                a[0].version,
                &Acknowledged::of(&a[0].notice, &OutboxOutcome::Delivered { channels: vec![] }),
                now
            )
            .await,
            Err(StoreError::Conflict(_))
        ),
        "acking twice is refused"
    );
    s.ack_outbox(
        a[1].notice.id,
        a[1].version,
        &Acknowledged::of(
            &a[1].notice,
            &OutboxOutcome::Suppressed {
                why: "owner did not opt in".into(),
            },
        ),
        now,
    )
    .await
    .unwrap();
    s.ack_outbox(
        b[0].notice.id,
        b[0].version,
        &Acknowledged::of(
            &b[0].notice,
            &OutboxOutcome::Failed {
                error: "550 no such user".into(),
            },
        ),
        now,
    )
    .await
    .unwrap();
    let h = s
        .history(r.account.id, HistoryQuery::default())
        .await
        .unwrap();
    let names: Vec<&str> = h.iter().map(|e| e.event.kind.name()).collect();
    assert_eq!(
        names,
        vec![
            "notice_failed",
            "notice_suppressed",
            "notice_sent",
            "connected"
        ]
    );
    match &h[2].event.kind {
        TokenEventKind::NoticeSent { topic, channels } => {
            assert_eq!(*topic, NoticeTopic::Expired);
            assert_eq!(channels, &vec!["email".to_string()]);
        }
        other => panic!("expected NoticeSent, got {other:?}"),
    }
    let states: Vec<NoticeState> = s
        .notices(r.account.id)
        .await
        .unwrap()
        .into_iter()
        .map(|(_, st)| st)
        .collect();
    assert_eq!(
        states,
        vec![
            NoticeState::Delivered,
            NoticeState::Suppressed,
            NoticeState::Failed
        ]
    );
    assert!(
        s.take_outbox(now + TimeDelta::days(1), 10, LEASE, "c")
            .await
            .unwrap()
            .is_empty(),
        "acked entries are done"
    );
}

/// Retry: not due before `at`, then taken again with attempts and delivered kept.
pub async fn outbox_retry<S: TokenStore + ?Sized>(s: &S) {
    with_notices(s, 1).await;
    let now = t0() + secs(10);
    let e = s.take_outbox(now, 10, LEASE, "a").await.unwrap().remove(0);
    assert_eq!(e.attempts, 0);
    let at = now + secs(600);
    s.ack_outbox(
        e.notice.id,
        e.version,
        &Acknowledged::of(
            &e.notice,
            &OutboxOutcome::Retry {
                at,
                delivered: vec!["email:a@example.com".into()],
                error: "smtp down".into(),
            },
        ),
        now,
    )
    .await
    .unwrap();
    assert!(
        s.take_outbox(at - secs(1), 10, LEASE, "a")
            .await
            .unwrap()
            .is_empty(),
        "not before the retry time"
    );
    let again = s.take_outbox(at, 10, LEASE, "a").await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempts, 1);
    assert_eq!(again[0].delivered, vec!["email:a@example.com".to_string()]);
    // A lease that ends without an ack makes the entry available again.
    let later = at + TimeDelta::from_std(LEASE).unwrap() + secs(1);
    assert_eq!(
        s.take_outbox(later, 10, LEASE, "b").await.unwrap().len(),
        1,
        "an unacked lease ends"
    );
}
