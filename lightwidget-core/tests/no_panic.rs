//! No panic on any input (#21): extreme times, durations and fractions fed to the
//! public API return typed errors or saturate, and the lifecycle never overflows.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use lightwidget_core::lifecycle::{self, Observation};
use lightwidget_core::testkit::FakeProvider;
use lightwidget_core::*;
use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::SmallRng;

fn any_instant() -> impl Strategy<Value = DateTime<Utc>> {
    let lo = DateTime::<Utc>::MIN_UTC.timestamp_millis();
    let hi = DateTime::<Utc>::MAX_UTC.timestamp_millis();
    prop_oneof![
        Just(DateTime::<Utc>::MIN_UTC),
        Just(DateTime::<Utc>::MAX_UTC),
        Just(DateTime::<Utc>::MAX_UTC - TimeDelta::seconds(1)),
        Just(DateTime::<Utc>::UNIX_EPOCH),
        (lo..=hi).prop_map(|ms| DateTime::from_timestamp_millis(ms).unwrap()),
        (0i64..4_102_444_800).prop_map(|s| DateTime::from_timestamp(s, 0).unwrap()),
    ]
}

fn any_duration() -> impl Strategy<Value = Duration> {
    prop_oneof![
        Just(Duration::ZERO),
        Just(Duration::MAX),
        Just(Duration::from_secs(u64::MAX / 1000)),
        any::<u64>().prop_map(Duration::from_secs),
        (0u64..(10 * 365 * 86_400)).prop_map(Duration::from_secs),
        any::<u64>().prop_map(Duration::from_nanos),
    ]
}

fn any_delta() -> impl Strategy<Value = TimeDelta> {
    prop_oneof![
        Just(TimeDelta::MAX),
        Just(TimeDelta::MIN),
        any::<i64>().prop_filter_map("in range", TimeDelta::try_milliseconds),
        (-(i64::MAX / 1000)..=i64::MAX / 1000).prop_map(TimeDelta::seconds),
    ]
}

fn any_fraction() -> impl Strategy<Value = f64> {
    prop_oneof![proptest::num::f64::ANY, 0.0f64..=1.0]
}

fn any_token() -> impl Strategy<Value = Token> {
    (
        any_instant(),
        prop_oneof![
            any::<i64>(),
            Just(i64::MAX),
            Just(i64::MIN),
            0i64..10_000_000
        ],
        proptest::option::of(any_instant()),
        proptest::option::of(any_instant()),
        any::<bool>(),
    )
        .prop_map(|(issued, expires_in, expires_at, dae, by_seconds)| {
            let t = Token::new("IGAAfuzz", issued).with_data_access_expires_at(dae);
            match (by_seconds, expires_at) {
                (true, _) => t.expiring_in(expires_in),
                (false, Some(at)) => t.expiring_at(at),
                (false, None) => t,
            }
        })
}

fn any_policy() -> impl Strategy<Value = Result<RefreshPolicy, Error>> {
    (
        proptest::collection::vec(any_duration(), 9),
        (any_fraction(), any_fraction(), any_fraction()),
        any::<bool>(),
    )
        .prop_map(|(d, (rj, cj, wf), before)| {
            RefreshPolicy::builder()
                .min_token_age(d[0])
                .check_interval(d[1])
                .backoff_initial(d[2])
                .backoff_max(d[3])
                .persistent_backoff_min(d[4])
                .expiry_warning_lead(d[5])
                .data_access_warning_lead(d[6])
                .refresh_window(if before {
                    RefreshWindow::Before(d[7])
                } else {
                    RefreshWindow::FractionOfLifetime(wf)
                })
                .refresh_jitter(rj)
                .check_jitter(cj)
                .build()
        })
}

fn observations(now: DateTime<Utc>, token: &Token) -> Vec<Observation> {
    let err = |retry_after| ProviderError::RateLimited {
        retry_after,
        message: String::new(),
    };
    vec![
        Observation::Refreshed(token.clone()),
        Observation::Checked(CheckInfo {
            expires_at: ReportedExpiry::At(now),
            data_access_expires_at: Some(now),
            scopes: None,
        }),
        Observation::Checked(CheckInfo {
            expires_at: ReportedExpiry::Never,
            data_access_expires_at: token.data_access_expires_at,
            scopes: Some(vec![]),
        }),
        Observation::Failed(err(Some(Duration::MAX))),
        Observation::Failed(err(None)),
        Observation::Failed(ProviderError::Permission {
            message: String::new(),
        }),
        Observation::Failed(ProviderError::Expired {
            reason: ExpiryReason::PasswordChanged,
            message: String::new(),
        }),
        Observation::HostReported(Ok(())),
        Observation::Lapsed,
        Observation::RefreshRequested,
        Observation::Deauthorized,
        Observation::Reconnected {
            token: token.clone(),
            account: None,
        },
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// The policy and the lifecycle, fed extreme values, never panic.
    #[test]
    fn the_lifecycle_never_panics(
        policy in any_policy(),
        token in any_token(),
        new_token in any_token(),
        now in any_instant(),
        failures in any::<u32>(),
        retry_after in proptest::option::of(any_duration()),
        expires_at in proptest::option::of(any_instant()),
        seed in any::<u64>(),
    ) {
        let Ok(policy) = policy else { return Ok(()); };
        let mut rng = SmallRng::seed_from_u64(seed);
        let _ = token.lifetime();
        let _ = token.is_lapsed(now);
        let account = NewAccount::new("o", ConnectionKind::Business, "1", "u").into_account();
        let (record, _) = lifecycle::connect(account, token, now, &policy, &mut rng);
        let _ = policy.due_action(&record.state, now);
        let _ = policy.refresh_window_start(&record.state);
        let _ = policy.schedule(&record.state, now, &mut rng);
        for persistent in [false, true] {
            let _ = policy.retry_at(failures, retry_after, persistent, expires_at, now, &mut rng);
        }
        let mut r = record;
        for obs in observations(now, &new_token) {
            let t = lifecycle::apply(&r, obs, now, &policy, &mut rng);
            r.state = t.state;
            r.account = t.account;
        }
    }

    /// Keeper settings, fed extreme values, give a typed error or a working keeper.
    #[test]
    fn keeper_settings_never_panic(
        d in proptest::collection::vec(any_duration(), 5),
        sizes in proptest::collection::vec(prop_oneof![Just(usize::MAX), Just(0usize), any::<usize>(), 1usize..1000], 3),
        attempts in any::<u32>(),
        rate in any::<u32>(),
    ) {
        let clock = ManualClock::new(DateTime::<Utc>::UNIX_EPOCH);
        let _ = Keeper::builder(Arc::new(InMemoryStore::new()), Arc::new(FakeProvider::new(clock)))
            .lease(d[0])
            .poll_interval(d[1])
            .commit_linger(d[2])
            .notice_backoff(d[3], d[4])
            .concurrency(sizes[0])
            .batch_size(sizes[1])
            .outbox_batch(sizes[2])
            .notice_max_attempts(attempts)
            .rate_limit_per_second(rate)
            .build();
    }

    /// The manual clock saturates.
    #[test]
    fn the_manual_clock_never_panics(start in any_instant(), by in any_delta()) {
        let clock = ManualClock::new(start);
        clock.advance(by);
        clock.advance(by);
        let _ = clock.now();
    }
}

/// A keeper whose clock stands at the end of time, with extreme tokens and settings,
/// connects, sweeps and dispatches without panicking.
#[tokio::test]
async fn a_keeper_at_the_end_of_time_does_not_panic() {
    let end = DateTime::<Utc>::MAX_UTC - TimeDelta::seconds(1);
    for now in [end, DateTime::<Utc>::MIN_UTC + TimeDelta::days(1)] {
        let clock = ManualClock::new(now);
        let store = Arc::new(InMemoryStore::new());
        let keeper = Keeper::builder(store.clone(), Arc::new(FakeProvider::new(clock.clone())))
            .clock(Arc::new(clock.clone()))
            .lease(Duration::from_secs(3600))
            .notice_backoff(Duration::from_secs(1), Duration::MAX)
            .build()
            .unwrap();
        let tokens = [
            Token::new("IGAAa", now).expiring_in(i64::MAX),
            Token::new("IGAAb", now).expiring_in(60),
            Token::new("IGAAc", DateTime::<Utc>::MIN_UTC).with_data_access_expires_at(Some(end)),
            Token::new("IGAAd", now).with_data_access_expires_at(Some(DateTime::<Utc>::MAX_UTC)),
        ];
        for (i, t) in tokens.into_iter().enumerate() {
            let new = NewAccount::new("o", ConnectionKind::Business, format!("{i}"), "u");
            let _ = keeper.connect(new, t).await;
        }
        clock.advance(TimeDelta::MAX);
        keeper.sweep().await.unwrap();
        keeper.dispatch_outbox().await.unwrap();
        keeper.health(Duration::MAX).await.unwrap();
        for at in [DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC] {
            store.claim_due(at, 10, Duration::MAX, "w").await.unwrap();
            store.take_outbox(at, 10, Duration::MAX, "w").await.unwrap();
        }
    }
}

#[test]
fn expiring_in_saturates() {
    let t = Token::new("IGAA", DateTime::<Utc>::UNIX_EPOCH);
    assert_eq!(
        t.clone().expiring_in(i64::MAX).expires_at,
        Some(DateTime::<Utc>::MAX_UTC)
    );
    assert_eq!(
        t.expiring_in(i64::MIN).expires_at,
        Some(DateTime::<Utc>::MIN_UTC)
    );
}

#[test]
fn unreasonable_keeper_settings_are_typed_errors() {
    let make = || {
        Keeper::builder(
            Arc::new(InMemoryStore::new()),
            Arc::new(FakeProvider::new(SystemClock)),
        )
    };
    for b in [
        make().lease(Duration::MAX),
        make().commit_linger(Duration::from_secs(3600)),
        make().batch_size(usize::MAX),
        make().outbox_batch(usize::MAX),
    ] {
        assert!(matches!(b.build(), Err(Error::Config(_))));
    }
}
