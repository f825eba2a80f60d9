//! What can go wrong with a gateway call, in terms a host can act on.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::{AccountId, Error, ExpiryReason, ProviderError, TokenStatus};

/// Why a [`GraphSession`](crate::GraphSession) call returned no data. Never contains a
/// token value.
///
/// ```
/// use lightwidget_core::gateway::GatewayError;
/// use lightwidget_core::{AccountId, TokenStatus};
/// use lightwidget_core::ExpiryReason;
/// let e = GatewayError::NotActive {
///     account: AccountId::new(),
///     status: TokenStatus::Expired { reason: ExpiryReason::PasswordChanged, at: chrono::Utc::now() },
/// };
/// assert!(e.is_token_dead() && !e.is_transient());
/// assert_eq!(e.reason(), Some(ExpiryReason::PasswordChanged));
/// assert!(e.to_string().contains("password was changed"), "{e}");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GatewayError {
    /// The account's token does not work (expired, revoked, or a permission the widget
    /// needs was removed) — found by this call or known before it (then no request was
    /// sent). Show the account as NOT ACTIVE; only the owner can fix it by reconnecting.
    #[error(
        "account {account} is NOT ACTIVE: {}; the owner must reconnect",
        why_not_active(status)
    )]
    NotActive {
        /// The account.
        account: AccountId,
        /// Its status now.
        status: TokenStatus,
    },
    /// No call before `until`, and none was sent: either Meta throttles this app or
    /// account (a throttling error or a regain time; calls before `until` would extend
    /// its block), or usage above the high-water mark spaces the calls and this call's
    /// slot is further away than the client waits (`until` is that slot, seconds away).
    /// The message says which.
    #[error("account {account}: Graph API calls throttled until {until}: {message}")]
    Throttled {
        /// The account.
        account: AccountId,
        /// When calls may resume.
        until: DateTime<Utc>,
        /// What Meta or the usage headers said.
        message: String,
    },
    /// A failure that may pass (5xx, timeout, malformed body): retry later; the token
    /// is presumed fine and nothing was recorded.
    #[error("account {account}: temporary Graph API failure: {source}")]
    Transient {
        /// The account.
        account: AccountId,
        /// The classified failure.
        #[source]
        source: ProviderError,
    },
    /// Meta refused the request for a reason that is not the token's (an unknown path,
    /// a bad field, a permission only a raw [`get`](crate::GraphSession::get) needed,
    /// a misconfigured app).
    #[error("account {account}: Graph API request refused: {source}")]
    Refused {
        /// The account.
        account: AccountId,
        /// The classified failure.
        #[source]
        source: ProviderError,
    },
    /// The response was not what the call expects.
    #[error("account {account}: unexpected Graph API response: {message}")]
    Unexpected {
        /// The account.
        account: AccountId,
        /// What was wrong.
        message: String,
    },
    /// The request given to [`get`](crate::GraphSession::get) (or a media id) was
    /// refused before sending: the path must be relative to the versioned Graph root
    /// (no host, scheme, `..` or query) and the query must not carry `access_token`.
    #[error("invalid Graph API request: {0}")]
    InvalidRequest(String),
    /// The keeper failed (unknown account, store unavailable, ...).
    #[error(transparent)]
    Keeper(#[from] Error),
}

/// Why a `NotActive` account is not active, in words ([`ExpiryReason::describe`]).
fn why_not_active(status: &TokenStatus) -> String {
    match status.reason() {
        Some(r) => r.describe(),
        None => "its token is not in use".into(),
    }
}

impl GatewayError {
    /// The token no longer works: show NOT ACTIVE and the renewal path.
    pub fn is_token_dead(&self) -> bool {
        matches!(self, Self::NotActive { .. })
    }

    /// Why the account is NOT ACTIVE (password changed, app removed, …), for
    /// [`GatewayError::NotActive`]; `None` for every other error.
    pub fn reason(&self) -> Option<ExpiryReason> {
        match self {
            Self::NotActive { status, .. } => status.reason(),
            _ => None,
        }
    }

    /// Throttled: when calls may resume.
    pub fn throttled_until(&self) -> Option<DateTime<Utc>> {
        match self {
            Self::Throttled { until, .. } => Some(*until),
            _ => None,
        }
    }

    /// Retrying later may succeed (throttled, temporary failure, store unavailable).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Throttled { .. } | Self::Transient { .. } => true,
            Self::Keeper(e) => e.is_transient(),
            _ => false,
        }
    }

    /// Maps a typed call's failure that is not the token's death.
    pub(crate) fn from_failure(
        account: AccountId,
        f: GraphFailure,
        now: DateTime<Utc>,
        default_wait: Duration,
    ) -> Self {
        match f {
            GraphFailure::Call(e) => Self::from_provider(account, e, now, default_wait),
            GraphFailure::Malformed(message) => Self::Transient {
                account,
                source: ProviderError::Transient {
                    retry_after: None,
                    message,
                },
            },
            GraphFailure::Unexpected(message) => Self::Unexpected { account, message },
        }
    }

    /// Maps a classified provider failure that is not the token's death.
    pub(crate) fn from_provider(
        account: AccountId,
        e: ProviderError,
        now: DateTime<Utc>,
        default_wait: Duration,
    ) -> Self {
        match e {
            ProviderError::RateLimited {
                retry_after,
                message,
            } => {
                let wait = retry_after.unwrap_or(default_wait);
                let until = chrono::TimeDelta::from_std(wait)
                    .ok()
                    .and_then(|d| now.checked_add_signed(d))
                    .unwrap_or(now);
                Self::Throttled {
                    account,
                    until,
                    message,
                }
            }
            e @ ProviderError::Transient { .. } => Self::Transient { account, source: e },
            e => Self::Refused { account, source: e },
        }
    }
}

/// Why a provider's Graph call for the gateway returned no value
/// ([`TokenProvider::graph_profile`](crate::TokenProvider::graph_profile) and its
/// siblings). Never contains a token value.
///
/// ```
/// use lightwidget_core::gateway::GraphFailure;
/// let not_json = serde_json::from_slice::<serde_json::Value>(b"<html>").unwrap_err();
/// assert!(matches!(GraphFailure::from(not_json), GraphFailure::Malformed(_)));
/// let wrong_shape = serde_json::from_slice::<Vec<u8>>(br#"{"id":1}"#).unwrap_err();
/// assert!(matches!(GraphFailure::from(wrong_shape), GraphFailure::Unexpected(_)));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GraphFailure {
    /// The call failed, classified like `refresh` and `check`: the keeper observes it
    /// (a token error ends the token).
    #[error(transparent)]
    Call(#[from] ProviderError),
    /// The call succeeded but its body is not JSON (cut short, an HTML error page):
    /// temporary, like the keeper's malformed responses.
    #[error("{0}")]
    Malformed(String),
    /// The call succeeded but its JSON is not of the shape the call expects.
    #[error("{0}")]
    Unexpected(String),
}

impl From<serde_json::Error> for GraphFailure {
    /// A body that is not JSON is [`Malformed`](Self::Malformed), JSON of the wrong shape
    /// [`Unexpected`](Self::Unexpected). serde's messages name the field and position,
    /// never the body's text.
    fn from(e: serde_json::Error) -> Self {
        match e.classify() {
            serde_json::error::Category::Data => {
                Self::Unexpected(format!("response did not parse: {e}"))
            }
            _ => Self::Malformed(format!("malformed JSON in a success response: {e}")),
        }
    }
}
