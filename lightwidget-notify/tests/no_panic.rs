//! No panic from input (#29.7): webhook signatures and signed links, fed anything a
//! request can carry (non-ASCII, extreme timestamps and lifetimes), answer typed errors.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use lightwidget_core::*;
use lightwidget_notify::*;
use proptest::prelude::*;

fn any_instant() -> impl Strategy<Value = DateTime<Utc>> {
    let lo = DateTime::<Utc>::MIN_UTC.timestamp();
    let hi = DateTime::<Utc>::MAX_UTC.timestamp();
    prop_oneof![
        Just(DateTime::<Utc>::MIN_UTC),
        Just(DateTime::<Utc>::MAX_UTC),
        (lo..=hi).prop_map(|s| DateTime::from_timestamp(s, 0).unwrap()),
        (1_700_000_000i64..1_900_000_000).prop_map(|s| DateTime::from_timestamp(s, 0).unwrap()),
    ]
}

fn any_delta() -> impl Strategy<Value = TimeDelta> {
    prop_oneof![
        Just(TimeDelta::MAX),
        Just(TimeDelta::MIN),
        Just(TimeDelta::zero()),
        any::<i64>().prop_filter_map("in range", TimeDelta::try_milliseconds),
    ]
}

/// Header values as an attacker writes them: well-formed parts with any values
/// (multibyte, huge numbers), and plain noise.
fn any_header() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        (any::<i64>(), any::<String>()).prop_map(|(t, v)| format!("t={t},v1={v}")),
        (any::<i64>(), "[0-9a-fé€😀]{0,70}").prop_map(|(t, v)| format!("t={t},v1={v}")),
        "[0-9]{0,30}".prop_map(|t| format!("t={t},v1=00")),
    ]
}

fn notice(username: &str, at: DateTime<Utc>) -> Notice {
    let a = NewAccount::new("owner-1", ConnectionKind::Business, "1789", username).into_account();
    Notice {
        id: uuid::Uuid::now_v7(),
        dedupe_key: "k".into(),
        account_id: a.id,
        owner: a.owner,
        username: a.username,
        connection: ConnectionKind::Business,
        kind: NoticeKind::Expired {
            reason: ExpiryReason::PasswordChanged,
        },
        created_at: at,
    }
}

#[test]
fn a_multibyte_signature_value_is_malformed_not_a_panic() {
    let now = Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap();
    let t = now.timestamp();
    for v1 in ["é", "aé", "éa0", "0é1", "€€", "😀😀", "zz"] {
        assert_eq!(
            verify_webhook_signature(
                "s",
                &format!("t={t},v1={v1}"),
                b"{}",
                now,
                Duration::from_secs(300)
            ),
            Err(WebhookSignatureError::Malformed),
            "{v1}"
        );
    }
    // An extreme timestamp is stale, not an overflow.
    let h = sign_webhook("s", i64::MIN, b"{}");
    assert_eq!(
        verify_webhook_signature("s", &h, b"{}", now, Duration::from_secs(300)),
        Err(WebhookSignatureError::Stale)
    );
    // Uppercase hex still verifies.
    let h = sign_webhook("s", t, b"{}")
        .to_uppercase()
        .replace("T=", "t=")
        .replace("V1=", "v1=");
    assert!(verify_webhook_signature("s", &h, b"{}", now, Duration::from_secs(300)).is_ok());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn webhook_signatures_never_panic(
        secret in any::<String>(),
        header in any_header(),
        body in proptest::collection::vec(any::<u8>(), 0..256),
        now in any_instant(),
        tolerance in prop_oneof![Just(Duration::MAX), any::<u64>().prop_map(Duration::from_secs)],
        t in any::<i64>(),
    ) {
        let _ = verify_webhook_signature(&secret, &header, &body, now, tolerance);
        // What we sign verifies (inside the tolerance) and a changed body does not.
        let signed = sign_webhook(&secret, t, &body);
        let at = DateTime::from_timestamp(t, 0);
        if let Some(at) = at {
            prop_assert!(verify_webhook_signature(&secret, &signed, &body, at, Duration::from_secs(1)).is_ok());
            let mut other = body.clone();
            other.push(b'x');
            prop_assert_eq!(
                verify_webhook_signature(&secret, &signed, &other, at, Duration::from_secs(1)),
                Err(WebhookSignatureError::Mismatch)
            );
        }
    }

    #[test]
    fn signed_links_never_panic(
        token in prop_oneof![any::<String>(), "[A-Za-z0-9_-]{0,40}\\.[A-Za-z0-9_-]{0,44}"],
        now in any_instant(),
        ttl in any_delta(),
        username in any::<String>(),
        owner in any::<String>(),
    ) {
        let s = LinkSigner::new(
            "a long random secret".to_string().into(),
            "https://host.example/app".parse().unwrap(),
        )
        .with_ttl(ttl);
        let _ = s.verify_renewal(&token, now);
        let _ = s.verify_unsubscribe(&token, now);
        // Links made at any time with any lifetime verify or are expired; never a panic.
        let url = s.renewal_url(&notice(&username, now), now);
        let tok = url.query_pairs().find(|(k, _)| k == "token").unwrap().1.into_owned();
        match s.verify_renewal(&tok, now) {
            Ok(l) => prop_assert_eq!(l.owner.as_str(), "owner-1"),
            Err(e) => prop_assert!(matches!(e, LinkError::Expired | LinkError::Forged), "{e:?}"),
        }
        let url = s.unsubscribe_url(&OwnerId::new(owner.clone()), None, now);
        let tok = url.query_pairs().find(|(k, _)| k == "token").unwrap().1.into_owned();
        let back = s.verify_unsubscribe(&tok, now).unwrap();
        prop_assert_eq!(back.owner.as_str(), owner.as_str());
        let _ = escape_html(&username);
    }
}
