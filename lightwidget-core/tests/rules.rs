//! One test per product rule that had code but no test of its own, and the
//! permission-removed rules (issue #17 items 2 and 7).

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use lightwidget_core::lifecycle::{self, Observation, Outcome};
use lightwidget_core::*;
use rand::SeedableRng;
use rand::rngs::SmallRng;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
}

fn rng() -> SmallRng {
    SmallRng::seed_from_u64(17)
}

fn record(kind: ConnectionKind, token: Token) -> AccountRecord {
    let account = NewAccount::new("owner", kind, "1789", "shop").into_account();
    let (r, _) = lifecycle::connect(account, token, t0(), &RefreshPolicy::default(), &mut rng());
    r
}

fn consumer() -> AccountRecord {
    record(
        ConnectionKind::Consumer,
        Token::new("IGAArules", t0()).expiring_in(60 * 86_400),
    )
}

fn business(scopes: &[&str], data_access: Option<DateTime<Utc>>) -> AccountRecord {
    let mut t = Token::new("EAArules", t0()).with_scopes(scopes.iter().copied());
    if let Some(d) = data_access {
        t = t.with_data_access_expires_at(Some(d));
    }
    record(ConnectionKind::Business, t)
}

fn apply(r: &AccountRecord, obs: Observation, now: DateTime<Utc>) -> Transition {
    lifecycle::apply(r, obs, now, &RefreshPolicy::default(), &mut rng())
}

fn committed(r: &AccountRecord, t: &Transition) -> AccountRecord {
    AccountRecord {
        account: t.account.clone(),
        state: t.state.clone(),
        version: r.version + 1,
    }
}

#[test]
fn a_reported_success_moves_the_last_successful_check() {
    let r = consumer();
    let later = t0() + TimeDelta::hours(5);
    let t = apply(&r, Observation::HostReported(Ok(())), later);
    assert_eq!(t.state.last_checked_at, Some(later));
    assert!(t.state.status.is_active());
    assert!(t.events.is_empty(), "a success is not a history event");
    assert!(t.notices.is_empty());
    // And a reported transient failure does not move it.
    let t = apply(
        &r,
        Observation::HostReported(Err(ProviderError::Transient {
            retry_after: None,
            message: "503".into(),
        })),
        later,
    );
    assert_eq!(t.state.last_checked_at, Some(t0()));
}

#[test]
fn the_data_access_warning_is_sent_once() {
    let dae = t0() + TimeDelta::days(5);
    let mut r = business(&["instagram_basic", "pages_show_list"], Some(dae));
    let check = || {
        Observation::Checked(CheckInfo {
            expires_at: ReportedExpiry::Never,
            data_access_expires_at: Some(dae),
            scopes: None,
        })
    };
    let mut warnings = 0;
    // Twenty checks inside the warning window, each committed: one warning in all.
    for h in 1..=20 {
        let t = apply(&r, check(), t0() + TimeDelta::hours(h));
        warnings += t
            .notices
            .iter()
            .filter(|n| matches!(n.kind, NoticeKind::DataAccessExpiring { .. }))
            .count();
        r = committed(&r, &t);
    }
    assert_eq!(warnings, 1);
}

#[test]
fn the_backoff_is_capped_by_the_remaining_lifetime() {
    // A token with 2 hours left, failing for the 20th time: the uncapped backoff would
    // be the 6-hour maximum; the retry must come well before the end.
    let mut r = consumer();
    let now = t0() + TimeDelta::days(60) - TimeDelta::hours(2);
    r.state.retry.failures = 19;
    let t = apply(
        &r,
        Observation::Failed(ProviderError::Transient {
            retry_after: None,
            message: "timeout".into(),
        }),
        now,
    );
    assert_eq!(t.outcome, Outcome::Retry);
    let next = t.state.next_action_at.expect("a retry is scheduled");
    let expires = r.state.token.expires_at.unwrap();
    assert!(
        next < expires,
        "retry at {next} is after the expiry {expires}"
    );
    assert!(
        next - now <= TimeDelta::hours(1),
        "capped at half the remaining life"
    );
}

#[test]
fn a_permission_error_ends_the_token_with_its_own_reason_and_one_notice() {
    for obs in [
        Observation::Failed(ProviderError::Permission {
            message: "(#10) permission".into(),
        }),
        Observation::HostReported(Err(ProviderError::Permission {
            message: "(#200) permission".into(),
        })),
    ] {
        let r = consumer();
        let t = apply(&r, obs, t0() + TimeDelta::hours(1));
        assert_eq!(t.outcome, Outcome::Expired(ExpiryReason::PermissionRemoved));
        assert!(!t.state.status.is_active(), "never ACTIVE while broken");
        assert_eq!(
            StatusReport::from(&committed(&r, &t)).status.label(),
            "NOT ACTIVE"
        );
        assert_eq!(t.notices.len(), 1);
        // A break: the seeds' *Expired token notifications* topic covers it.
        assert_eq!(t.notices[0].kind.topic(), NoticeTopic::Expired);
        // A second report in the same episode adds nothing.
        let again = apply(
            &committed(&r, &t),
            Observation::Failed(ProviderError::Permission {
                message: "(#10)".into(),
            }),
            t0() + TimeDelta::hours(2),
        );
        assert!(again.is_noop());
    }
}

#[test]
fn a_check_whose_scopes_lost_a_required_permission_ends_the_token() {
    let r = business(&["instagram_basic", "pages_show_list"], None);
    let check = |scopes: &[&str]| {
        Observation::Checked(CheckInfo {
            expires_at: ReportedExpiry::Never,
            data_access_expires_at: None,
            scopes: Some(scopes.iter().map(|s| s.to_string()).collect()),
        })
    };
    let now = t0() + TimeDelta::hours(12);
    let ok = apply(
        &r,
        check(&["pages_show_list", "instagram_basic", "extra"]),
        now,
    );
    assert_eq!(ok.outcome, Outcome::Checked);
    let lost = apply(&r, check(&["pages_show_list"]), now);
    assert_eq!(
        lost.outcome,
        Outcome::Expired(ExpiryReason::PermissionRemoved)
    );
    assert_eq!(
        lost.state.last_checked_at,
        Some(now),
        "the call itself worked"
    );
    // A check that does not report scopes (`/me`) proves nothing about them.
    let silent = apply(&r, Observation::Checked(CheckInfo::default()), now);
    assert_eq!(silent.outcome, Outcome::Checked);
    // A host that needs nothing turns the rule off.
    let lax = RefreshPolicy::builder()
        .required_scopes(RequiredScopes::none())
        .build()
        .unwrap();
    let t = lifecycle::apply(&r, check(&[]), now, &lax, &mut rng());
    assert_eq!(t.outcome, Outcome::Checked);
}

#[test]
fn a_renewal_after_a_removed_permission_makes_the_token_active_again() {
    let r = consumer();
    let t = apply(
        &r,
        Observation::Failed(ProviderError::Permission {
            message: "(#10)".into(),
        }),
        t0() + TimeDelta::hours(1),
    );
    let ended = committed(&r, &t);
    let t = apply(
        &ended,
        Observation::Reconnected {
            token: Token::new("IGAAnew", t0() + TimeDelta::hours(2)).expiring_in(60 * 86_400),
            account: None,
        },
        t0() + TimeDelta::hours(2),
    );
    assert!(t.state.status.is_active());
}

/// A held account that Graph confirms again has recovered (the host is told); a plain
/// check of an account that was never held has not, nor has a held one that fails again.
#[test]
fn a_held_account_confirmed_again_has_recovered() {
    let now = t0() + TimeDelta::hours(13);
    let plain = consumer();
    let t = apply(&plain, Observation::Checked(CheckInfo::default()), now);
    assert_eq!(t.outcome, Outcome::Checked);
    assert!(!t.recovered);

    let mut held = consumer();
    held.state.hold = Some(Hold::Incident {
        incident: IncidentId::new(),
        since: t0() + TimeDelta::hours(12),
    });
    let t = apply(&held, Observation::Checked(CheckInfo::default()), now);
    assert!(t.recovered, "{:?}", t.outcome);
    assert!(t.state.hold.is_none());

    // A suspicion (a permission error that may be the app's) is cleared only by a check
    // that can tell: one reporting the scopes. A scope-less check keeps it: no recovery.
    let scopes: Vec<String> = vec!["instagram_basic".into(), "pages_show_list".into()];
    let mut suspect = business(&["instagram_basic", "pages_show_list"], None);
    suspect.state.hold = Some(Hold::Suspect {
        since: t0() + TimeDelta::hours(12),
    });
    let t = apply(&suspect, Observation::Checked(CheckInfo::default()), now);
    assert!(!t.recovered && t.state.hold.is_some());
    let t = apply(
        &suspect,
        Observation::Checked(CheckInfo {
            scopes: Some(scopes),
            ..CheckInfo::default()
        }),
        now,
    );
    assert!(t.recovered, "{:?} {:?}", t.outcome, t.state.hold);

    let failed = apply(
        &held,
        Observation::Failed(ProviderError::Expired {
            reason: ExpiryReason::PasswordChanged,
            message: "changed".into(),
        }),
        now,
    );
    assert!(!failed.recovered, "{:?}", failed.outcome);
}
