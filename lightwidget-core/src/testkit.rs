//! The `TokenStore` conformance suite (feature `testkit`).
//!
//! Every store runs the same checks, unchanged: call [`run_all`] with a function that
//! returns a fresh, empty store. Each check panics with a message naming the rule that
//! was broken.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use lightwidget_core::{testkit, InMemoryStore};
//! testkit::run_all(|| async { InMemoryStore::new() }).await;
//! # }
//! ```

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use uuid::Uuid;

use crate::{
    Account, AccountId, AccountRecord, ConnectionKind, Entitlements, ExpiryReason, HistoryQuery,
    NewAccount, Notice, NoticeKind, NoticeState, NoticeTopic, OutboxOutcome, Outcome, OwnerId,
    Preferences, Recipient, RetryState, StoreError, Token, TokenEvent, TokenEventKind, TokenState,
    TokenStatus, TokenStore, Transition, Warnings,
};

/// A fixed, millisecond-precise start time for fixtures.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
}

fn secs(n: i64) -> TimeDelta {
    TimeDelta::seconds(n)
}

/// A fixture record: an active consumer token issued at `t0()`, due at `due`.
pub fn record(owner: &str, ig_user_id: &str, due: Option<DateTime<Utc>>) -> AccountRecord {
    let account = NewAccount::new(
        owner,
        ConnectionKind::Consumer,
        ig_user_id,
        format!("user_{ig_user_id}"),
    )
    .with_entitlements(Entitlements {
        notifications: true,
    })
    .into_account();
    let token = Token::new(
        format!("IGAAtoken-{ig_user_id}-{}", Uuid::new_v4().simple()),
        t0(),
    )
    .expiring_at(t0() + TimeDelta::days(60))
    .with_scopes(["instagram_business_basic"]);
    let mut state = TokenState::connected(token, t0());
    state.next_action_at = due;
    AccountRecord {
        account,
        state,
        version: 0,
    }
}

fn connected_event() -> TokenEvent {
    TokenEvent::new(
        t0(),
        TokenEventKind::Connected {
            expires_at: Some(t0() + TimeDelta::days(60)),
        },
    )
}

/// A transition from `r` that changes nothing but the schedule.
pub fn transition(r: &AccountRecord, next: Option<DateTime<Utc>>) -> Transition {
    let mut state = r.state.clone();
    state.next_action_at = next;
    Transition {
        account: r.account.clone(),
        expected_version: r.version,
        state,
        token_changed: false,
        events: Vec::new(),
        notices: Vec::new(),
        outcome: Outcome::Updated,
    }
}

fn notice(r: &AccountRecord, key: &str, at: DateTime<Utc>) -> Notice {
    Notice {
        id: Uuid::now_v7(),
        dedupe_key: format!("{}:{key}", r.account.id),
        account_id: r.account.id,
        owner: r.account.owner.clone(),
        username: r.account.username.clone(),
        connection: r.account.kind,
        kind: NoticeKind::Expired {
            reason: ExpiryReason::PasswordChanged,
        },
        created_at: at,
    }
}

async fn insert<S: TokenStore + ?Sized>(s: &S, r: &AccountRecord) {
    s.insert(r, &[connected_event()])
        .await
        .expect("insert a new account");
}

const LEASE: Duration = Duration::from_secs(300);

/// Runs every check, each on a fresh store from `make`.
pub async fn run_all<S, F, Fut>(make: F)
where
    S: TokenStore,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    insert_get_find(&make().await).await;
    state_roundtrip(&make().await).await;
    claim_due_selects_due_in_order(&make().await).await;
    claim_is_exclusive(&make().await).await;
    claim_is_exclusive_concurrently(Arc::new(make().await)).await;
    lease_expiry_allows_reclaim(&make().await).await;
    stale_commit_is_fenced(&make().await).await;
    commit_is_atomic(&make().await).await;
    commit_many_fences_each(&make().await).await;
    commit_many_large_mixed_batch(&make().await).await;
    notices_are_deduplicated(&make().await).await;
    outbox_take_and_ack(&make().await).await;
    outbox_retry(&make().await).await;
    history_order_and_paging(&make().await).await;
    preferences_roundtrip(&make().await).await;
    release_returns_lease(&make().await).await;
    sweep_heartbeat(&make().await).await;
    counts_and_updates(&make().await).await;
    unknown_accounts(&make().await).await;
    delete_removes_everything(&make().await).await;
}

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

async fn with_notices<S: TokenStore + ?Sized>(s: &S, n: usize) -> AccountRecord {
    let r = record("o", "1", None);
    insert(s, &r).await;
    let cur = s.get(r.account.id).await.unwrap().unwrap();
    let mut t = transition(&cur, None);
    for i in 0..n {
        t.notices
            .push(notice(&cur, &format!("k{i}"), t0() + secs(i as i64)));
    }
    s.commit(&t).await.unwrap();
    r
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
        &OutboxOutcome::Delivered {
            channels: vec!["email".into()],
        },
        now,
    )
    .await
    .unwrap();
    assert!(
        matches!(
            s.ack_outbox(
                a[0].notice.id,
                a[0].version,
                &OutboxOutcome::Delivered { channels: vec![] },
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
        &OutboxOutcome::Suppressed {
            why: "owner did not opt in".into(),
        },
        now,
    )
    .await
    .unwrap();
    s.ack_outbox(
        b[0].notice.id,
        b[0].version,
        &OutboxOutcome::Failed {
            error: "550 no such user".into(),
        },
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
        &OutboxOutcome::Retry {
            at,
            delivered: vec!["email:a@example.com".into()],
            error: "smtp down".into(),
        },
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

/// The sweep heartbeat keeps the latest sweep.
pub async fn sweep_heartbeat<S: TokenStore + ?Sized>(s: &S) {
    assert_eq!(s.last_sweep().await.unwrap(), None);
    s.record_sweep("w1", t0()).await.unwrap();
    s.record_sweep("w2", t0() + secs(5)).await.unwrap();
    let (w, at) = s.last_sweep().await.unwrap().unwrap();
    assert_eq!((w.as_str(), at), ("w2", t0() + secs(5)));
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
