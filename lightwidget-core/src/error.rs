//! Errors of the core crate.

use std::sync::Arc;
use std::time::Duration;

use crate::{AccountId, AccountProblem, ConnectionKind, ExpiryReason, TokenProblem};

/// Result alias with the core [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Errors of lightwidget-core. Never contains a token value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No account with this id.
    #[error("unknown account {0}")]
    UnknownAccount(AccountId),
    /// Renewal for an account that was never connected with this kind.
    #[error(
        "no {kind} account with Instagram user id {ig_user_id} has been connected before{}",
        hint.map(|k| format!("; this Instagram account was connected as a {k} connection: renew it with the {k} flow")).unwrap_or_default()
    )]
    NotConnected {
        /// The kind asked for.
        kind: ConnectionKind,
        /// The Instagram user id asked for.
        ig_user_id: crate::IgUserId,
        /// The other kind, if this Instagram account is connected under it: found by the
        /// same user id, or (with [`Keeper::reconnect_as`](crate::Keeper::reconnect_as))
        /// by the same username, since the two flows name one account with different ids.
        hint: Option<ConnectionKind>,
    },
    /// Connect was given a token older than the one the account holds (see
    /// [`lifecycle::freshness`](crate::lifecycle::freshness) for what "older" means):
    /// nothing was installed. Installing it on purpose takes
    /// [`ConnectOptions::force`](crate::ConnectOptions::force). Never contains a token.
    #[error(
        "the {kind} account with Instagram user id {ig_user_id} (id {account}) holds a token issued {} expiring {}; the token given (issued {}, expiring {}) is older, or not provably newer: it was not installed (force it to roll the token back on purpose)",
        held_issued_at.to_rfc3339(),
        held_expires_at.map_or_else(|| "never".to_owned(), |t| t.to_rfc3339()),
        issued_at.map_or_else(|| "at an unknown time".to_owned(), |t| t.to_rfc3339()),
        expires_at.map_or_else(|| "never".to_owned(), |t| t.to_rfc3339()),
    )]
    StaleToken {
        /// The kind.
        kind: ConnectionKind,
        /// The Instagram user id.
        ig_user_id: crate::IgUserId,
        /// The account that holds the fresher token.
        account: AccountId,
        /// When the given token was issued; `None` when the caller did not know.
        issued_at: Option<chrono::DateTime<chrono::Utc>>,
        /// When the given token expires (`None`: never).
        expires_at: Option<chrono::DateTime<chrono::Utc>>,
        /// When the held token was issued (or last refreshed).
        held_issued_at: chrono::DateTime<chrono::Utc>,
        /// When the held token expires (`None`: never).
        held_expires_at: Option<chrono::DateTime<chrono::Utc>>,
    },
    /// An account with this Instagram user id and kind is already connected.
    #[error(
        "a {kind} account with Instagram user id {ig_user_id} is already connected (id {existing}); use reconnect"
    )]
    AlreadyConnected {
        /// The kind.
        kind: ConnectionKind,
        /// The Instagram user id.
        ig_user_id: crate::IgUserId,
        /// The existing account.
        existing: AccountId,
    },
    /// The work item was claimed or changed by someone else since it was read: the
    /// commit was refused so the newer state is not overwritten.
    #[error(
        "account {0} changed since it was read (lease lost or concurrent update); commit refused"
    )]
    Conflict(AccountId),
    /// The store failed.
    #[error("token store error: {0}")]
    Store(#[source] StoreError),
    /// Bad input from the caller.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The token given to connect or reconnect cannot be used. The message never
    /// contains the token.
    #[error("token refused: {0}")]
    InvalidToken(#[from] TokenProblem),
    /// The account given to connect or reconnect is incomplete.
    #[error("account refused: {0}")]
    InvalidAccount(#[from] AccountProblem),
    /// Invalid configuration.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The keeper is shutting down.
    #[error("the keeper is shutting down")]
    ShuttingDown,
    /// Connecting lost the race with concurrent connects of the same Instagram account
    /// every time it tried. Retrying later succeeds once the others are done.
    #[error(
        "could not connect the {kind} account with Instagram user id {ig_user_id}: it kept changing concurrently ({attempts} attempts); retry"
    )]
    Contended {
        /// The kind.
        kind: ConnectionKind,
        /// The Instagram user id.
        ig_user_id: crate::IgUserId,
        /// Attempts made.
        attempts: usize,
    },
    /// A bug in lightwidget: one of the keeper's tasks panicked. Please report it with
    /// the logs; the accounts it held are retried once their leases end.
    #[error("internal error: {what} failed: {source}")]
    Internal {
        /// Which part failed.
        what: &'static str,
        /// The panic or failure.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl Error {
    /// Whether retrying the same call later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Store(e) => e.is_transient(),
            Self::Conflict(_) | Self::Contended { .. } => true,
            _ => false,
        }
    }

    pub(crate) fn internal(
        what: &'static str,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self::Internal {
            what,
            source: source.into(),
        }
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(id) => Self::Conflict(id),
            StoreError::UnknownAccount(id) => Self::UnknownAccount(id),
            other => Self::Store(other),
        }
    }
}

/// Errors a [`TokenStore`](crate::TokenStore) reports.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// No account with this id.
    #[error("unknown account {0}")]
    UnknownAccount(AccountId),
    /// Fencing: the version named by the commit is not the current one.
    #[error("account {0} changed since it was read (lease lost or concurrent update)")]
    Conflict(AccountId),
    /// Unique constraint: this (kind, Instagram user id) is already connected.
    #[error("a {kind} account with Instagram user id {ig_user_id} already exists")]
    Duplicate {
        /// The kind.
        kind: ConnectionKind,
        /// The Instagram user id.
        ig_user_id: crate::IgUserId,
    },
    /// The backend is unreachable or failed in a way that may pass.
    #[error("store unavailable: {message}")]
    Unavailable {
        /// What happened.
        message: String,
        /// The cause.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// A stored value could not be read (corrupt row, missing key, tampered ciphertext).
    /// Affects this account only.
    #[error("account {account}: stored data unreadable: {message}")]
    Corrupt {
        /// The account.
        account: AccountId,
        /// What is wrong.
        message: String,
    },
    /// The database refused the statement for a reason that retrying does not change: a
    /// constraint, a value it cannot store, a statement or table it does not know, a
    /// database that was dropped. Known to be permanent ([`StoreError::is_permanent`]).
    #[error("store refused the operation: {message}")]
    Rejected {
        /// What happened.
        message: String,
        /// The cause.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// Any other backend error: neither known to pass ([`StoreError::Unavailable`]) nor
    /// known to be permanent ([`StoreError::Rejected`]). Callers are told it is not
    /// transient; the keeper's sweep still retries such a commit while it holds the
    /// account's lease, since giving up would drop a result obtained from the provider.
    #[error("store backend error: {message}")]
    Backend {
        /// What happened.
        message: String,
        /// The cause.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// The batch (one transaction) this commit was part of failed as a whole: every
    /// commit of the batch reports this, sharing the one cause.
    #[error("the batch commit failed: {0}")]
    Batch(#[source] Arc<StoreError>),
}

impl StoreError {
    /// Whether retrying later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Unavailable { .. } | Self::Conflict(_) => true,
            Self::Batch(cause) => cause.is_transient(),
            _ => false,
        }
    }

    /// Whether the backend was unreachable (retrying the same write soon may succeed),
    /// as opposed to a refusal such as [`StoreError::Conflict`].
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Unavailable { .. } => true,
            Self::Batch(cause) => cause.is_unavailable(),
            _ => false,
        }
    }

    /// Whether retrying the same call can never succeed: an unknown account, a duplicate,
    /// an unreadable row, a statement the database rejects ([`StoreError::Rejected`]).
    /// Neither this nor [`is_transient`](Self::is_transient) holds for
    /// [`StoreError::Backend`] (class unknown) and [`StoreError::Conflict`] (the record
    /// changed: work it out again on the fresh one).
    ///
    /// ```
    /// use lightwidget_core::StoreError;
    /// let down = StoreError::Unavailable { message: "connection refused".into(), source: None };
    /// let bug = StoreError::Rejected { message: "syntax error".into(), source: None };
    /// let odd = StoreError::Backend { message: "unexpected reply".into(), source: None };
    /// assert!(!down.is_permanent() && bug.is_permanent() && !odd.is_permanent());
    /// assert!(bug.for_batch(2).iter().all(|r| r.as_ref().unwrap_err().is_permanent()));
    /// ```
    pub fn is_permanent(&self) -> bool {
        match self {
            Self::UnknownAccount(_)
            | Self::Duplicate { .. }
            | Self::Corrupt { .. }
            | Self::Rejected { .. } => true,
            Self::Batch(cause) => cause.is_permanent(),
            _ => false,
        }
    }

    /// The results of a batch of `n` commits that failed as a whole with this error:
    /// `n` × [`StoreError::Batch`], sharing this error as their cause. For
    /// [`TokenStore::commit_many`](crate::TokenStore::commit_many) implementations.
    ///
    /// ```
    /// use lightwidget_core::StoreError;
    /// let e = StoreError::Unavailable { message: "connection reset".into(), source: None };
    /// let results = e.for_batch(3);
    /// assert_eq!(results.len(), 3);
    /// assert!(results.iter().all(|r| r.as_ref().unwrap_err().is_unavailable()));
    /// ```
    pub fn for_batch(self, n: usize) -> Vec<Result<(), StoreError>> {
        let cause = match self {
            Self::Batch(cause) => cause,
            other => Arc::new(other),
        };
        (0..n).map(|_| Err(Self::Batch(cause.clone()))).collect()
    }
}

/// A classified failure from a [`TokenProvider`](crate::TokenProvider). Never contains
/// a token value.
///
/// ```
/// use lightwidget_core::{ExpiryReason, ProviderError};
/// let e = ProviderError::Expired { reason: ExpiryReason::PasswordChanged, message: "190/460".into() };
/// assert!(e.is_expired() && !e.is_transient());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProviderError {
    /// The token no longer works; only the owner can fix it by reconnecting.
    #[error("token expired ({reason:?}): {message}")]
    Expired {
        /// Why.
        reason: ExpiryReason,
        /// Provider's message.
        message: String,
    },
    /// The owner removed the app.
    #[error("app removed by the user: {message}")]
    Revoked {
        /// Provider's message.
        message: String,
    },
    /// Temporary: retry later (5xx, timeout, connection error, malformed body, code 1/2).
    #[error("temporary provider failure: {message}")]
    Transient {
        /// Provider's hint for when to retry.
        retry_after: Option<Duration>,
        /// What happened.
        message: String,
    },
    /// Throttled: retry after the given time.
    #[error("rate limited: {message}")]
    RateLimited {
        /// When calls may resume.
        retry_after: Option<Duration>,
        /// What happened.
        message: String,
    },
    /// A permission is missing or was removed (codes 10, 200-299).
    #[error("permission missing: {message}")]
    Permission {
        /// What happened.
        message: String,
    },
    /// Not the token's fault: misconfiguration (bad app secret, wrong app) or a bug.
    #[error("provider call failed: {message}")]
    Fatal {
        /// What happened.
        message: String,
    },
}

impl ProviderError {
    /// Retrying later may succeed and the token is presumed fine.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Transient { .. } | Self::RateLimited { .. })
    }
    /// The token is dead (expired or revoked).
    pub fn is_expired(&self) -> bool {
        matches!(self, Self::Expired { .. } | Self::Revoked { .. })
    }
    /// Throttled.
    pub fn is_rate_limited(&self) -> bool {
        matches!(self, Self::RateLimited { .. })
    }
    /// The provider's retry hint.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Transient { retry_after, .. } | Self::RateLimited { retry_after, .. } => {
                *retry_after
            }
            _ => None,
        }
    }
    /// A short class name for metrics and retry state.
    pub fn class(&self) -> &'static str {
        match self {
            Self::Expired { .. } => "expired",
            Self::Revoked { .. } => "revoked",
            Self::Transient { .. } => "transient",
            Self::RateLimited { .. } => "rate_limited",
            Self::Permission { .. } => "permission",
            Self::Fatal { .. } => "fatal",
        }
    }
}

/// Errors a [`Notifier`](crate::Notifier) reports: whether retrying may help, what
/// failed, and the cause.
///
/// ```
/// use lightwidget_core::DeliveryError;
/// let io = std::io::Error::new(std::io::ErrorKind::TimedOut, "timed out");
/// let e = DeliveryError::transient("SMTP").with_source(io);
/// assert!(e.is_transient());
/// assert_eq!(e.to_string(), "temporary delivery failure: SMTP");
/// assert_eq!(std::error::Error::source(&e).unwrap().to_string(), "timed out");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeliveryError {
    /// May succeed later (SMTP down, 5xx, timeout, 408, 429).
    #[error("temporary delivery failure: {message}")]
    Transient {
        /// What failed.
        message: String,
        /// The cause.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// Will not succeed (recipient rejected, 4xx).
    #[error("permanent delivery failure: {message}")]
    Permanent {
        /// What failed.
        message: String,
        /// The cause.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
}

impl DeliveryError {
    /// A failure that may pass.
    pub fn transient(message: impl Into<String>) -> Self {
        Self::Transient {
            message: message.into(),
            source: None,
        }
    }

    /// A failure that will not pass.
    pub fn permanent(message: impl Into<String>) -> Self {
        Self::Permanent {
            message: message.into(),
            source: None,
        }
    }

    /// Attaches the cause.
    pub fn with_source(
        mut self,
        cause: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        match &mut self {
            Self::Transient { source, .. } | Self::Permanent { source, .. } => {
                *source = Some(cause.into());
            }
        }
        self
    }

    /// Retrying later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Transient { .. })
    }
}

/// An error and its causes on one line (`a: b: c`), for logs and stored error texts.
pub(crate) fn with_causes(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        let text = cause.to_string();
        // Messages that already quote their cause are not repeated.
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        next = cause.source();
    }
    out
}
