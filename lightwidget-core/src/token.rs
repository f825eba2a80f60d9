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

    /// The longest token value accepted on connect, in bytes. Meta's tokens are a few
    /// hundred bytes; this is generous on purpose.
    pub const MAX_LEN: usize = 4096;

    /// Checks the token can be connected at `now`: a value of 1 to [`Token::MAX_LEN`]
    /// printable ASCII bytes without whitespace, and an expiry (if any) after `now`.
    /// The problem never quotes the value.
    ///
    /// ```
    /// use chrono::{Duration, Utc};
    /// use lightwidget_core::{Token, TokenProblem};
    /// let now = Utc::now();
    /// assert_eq!(Token::new("IGAA ok", now).validate(now), Err(TokenProblem::Whitespace));
    /// let old = Token::new("IGAA", now - Duration::days(61)).expiring_in(60 * 86_400);
    /// assert!(matches!(old.validate(now), Err(TokenProblem::AlreadyExpired { .. })));
    /// assert_eq!(Token::new("IGAA", now).expiring_in(3600).validate(now), Ok(()));
    /// ```
    pub fn validate(&self, now: DateTime<Utc>) -> Result<(), TokenProblem> {
        let v = self.secret().as_bytes();
        if v.is_empty() {
            return Err(TokenProblem::Empty);
        }
        if v.len() > Self::MAX_LEN {
            return Err(TokenProblem::TooLong {
                len: v.len(),
                max: Self::MAX_LEN,
            });
        }
        for b in v {
            if !b.is_ascii() {
                return Err(TokenProblem::NonAscii);
            }
            if b.is_ascii_whitespace() || *b == b'\x0b' {
                return Err(TokenProblem::Whitespace);
            }
            if b.is_ascii_control() {
                return Err(TokenProblem::Control);
            }
        }
        if let Some(at) = self.expires_at.filter(|at| *at <= now) {
            return Err(TokenProblem::AlreadyExpired { at });
        }
        Ok(())
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

/// Why a token cannot be connected ([`Token::validate`]). Never contains the value.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TokenProblem {
    /// The value is empty.
    #[error("the token is empty")]
    Empty,
    /// The value is longer than [`Token::MAX_LEN`].
    #[error("the token is {len} bytes long; at most {max} are accepted")]
    TooLong {
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The value contains whitespace (often a copy-paste or header-parsing mistake).
    #[error("the token contains whitespace")]
    Whitespace,
    /// The value contains a control character.
    #[error("the token contains a control character")]
    Control,
    /// The value contains a character outside ASCII.
    #[error("the token contains a non-ASCII character")]
    NonAscii,
    /// The token's lifetime had already ended.
    #[error("the token expired at {at}, before it was connected; log in again for a new one")]
    AlreadyExpired {
        /// When it expired.
        at: DateTime<Utc>,
    },
}
