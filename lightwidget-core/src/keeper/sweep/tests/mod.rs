//! Tests of the sweep: stages, leases, commit retries, fenced results.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};

use crate::ports::{MockTokenProvider, MockTokenStore};
use crate::*;

fn keeper(store: Arc<dyn TokenStore>, provider: MockTokenProvider) -> Keeper {
    let now = Utc.with_ymd_and_hms(2026, 5, 1, 0, 0, 0).unwrap();
    Keeper::builder(store, Arc::new(provider))
        .clock(Arc::new(ManualClock::new(now)))
        .rng_seed(1)
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_young_token_is_checked_not_refreshed() {
    let now = Utc.with_ymd_and_hms(2026, 5, 1, 0, 0, 0).unwrap();
    let store = Arc::new(InMemoryStore::new());
    let account = NewAccount::new("o", ConnectionKind::Consumer, "1", "u").into_account();
    let token = Token::new("t", now - TimeDelta::days(3)).expiring_in(60 * 86_400);
    let mut state = TokenState::connected(token, now);
    state.next_action_at = Some(now);
    let rec = AccountRecord {
        account,
        state,
        version: 0,
    };
    store.insert(&rec, &[]).await.unwrap();
    let mut p = MockTokenProvider::new();
    p.expect_refresh().never();
    p.expect_check()
        .times(1)
        .returning(|_, _| Ok(CheckInfo::default()));
    let k = keeper(store.clone(), p);
    let r = k.sweep().await.unwrap();
    assert_eq!((r.claimed, r.checked, r.refreshed), (1, 1, 0));
}

/// Account `i`, due `now`, its 40-day-old token in the refresh window.
fn due_record(i: usize, now: DateTime<Utc>, version: i64) -> AccountRecord {
    let account =
        NewAccount::new("o", ConnectionKind::Consumer, format!("{i}"), "u").into_account();
    let token = Token::new(format!("t{i}"), now - TimeDelta::days(40))
        .expiring_at(now + TimeDelta::days(20));
    let mut state = TokenState::connected(token, now - TimeDelta::days(40));
    state.next_action_at = Some(now);
    AccountRecord {
        account,
        state,
        version,
    }
}

/// Shuts the keeper down from inside its first provider call.
struct StopOnFirstCall(Arc<std::sync::OnceLock<Keeper>>, DateTime<Utc>);

#[async_trait::async_trait]
impl TokenProvider for StopOnFirstCall {
    async fn refresh(&self, _: &Account, _: &Token) -> Result<Token, ProviderError> {
        if let Some(k) = self.0.get() {
            k.shutdown();
        }
        Ok(Token::new("renewed", self.1).expiring_in(60 * 86_400))
    }
    async fn check(&self, _: &Account, _: &Token) -> Result<CheckInfo, ProviderError> {
        if let Some(k) = self.0.get() {
            k.shutdown();
        }
        Ok(CheckInfo::default())
    }
}

#[tokio::test]
async fn a_shutdown_mid_sweep_releases_the_unstarted_leases_and_counts_them() {
    let now = Utc.with_ymd_and_hms(2026, 5, 1, 0, 0, 0).unwrap();
    let store = Arc::new(InMemoryStore::new());
    for i in 0..10 {
        store.insert(&due_record(i, now, 0), &[]).await.unwrap();
    }
    let cell = Arc::new(std::sync::OnceLock::new());
    let k = Keeper::builder(store.clone(), Arc::new(StopOnFirstCall(cell.clone(), now)))
        .clock(Arc::new(ManualClock::new(now)))
        .concurrency(1)
        .batch_size(20)
        .rng_seed(1)
        .build()
        .unwrap();
    cell.set(k.clone()).ok();
    let r = k.sweep().await.unwrap();
    assert_eq!(r.claimed, 10, "{r:?}");
    assert_eq!(
        r.refreshed + r.checked,
        1,
        "only the call in flight ran: {r:?}"
    );
    assert_eq!(r.released, 9, "the rest were handed back: {r:?}");
    let again = store
        .claim_due(now, 100, std::time::Duration::from_secs(60), "other")
        .await
        .unwrap();
    assert_eq!(
        again.len(),
        9,
        "and are claimable at once by another keeper"
    );
}

/// Answers account `i` after `i` ms (of tokio's clock).
struct Staggered(DateTime<Utc>);

#[async_trait::async_trait]
impl TokenProvider for Staggered {
    async fn refresh(&self, a: &Account, _: &Token) -> Result<Token, ProviderError> {
        let ms = a.ig_user_id.parse::<u64>().unwrap_or(0);
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
        Ok(Token::new("renewed", self.0).expiring_in(60 * 86_400))
    }
    async fn check(&self, _: &Account, _: &Token) -> Result<CheckInfo, ProviderError> {
        Ok(CheckInfo::default())
    }
}

/// One sweep of 100 accounts whose refreshes end 1 ms apart: the sizes of the
/// `commit_many` calls and the (tokio) time the sweep took.
async fn commit_sizes(
    linger: std::time::Duration,
    batch: usize,
) -> (Vec<usize>, std::time::Duration) {
    let now = Utc.with_ymd_and_hms(2026, 5, 1, 0, 0, 0).unwrap();
    let recs: Vec<AccountRecord> = (1..=100).map(|i| due_record(i, now, 1)).collect();
    let sizes = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut s = MockTokenStore::new();
    s.expect_incidents().returning(|_, _| Ok(vec![]));
    let mut first = Some(recs);
    s.expect_claim_due()
        .returning(move |_, _, _, _| Ok(first.take().unwrap_or_default()));
    let seen = sizes.clone();
    s.expect_commit_many().returning(move |ts| {
        seen.lock().unwrap().push(ts.len());
        ts.iter().map(|_| Ok(())).collect()
    });
    s.expect_record_sweep().returning(|_, _| Ok(()));
    let k = Keeper::builder(Arc::new(s), Arc::new(Staggered(now)))
        .clock(Arc::new(ManualClock::new(now)))
        .concurrency(100)
        .batch_size(batch)
        .commit_linger(linger)
        .rng_seed(1)
        .build()
        .unwrap();
    let t = tokio::time::Instant::now();
    let r = k.sweep().await.unwrap();
    assert_eq!(r.refreshed, 100, "{r:?}");
    let sizes = sizes.lock().unwrap().clone();
    assert_eq!(sizes.iter().sum::<usize>(), 100, "{sizes:?}");
    (sizes, t.elapsed())
}

#[tokio::test(start_paused = true)]
async fn the_commit_stage_waits_briefly_to_fill_a_batch() {
    use std::time::Duration;
    // No wait: a commit per result or two.
    let (eager, _) = commit_sizes(Duration::ZERO, 100).await;
    assert!(eager.len() >= 50, "{} commits: {eager:?}", eager.len());
    // 40 ms: results of ~40 ms per commit.
    let (grouped, _) = commit_sizes(Duration::from_millis(40), 100).await;
    assert!(
        (2..=4).contains(&grouped.len()),
        "{} commits: {grouped:?}",
        grouped.len()
    );
    // A full batch is written without waiting out the linger, and the last results
    // as soon as the last call ends: a 10 s linger costs nothing here.
    let (full, took) = commit_sizes(Duration::from_secs(10), 50).await;
    assert_eq!(full, vec![50, 50]);
    assert!(took < Duration::from_millis(500), "{took:?}");
    let (tail, took) = commit_sizes(Duration::from_secs(10), 1000).await;
    assert_eq!(tail, vec![100]);
    assert!(took < Duration::from_millis(500), "{took:?}");
}

mod fencing;
mod outages;
