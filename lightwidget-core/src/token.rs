//! Access tokens. The value is a secret: it never appears in `Debug`, errors or logs.

use std::fmt;

use chrono::{DateTime, Duration, Utc};
use secrecy::{ExposeSecret, SecretString};

use crate::time;

/// An access token and what is known about its validity.
///
/// `Debug` never shows the value; the only way to read it is [`Token::secret`],
/// so every place that handles the raw value is easy to find.
///
/// ```
/// use chrono::{Duration, Utc};
/// use lightwidget_core::Token;
/// let now = Utc::now();
/// let t = Token::new("IGQVJ-secret", now).expiring_at(now + Duration::days(60));
/// assert!(!format!("{t:?}").contains("IGQVJ"));
/// assert_eq!(t.secret(), "IGQVJ-secret");
/// ```
#[derive(Clone)]
pub struct Token {
    value: SecretString,
    /// When the token was issued (or last refreshed).
    pub issued_at: DateTime<Utc>,
    /// When it stops working; `None` = never expires (e.g. Page tokens).
    pub expires_at: Option<DateTime<Utc>>,
    /// When data access lapses (Facebook Login tokens), if known.
    pub data_access_expires_at: Option<DateTime<Utc>>,
    /// Granted permissions, if known.
    pub scopes: Vec<String>,
}

impl Token {
    /// A token issued at `issued_at`, with unknown expiry and no scopes.
    pub fn new(value: impl Into<String>, issued_at: DateTime<Utc>) -> Self {
        Self {
            value: SecretString::from(value.into()),
            issued_at,
            expires_at: None,
            data_access_expires_at: None,
            scopes: Vec::new(),
        }
    }

    /// Builds from an already wrapped secret.
    pub fn from_secret(value: SecretString, issued_at: DateTime<Utc>) -> Self {
        Self {
            value,
            issued_at,
            expires_at: None,
            data_access_expires_at: None,
            scopes: Vec::new(),
        }
    }

    /// Sets the expiry.
    pub fn expiring_at(mut self, at: DateTime<Utc>) -> Self {
        self.expires_at = Some(at);
        self
    }

    /// Sets the expiry from a lifetime in seconds (the Graph API's `expires_in`).
    ///
    /// Never panics: a lifetime beyond the range of dates saturates at
    /// `DateTime::<Utc>::MAX_UTC` (or `MIN_UTC` for a hugely negative one).
    pub fn expiring_in(mut self, seconds: i64) -> Self {
        let lifetime = Duration::try_seconds(seconds).unwrap_or(if seconds < 0 {
            Duration::MIN
        } else {
            Duration::MAX
        });
        self.expires_at = Some(time::plus(self.issued_at, lifetime));
        self
    }

    /// Sets the data-access expiry.
    pub fn with_data_access_expires_at(mut self, at: Option<DateTime<Utc>>) -> Self {
        self.data_access_expires_at = at;
        self
    }

    /// Sets the scopes.
    pub fn with_scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// The raw token value. Call only to send it to Meta or to encrypt it.
    pub fn secret(&self) -> &str {
        self.value.expose_secret()
    }

    /// The wrapped secret.
    pub fn secret_string(&self) -> &SecretString {
        &self.value
    }

    /// Total lifetime (`expires_at - issued_at`), when it expires.
    pub fn lifetime(&self) -> Option<Duration> {
        self.expires_at.map(|e| e - self.issued_at)
    }

    /// Whether the token's lifetime has ended at `now`.
    pub fn is_lapsed(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_some_and(|e| e <= now)
    }

    /// Whether two tokens carry the same secret value (constant-time is not needed:
    /// both sides are ours).
    pub fn same_value(&self, other: &Token) -> bool {
        self.secret() == other.secret()
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("value", &"[REDACTED]")
            .field("issued_at", &self.issued_at)
            .field("expires_at", &self.expires_at)
            .field("data_access_expires_at", &self.data_access_expires_at)
            .field("scopes", &self.scopes)
            .finish()
    }
}
