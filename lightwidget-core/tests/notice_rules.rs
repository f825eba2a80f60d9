//! Property tests of the notice rules (`lifecycle::notice_recipients`): entitlement,
//! renewed before sending, opt-in, configured channels.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use lightwidget_core::lifecycle::{self, Suppression, notice_recipients};
use lightwidget_core::*;
use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::SmallRng;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 2, 1, 0, 0, 0).unwrap()
}

fn kind(i: u8) -> NoticeKind {
    match i % 4 {
        0 => NoticeKind::Expired {
            reason: ExpiryReason::PasswordChanged,
        },
        1 => NoticeKind::Revoked,
        2 => NoticeKind::DataAccessExpiring {
            at: t0() + TimeDelta::days(3),
        },
        _ => NoticeKind::ExpiringSoon {
            at: t0() + TimeDelta::days(3),
        },
    }
}

fn status(i: u8) -> TokenStatus {
    match i % 3 {
        0 => TokenStatus::Active,
        1 => TokenStatus::Expired {
            reason: ExpiryReason::LifetimeEnded,
            at: t0(),
        },
        _ => TokenStatus::Revoked { at: t0() },
    }
}

fn record(entitled: bool, status: TokenStatus) -> AccountRecord {
    let account = NewAccount::new("owner", ConnectionKind::Consumer, "1", "u")
        .with_entitlements(Entitlements {
            notifications: entitled,
        })
        .into_account();
    let token = Token::new("IGAAgate", t0()).expiring_at(t0() + TimeDelta::days(60));
    let mut rng = SmallRng::seed_from_u64(0);
    let (mut r, _) = lifecycle::connect(account, token, t0(), &RefreshPolicy::default(), &mut rng);
    r.state.status = status;
    r
}

fn member(r: &AccountRecord) -> Membership {
    Membership::new(r.account.owner.clone(), r.account.entitlements, t0())
}

fn notice(r: &AccountRecord, kind: NoticeKind) -> Notice {
    Notice {
        id: uuid::Uuid::now_v7(),
        dedupe_key: format!("{}:k", r.account.id),
        account_id: r.account.id,
        owner: r.account.owner.clone(),
        username: r.account.username.clone(),
        connection: r.account.kind,
        kind,
        created_at: t0(),
    }
}

fn recipients() -> impl Strategy<Value = Vec<Recipient>> {
    proptest::collection::vec(
        prop_oneof![
            (0u8..3).prop_map(|i| Recipient::Email(format!("o{i}@example.com"))),
            (0u8..3).prop_map(|i| Recipient::Webhook(
                format!("https://hooks.example.com/{i}").parse().unwrap()
            )),
        ],
        0..4,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// A notice goes out exactly when every rule allows it, to exactly the owner's
    /// recipients on configured channels; otherwise the first rule that refuses is named.
    #[test]
    fn a_notice_goes_out_only_when_every_rule_allows_it(
        gone in any::<bool>(),
        left in any::<bool>(),
        entitled in any::<bool>(),
        st in any::<u8>(),
        k in any::<u8>(),
        topics in proptest::collection::btree_set(0usize..NoticeTopic::ALL.len(), 0..=NoticeTopic::ALL.len()),
        to in recipients(),
        email in any::<bool>(),
        webhook in any::<bool>(),
    ) {
        let r = record(entitled, status(st));
        let n = notice(&r, kind(k));
        let mut prefs = Preferences::new("owner");
        for t in &topics {
            prefs = prefs.opt_in(NoticeTopic::ALL[*t]);
        }
        for x in &to {
            prefs = prefs.with_recipient(x.clone());
        }
        let mut channels = Vec::new();
        if email { channels.push("email"); }
        if webhook { channels.push("webhook"); }
        let m = member(&r);
        let got = notice_recipients(&n, (!gone).then_some(&r), (!left).then_some(&m), &prefs, &channels);

        let ends = n.kind.is_break();
        let reachable: Vec<&Recipient> = prefs
            .recipients
            .iter()
            .filter(|x| channels.contains(&x.channel()))
            .collect();
        let expected = if gone {
            Err(Suppression::AccountGone)
        } else if left {
            Err(Suppression::NotAMember)
        } else if !entitled {
            Err(Suppression::NotEntitled)
        } else if ends && r.state.status.is_active() {
            Err(Suppression::RenewedBeforeSending)
        } else if !prefs.wants(n.kind.topic()) {
            Err(Suppression::NotOptedIn(n.kind.topic()))
        } else if reachable.is_empty() {
            Err(Suppression::NoRecipient)
        } else {
            Ok(reachable)
        };
        prop_assert_eq!(got, expected);
    }

    /// An owner who is not entitled, or did not opt in, is never sent anything.
    #[test]
    fn nothing_reaches_an_owner_who_is_not_entitled_or_not_opted_in(
        st in any::<u8>(),
        k in any::<u8>(),
        to in recipients(),
        entitled in any::<bool>(),
    ) {
        let r = record(entitled, status(st));
        let n = notice(&r, kind(k));
        let mut prefs = Preferences::new("owner");
        if entitled {
            // Entitled, but opted in to every topic except this one.
            for t in NoticeTopic::ALL {
                if t != n.kind.topic() { prefs = prefs.opt_in(t); }
            }
        } else {
            prefs = prefs.opt_in_all();
        }
        for x in &to { prefs = prefs.with_recipient(x.clone()); }
        let got = notice_recipients(&n, Some(&r), Some(&member(&r)), &prefs, &["email", "webhook"]);
        prop_assert!(got.is_err(), "{got:?}");
    }
}

proptest! {
    /// The seeds' one checkbox: an owner with only the `expired` topic gets every break
    /// (expired for any reason, the app removed, a permission removed) of an account
    /// still broken, and no warning.
    #[test]
    fn the_expired_topic_alone_gets_every_break_and_no_warning(
        k in any::<u8>(),
        r in any::<u8>(),
        st in 1u8..3,
    ) {
        let reasons = [
            ExpiryReason::LifetimeEnded,
            ExpiryReason::PasswordChanged,
            ExpiryReason::SecurityCheckpoint,
            ExpiryReason::SessionInvalidated,
            ExpiryReason::AppRemoved,
            ExpiryReason::DataAccessExpired,
            ExpiryReason::PermissionRemoved,
            ExpiryReason::Unknown { code: 190, subcode: None },
        ];
        let kind = match k % 2 {
            0 => NoticeKind::Expired { reason: reasons[usize::from(r) % reasons.len()] },
            _ => kind(k),
        };
        let rec = record(true, status(st));
        let n = notice(&rec, kind);
        let prefs = Preferences::new("owner")
            .opt_in(NoticeTopic::Expired)
            .with_recipient(Recipient::Email("o@example.com".into()));
        let got = notice_recipients(&n, Some(&rec), Some(&member(&rec)), &prefs, &["email"]);
        if n.kind.is_break() {
            prop_assert_eq!(got.map(|v| v.len()), Ok(1), "{:?}", n.kind);
        } else {
            prop_assert_eq!(got, Err(Suppression::NotOptedIn(n.kind.topic())));
            prop_assert!(n.kind.topic().is_warning());
        }
    }
}

#[test]
fn suppression_reasons_read_as_sentences() {
    assert_eq!(
        Suppression::NotOptedIn(NoticeTopic::Expired).to_string(),
        "the owner has not opted in to expired notices"
    );
    assert_eq!(
        Suppression::RenewedBeforeSending.to_string(),
        "the account was renewed before the notice went out"
    );
}
