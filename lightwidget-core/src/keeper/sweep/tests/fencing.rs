//! Results fenced out by a concurrent write: worked out again, or dropped when about a replaced token.

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};

use super::*;
use crate::ports::{MockTokenProvider, MockTokenStore};

/// Holds its refresh and its gateway GET until the test lets each go, so a gateway
/// call can be made to land between a sweep's claim and its commit.
struct Held {
    now: DateTime<Utc>,
    refresh_started: tokio::sync::Notify,
    release_refresh: tokio::sync::Notify,
    get_started: tokio::sync::Notify,
    release_get: tokio::sync::Notify,
}

#[async_trait::async_trait]
impl TokenProvider for Held {
    async fn refresh(&self, _: &Account, _: &Token) -> Result<Token, ProviderError> {
        self.refresh_started.notify_one();
        self.release_refresh.notified().await;
        Ok(Token::new("renewed", self.now).expiring_in(60 * 86_400))
    }
    async fn check(&self, _: &Account, _: &Token) -> Result<CheckInfo, ProviderError> {
        Ok(CheckInfo::default())
    }
    async fn graph_get(
        &self,
        _: &Account,
        _: &Token,
        _: &str,
        _: &[(String, String)],
    ) -> Result<Vec<u8>, ProviderError> {
        self.get_started.notify_one();
        self.release_get.notified().await;
        Ok(br#"{"id":"1","username":"u"}"#.to_vec())
    }
}

/// A store with one due account, and a provider that holds its calls.
async fn one_due_account() -> (DateTime<Utc>, Arc<InMemoryStore>, AccountId, Arc<Held>) {
    let now = Utc.with_ymd_and_hms(2026, 5, 1, 0, 0, 0).unwrap();
    let store = Arc::new(InMemoryStore::new());
    let rec = due_record(1, now, 0);
    let id = rec.account.id;
    store.insert(&rec, &[]).await.unwrap();
    let p = Arc::new(Held {
        now,
        refresh_started: Default::default(),
        release_refresh: Default::default(),
        get_started: Default::default(),
        release_get: Default::default(),
    });
    (now, store, id, p)
}

/// The race of issue #18: a gateway success (its last-check write commits a new
/// version) lands between the sweep's claim and its commit. The sweep's commit is
/// fenced out; the refreshed token must still be stored, not dropped.
#[tokio::test]
async fn a_gateway_write_between_claim_and_commit_does_not_drop_the_refreshed_token() {
    let (now, store, id, p) = one_due_account().await;
    let hooks = Arc::new(CountingHooks::default());
    let k = Keeper::builder(store.clone(), p.clone())
        .clock(Arc::new(ManualClock::new(now)))
        .hooks(hooks.clone())
        .rng_seed(1)
        .build()
        .unwrap();
    // The widget's call is on the wire (it read the record before the claim)...
    let call = tokio::spawn({
        let k = k.clone();
        async move { k.graph(id).get("me", &[]).await }
    });
    p.get_started.notified().await;
    // ...the sweep claims the account and its refresh is on the wire...
    let sweep = tokio::spawn({
        let k = k.clone();
        async move { k.sweep().await }
    });
    p.refresh_started.notified().await;
    let claimed = store.get(id).await.unwrap().unwrap().version;
    // ...the call's success lands and is written (the last check is 40 days old)...
    p.release_get.notify_one();
    assert_eq!(call.await.unwrap().unwrap()["username"], "u");
    let between = store.get(id).await.unwrap().unwrap();
    assert!(between.version > claimed, "the gateway wrote meanwhile");
    assert_eq!(between.state.last_checked_at, Some(now));
    // ...and then the refresh answers.
    p.release_refresh.notify_one();
    let r = sweep.await.unwrap().unwrap();
    assert_eq!((r.refreshed, r.conflicts), (1, 0), "{r:?}");
    let after = store.get(id).await.unwrap().unwrap();
    assert_eq!(
        after.state.token.secret(),
        "renewed",
        "the refreshed token is stored"
    );
    assert!(after.state.status.is_active());
    let history = store.history(id, HistoryQuery::default()).await.unwrap();
    assert!(
        history
            .iter()
            .any(|e| matches!(e.event.kind, TokenEventKind::Refreshed { .. })),
        "{history:?}"
    );
    // The redone result's effects happen once: one hook, one count.
    assert_eq!(hooks.refreshed.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(k.stats().refreshed, 1);
}

/// Counts `on_refreshed` calls.
#[derive(Default)]
struct CountingHooks {
    refreshed: std::sync::atomic::AtomicUsize,
}

#[async_trait::async_trait]
impl LifecycleHooks for CountingHooks {
    async fn on_refreshed(&self, _: &Account) {
        self.refreshed
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A fenced-out result about a token that was replaced meanwhile (a reconnect) is
/// not applied to the new token.
#[tokio::test]
async fn a_fenced_result_about_a_replaced_token_is_not_applied() {
    let (now, store, id, p) = one_due_account().await;
    let k = Keeper::builder(store.clone(), p.clone())
        .clock(Arc::new(ManualClock::new(now)))
        .rng_seed(1)
        .build()
        .unwrap();
    let sweep = tokio::spawn({
        let k = k.clone();
        async move { k.sweep().await }
    });
    p.refresh_started.notified().await;
    // The owner reconnects while the refresh of the old token is on the wire.
    let fresh = store.get(id).await.unwrap().unwrap();
    let mut rng = <rand::rngs::SmallRng as rand::SeedableRng>::seed_from_u64(1);
    let t = lifecycle::apply(
        &fresh,
        lifecycle::Observation::Reconnected {
            token: Token::new("reconnected", now).expiring_in(60 * 86_400),
            account: None,
        },
        now,
        &RefreshPolicy::default(),
        &mut rng,
    );
    store.commit(&t).await.unwrap();
    p.release_refresh.notify_one();
    let r = sweep.await.unwrap().unwrap();
    assert_eq!((r.refreshed, r.conflicts), (0, 1), "{r:?}");
    let after = store.get(id).await.unwrap().unwrap();
    assert_eq!(after.state.token.secret(), "reconnected");
}

#[tokio::test]
async fn a_connect_that_keeps_losing_races_is_contention_not_bad_input() {
    let mut s = MockTokenStore::new();
    s.expect_incidents().returning(|_, _| Ok(vec![]));
    s.expect_find().returning(|_, _| Ok(None));
    s.expect_insert().returning(|r, _| {
        Err(StoreError::Duplicate {
            kind: r.account.kind,
            ig_user_id: r.account.ig_user_id.clone(),
        })
    });
    let now = Utc.with_ymd_and_hms(2026, 5, 1, 0, 0, 0).unwrap();
    let k = keeper(Arc::new(s), MockTokenProvider::new());
    let err = k
        .connect(
            NewAccount::new("o", ConnectionKind::Consumer, "17", "u"),
            Token::new("IGAAx", now).expiring_in(86_400),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Contended { attempts: 8, .. }),
        "{err:?}"
    );
    assert!(err.is_transient());
}
