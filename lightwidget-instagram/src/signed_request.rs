//! Verification of Meta's `signed_request` (deauthorize and data-deletion callbacks).

use base64::Engine as _;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use chrono::{DateTime, TimeDelta, Utc};
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// Why a `signed_request` was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignedRequestError {
    /// Not `signature.payload`, or not base64url / JSON.
    #[error("malformed signed_request")]
    Malformed,
    /// The algorithm is not HMAC-SHA256.
    #[error("unsupported signed_request algorithm {0:?}")]
    Algorithm(String),
    /// The signature does not match (forged, or signed with another app's secret).
    #[error("signed_request signature does not match")]
    BadSignature,
    /// Older than the allowed age.
    #[error("signed_request is too old")]
    Expired,
    /// A maximum age was asked for, but the request carries no `issued_at`.
    #[error("signed_request carries no issued_at, so its age cannot be checked")]
    MissingIssuedAt,
    /// `issued_at` lies further in the future than [`MAX_CLOCK_SKEW`].
    #[error("signed_request is issued in the future (beyond the allowed clock skew)")]
    IssuedInFuture,
}

/// How far in the future an `issued_at` may lie (clocks disagree a little) when a
/// maximum age is checked: 5 minutes.
pub const MAX_CLOCK_SKEW: TimeDelta = TimeDelta::minutes(5);

/// The payload of a `signed_request`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
pub struct SignedRequest {
    /// `HMAC-SHA256`.
    pub algorithm: String,
    /// App-scoped user id.
    #[serde(deserialize_with = "crate::util::string_or_number")]
    pub user_id: String,
    /// Unix seconds.
    #[serde(default)]
    pub issued_at: Option<i64>,
    /// Unix seconds.
    #[serde(default)]
    pub expires: Option<i64>,
}

fn b64(s: &str) -> Result<Vec<u8>, SignedRequestError> {
    URL_SAFE_NO_PAD
        .decode(s.trim_end_matches('='))
        .or_else(|_| URL_SAFE.decode(s))
        .map_err(|_| SignedRequestError::Malformed)
}

/// Verifies a `signed_request` with the app secret: HMAC-SHA256 over the *encoded*
/// payload, compared in constant time; padding optional.
///
/// With `max_age` (and `now`) the request must be fresh: one without `issued_at` is
/// refused ([`SignedRequestError::MissingIssuedAt`]), one older than `max_age` is
/// [`SignedRequestError::Expired`], and one issued more than [`MAX_CLOCK_SKEW`] in the
/// future is [`SignedRequestError::IssuedInFuture`]. Callback handlers should always
/// pass one.
///
/// ```
/// use lightwidget_instagram::signed_request::{sign, verify};
/// let sr = sign("app-secret", r#"{"algorithm":"HMAC-SHA256","user_id":"218471","issued_at":1291836800}"#);
/// assert_eq!(verify(&sr, "app-secret", None).unwrap().user_id, "218471");
/// assert!(verify(&sr, "other-secret", None).is_err());
///
/// // With a maximum age, freshness is required.
/// use chrono::{DateTime, TimeDelta};
/// use lightwidget_instagram::signed_request::SignedRequestError;
/// let now = DateTime::from_timestamp(1291836800 + 60, 0).unwrap();
/// assert!(verify(&sr, "app-secret", Some((TimeDelta::minutes(5), now))).is_ok());
/// let undated = sign("app-secret", r#"{"algorithm":"HMAC-SHA256","user_id":"218471"}"#);
/// assert_eq!(
///     verify(&undated, "app-secret", Some((TimeDelta::minutes(5), now))),
///     Err(SignedRequestError::MissingIssuedAt)
/// );
/// ```
pub fn verify(
    signed_request: &str,
    app_secret: &str,
    max_age: Option<(TimeDelta, DateTime<Utc>)>,
) -> Result<SignedRequest, SignedRequestError> {
    let (sig, payload) = signed_request
        .trim()
        .split_once('.')
        .ok_or(SignedRequestError::Malformed)?;
    let sig = b64(sig)?;
    // An empty key is a key anyone knows: nothing it "signs" is Meta's.
    if app_secret.is_empty() {
        return Err(SignedRequestError::BadSignature);
    }
    let check = |p: &str| {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(app_secret.as_bytes()).expect("any key length");
        mac.update(p.as_bytes());
        mac.verify_slice(&sig).is_ok()
    };
    // Signed over the encoded payload as sent; tolerate a sender that padded it after signing.
    if !check(payload) && !check(payload.trim_end_matches('=')) {
        return Err(SignedRequestError::BadSignature);
    }
    let req: SignedRequest =
        serde_json::from_slice(&b64(payload)?).map_err(|_| SignedRequestError::Malformed)?;
    if !req.algorithm.eq_ignore_ascii_case("HMAC-SHA256") {
        return Err(SignedRequestError::Algorithm(req.algorithm));
    }
    if let Some((age, now)) = max_age {
        let at = req.issued_at.ok_or(SignedRequestError::MissingIssuedAt)?;
        let issued = DateTime::from_timestamp(at, 0).ok_or(SignedRequestError::Malformed)?;
        if issued - now > MAX_CLOCK_SKEW {
            return Err(SignedRequestError::IssuedInFuture);
        }
        if now - issued > age {
            return Err(SignedRequestError::Expired);
        }
    }
    Ok(req)
}

/// Signs a JSON payload the way Meta does (for sandboxes and tests).
pub fn sign(app_secret: &str, payload_json: &str) -> String {
    let payload = URL_SAFE_NO_PAD.encode(payload_json.as_bytes());
    let mut mac = Hmac::<Sha256>::new_from_slice(app_secret.as_bytes()).expect("any key length");
    mac.update(payload.as_bytes());
    format!(
        "{}.{payload}",
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    )
}

/// The JSON a data-deletion callback answers with.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct DataDeletionResponse {
    /// Where the person can check the deletion status.
    pub url: String,
    /// An alphanumeric code identifying the request.
    pub confirmation_code: String,
}
