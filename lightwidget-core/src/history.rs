//! The append-only history of what happened to an account's token.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{ExpiryReason, NoticeTopic, OwnerId};

/// One entry of an account's history. Transient failures are retry state, not history.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Debug)]
pub struct TokenEvent {
    /// When it happened.
    pub at: DateTime<Utc>,
    /// What happened.
    pub kind: TokenEventKind,
}

impl TokenEvent {
    /// An event at `at`.
    pub fn new(at: DateTime<Utc>, kind: TokenEventKind) -> Self {
        Self { at, kind }
    }
}

/// What happened.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Debug)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum TokenEventKind {
    /// First connection.
    Connected {
        /// Expiry of the connected token.
        expires_at: Option<DateTime<Utc>>,
    },
    /// Refreshed: a new token with a new lifetime.
    Refreshed {
        /// The new expiry.
        expires_at: Option<DateTime<Utc>>,
    },
    /// The owner connected again (renewal after expiry, or a voluntary reconnect).
    Reconnected {
        /// Expiry of the new token.
        expires_at: Option<DateTime<Utc>>,
    },
    /// The token stopped working.
    Expired {
        /// Why.
        reason: ExpiryReason,
    },
    /// The owner removed the app.
    Revoked,
    /// A notice was delivered.
    NoticeSent {
        /// Which notice.
        topic: NoticeTopic,
        /// Channels it went to (`email`, `webhook`, ...).
        channels: Vec<String>,
    },
    /// A notice was not sent because the owner did not opt in or is not entitled.
    NoticeSuppressed {
        /// Which notice.
        topic: NoticeTopic,
        /// Why it was suppressed.
        why: String,
    },
    /// A notice could not be delivered and will not be retried.
    NoticeFailed {
        /// Which notice.
        topic: NoticeTopic,
        /// What went wrong.
        error: String,
    },
    /// An owner joined the (shared) account: connected it while others held it.
    Joined {
        /// Who.
        owner: OwnerId,
    },
    /// An owner left the account (disconnected it); others still hold it.
    Left {
        /// Who.
        owner: OwnerId,
    },
}

impl TokenEventKind {
    /// Stable lowercase name of the event kind.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Connected { .. } => "connected",
            Self::Refreshed { .. } => "refreshed",
            Self::Reconnected { .. } => "reconnected",
            Self::Expired { .. } => "expired",
            Self::Revoked => "revoked",
            Self::NoticeSent { .. } => "notice_sent",
            Self::NoticeSuppressed { .. } => "notice_suppressed",
            Self::NoticeFailed { .. } => "notice_failed",
            Self::Joined { .. } => "joined",
            Self::Left { .. } => "left",
        }
    }

    /// The event in words, as history pages show it ("Token refreshed").
    pub fn label(&self) -> &'static str {
        match self {
            Self::Connected { .. } => "Connected",
            Self::Refreshed { .. } => "Token refreshed",
            Self::Reconnected { .. } => "Token renewed",
            Self::Expired { .. } => "Token expired",
            Self::Revoked => "App removed",
            Self::NoticeSent { .. } => "Notice sent",
            Self::NoticeSuppressed { .. } => "Notice not sent",
            Self::NoticeFailed { .. } => "Notice failed",
            Self::Joined { .. } => "Owner joined",
            Self::Left { .. } => "Owner left",
        }
    }

    /// Whether the event concerns one owner rather than the token (notices sent to an
    /// owner, an owner joining or leaving). Such events are stored with their owner and
    /// shown only to them by [`Keeper::history_for`](crate::Keeper::history_for).
    pub fn is_owner_specific(&self) -> bool {
        matches!(
            self,
            Self::NoticeSent { .. }
                | Self::NoticeSuppressed { .. }
                | Self::NoticeFailed { .. }
                | Self::Joined { .. }
                | Self::Left { .. }
        )
    }
}

/// A stored history entry: an event with its position in the account's history.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Debug)]
pub struct HistoryEntry {
    /// Monotonic position within the store (larger = newer).
    pub seq: i64,
    /// The event.
    pub event: TokenEvent,
    /// The owner an owner-specific event belongs to (`None`: a token event, the
    /// account's, seen by every member from when they joined).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<OwnerId>,
}

/// A page of history, newest first.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct HistoryQuery {
    /// Only entries with `seq < before` (the `seq` of the last entry of the previous page).
    pub before: Option<i64>,
    /// Page size.
    pub limit: u32,
}

impl Default for HistoryQuery {
    fn default() -> Self {
        Self {
            before: None,
            limit: 50,
        }
    }
}
