//! Signed JSON webhooks.
//!
//! # Verifying a delivery (receiver side)
//! Header `X-Lightwidget-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>`; the HMAC is
//! computed with the shared secret over `"<t>.<raw body>"`. Recompute it, compare in
//! constant time, and refuse timestamps older than a few minutes (replay).
//! [`verify_webhook_signature`] does exactly that. Deduplicate on the JSON `id` (also in
//! `X-Lightwidget-Notice-Id`): a retry after a crash may deliver twice.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use lightwidget_core::{
    Clock, DeliveryError, Notice, NoticeKind, Notifier, Recipient, SystemClock,
};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

use crate::{Error, LinkSigner};

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Hex digits to bytes; `None` for anything else (odd length, non-hex, non-ASCII:
/// works on bytes, so a multibyte character cannot split a slice).
fn unhex(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    if !b.len().is_multiple_of(2) {
        return None;
    }
    let digit = |c: u8| {
        char::from(c)
            .to_digit(16)
            .and_then(|d| u8::try_from(d).ok())
    };
    b.chunks_exact(2)
        .map(|p| Some(digit(p[0])? << 4 | digit(p[1])?))
        .collect()
}

/// Computes the signature header value for `body` at time `t`.
pub fn sign_webhook(secret: &str, t: i64, body: &[u8]) -> String {
    let mut m = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    m.update(t.to_string().as_bytes());
    m.update(b".");
    m.update(body);
    format!("t={t},v1={}", hex(&m.finalize().into_bytes()))
}

/// Why a webhook signature was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum WebhookSignatureError {
    /// Missing parts.
    #[error("malformed signature header")]
    Malformed,
    /// Timestamp outside the tolerance.
    #[error("signature timestamp too old or in the future")]
    Stale,
    /// Wrong HMAC.
    #[error("signature does not match")]
    Mismatch,
}

/// Verifies `X-Lightwidget-Signature` against the raw body (constant time).
///
/// ```
/// use lightwidget_notify::{sign_webhook, verify_webhook_signature};
/// let h = sign_webhook("s3cret", 1_800_000_000, b"{}");
/// let now = chrono::DateTime::from_timestamp(1_800_000_010, 0).unwrap();
/// assert!(verify_webhook_signature("s3cret", &h, b"{}", now, std::time::Duration::from_secs(300)).is_ok());
/// assert!(verify_webhook_signature("s3cret", &h, b"{ }", now, std::time::Duration::from_secs(300)).is_err());
/// ```
pub fn verify_webhook_signature(
    secret: &str,
    header: &str,
    body: &[u8],
    now: DateTime<Utc>,
    tolerance: Duration,
) -> Result<(), WebhookSignatureError> {
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => v1 = unhex(v),
            _ => {}
        }
    }
    let (t, sig) = t.zip(v1).ok_or(WebhookSignatureError::Malformed)?;
    // `abs_diff`: an extreme `t` (i64::MIN) must not overflow.
    if now.timestamp().abs_diff(t) > tolerance.as_secs() {
        return Err(WebhookSignatureError::Stale);
    }
    let mut m = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    m.update(t.to_string().as_bytes());
    m.update(b".");
    m.update(body);
    m.verify_slice(&sig)
        .map_err(|_| WebhookSignatureError::Mismatch)
}

/// Posts notices as signed JSON. 2xx = delivered; 4xx (except 408/429) = permanent;
/// anything else (5xx, 408, 429, timeouts, connection errors) = retried.
pub struct WebhookNotifier {
    client: reqwest::Client,
    secret: SecretString,
    links: Arc<LinkSigner>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for WebhookNotifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookNotifier")
            .field("secret", &"[REDACTED]")
            .finish_non_exhaustive()
    }
}

impl WebhookNotifier {
    /// A notifier signing with `secret`.
    pub fn new(secret: SecretString, links: Arc<LinkSigner>) -> Result<Self, Error> {
        Ok(Self {
            client: http_client()?,
            secret,
            links,
            clock: Arc::new(SystemClock),
        })
    }

    /// The clock used for timestamps and link expiry.
    pub fn with_clock(mut self, c: Arc<dyn Clock>) -> Self {
        self.clock = c;
        self
    }

    /// The JSON body of a notice.
    pub fn body(&self, n: &Notice) -> serde_json::Value {
        let now = self.clock.now();
        let (kind, reason, at) = match n.kind {
            NoticeKind::Expired { reason } => ("expired", Some(reason.describe()), None),
            NoticeKind::Revoked => ("revoked", None, None),
            NoticeKind::DataAccessExpiring { at } => ("data_access_expiring", None, Some(at)),
            NoticeKind::ExpiringSoon { at } => ("expiring_soon", None, Some(at)),
        };
        serde_json::json!({
            "id": n.id,
            "kind": kind,
            "reason": reason,
            "deadline": at,
            "account_id": n.account_id,
            "owner": n.owner,
            "username": n.username,
            "connection": n.connection,
            "created_at": n.created_at,
            "renewal_url": self.links.renewal_url(n, now).as_str(),
        })
    }
}

#[async_trait]
impl Notifier for WebhookNotifier {
    fn channel(&self) -> &'static str {
        "webhook"
    }

    async fn deliver(&self, n: &Notice, to: &Recipient) -> Result<(), DeliveryError> {
        let Recipient::Webhook(url) = to else {
            return Err(DeliveryError::permanent("not a webhook recipient"));
        };
        let body = serde_json::to_vec(&self.body(n)).expect("plain data");
        let notice = ("x-lightwidget-notice-id", n.id.to_string());
        let now = self.clock.now().timestamp();
        post_signed(
            &self.client,
            url.clone(),
            &self.secret,
            now,
            body,
            notice,
            "webhook",
        )
        .await
    }
}

/// POSTs `body` as signed JSON (`x-lightwidget-signature` at `now`) to `url`, with one
/// more header, and turns the answer into a delivery result ([`answered`]): the one
/// request of notice webhooks and operator alerts. `what` names the receiver in errors.
pub(crate) async fn post_signed(
    client: &reqwest::Client,
    url: url::Url,
    secret: &SecretString,
    now: i64,
    body: Vec<u8>,
    (name, value): (&'static str, String),
    what: &str,
) -> Result<(), DeliveryError> {
    let sig = sign_webhook(secret.expose_secret(), now, &body);
    let r = client
        .post(url)
        .header("content-type", "application/json")
        .header("x-lightwidget-signature", sig)
        .header(name, value)
        .body(body)
        .send()
        .await
        .map_err(|e| DeliveryError::transient(what.to_owned()).with_source(e.without_url()))?;
    answered(what, r.status().as_u16())
}

/// The HTTP client of every webhook (notices and operator alerts): 10 s per delivery,
/// 5 s to connect, no redirects (a redirect could carry the signed body elsewhere).
pub(crate) fn http_client() -> Result<reqwest::Client, Error> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| Error::Config(format!("HTTP client: {e}")))
}

/// A receiver's HTTP status as a delivery result: 2xx delivered; 4xx other than
/// 408/429 permanent; anything else retried.
pub(crate) fn answered(what: &str, status: u16) -> Result<(), DeliveryError> {
    match status {
        200..=299 => Ok(()),
        400..=499 if status != 408 && status != 429 => Err(DeliveryError::permanent(format!(
            "{what} answered HTTP {status}"
        ))),
        _ => Err(DeliveryError::transient(format!(
            "{what} answered HTTP {status}"
        ))),
    }
}
