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

#[tokio::test]
async fn a_store_outage_is_a_typed_transient_error() {
    let mut s = MockTokenStore::new();
    s.expect_incidents().returning(|_, _| Ok(vec![]));
    s.expect_claim_due().returning(|_, _, _, _| {
        Err(StoreError::Unavailable {
            message: "connection refused".into(),
            source: None,
        })
    });
    let mut p = MockTokenProvider::new();
    p.expect_refresh().never();
    p.expect_check().never();
    let err = keeper(Arc::new(s), p).sweep().await.unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    assert!(err.to_string().contains("connection refused"));
}

#[tokio::test]
async fn a_panic_in_the_commit_stage_is_an_internal_error() {
    let now = Utc.with_ymd_and_hms(2026, 5, 1, 0, 0, 0).unwrap();
    let mut s = MockTokenStore::new();
    s.expect_incidents().returning(|_, _| Ok(vec![]));
    let mut first = Some(vec![due_record(1, now, 1)]);
    s.expect_claim_due()
        .returning(move |_, _, _, _| Ok(first.take().unwrap_or_default()));
    s.expect_commit_many().returning(|_| panic!("a store bug"));
    s.expect_record_sweep().never();
    let k = Keeper::builder(Arc::new(s), Arc::new(Staggered(now)))
        .clock(Arc::new(ManualClock::new(now)))
        .rng_seed(1)
        .build()
        .unwrap();
    let err = k.sweep().await.unwrap_err();
    assert!(matches!(err, Error::Internal { .. }), "{err:?}");
    assert!(!err.is_transient());
    assert!(err.to_string().contains("commit stage"), "{err}");
}

/// A database outage of 10 s (longer than the old three retries, shorter than
/// `commit_retry_for`): every refreshed token is kept and committed when the store
/// is back, and the heartbeat renews the leases meanwhile.
#[tokio::test(start_paused = true)]
async fn a_ten_second_outage_drops_no_refreshed_token_and_the_leases_are_renewed() {
    let now = Utc.with_ymd_and_hms(2026, 5, 1, 0, 0, 0).unwrap();
    let mut s = MockTokenStore::new();
    s.expect_incidents().returning(|_, _| Ok(vec![]));
    let mut first = Some((1..=20).map(|i| due_record(i, now, 1)).collect::<Vec<_>>());
    s.expect_claim_due()
        .returning(move |_, _, _, _| Ok(first.take().unwrap_or_default()));
    let outage_ends = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    let attempts = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let a = attempts.clone();
    s.expect_commit_many().returning(move |ts| {
        a.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if tokio::time::Instant::now() < outage_ends {
            StoreError::Unavailable {
                message: "connection refused".into(),
                source: None,
            }
            .for_batch(ts.len())
        } else {
            ts.iter().map(|_| Ok(())).collect()
        }
    });
    let renewed = Arc::new(std::sync::Mutex::new(Vec::new()));
    let r2 = renewed.clone();
    s.expect_extend_leases().returning(move |leases, _| {
        r2.lock().unwrap().push(leases.len());
        Ok(leases.iter().map(|_| true).collect())
    });
    s.expect_record_sweep().returning(|_, _| Ok(()));
    let k = Keeper::builder(Arc::new(s), Arc::new(Staggered(now)))
        .clock(Arc::new(ManualClock::new(now)))
        .batch_size(20)
        .lease(std::time::Duration::from_secs(3))
        .rng_seed(1)
        .build()
        .unwrap();
    let r = k.sweep().await.unwrap();
    assert_eq!(r.refreshed, 20, "no result dropped: {r:?}");
    assert_eq!(k.stats().store_errors, 0, "{r:?}");
    assert!(attempts.load(std::sync::atomic::Ordering::Relaxed) > 3);
    let renewed = renewed.lock().unwrap();
    assert!(
        renewed.len() >= 3 && renewed.iter().all(|n| *n == 20),
        "the 20 leases were renewed every second of the outage: {renewed:?}"
    );
}

/// When the outage outlasts `commit_retry_for` (here longer than the 60 s lease), the
/// results are given up (logged with the account id) instead of retrying forever.
#[tokio::test(start_paused = true)]
async fn an_outage_longer_than_commit_retry_for_gives_up() {
    let now = Utc.with_ymd_and_hms(2026, 5, 1, 0, 0, 0).unwrap();
    let mut s = MockTokenStore::new();
    s.expect_incidents().returning(|_, _| Ok(vec![]));
    let mut first = Some((1..=3).map(|i| due_record(i, now, 1)).collect::<Vec<_>>());
    s.expect_claim_due()
        .returning(move |_, _, _, _| Ok(first.take().unwrap_or_default()));
    s.expect_commit_many().returning(|ts| {
        StoreError::Unavailable {
            message: "connection refused".into(),
            source: None,
        }
        .for_batch(ts.len())
    });
    s.expect_extend_leases()
        .returning(|leases, _| Ok(leases.iter().map(|_| true).collect()));
    s.expect_record_sweep().returning(|_, _| Ok(()));
    let k = Keeper::builder(Arc::new(s), Arc::new(Staggered(now)))
        .clock(Arc::new(ManualClock::new(now)))
        .commit_retry_for(std::time::Duration::from_secs(90))
        .rng_seed(1)
        .build()
        .unwrap();
    let started = tokio::time::Instant::now();
    let r = k.sweep().await.unwrap();
    assert_eq!(r.refreshed, 0);
    assert_eq!(k.stats().store_errors, 3);
    let took = started.elapsed();
    assert!(
        took >= std::time::Duration::from_secs(90) && took < std::time::Duration::from_secs(95),
        "{took:?}"
    );
}

/// What one sweep of `n` due accounts did when `commit_many` fails with `fail(i)` on
/// its attempts before `until` (tokio time from the start) and the heartbeat answers
/// `heartbeat(attempt)`: the report, the keeper's store error count, the commit
/// attempts and the (tokio) time the sweep took.
async fn sweep_through_failing_commits(
    n: usize,
    until: std::time::Duration,
    fail: fn() -> StoreError,
    heartbeat: fn(usize) -> Result<bool, StoreError>,
    settings: impl FnOnce(crate::KeeperBuilder) -> crate::KeeperBuilder,
) -> (SweepReport, u64, usize, std::time::Duration) {
    let now = Utc.with_ymd_and_hms(2026, 5, 1, 0, 0, 0).unwrap();
    let mut s = MockTokenStore::new();
    s.expect_incidents().returning(|_, _| Ok(vec![]));
    let mut first = Some((1..=n).map(|i| due_record(i, now, 1)).collect::<Vec<_>>());
    s.expect_claim_due()
        .returning(move |_, _, _, _| Ok(first.take().unwrap_or_default()));
    let started = tokio::time::Instant::now();
    let attempts = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let a = attempts.clone();
    s.expect_commit_many().returning(move |ts| {
        a.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if started.elapsed() < until {
            fail().for_batch(ts.len())
        } else {
            ts.iter().map(|_| Ok(())).collect()
        }
    });
    let beats = std::sync::atomic::AtomicUsize::new(0);
    s.expect_extend_leases().returning(move |leases, _| {
        let b = beats.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let kept = heartbeat(b)?;
        Ok(leases.iter().map(|_| kept).collect())
    });
    s.expect_record_sweep().returning(|_, _| Ok(()));
    let b = Keeper::builder(Arc::new(s), Arc::new(Staggered(now)))
        .clock(Arc::new(ManualClock::new(now)))
        .batch_size(n)
        .rng_seed(1);
    let k = settings(b).build().unwrap();
    let r = k.sweep().await.unwrap();
    let attempts = attempts.load(std::sync::atomic::Ordering::Relaxed);
    (r, k.stats().store_errors, attempts, started.elapsed())
}

fn unknown_class() -> StoreError {
    StoreError::Backend {
        message: "encountered unexpected or invalid data".into(),
        source: None,
    }
}

fn down() -> StoreError {
    StoreError::Unavailable {
        message: "database \"lw\" is not currently accepting connections".into(),
        source: None,
    }
}

/// A result fenced out by a concurrent write is worked out again on the fresh record;
/// when re-reading that record fails for a while (the store went down meanwhile), the
/// re-read is retried like a commit instead of dropping the result.
#[tokio::test(start_paused = true)]
async fn a_fenced_result_survives_a_re_read_that_fails_for_a_while() {
    let now = Utc.with_ymd_and_hms(2026, 5, 1, 0, 0, 0).unwrap();
    let rec = due_record(1, now, 1);
    let id = rec.account.id;
    let mut fresh = rec.clone();
    fresh.version = 2;
    let mut s = MockTokenStore::new();
    s.expect_incidents().returning(|_, _| Ok(vec![]));
    let mut first = Some(vec![rec]);
    s.expect_claim_due()
        .returning(move |_, _, _, _| Ok(first.take().unwrap_or_default()));
    let commits = std::sync::atomic::AtomicUsize::new(0);
    s.expect_commit_many().returning(move |ts| {
        if commits.fetch_add(1, std::sync::atomic::Ordering::Relaxed) == 0 {
            vec![Err(StoreError::Conflict(id))]
        } else {
            assert_eq!(ts[0].expected_version, 2, "fenced on the fresh version");
            vec![Ok(())]
        }
    });
    let started = tokio::time::Instant::now();
    s.expect_get().returning(move |_| {
        if started.elapsed() < std::time::Duration::from_secs(5) {
            Err(down())
        } else {
            Ok(Some(fresh.clone()))
        }
    });
    s.expect_extend_leases()
        .returning(|leases, _| Ok(leases.iter().map(|_| true).collect()));
    s.expect_record_sweep().returning(|_, _| Ok(()));
    let k = Keeper::builder(Arc::new(s), Arc::new(Staggered(now)))
        .clock(Arc::new(ManualClock::new(now)))
        .rng_seed(1)
        .build()
        .unwrap();
    let r = k.sweep().await.unwrap();
    assert_eq!(r.refreshed, 1, "{r:?}");
    assert_eq!(k.stats().store_errors, 0);
}

/// A commit error whose class is not known (neither unavailable nor permanent) is
/// retried while the lease is held, not dropped.
#[tokio::test(start_paused = true)]
async fn a_commit_error_of_unknown_class_is_retried_while_the_lease_is_held() {
    let secs = std::time::Duration::from_secs;
    let (r, errors, attempts, _) =
        sweep_through_failing_commits(10, secs(10), unknown_class, |_| Ok(true), |b| b).await;
    assert_eq!(r.refreshed, 10, "no result dropped: {r:?}");
    assert_eq!(errors, 0);
    assert!(attempts > 3, "{attempts}");
}

/// `commit_retry_for` shorter than the lease does not shorten the retries: while the
/// lease may still be held, the result is kept. The heartbeat fails throughout the
/// outage (it cannot confirm the lease), which is not a lost lease.
#[tokio::test(start_paused = true)]
async fn the_retries_last_as_long_as_the_lease_even_when_the_heartbeat_fails_too() {
    let secs = std::time::Duration::from_secs;
    let (r, errors, _, took) = sweep_through_failing_commits(
        10,
        secs(20),
        down,
        |_| Err(down()),
        |b| b.lease(secs(30)).commit_retry_for(secs(1)),
    )
    .await;
    assert_eq!(r.refreshed, 10, "no result dropped: {r:?}");
    assert_eq!(errors, 0);
    assert!(took >= secs(20) && took < secs(23), "{took:?}");
}

/// A permanent error gives the result up at once: nothing to gain from retrying.
#[tokio::test(start_paused = true)]
async fn a_permanent_commit_error_is_given_up_at_once() {
    let secs = std::time::Duration::from_secs;
    let rejected = || StoreError::Rejected {
        message: "value too long for type character varying(191)".into(),
        source: None,
    };
    let (r, errors, attempts, took) =
        sweep_through_failing_commits(4, secs(3600), rejected, |_| Ok(true), |b| b).await;
    assert_eq!((r.refreshed, errors, attempts), (0, 4, 1), "{r:?}");
    assert!(took < secs(1), "{took:?}");
}

/// Once the heartbeat finds the lease held by another keeper, the retries end: the
/// result is the other keeper's to make now.
#[tokio::test(start_paused = true)]
async fn a_lost_lease_ends_the_retries() {
    let secs = std::time::Duration::from_secs;
    let (r, errors, _, took) = sweep_through_failing_commits(
        4,
        secs(3600),
        down,
        |beat| Ok(beat < 2),
        |b| b.lease(secs(3)),
    )
    .await;
    assert_eq!((r.refreshed, errors), (0, 4), "{r:?}");
    // Beats every second; the third one finds the leases gone.
    assert!(took < secs(6), "{took:?}");
}

#[tokio::test]
async fn a_whole_batch_that_failed_transiently_is_committed_again_and_keeps_its_cause() {
    let now = Utc.with_ymd_and_hms(2026, 5, 1, 0, 0, 0).unwrap();
    let mut s = MockTokenStore::new();
    s.expect_incidents().returning(|_, _| Ok(vec![]));
    let mut first = Some((1..=5).map(|i| due_record(i, now, 1)).collect::<Vec<_>>());
    s.expect_claim_due()
        .returning(move |_, _, _, _| Ok(first.take().unwrap_or_default()));
    let mut failed_once = false;
    let causes = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = causes.clone();
    s.expect_commit_many().returning(move |ts| {
        if failed_once {
            return ts.iter().map(|_| Ok(())).collect();
        }
        failed_once = true;
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset by peer");
        let results = StoreError::Unavailable {
            message: "commit".into(),
            source: Some(Box::new(io)),
        }
        .for_batch(ts.len());
        for r in &results {
            let e = r.as_ref().unwrap_err();
            seen.lock().unwrap().push(crate::error::with_causes(e));
        }
        results
    });
    s.expect_record_sweep().returning(|_, _| Ok(()));
    let k = Keeper::builder(Arc::new(s), Arc::new(Staggered(now)))
        .clock(Arc::new(ManualClock::new(now)))
        .batch_size(5)
        .rng_seed(1)
        .build()
        .unwrap();
    let r = k.sweep().await.unwrap();
    assert_eq!(r.refreshed, 5, "retried after the batch failed: {r:?}");
    let causes = causes.lock().unwrap();
    assert_eq!(causes.len(), 5);
    assert!(
        causes.iter().all(|c| c.contains("reset by peer")),
        "{causes:?}"
    );
}

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

/// The race of issue #18: a gateway success (its last-check write commits a new
/// version) lands between the sweep's claim and its commit. The sweep's commit is
/// fenced out; the refreshed token must still be stored, not dropped.
#[tokio::test]
async fn a_gateway_write_between_claim_and_commit_does_not_drop_the_refreshed_token() {
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
    let k = Keeper::builder(store.clone(), p.clone())
        .clock(Arc::new(ManualClock::new(now)))
        .rng_seed(1)
        .build()
        .unwrap();
    // The widget's call is on the wire (it read the record before the claim)...
    let call = tokio::spawn({
        let k = k.clone();
        async move { k.graph(id).profile().await }
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
    assert_eq!(call.await.unwrap().unwrap().username, "u");
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
}

/// A fenced-out result about a token that was replaced meanwhile (a reconnect) is
/// not applied to the new token.
#[tokio::test]
async fn a_fenced_result_about_a_replaced_token_is_not_applied() {
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
