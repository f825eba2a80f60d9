//! Notices to account owners, their outbox, and owners' preferences.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use url::Url;
use uuid::Uuid;

use crate::{AccountId, ConnectionKind, Error, ExpiryReason, OwnerId};

/// The kinds of notice an owner can opt in to: one for every break, and one per warning.
///
/// [`Expired`](Self::Expired) is the seeds' *Expired token notifications* checkbox: it
/// covers **every** transition to NOT ACTIVE an owner can fix by renewing — the lifetime
/// ended, a password change, a security checkpoint, an ended session, data access paused,
/// the app removed ([`NoticeKind::Revoked`]), a permission removed — each email in the
/// words of its own break. The other topics are warnings, sent while the connection
/// still works.
///
/// Preferences stored before the breaks were folded into one topic may name `revoked` or
/// `permission_removed`: both read as [`Expired`](Self::Expired) (serde and
/// [`FromStr`]), so an owner who asked to hear of one break now hears of all of them,
/// and nobody who asked for break emails loses any.
///
/// ```
/// use lightwidget_core::{NoticeTopic, Preferences};
/// let p: Preferences = serde_json::from_str(
///     r#"{"owner":"o","topics":["revoked","permission_removed"],"recipients":[]}"#,
/// ).unwrap();
/// assert!(p.wants(NoticeTopic::Expired));
/// assert_eq!("revoked".parse::<NoticeTopic>().unwrap(), NoticeTopic::Expired);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Debug)]
#[serde(rename_all = "snake_case")]
pub enum NoticeTopic {
    /// The connection broke, whatever broke it (the account is NOT ACTIVE until the
    /// owner renews it).
    #[serde(alias = "revoked", alias = "permission_removed")]
    Expired,
    /// Warning: data access lapses soon (business connections).
    DataAccessExpiring,
    /// Warning: the token expires soon and refreshing it keeps failing.
    ExpiringSoon,
}

impl NoticeTopic {
    /// All topics.
    pub const ALL: [NoticeTopic; 3] = [Self::Expired, Self::DataAccessExpiring, Self::ExpiringSoon];
    /// The warning topics (the connection still works): everything but
    /// [`Expired`](Self::Expired).
    pub const WARNINGS: [NoticeTopic; 2] = [Self::ExpiringSoon, Self::DataAccessExpiring];
    /// Names topics had before every break was folded into [`Expired`](Self::Expired);
    /// they parse as `expired`.
    const FORMER_BREAK_TOPICS: [&'static str; 2] = ["revoked", "permission_removed"];

    /// Stable lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Expired => "expired",
            Self::DataAccessExpiring => "data_access_expiring",
            Self::ExpiringSoon => "expiring_soon",
        }
    }

    /// What the owner turned on, in words: "expired token" for
    /// [`Expired`](Self::Expired) (the seeds' *Expired token notifications* checkbox), …
    pub fn label(self) -> &'static str {
        match self {
            Self::Expired => "expired token",
            Self::DataAccessExpiring => "data access expiring",
            Self::ExpiringSoon => "token expiring soon",
        }
    }

    /// Whether this topic is a warning (the connection still works) rather than a break.
    pub fn is_warning(self) -> bool {
        !matches!(self, Self::Expired)
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
        if Self::FORMER_BREAK_TOPICS.contains(&s) {
            return Ok(Self::Expired);
        }
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
    /// The topic an owner opts in to: [`NoticeTopic::Expired`] for every break (expired
    /// for any reason, the app removed, a permission removed), the warning's own topic
    /// otherwise.
    pub fn topic(&self) -> NoticeTopic {
        match self {
            Self::Expired { .. } | Self::Revoked => NoticeTopic::Expired,
            Self::DataAccessExpiring { .. } => NoticeTopic::DataAccessExpiring,
            Self::ExpiringSoon { .. } => NoticeTopic::ExpiringSoon,
        }
    }

    /// Whether the notice says the connection broke (the account is NOT ACTIVE), as
    /// opposed to a warning.
    pub fn is_break(&self) -> bool {
        matches!(self, Self::Expired { .. } | Self::Revoked)
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

impl Notice {
    /// This notice's copy for one owner of a shared account: the same message, the
    /// owner's name on it, a dedupe key that includes the owner (`<key>#<owner>`) and
    /// an id derived from the notice's id and the owner (deterministic, so a retried
    /// commit makes the same copy). Stores enqueue one copy per member when they commit
    /// a transition's notices; a copy of a copy is itself.
    ///
    /// ```
    /// # use lightwidget_core::*;
    /// # let now = chrono::Utc::now();
    /// let n = Notice {
    ///     id: uuid::Uuid::now_v7(), dedupe_key: "acct:1:expired".into(),
    ///     account_id: AccountId::new(), owner: OwnerId::new("agency"), username: "paul".into(),
    ///     connection: ConnectionKind::Consumer, kind: NoticeKind::Revoked, created_at: now,
    /// };
    /// let a = n.for_owner(&OwnerId::new("agency"));
    /// let b = n.for_owner(&OwnerId::new("client"));
    /// assert_eq!(b.owner.as_str(), "client");
    /// assert_eq!(b.dedupe_key, "acct:1:expired#client");
    /// assert_ne!(a.id, b.id);
    /// assert_eq!(b.for_owner(&OwnerId::new("client")), b);
    /// ```
    pub fn for_owner(&self, owner: &OwnerId) -> Notice {
        if self.owner == *owner && self.is_owner_copy() {
            return self.clone();
        }
        let base = self
            .dedupe_key
            .strip_suffix(&format!("#{}", self.owner))
            .filter(|_| self.is_owner_copy())
            .unwrap_or(&self.dedupe_key);
        Notice {
            id: derive_id(self.id, owner),
            dedupe_key: format!("{base}#{owner}"),
            owner: owner.clone(),
            ..self.clone()
        }
    }

    /// Whether this is an owner's copy ([`Notice::for_owner`]): its dedupe key ends with
    /// `#<owner>`.
    pub fn is_owner_copy(&self) -> bool {
        self.dedupe_key
            .strip_suffix(self.owner.as_str())
            .is_some_and(|k| k.ends_with('#'))
    }
}

/// A UUID (version 8) from a notice id and an owner: FNV-1a over both, 128 bits.
fn derive_id(id: Uuid, owner: &OwnerId) -> Uuid {
    const PRIME: u128 = 0x0000_0000_0100_0000_0000_0000_0000_013B;
    let mut h: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    for b in id
        .as_bytes()
        .iter()
        .chain([0u8].iter())
        .chain(owner.as_str().as_bytes())
    {
        h ^= u128::from(*b);
        h = h.wrapping_mul(PRIME);
    }
    uuid::Builder::from_custom_bytes(h.to_be_bytes()).into_uuid()
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
/// assert!(!p.wants(NoticeTopic::ExpiringSoon));
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
