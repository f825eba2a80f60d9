//! Graph error JSON (and transport failures) → core's [`ProviderError`], table-driven
//! from Meta's error-handling guide and observed responses.

use std::time::Duration;

use lightwidget_core::{ExpiryReason, ProviderError};
use serde::Deserialize;

/// A Graph API error object.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct GraphError {
    /// Error code (190, 4, 10, ...).
    #[serde(default)]
    pub code: i64,
    /// Subcode (460, 463, ...).
    #[serde(default)]
    pub error_subcode: Option<i64>,
    /// Message.
    #[serde(default)]
    pub message: String,
    /// Type (`OAuthException`).
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// Meta's hint that a retry may work.
    #[serde(default)]
    pub is_transient: Option<bool>,
    /// Support trace id.
    #[serde(default)]
    pub fbtrace_id: Option<String>,
}

#[derive(Deserialize)]
struct Envelope {
    error: GraphError,
}

/// Instagram Login's non-standard error shape (e.g. a reused code).
#[derive(Deserialize)]
struct FlatError {
    #[serde(default)]
    error_type: Option<String>,
    #[serde(default)]
    code: i64,
    #[serde(default)]
    error_message: String,
}

/// Parses either error shape from a body.
pub fn parse_error(body: &[u8]) -> Option<GraphError> {
    if let Ok(e) = serde_json::from_slice::<Envelope>(body) {
        return Some(e.error);
    }
    let f: FlatError = serde_json::from_slice(body).ok()?;
    if f.error_type.is_none() && f.error_message.is_empty() {
        return None;
    }
    Some(GraphError {
        code: f.code,
        error_subcode: None,
        message: f.error_message,
        kind: f.error_type,
        is_transient: None,
        fbtrace_id: None,
    })
}

fn expired(reason: ExpiryReason, e: &GraphError) -> ProviderError {
    ProviderError::Expired {
        reason,
        message: describe(e),
    }
}

fn describe(e: &GraphError) -> String {
    match e.error_subcode {
        Some(s) => format!("Graph error {}/{}: {}", e.code, s, e.message),
        None => format!("Graph error {}: {}", e.code, e.message),
    }
}

/// Classifies a Graph error. `retry_after` is the retry time to report for transient and
/// throttled outcomes (from the usage headers), if known.
///
/// ```
/// use lightwidget_core::{ExpiryReason, ProviderError};
/// use lightwidget_instagram::classify::{classify, GraphError};
/// let e = GraphError { code: 190, error_subcode: Some(460), ..Default::default() };
/// assert!(matches!(classify(&e, None), ProviderError::Expired { reason: ExpiryReason::PasswordChanged, .. }));
/// ```
pub fn classify(e: &GraphError, retry_after: Option<Duration>) -> ProviderError {
    match (e.code, e.error_subcode) {
        // Throttling codes first: the retry time matters more than `is_transient`.
        (4 | 17 | 32 | 368 | 613 | 80000..=80014, _) => ProviderError::RateLimited {
            retry_after,
            message: describe(e),
        },
        // Meta's own hint wins over the code (Meta's SDKs check it first), so a
        // transient hiccup never expires a token.
        _ if e.is_transient == Some(true) => ProviderError::Transient {
            retry_after,
            message: describe(e),
        },
        (190 | 102, Some(458)) => ProviderError::Revoked {
            message: describe(e),
        },
        (190 | 102, Some(459 | 464)) => expired(ExpiryReason::SecurityCheckpoint, e),
        (190 | 102, Some(460)) => expired(ExpiryReason::PasswordChanged, e),
        (190 | 102, Some(463)) => expired(ExpiryReason::LifetimeEnded, e),
        (190 | 102, Some(466 | 467 | 492)) => expired(ExpiryReason::SessionInvalidated, e),
        (190 | 102, None) => by_message(e),
        (190 | 102, Some(s)) => expired(
            ExpiryReason::Unknown {
                code: e.code,
                subcode: Some(s),
            },
            e,
        ),
        (1 | 2 | 341, _) => ProviderError::Transient {
            retry_after,
            message: describe(e),
        },
        // Ambiguous: the owner's removed permission *or* the app's lost capability or
        // permission (app review, development mode, restrictions) answer with these
        // codes. The keeper holds the account until it can tell one from all of them
        // (`lightwidget_core::lifecycle::incident`).
        (10 | 200..=299, _) if names_the_user(e) => expired(ExpiryReason::PermissionRemoved, e),
        (3 | 10 | 200..=299, _) => ProviderError::Permission {
            message: describe(e),
        },
        _ => ProviderError::Fatal {
            message: describe(e),
        },
    }
}

/// A permission error whose text says the *user* withheld it ("The user hasn't
/// authorized the application to perform this action", "… has not granted …"): Meta's
/// own answer makes it this account's, so it ends the token at once instead of waiting
/// to be told from the app's.
fn names_the_user(e: &GraphError) -> bool {
    let msg = e.message.to_ascii_lowercase();
    [
        "user hasn't authorized",
        "user has not authorized",
        "user has not granted",
        "user hasn't granted",
        "not granted by the user",
    ]
    .iter()
    .any(|p| msg.contains(p))
}

/// Code 190/102 without a subcode: the message text tells the reason.
fn by_message(e: &GraphError) -> ProviderError {
    let msg = e.message.to_ascii_lowercase();
    if msg.contains("error validating application")
        || msg.contains("application has been deleted")
        || msg.contains("app has been deleted")
        || msg.contains("invalid client_id")
    {
        // The *app* cannot be validated (deleted, disabled, wrong id or secret): every
        // token of the app fails the same way and none of them is at fault. Never an
        // expiry: app-level, counted towards an app-wide incident.
        ProviderError::Fatal {
            message: describe(e),
        }
    } else if msg.contains("changed their password") || msg.contains("changed the password") {
        expired(ExpiryReason::PasswordChanged, e)
    } else if msg.contains("has not authorized application") {
        ProviderError::Revoked {
            message: describe(e),
        }
    } else if msg.contains("session has expired") {
        expired(ExpiryReason::LifetimeEnded, e)
    } else if msg.contains("checkpoint") {
        expired(ExpiryReason::SecurityCheckpoint, e)
    } else {
        // "logged out", "invalid OAuth access token", or no text at all.
        expired(ExpiryReason::SessionInvalidated, e)
    }
}

/// Classifies an HTTP response that was not a success.
pub fn classify_response(status: u16, body: &[u8], retry_after: Option<Duration>) -> ProviderError {
    match parse_error(body) {
        // A server error is never proof that the token died: retry.
        Some(e) if status >= 500 => ProviderError::Transient {
            retry_after,
            message: format!("HTTP {status}: {}", describe(&e)),
        },
        Some(e) => classify(&e, retry_after),
        None if status == 429 => ProviderError::RateLimited {
            retry_after,
            message: "HTTP 429".into(),
        },
        None if status >= 500 || status == 408 => ProviderError::Transient {
            retry_after,
            message: format!("HTTP {status}"),
        },
        None => ProviderError::Transient {
            retry_after,
            message: format!("HTTP {status} with an unrecognised body"),
        },
    }
}
