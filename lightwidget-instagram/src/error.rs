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
}
