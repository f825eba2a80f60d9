//! Notices to account owners, their outbox, and owners' preferences.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use url::Url;
use uuid::Uuid;

use crate::{AccountId, ConnectionKind, Error, ExpiryReason, OwnerId};

/// The kinds of notice an owner can opt in to.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Debug)]
#[serde(rename_all = "snake_case")]
pub enum NoticeTopic {
    /// The token expired.
    Expired,
    /// The app was removed.
    Revoked,
    /// Data access lapses soon (business connections).
    DataAccessExpiring,
    /// The token expires soon and refreshing it keeps failing.
    ExpiringSoon,
    /// A permission the feed needs was removed (the token ended with
    /// [`ExpiryReason::PermissionRemoved`]): renewing re-asks for it.
    PermissionRemoved,
}

impl NoticeTopic {
    /// All topics.
    pub const ALL: [NoticeTopic; 5] = [
        Self::Expired,
        Self::Revoked,
        Self::DataAccessExpiring,
        Self::ExpiringSoon,
        Self::PermissionRemoved,
    ];
    /// Stable lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Expired => "expired",
            Self::Revoked => "revoked",
            Self::DataAccessExpiring => "data_access_expiring",
            Self::ExpiringSoon => "expiring_soon",
            Self::PermissionRemoved => "permission_removed",
        }
    }
}

impl NoticeTopic {
    /// What the owner turned on, in words: "expired token" for
    /// [`Expired`](Self::Expired) (the seeds' *Expired token notifications* checkbox), …
    pub fn label(self) -> &'static str {
        match self {
            Self::Expired => "expired token",
            Self::Revoked => "app removed",
            Self::DataAccessExpiring => "data access expiring",
            Self::ExpiringSoon => "token expiring soon",
            Self::PermissionRemoved => "permission removed",
        }
    }
}

impl fmt::Display for NoticeTopic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for NoticeTopic {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| Error::InvalidInput(format!("unknown notice topic {s:?}")))
    }
}

/// What a notice is about.
#[derive(Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Debug)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum NoticeKind {
    /// The token expired.
    Expired {
        /// Why.
        reason: ExpiryReason,
    },
    /// The app was removed.
    Revoked,
    /// Data access lapses at `at`.
    DataAccessExpiring {
        /// When.
        at: DateTime<Utc>,
    },
    /// The token expires at `at` and refreshes keep failing.
    ExpiringSoon {
        /// When.
        at: DateTime<Utc>,
    },
}

impl NoticeKind {
    /// The topic an owner opts in to.
    pub fn topic(&self) -> NoticeTopic {
        match self {
            Self::Expired {
                reason: ExpiryReason::PermissionRemoved,
            } => NoticeTopic::PermissionRemoved,
            Self::Expired { .. } => NoticeTopic::Expired,
            Self::Revoked => NoticeTopic::Revoked,
            Self::DataAccessExpiring { .. } => NoticeTopic::DataAccessExpiring,
            Self::ExpiringSoon { .. } => NoticeTopic::ExpiringSoon,
        }
    }
}

/// A message to an account's owner. Carries no token value.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Debug)]
pub struct Notice {
    /// Unique id of this notice.
    pub id: Uuid,
    /// Delivery happens at most once per dedupe key (per incident), across restarts
    /// and keepers.
    pub dedupe_key: String,
    /// The account.
    pub account_id: AccountId,
    /// Its owner.
    pub owner: OwnerId,
    /// Username, for the message.
    pub username: String,
    /// Connection kind, for the renewal link.
    pub connection: ConnectionKind,
    /// What happened.
    pub kind: NoticeKind,
    /// When the notice was raised.
    pub created_at: DateTime<Utc>,
}

/// A channel address a notice goes to.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Debug)]
#[serde(tag = "channel", content = "to", rename_all = "snake_case")]
pub enum Recipient {
    /// An email address.
    Email(String),
    /// A webhook endpoint.
    Webhook(Url),
}

impl Recipient {
    /// The channel name: `email` or `webhook`.
    pub fn channel(&self) -> &'static str {
        match self {
            Self::Email(_) => "email",
            Self::Webhook(_) => "webhook",
        }
    }
    /// A stable key identifying this address (`email:a@b.c`).
    pub fn key(&self) -> String {
        match self {
            Self::Email(a) => format!("email:{a}"),
            Self::Webhook(u) => format!("webhook:{u}"),
        }
    }
}

/// An owner's notice preferences. Everything is opt-in: the default sends nothing.
///
/// ```
/// use lightwidget_core::{NoticeTopic, Preferences, Recipient};
/// let p = Preferences::new("user-1")
///     .opt_in(NoticeTopic::Expired)
///     .with_recipient(Recipient::Email("owner@example.com".into()));
/// assert!(p.wants(NoticeTopic::Expired));
/// assert!(!p.wants(NoticeTopic::Revoked));
/// ```
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Debug)]
pub struct Preferences {
    /// The owner.
    pub owner: OwnerId,
    /// Topics the owner opted in to.
    pub topics: BTreeSet<NoticeTopic>,
    /// Where notices go.
    pub recipients: Vec<Recipient>,
}

impl Preferences {
    /// Nothing opted in.
    pub fn new(owner: impl Into<OwnerId>) -> Self {
        Self {
            owner: owner.into(),
            topics: BTreeSet::new(),
            recipients: Vec::new(),
        }
    }
    /// Opts in to a topic.
    pub fn opt_in(mut self, topic: NoticeTopic) -> Self {
        self.topics.insert(topic);
        self
    }
    /// Opts in to every topic.
    pub fn opt_in_all(mut self) -> Self {
        self.topics.extend(NoticeTopic::ALL);
        self
    }
    /// Adds a recipient.
    pub fn with_recipient(mut self, r: Recipient) -> Self {
        if !self.recipients.contains(&r) {
            self.recipients.push(r);
        }
        self
    }
    /// Whether the owner wants this topic.
    pub fn wants(&self, topic: NoticeTopic) -> bool {
        self.topics.contains(&topic)
    }
}

/// A notice waiting in the outbox, leased to one dispatcher.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct OutboxEntry {
    /// The notice.
    pub notice: Notice,
    /// Delivery attempts so far.
    pub attempts: u32,
    /// Recipient keys ([`Recipient::key`]) already delivered in earlier attempts.
    pub delivered: Vec<String>,
    /// Fencing version: pass it back to `ack_outbox`.
    pub version: i64,
}

/// The result of one dispatch attempt.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum OutboxOutcome {
    /// Delivered to these recipient keys (history: `NoticeSent`).
    Delivered {
        /// Channel names it went to.
        channels: Vec<String>,
    },
    /// Not allowed (history: `NoticeSuppressed`).
    Suppressed {
        /// Why.
        why: String,
    },
    /// Permanently failed (history: `NoticeFailed`).
    Failed {
        /// What went wrong.
        error: String,
    },
    /// Try again at `at`; `delivered` lists recipient keys that already got it.
    Retry {
        /// When.
        at: DateTime<Utc>,
        /// Recipients already done.
        delivered: Vec<String>,
        /// What went wrong (for logs / metrics).
        error: String,
    },
}
