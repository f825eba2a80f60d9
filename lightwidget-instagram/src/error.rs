//! Errors of the Instagram adapter. Never contain a token or the app secret.

use lightwidget_core::ProviderError;

/// Errors of lightwidget-instagram.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Invalid configuration.
    #[error("invalid Graph API configuration: {0}")]
    Config(String),
    /// A Graph API call failed (classified).
    #[error(transparent)]
    Graph(#[from] ProviderError),
    /// The person declined, or the OAuth redirect carried an error.
    #[error("authorization was not granted: {reason} ({description})")]
    Denied {
        /// `error_reason`, e.g. `user_denied`.
        reason: String,
        /// `error_description`.
        description: String,
    },
    /// The OAuth `state` was refused.
    #[error("OAuth state refused: {0}")]
    State(#[from] crate::state::StateError),
    /// A `signed_request` was refused.
    #[error("signed_request refused: {0}")]
    SignedRequest(#[from] crate::signed_request::SignedRequestError),
    /// A response was missing something it must carry.
    #[error("unexpected Graph API response: {0}")]
    Unexpected(String),
}

impl Error {
    /// Whether retrying later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Graph(e) if e.is_transient())
    }

    /// Whether input from outside was refused (forged, expired or replayed `state`, bad
    /// `signed_request`): answer the caller with a client error, do not retry.
    pub fn is_refused(&self) -> bool {
        matches!(self, Self::State(_) | Self::SignedRequest(_))
    }

    /// Whether the person declined the authorization.
    pub fn is_denied(&self) -> bool {
        matches!(self, Self::Denied { .. })
    }

    /// The classified Graph API error, if this is one.
    pub fn graph_error(&self) -> Option<&ProviderError> {
        match self {
            Self::Graph(e) => Some(e),
            _ => None,
        }
    }
}
