//! Property tests of the lifecycle invariants.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use lightwidget_core::lifecycle::{self, Observation};
use lightwidget_core::*;
use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::SmallRng;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 2, 1, 0, 0, 0).unwrap()
}

fn record(age_minutes: i64) -> AccountRecord {
    let account = NewAccount::new("o", ConnectionKind::Consumer, "1", "u").into_account();
    let issued = t0() - TimeDelta::minutes(age_minutes);
    let token = Token::new("IGAAprop", issued).expiring_at(issued + TimeDelta::days(60));
    let mut rng = SmallRng::seed_from_u64(0);
    let (r, _) = lifecycle::connect(account, token, t0(), &RefreshPolicy::default(), &mut rng);
    r
}

#[derive(Clone, Debug)]
enum Op {
    Step(i64),
    Transient(Option<u64>),
    RateLimited(Option<u64>),
    Permission,
    Fatal,
    Expired(u8),
    Revoked,
    CheckOk,
    RefreshOk,
    HostOk,
    HostTransient,
    HostExpired,
    Lapsed,
    Deauthorized,
    Reconnect,
    RefreshRequested,
}

fn reason(i: u8) -> ExpiryReason {
    match i % 6 {
        0 => ExpiryReason::PasswordChanged,
        1 => ExpiryReason::SecurityCheckpoint,
        2 => ExpiryReason::SessionInvalidated,
        3 => ExpiryReason::LifetimeEnded,
        4 => ExpiryReason::DataAccessExpired,
        _ => ExpiryReason::Unknown {
            code: 190,
            subcode: Some(i64::from(i)),
        },
    }
}

fn harmless() -> impl Strategy<Value = Op> {
    prop_oneof![
        (1i64..600).prop_map(Op::Step),
        proptest::option::of(0u64..100_000).prop_map(Op::Transient),
        proptest::option::of(0u64..100_000).prop_map(Op::RateLimited),
        Just(Op::Fatal),
        Just(Op::Lapsed),
        Just(Op::HostTransient),
        Just(Op::RefreshRequested),
    ]
}

fn any_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => harmless(),
        1 => any::<u8>().prop_map(Op::Expired),
        1 => Just(Op::Revoked),
        1 => Just(Op::Permission),
        1 => Just(Op::CheckOk),
        1 => Just(Op::RefreshOk),
        1 => Just(Op::HostOk),
        1 => Just(Op::HostExpired),
        1 => Just(Op::Deauthorized),
        1 => Just(Op::Reconnect),
    ]
}

fn observation(op: &Op, now: DateTime<Utc>) -> Option<Observation> {
    let secs = |s: &Option<u64>| s.map(std::time::Duration::from_secs);
    Some(match op {
        Op::Step(_) => return None,
        Op::Transient(s) => Observation::Failed(ProviderError::Transient {
            retry_after: secs(s),
            message: "503".into(),
        }),
        Op::RateLimited(s) => Observation::Failed(ProviderError::RateLimited {
            retry_after: secs(s),
            message: "#4".into(),
        }),
        Op::Permission => Observation::Failed(ProviderError::Permission {
            message: "#10".into(),
        }),
        Op::Fatal => Observation::Failed(ProviderError::Fatal {
            message: "bad secret".into(),
        }),
        Op::Expired(i) => Observation::Failed(ProviderError::Expired {
            reason: reason(*i),
            message: String::new(),
        }),
        Op::Revoked => Observation::Failed(ProviderError::Revoked {
            message: String::new(),
        }),
        Op::CheckOk => Observation::Checked(CheckInfo::default()),
        Op::RefreshOk => Observation::Refreshed(
            Token::new("IGAAnew", now).expiring_at(now + TimeDelta::days(60)),
        ),
        Op::HostOk => Observation::HostReported(Ok(())),
        Op::HostTransient => Observation::HostReported(Err(ProviderError::Transient {
            retry_after: None,
            message: String::new(),
        })),
        Op::HostExpired => Observation::HostReported(Err(ProviderError::Expired {
            reason: ExpiryReason::PasswordChanged,
            message: String::new(),
        })),
        Op::Lapsed => Observation::Lapsed,
        Op::Deauthorized => Observation::Deauthorized,
        Op::Reconnect => Observation::Reconnected {
            token: Token::new("IGAAre", now).expiring_at(now + TimeDelta::days(60)),
            account: None,
        },
        Op::RefreshRequested => Observation::RefreshRequested,
    })
}

fn is_end(k: &NoticeKind) -> bool {
    k.is_break()
}

fn commit(r: &mut AccountRecord, t: &Transition) {
    r.account = t.account.clone();
    r.state = t.state.clone();
    r.version += 1;
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Transient, rate-limited and configuration failures never expire a token while it
    /// is inside its lifetime. (A removed permission does: `tests/rules.rs`.)
    #[test]
    fn failures_never_expire_a_token_inside_its_lifetime(
        age in 0i64..(59 * 24 * 60),
        ops in proptest::collection::vec(harmless(), 1..200),
        seed in any::<u64>(),
    ) {
        let mut r = record(age);
        let mut rng = SmallRng::seed_from_u64(seed);
        let policy = RefreshPolicy::default();
        let mut now = t0();
        for op in &ops {
            if let Op::Step(m) = op { now += TimeDelta::minutes(*m); continue; }
            let t = lifecycle::apply(&r, observation(op, now).unwrap(), now, &policy, &mut rng);
            if now < r.state.token.expires_at.unwrap() {
                prop_assert!(t.state.status.is_active(), "{op:?} at {now} expired a live token");
                let no_expiry_notice = t.notices.iter().all(|n| !matches!(n.kind, NoticeKind::Expired { .. }));
                prop_assert!(no_expiry_notice, "no expiry notice inside the lifetime");
                if let (Some(next), false) = (t.state.next_action_at, t.is_noop()) {
                    prop_assert!(next >= now, "a new schedule is never in the past");
                }
            }
            commit(&mut r, &t);
        }
    }

    /// Exactly one expiry/revocation notice per episode, however many observations follow.
    #[test]
    fn one_end_notice_per_episode(
        ops in proptest::collection::vec(any_op(), 1..300),
        seed in any::<u64>(),
    ) {
        let mut r = record(60 * 24 * 10);
        let mut rng = SmallRng::seed_from_u64(seed);
        let policy = RefreshPolicy::default();
        let mut now = t0();
        let mut per_episode = std::collections::HashMap::<u32, usize>::new();
        let mut keys = std::collections::HashSet::new();
        for op in &ops {
            if let Op::Step(m) = op { now += TimeDelta::minutes(*m); continue; }
            let was_active = r.state.status.is_active();
            let t = lifecycle::apply(&r, observation(op, now).unwrap(), now, &policy, &mut rng);
            let ends = t.notices.iter().filter(|n| is_end(&n.kind)).count();
            if was_active && !t.state.status.is_active() {
                prop_assert_eq!(ends, 1, "an active token that ends raises exactly one notice");
                // Whatever broke it, the seeds' one checkbox covers it.
                let end = t.notices.iter().find(|n| is_end(&n.kind)).unwrap();
                prop_assert_eq!(end.kind.topic(), NoticeTopic::Expired, "{:?}", end.kind);
                prop_assert_eq!(t.state.next_action_at, None);
            } else {
                prop_assert_eq!(ends, 0, "no end notice without an end: {:?}", op);
            }
            for n in &t.notices {
                prop_assert!(keys.insert(n.dedupe_key.clone()), "dedupe key reused: {}", n.dedupe_key);
            }
            *per_episode.entry(r.state.episode).or_default() += ends;
            commit(&mut r, &t);
        }
        prop_assert!(per_episode.values().all(|n| *n <= 1), "{per_episode:?}");
    }

    /// A token kept by a healthy provider (with occasional transient failures) never
    /// lapses over a simulated year, and is never refreshed before it is 24 h old.
    #[test]
    fn a_healthy_provider_keeps_a_token_for_a_year(
        age in 0i64..(59 * 24 * 60),
        seed in any::<u64>(),
        fail_pct in 0u64..30,
        check_hours in 1u64..48,
    ) {
        let policy = RefreshPolicy::builder()
            .check_interval(std::time::Duration::from_secs(check_hours * 3600))
            .build()
            .unwrap();
        let mut r = record(age);
        let mut rng = SmallRng::seed_from_u64(seed);
        let mut faults = SmallRng::seed_from_u64(seed ^ 0x5eed);
        let end = t0() + TimeDelta::days(365);
        let mut steps = 0;
        while let Some(now) = r.state.next_action_at {
            if now > end { break; }
            steps += 1;
            prop_assert!(steps < 100_000, "runaway schedule");
            let obs = match policy.due_action(&r.state, now) {
                Action::Lapse => Observation::Lapsed,
                _ if rand::Rng::random_range(&mut faults, 0..100) < fail_pct => {
                    Observation::Failed(ProviderError::Transient { retry_after: None, message: String::new() })
                }
                Action::Refresh => {
                    prop_assert!(now - r.state.token.issued_at >= TimeDelta::hours(24), "refresh under 24 h");
                    Observation::Refreshed(Token::new("IGAAx", now).expiring_at(now + TimeDelta::days(60)))
                }
                Action::Check => Observation::Checked(CheckInfo::default()),
            };
            let t = lifecycle::apply(&r, obs, now, &policy, &mut rng);
            prop_assert!(t.state.status.is_active(), "lapsed at {now}: {:?}", t.state.status);
            commit(&mut r, &t);
        }
        prop_assert!(r.state.status.is_active());
    }

    /// Reconnect after any ending returns to Active and appends history.
    #[test]
    fn reconnect_after_an_end_returns_to_active(i in any::<u8>(), revoke in any::<bool>()) {
        let mut r = record(60 * 24 * 3);
        let mut rng = SmallRng::seed_from_u64(1);
        let policy = RefreshPolicy::default();
        let end = if revoke { Observation::Deauthorized } else {
            Observation::Failed(ProviderError::Expired { reason: reason(i), message: String::new() })
        };
        let t = lifecycle::apply(&r, end, t0(), &policy, &mut rng);
        prop_assert!(!t.state.status.is_active());
        commit(&mut r, &t);
        let ep = r.state.episode;
        let now = t0() + TimeDelta::hours(5);
        let t = lifecycle::apply(&r, observation(&Op::Reconnect, now).unwrap(), now, &policy, &mut rng);
        prop_assert!(t.state.status.is_active());
        prop_assert_eq!(t.state.episode, ep + 1);
        prop_assert!(t.state.next_action_at.is_some());
        prop_assert!(t.token_changed);
        prop_assert_eq!(t.events.len(), 1);
        prop_assert_eq!(t.events[0].kind.name(), "reconnected");
    }
}

fn any_policy() -> impl Strategy<Value = RefreshPolicy> {
    let d = |max: u64| (1u64..=max).prop_map(std::time::Duration::from_secs);
    (
        (0u64..=30 * 86_400).prop_map(std::time::Duration::from_secs),
        prop_oneof![
            (0.01f64..0.99).prop_map(RefreshWindow::FractionOfLifetime),
            d(100 * 86_400).prop_map(RefreshWindow::Before),
        ],
        (0.0f64..=1.0, 0.0f64..=1.0),
        d(400 * 86_400),
        (d(86_400), d(7 * 86_400), d(7 * 86_400)),
        (d(400 * 86_400), d(400 * 86_400)),
    )
        .prop_filter_map(
            "a valid policy",
            |(min_age, window, (rj, cj), check, (bi, bm, pm), (el, dl))| {
                RefreshPolicy::builder()
                    .min_token_age(min_age)
                    .refresh_window(window)
                    .refresh_jitter(rj)
                    .check_jitter(cj)
                    .check_interval(check)
                    .backoff_initial(bi)
                    .backoff_max(bm.max(bi))
                    .persistent_backoff_min(pm)
                    .expiry_warning_lead(el)
                    .data_access_warning_lead(dl)
                    .build()
                    .ok()
            },
        )
}

/// A check that reports a data-access expiry `offset` seconds from now.
fn check_with_data_access(now: DateTime<Utc>, offset: i64) -> Observation {
    Observation::Checked(CheckInfo {
        expires_at: ReportedExpiry::Unknown,
        data_access_expires_at: Some(now + TimeDelta::seconds(offset)),
        scopes: None,
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Whatever the policy, the clock and the observation, an outcome that schedules a
    /// next action schedules it strictly after the current one (no poll loop).
    #[test]
    fn no_outcome_schedules_the_next_action_at_or_before_now(
        policy in any_policy(),
        start in 0i64..(200 * 365 * 86_400),
        age in 0i64..(120 * 86_400),
        lifetime in proptest::option::of(1i64..(120 * 86_400)),
        dae in proptest::option::of(-86_400i64..(120 * 86_400)),
        ops in proptest::collection::vec((any_op(), -86_400i64..(30 * 86_400)), 1..60),
        seed in any::<u64>(),
    ) {
        let now0 = DateTime::<Utc>::UNIX_EPOCH + TimeDelta::seconds(start);
        let issued = now0 - TimeDelta::seconds(age);
        let mut token = Token::new("EAAGprop", issued)
            .with_data_access_expires_at(dae.map(|s| now0 + TimeDelta::seconds(s)));
        if let Some(l) = lifetime {
            token = token.expiring_at(issued + TimeDelta::seconds(l));
        }
        let account = NewAccount::new("o", ConnectionKind::Business, "1", "u").into_account();
        let mut rng = SmallRng::seed_from_u64(seed);
        let (mut r, _) = lifecycle::connect(account, token, now0, &policy, &mut rng);
        if let Some(next) = r.state.next_action_at {
            prop_assert!(next > now0, "connect scheduled {next} at {now0}");
        }
        let mut now = now0;
        for (op, dae_offset) in &ops {
            let obs = match op {
                Op::Step(m) => { now += TimeDelta::minutes(*m); continue; }
                Op::CheckOk => check_with_data_access(now, *dae_offset),
                op => observation(op, now).unwrap(),
            };
            let t = lifecycle::apply(&r, obs, now, &policy, &mut rng);
            if !t.is_noop() && let Some(next) = t.state.next_action_at {
                prop_assert!(next > now, "{op:?} at {now} scheduled {next}");
            }
            commit(&mut r, &t);
        }
    }

    /// However Meta's reported data-access expiry drifts (by seconds) from check to
    /// check, one warning per incident.
    #[test]
    fn one_data_access_warning_per_incident(
        policy in any_policy().prop_filter("a lead of an hour or more", |p| {
            p.data_access_warning_lead() >= TimeDelta::hours(1)
        }),
        drifts in proptest::collection::vec(-30i64..30, 1..50),
        gap in 1i64..3600,
        seed in any::<u64>(),
    ) {
        // Inside the warning window from the first check on.
        let lead = policy.data_access_warning_lead().num_seconds();
        let now0 = t0();
        let dae = now0 + TimeDelta::seconds(lead / 2);
        let token = Token::new("EAAGprop", now0 - TimeDelta::days(30))
            .with_data_access_expires_at(Some(dae));
        let account = NewAccount::new("o", ConnectionKind::Business, "1", "u").into_account();
        let mut rng = SmallRng::seed_from_u64(seed);
        let (mut r, _) = lifecycle::connect(account, token, now0, &policy, &mut rng);
        let mut now = now0;
        let mut warnings = 0;
        for d in &drifts {
            if now >= dae || !r.state.status.is_active() { break; }
            let obs = Observation::Checked(CheckInfo {
                expires_at: ReportedExpiry::Never,
                data_access_expires_at: Some(dae + TimeDelta::seconds(*d)),
                scopes: None,
            });
            let t = lifecycle::apply(&r, obs, now, &policy, &mut rng);
            warnings += t.notices.iter().filter(|n| matches!(n.kind, NoticeKind::DataAccessExpiring { .. })).count();
            commit(&mut r, &t);
            now += TimeDelta::seconds(gap);
        }
        prop_assert_eq!(warnings, 1);
    }
}

/// Issue #16: a reconnect (renewal without login included) never changes the owner,
/// whatever account metadata it carries.
#[test]
fn a_reconnect_never_changes_the_owner() {
    let r = record(60 * 24 * 3);
    let mut other = r.account.clone();
    other.owner = OwnerId::new("someone-else");
    other.username = "renamed".into();
    let mut rng = SmallRng::seed_from_u64(1);
    let t = lifecycle::apply(
        &r,
        Observation::Reconnected {
            token: Token::new("IGAAre", t0()).expiring_at(t0() + TimeDelta::days(60)),
            account: Some(other),
        },
        t0(),
        &RefreshPolicy::default(),
        &mut rng,
    );
    assert_eq!(t.account.owner, r.account.owner);
    assert_eq!(t.account.username, "renamed", "other metadata is updated");
    assert_eq!(t.account.id, r.account.id);
}

proptest! {
    /// #17 rule: the retry backoff never waits past half the remaining lifetime, so a
    /// token in trouble is tried again before it lapses — whatever the failure count,
    /// the policy's backoff cap and the jitter.
    #[test]
    fn backoff_is_capped_by_the_remaining_lifetime(
        failures in 1u32..200,
        remaining_secs in 2i64..(90 * 86_400),
        max_backoff_hours in 1u64..10_000,
        seed in any::<u64>(),
    ) {
        let policy = RefreshPolicy::builder()
            .backoff_initial(std::time::Duration::from_secs(30))
            .backoff_max(std::time::Duration::from_secs(max_backoff_hours * 3600))
            .build()
            .unwrap();
        let now = t0();
        let expires_at = now + TimeDelta::seconds(remaining_secs);
        let mut rng = SmallRng::seed_from_u64(seed);
        let at = policy.retry_at(failures, None, false, Some(expires_at), now, &mut rng);
        prop_assert!(at > now, "after now");
        let cap = now + TimeDelta::milliseconds(remaining_secs * 500).max(TimeDelta::seconds(1));
        prop_assert!(at <= cap, "retry at {at} is past half the remaining life (cap {cap})");
        prop_assert!(at < expires_at || remaining_secs < 2);
    }
}
