//! signed_request and OAuth state: valid ones parse, forged / tampered / expired /
//! replayed ones are refused with a typed error.

use chrono::{TimeDelta, Utc};
use lightwidget_core::{ConnectionKind, OwnerId};
use lightwidget_instagram::signed_request::{SignedRequestError, sign, verify};
use lightwidget_instagram::state::{MemoryNonceStore, StateError, StatePurpose, StateSigner};

const SECRET: &str = "app-secret-123";

#[test]
fn signed_request_valid_with_and_without_padding() {
    let now = Utc::now().timestamp();
    let sr = sign(
        SECRET,
        &format!(
            r#"{{"algorithm":"HMAC-SHA256","expires":{now},"issued_at":{now},"user_id":"218471"}}"#
        ),
    );
    let r = verify(&sr, SECRET, Some((TimeDelta::minutes(5), Utc::now()))).unwrap();
    assert_eq!(r.user_id, "218471");
    // Numeric user ids and padded base64url are accepted too.
    let sr = sign(SECRET, r#"{"algorithm":"HMAC-SHA256","user_id":218471}"#);
    let (sig, payload) = sr.split_once('.').unwrap();
    let padded = format!(
        "{sig}{}.{payload}{}",
        "=".repeat((4 - sig.len() % 4) % 4),
        "=".repeat((4 - payload.len() % 4) % 4)
    );
    assert_eq!(verify(&padded, SECRET, None).unwrap().user_id, "218471");
}

#[test]
fn signed_request_forged_tampered_old_or_wrong_algorithm_is_refused() {
    let sr = sign(
        SECRET,
        r#"{"algorithm":"HMAC-SHA256","user_id":"1","issued_at":1291836800}"#,
    );
    assert_eq!(
        verify(&sr, "another-app-secret", None),
        Err(SignedRequestError::BadSignature)
    );
    let (sig, _) = sr.split_once('.').unwrap();
    let forged_payload = sign("x", r#"{"algorithm":"HMAC-SHA256","user_id":"2"}"#);
    let tampered = format!("{sig}.{}", forged_payload.split_once('.').unwrap().1);
    assert_eq!(
        verify(&tampered, SECRET, None),
        Err(SignedRequestError::BadSignature)
    );
    assert_eq!(
        verify("no-dot", SECRET, None),
        Err(SignedRequestError::Malformed)
    );
    assert_eq!(
        verify("!!.??", SECRET, None),
        Err(SignedRequestError::Malformed)
    );
    assert_eq!(
        verify(&sr, SECRET, Some((TimeDelta::hours(1), Utc::now()))),
        Err(SignedRequestError::Expired)
    );
    let md5 = sign(SECRET, r#"{"algorithm":"MD5","user_id":"1"}"#);
    assert!(matches!(
        verify(&md5, SECRET, None),
        Err(SignedRequestError::Algorithm(_))
    ));
}

fn signer() -> StateSigner {
    StateSigner::new(
        "host-state-secret".to_string().into(),
        Box::new(MemoryNonceStore::default()),
    )
}

#[test]
fn state_round_trips_once_per_purpose() {
    let s = signer();
    let now = Utc::now();
    let p = StatePurpose::Invitation {
        kind: ConnectionKind::Business,
        owner: OwnerId::new("dev-7"),
    };
    let st = s.issue(&p, now);
    assert_eq!(s.verify(&st, now + TimeDelta::minutes(1)).unwrap(), p);
    assert_eq!(
        s.verify(&st, now + TimeDelta::minutes(2)),
        Err(StateError::Replayed)
    );
}

#[test]
fn state_forged_tampered_or_expired_is_refused() {
    let s = signer();
    let now = Utc::now();
    let st = s.issue(
        &StatePurpose::Reconnect {
            kind: ConnectionKind::Consumer,
        },
        now,
    );
    let other = StateSigner::new(
        "someone-else".to_string().into(),
        Box::new(MemoryNonceStore::default()),
    );
    assert_eq!(other.verify(&st, now), Err(StateError::Forged));
    let (body, sig) = st.split_once('.').unwrap();
    let mut b = body.to_owned();
    b.replace_range(..1, if b.starts_with('A') { "B" } else { "A" });
    assert_eq!(
        s.verify(&format!("{b}.{sig}"), now),
        Err(StateError::Forged)
    );
    assert_eq!(s.verify("garbage", now), Err(StateError::Forged));
    assert_eq!(
        s.verify(&st, now + TimeDelta::minutes(16)),
        Err(StateError::Expired)
    );
}
