//! [Standard Webhooks](https://www.standardwebhooks.com/) signing: the `webhook-id`,
//! `webhook-timestamp` and `webhook-signature` headers every mainstream webhook library
//! (Svix, the `standardwebhooks` packages for PHP, Node, Python, Ruby, Go) verifies.
//!
//! The signature is `v1,` + base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}")), keys are
//! `whsec_` + base64. A signer holds one or more keys and signs with each, space-separated:
//! to rotate a key without downtime, add the new one, let receivers switch, drop the old.
//!
//! ```
//! use lightwidget_notify::{StandardWebhookSigner, verify_standard_webhook};
//! let secret = StandardWebhookSigner::generate_secret();
//! let signer = StandardWebhookSigner::new(&[secret.as_str()]).unwrap();
//! let body = br#"{"type":"account.expired"}"#;
//! let sig = signer.sign("msg_1", 1_700_000_000, body);
//! assert!(verify_standard_webhook(&secret, "msg_1", "1700000000", &sig, body, 1_700_000_010, 300).is_ok());
//! ```

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, KeyInit, Mac};
use rand::RngCore;
use sha2::Sha256;

const PREFIX: &str = "whsec_";

/// Why a secret or a delivery was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum StandardWebhookError {
    /// A secret is not `whsec_` + base64 of at least 16 bytes.
    #[error("a webhook secret must be `whsec_` followed by base64 of 16 to 64 bytes")]
    BadSecret,
    /// No key was given.
    #[error("a webhook signer needs at least one secret")]
    NoSecret,
    /// `webhook-timestamp` is not a number of seconds.
    #[error("webhook-timestamp is not a number of seconds")]
    BadTimestamp,
    /// The timestamp is outside the tolerance (a replay, or a clock far off).
    #[error("webhook-timestamp is outside the accepted window")]
    OutsideWindow,
    /// No signature matches.
    #[error("no webhook-signature matches")]
    BadSignature,
}

fn key_of(secret: &str) -> Result<Vec<u8>, StandardWebhookError> {
    let b64 = secret.strip_prefix(PREFIX).unwrap_or(secret);
    let key = B64
        .decode(b64)
        .map_err(|_| StandardWebhookError::BadSecret)?;
    if !(16..=64).contains(&key.len()) {
        return Err(StandardWebhookError::BadSecret);
    }
    Ok(key)
}

fn mac(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut m = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    m.update(id.as_bytes());
    m.update(b".");
    m.update(timestamp.to_string().as_bytes());
    m.update(b".");
    m.update(body);
    B64.encode(m.finalize().into_bytes())
}

/// Signs deliveries with one or more keys: every key signs, space-separated, so a key
/// rotates without downtime. `Debug` shows
/// no key.
#[derive(Clone)]
pub struct StandardWebhookSigner {
    keys: Vec<Vec<u8>>,
}

impl std::fmt::Debug for StandardWebhookSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StandardWebhookSigner")
            .field("keys", &self.keys.len())
            .finish()
    }
}

impl StandardWebhookSigner {
    /// A signer with these secrets (`whsec_…`), newest first.
    pub fn new(secrets: &[&str]) -> Result<Self, StandardWebhookError> {
        if secrets.is_empty() {
            return Err(StandardWebhookError::NoSecret);
        }
        let keys = secrets
            .iter()
            .map(|s| key_of(s))
            .collect::<Result<_, _>>()?;
        Ok(Self { keys })
    }

    /// A new random secret (32 bytes), `whsec_` + base64.
    pub fn generate_secret() -> String {
        let mut k = [0u8; 32];
        rand::rng().fill_bytes(&mut k);
        format!("{PREFIX}{}", B64.encode(k))
    }

    /// The `webhook-signature` value of a delivery: one `v1,…` per key, space-separated.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        self.keys
            .iter()
            .map(|k| format!("v1,{}", mac(k, id, timestamp, body)))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The three headers of a delivery.
    pub fn headers(&self, id: &str, timestamp: i64, body: &[u8]) -> [(&'static str, String); 3] {
        [
            ("webhook-id", id.to_owned()),
            ("webhook-timestamp", timestamp.to_string()),
            ("webhook-signature", self.sign(id, timestamp, body)),
        ]
    }
}

/// Verifies a delivery as a receiver does: `timestamp` within `tolerance_secs` of `now`
/// (unix seconds), and one of the space-separated `v1` signatures made with `secret` over
/// `id`, `timestamp` and the raw `body` (compared in constant time).
pub fn verify_standard_webhook(
    secret: &str,
    id: &str,
    timestamp: &str,
    signatures: &str,
    body: &[u8],
    now: i64,
    tolerance_secs: i64,
) -> Result<(), StandardWebhookError> {
    let key = key_of(secret)?;
    let ts: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| StandardWebhookError::BadTimestamp)?;
    if now.abs_diff(ts) > tolerance_secs.unsigned_abs() {
        return Err(StandardWebhookError::OutsideWindow);
    }
    let expected = mac(&key, id, ts, body);
    let found = signatures
        .split(' ')
        .filter_map(|s| s.split_once(','))
        .filter(|(v, _)| *v == "v1")
        .any(|(_, sig)| {
            sig.len() == expected.len()
                && sig
                    .bytes()
                    .zip(expected.bytes())
                    .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                    == 0
        });
    if found {
        Ok(())
    } else {
        Err(StandardWebhookError::BadSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    const ID: &str = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
    const BODY: &[u8] = br#"{"email":"test@example.com","username":"test_user"}"#;

    #[test]
    fn the_reference_vector_signs_and_verifies() {
        // The Standard Webhooks reference libraries' own test vector.
        let s = StandardWebhookSigner::new(&[SECRET]).unwrap();
        assert_eq!(
            s.sign(ID, 1_649_367_553, BODY),
            "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw="
        );
        let sig = s.sign(ID, 1_649_367_553, BODY);
        assert!(
            verify_standard_webhook(SECRET, ID, "1649367553", &sig, BODY, 1_649_367_600, 300)
                .is_ok()
        );
    }

    #[test]
    fn rotation_signs_with_both_keys_and_either_receiver_verifies() {
        let new = StandardWebhookSigner::generate_secret();
        let s = StandardWebhookSigner::new(&[new.as_str(), SECRET]).unwrap();
        let sig = s.sign(ID, 100, BODY);
        assert_eq!(sig.split(' ').count(), 2);
        for secret in [new.as_str(), SECRET] {
            assert!(verify_standard_webhook(secret, ID, "100", &sig, BODY, 100, 300).is_ok());
        }
        let other = StandardWebhookSigner::generate_secret();
        assert_eq!(
            verify_standard_webhook(&other, ID, "100", &sig, BODY, 100, 300),
            Err(StandardWebhookError::BadSignature)
        );
    }

    #[test]
    fn tampering_replays_and_bad_input_are_refused() {
        let s = StandardWebhookSigner::new(&[SECRET]).unwrap();
        let sig = s.sign(ID, 1_000, BODY);
        let check = |id: &str, ts: &str, sig: &str, body: &[u8], now: i64| {
            verify_standard_webhook(SECRET, id, ts, sig, body, now, 300)
        };
        assert_eq!(
            check(ID, "1000", &sig, b"{}", 1_000),
            Err(StandardWebhookError::BadSignature)
        );
        assert_eq!(
            check("msg_other", "1000", &sig, BODY, 1_000),
            Err(StandardWebhookError::BadSignature)
        );
        assert_eq!(
            check(ID, "1001", &sig, BODY, 1_000),
            Err(StandardWebhookError::BadSignature)
        );
        assert_eq!(
            check(ID, "1000", &sig, BODY, 1_301),
            Err(StandardWebhookError::OutsideWindow)
        );
        assert_eq!(
            check(ID, "1000", &sig, BODY, 699),
            Err(StandardWebhookError::OutsideWindow)
        );
        assert_eq!(
            check(ID, "soon", &sig, BODY, 1_000),
            Err(StandardWebhookError::BadTimestamp)
        );
        assert_eq!(
            check(ID, "1000", "v2,abc", BODY, 1_000),
            Err(StandardWebhookError::BadSignature)
        );
        assert_eq!(
            check(ID, "1000", "", BODY, 1_000),
            Err(StandardWebhookError::BadSignature)
        );
        assert_eq!(
            verify_standard_webhook(
                SECRET,
                ID,
                &i64::MIN.to_string(),
                &sig,
                BODY,
                i64::MAX,
                i64::MIN
            ),
            Err(StandardWebhookError::OutsideWindow)
        );
        assert_eq!(
            StandardWebhookSigner::new(&[]).unwrap_err(),
            StandardWebhookError::NoSecret
        );
        assert_eq!(
            StandardWebhookSigner::new(&["whsec_!!"]).unwrap_err(),
            StandardWebhookError::BadSecret
        );
        assert_eq!(
            StandardWebhookSigner::new(&["whsec_AAAA"]).unwrap_err(),
            StandardWebhookError::BadSecret
        );
        assert!(!format!("{s:?}").contains("C2FV"));
    }
}
