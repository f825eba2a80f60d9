//! signed_request and OAuth state: valid ones parse, forged / tampered / expired /
//! replayed ones are refused with a typed error; a state only verifies in the browser
//! that started the flow; stale, undated and future `signed_request`s are refused when
//! a maximum age is given.

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
    let b = Some(st.binding.expose_secret());
    assert_eq!(
        s.verify(&st.state, b, now + TimeDelta::minutes(1)).unwrap(),
        p
    );
    assert_eq!(
        s.verify(&st.state, b, now + TimeDelta::minutes(2)),
        Err(StateError::Replayed)
    );
}

#[test]
fn state_forged_tampered_or_expired_is_refused() {
    let s = signer();
    let now = Utc::now();
    let issued = s.issue(
        &StatePurpose::Reconnect {
            kind: ConnectionKind::Consumer,
        },
        now,
    );
    let st = issued.state.as_str();
    let b = Some(issued.binding.expose_secret());
    let other = StateSigner::new(
        "someone-else".to_string().into(),
        Box::new(MemoryNonceStore::default()),
    );
    assert_eq!(other.verify(st, b, now), Err(StateError::Forged));
    let (body, sig) = st.split_once('.').unwrap();
    let mut body2 = body.to_owned();
    body2.replace_range(..1, if body2.starts_with('A') { "B" } else { "A" });
    assert_eq!(
        s.verify(&format!("{body2}.{sig}"), b, now),
        Err(StateError::Forged)
    );
    assert_eq!(s.verify("garbage", b, now), Err(StateError::Forged));
    assert_eq!(
        s.verify(st, b, now + TimeDelta::minutes(16)),
        Err(StateError::Expired)
    );
}

#[test]
fn state_only_verifies_in_the_browser_that_started_the_flow() {
    let s = signer();
    let now = Utc::now();
    let p = StatePurpose::Connect {
        kind: ConnectionKind::Consumer,
        owner: OwnerId::new("attacker"),
    };
    // The attacker starts a flow and sends the authorize link (with its state) to a victim.
    let attackers = s.issue(&p, now);
    let victims = s.issue(&p, now);
    // The victim's browser has no binding for it, or its own from another flow.
    assert_eq!(
        s.verify(&attackers.state, None, now),
        Err(StateError::WrongBrowser)
    );
    assert_eq!(
        s.verify(&attackers.state, Some(victims.binding.expose_secret()), now),
        Err(StateError::WrongBrowser)
    );
    assert_eq!(
        s.verify(&attackers.state, Some(""), now),
        Err(StateError::WrongBrowser)
    );
    // A refused binding did not spend the state: its own browser still completes it once.
    let own = Some(attackers.binding.expose_secret());
    assert_eq!(s.verify(&attackers.state, own, now), Ok(p));
    assert_eq!(
        s.verify(&attackers.state, own, now),
        Err(StateError::Replayed)
    );
    // A binding never shows in Debug.
    assert!(!format!("{attackers:?}").contains(attackers.binding.expose_secret()));
}

#[test]
fn binding_cookie_recipe() {
    let s = signer();
    let issued = s.issue(
        &StatePurpose::Reconnect {
            kind: ConnectionKind::Business,
        },
        Utc::now(),
    );
    let c = s.binding_cookie(true);
    let set = c.set_cookie(&issued.binding);
    assert!(set.starts_with("__Host-lw-oauth="), "{set}");
    for attr in [
        "Path=/",
        "HttpOnly",
        "Secure",
        "SameSite=Lax",
        "Max-Age=900",
    ] {
        assert!(set.contains(attr), "{attr} in {set}");
    }
    assert!(!set.contains("Domain"), "__Host- cookies have no Domain");
    let header = format!("a=1; {}; b=2", set.split(';').next().unwrap());
    assert_eq!(
        c.find([header.as_str()]),
        Some(issued.binding.expose_secret())
    );
    assert_eq!(
        c.find(["lw-oauth=x"]),
        None,
        "the insecure name is another cookie"
    );
    assert!(c.clear_cookie().contains("Max-Age=0"));
    let dev = s.binding_cookie(false);
    assert!(!dev.set_cookie(&issued.binding).contains("Secure"));
    assert_eq!(dev.name(), "lw-oauth");
}

#[test]
fn invitations_are_signed_expiring_and_not_states() {
    let s = signer();
    let now = Utc::now();
    let owner = OwnerId::new("dev-7");
    let inv = s.invitation(&owner, now);
    // Usable many times until it expires.
    assert_eq!(s.verify_invitation(&inv, now), Ok(owner.clone()));
    assert_eq!(
        s.verify_invitation(&inv, now + TimeDelta::days(6)),
        Ok(owner)
    );
    assert_eq!(
        s.verify_invitation(&inv, now + TimeDelta::days(8)),
        Err(StateError::Expired)
    );
    // Another signer's, a tampered one, or a state in its place: forged.
    let other = StateSigner::new(
        "someone-else".to_string().into(),
        Box::new(MemoryNonceStore::default()),
    );
    assert_eq!(other.verify_invitation(&inv, now), Err(StateError::Forged));
    let st = s.issue(
        &StatePurpose::Reconnect {
            kind: ConnectionKind::Consumer,
        },
        now,
    );
    assert_eq!(s.verify_invitation(&st.state, now), Err(StateError::Forged));
    assert_eq!(
        s.verify(&inv, Some(st.binding.expose_secret()), now),
        Err(StateError::Forged)
    );
}

#[test]
fn signed_request_freshness_when_a_maximum_age_is_given() {
    let now = Utc::now();
    let age = Some((TimeDelta::minutes(10), now));
    let at = |t: i64| {
        sign(
            SECRET,
            &format!(r#"{{"algorithm":"HMAC-SHA256","user_id":"1","issued_at":{t}}}"#),
        )
    };
    let ts = now.timestamp();
    assert!(verify(&at(ts), SECRET, age).is_ok());
    assert!(verify(&at(ts + 240), SECRET, age).is_ok(), "4 min skew ok");
    assert_eq!(
        verify(&at(ts + 360), SECRET, age),
        Err(SignedRequestError::IssuedInFuture)
    );
    assert_eq!(
        verify(&at(ts - 660), SECRET, age),
        Err(SignedRequestError::Expired)
    );
    let undated = sign(SECRET, r#"{"algorithm":"HMAC-SHA256","user_id":"1"}"#);
    assert_eq!(
        verify(&undated, SECRET, age),
        Err(SignedRequestError::MissingIssuedAt)
    );
    // Without a maximum age (e.g. tests replaying a captured callback) dates are not checked.
    assert!(verify(&undated, SECRET, None).is_ok());
}
