//! A store that refuses writes for a while: results kept, leases renewed, retries bounded.

use std::sync::Arc;

use chrono::{TimeZone, Utc};

use super::*;
use crate::ports::{MockTokenProvider, MockTokenStore};

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

/// A store that answers a batch commit with fewer results than it was given (a buggy
/// backend): the missing results are errors, retried under the lease and then given up,
/// never counted as committed nor dropped without a word.
#[tokio::test(start_paused = true)]
async fn a_short_answer_to_a_batch_commit_is_an_error_not_a_success() {
    let secs = std::time::Duration::from_secs;
    let now = Utc.with_ymd_and_hms(2026, 5, 1, 0, 0, 0).unwrap();
    let mut s = MockTokenStore::new();
    s.expect_incidents().returning(|_, _| Ok(vec![]));
    let mut first = Some((1..=3).map(|i| due_record(i, now, 1)).collect::<Vec<_>>());
    s.expect_claim_due()
        .returning(move |_, _, _, _| Ok(first.take().unwrap_or_default()));
    // Every answer is one result short.
    s.expect_commit_many()
        .returning(|ts| ts.iter().skip(1).map(|_| Ok(())).collect());
    s.expect_extend_leases()
        .returning(|leases, _| Ok(leases.iter().map(|_| true).collect()));
    s.expect_record_sweep().returning(|_, _| Ok(()));
    let k = Keeper::builder(Arc::new(s), Arc::new(Staggered(now)))
        .clock(Arc::new(ManualClock::new(now)))
        .batch_size(3)
        .lease(secs(2))
        .commit_retry_for(secs(0))
        .rng_seed(1)
        .build()
        .unwrap();
    let r = k.sweep().await.unwrap();
    let stats = k.stats();
    assert_eq!(
        (r.refreshed, stats.refreshed, stats.store_errors),
        (2, 2, 1),
        "{r:?}"
    );
}
