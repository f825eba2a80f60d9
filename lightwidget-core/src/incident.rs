//! App-wide incidents: failures that hit many accounts of one app at once.
//!
//! One broken token is the owner's business; the same Graph error on many accounts of
//! one app within minutes is about the *app* (a capability lost after an app-review
//! change, an app restricted or in development mode, a wrong app secret) or about
//! Meta. The keeper then opens an [`Incident`] instead of ending tokens: the accounts
//! are held in their last known state ([`Hold`]), no owner is told anything, checks back
//! off to a few probe calls, and the operator gets one [`IncidentAlert`] per change.
//! The rules are pure: [`lifecycle::incident`](crate::lifecycle::incident).

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::ConnectionKind;

/// An incident's id.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Debug)]
#[serde(transparent)]
pub struct IncidentId(pub Uuid);

impl IncidentId {
    /// A new, time-ordered id.
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }
}

impl Default for IncidentId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for IncidentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::str::FromStr for IncidentId {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s).map(Self)
    }
}

/// What kind of incident.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Debug)]
#[serde(rename_all = "snake_case")]
pub enum IncidentKind {
    /// Many accounts of the app fail with an error that is the app's or ambiguous
    /// (Graph codes 3, 10, 200-299, an app that cannot be validated): their tokens are
    /// held, not ended, until probes succeed again.
    AppWide,
    /// Many accounts fail at once with errors Meta marks as each account's own (code 190
    /// with a subcode: password changed, checkpoint, session reset): each token ends as
    /// usual (a mass session reset by Meta is real), and the operator is told once.
    AccountWave,
}

impl IncidentKind {
    /// Stable lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AppWide => "app_wide",
            Self::AccountWave => "account_wave",
        }
    }

    /// Parses [`as_str`](Self::as_str).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "app_wide" => Some(Self::AppWide),
            "account_wave" => Some(Self::AccountWave),
            _ => None,
        }
    }
}

/// An app-wide incident, durable in the store: a restart keeps it open.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Debug)]
pub struct Incident {
    /// Id.
    pub id: IncidentId,
    /// The app it is about (each connection kind is its own Meta app).
    pub connection: ConnectionKind,
    /// What kind.
    pub kind: IncidentKind,
    /// When it was opened.
    pub opened_at: DateTime<Utc>,
    /// Last change (more accounts affected, resolution).
    pub updated_at: DateTime<Utc>,
    /// When probes succeeded again (`None` while open).
    pub resolved_at: Option<DateTime<Utc>>,
    /// Distinct accounts affected so far (as this keeper counted them).
    pub accounts: u64,
    /// The classified error that opened it (Graph's code and text: for operators only,
    /// never shown to owners; never a token).
    pub error: String,
}

impl Incident {
    /// A new open incident.
    pub fn open(
        connection: ConnectionKind,
        kind: IncidentKind,
        at: DateTime<Utc>,
        accounts: u64,
        error: impl Into<String>,
    ) -> Self {
        Self {
            id: IncidentId::new(),
            connection,
            kind,
            opened_at: at,
            updated_at: at,
            resolved_at: None,
            accounts,
            error: error.into(),
        }
    }

    /// Whether it is still open.
    pub fn is_open(&self) -> bool {
        self.resolved_at.is_none()
    }
}

/// Why an account is held in its last known state instead of being ended.
#[derive(Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Debug)]
#[serde(rename_all = "snake_case", tag = "by")]
pub enum Hold {
    /// An ambiguous error (codes 3, 10, 200-299) seen on this account: it is re-checked
    /// after [`IncidentPolicy::confirm_after`](crate::lifecycle::incident::IncidentPolicy)
    /// to tell one account's removed permission from the app's.
    Suspect {
        /// First failure of this kind.
        since: DateTime<Utc>,
    },
    /// Held by an app-wide incident: the problem is on the platform's (or the app's)
    /// side, not the owner's.
    Incident {
        /// The incident.
        incident: IncidentId,
        /// Held since.
        since: DateTime<Utc>,
    },
}

impl Hold {
    /// Since when.
    pub fn since(&self) -> DateTime<Utc> {
        match self {
            Self::Suspect { since } | Self::Incident { since, .. } => *since,
        }
    }

    /// The incident holding the account, if any.
    pub fn incident(&self) -> Option<IncidentId> {
        match self {
            Self::Incident { incident, .. } => Some(*incident),
            Self::Suspect { .. } => None,
        }
    }
}

/// What changed about an incident: each change is one operator alert.
#[derive(Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Debug)]
#[serde(rename_all = "snake_case")]
pub enum IncidentChange {
    /// Opened.
    Opened,
    /// More accounts affected (each doubling of the count is one update).
    Updated,
    /// Probes succeeded again; held accounts are re-verified.
    Resolved,
}

impl IncidentChange {
    /// Stable lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Opened => "opened",
            Self::Updated => "updated",
            Self::Resolved => "resolved",
        }
    }
}

/// One operator alert: an incident and what changed.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Debug)]
pub struct IncidentAlert {
    /// What changed.
    pub change: IncidentChange,
    /// The incident after the change.
    pub incident: Incident,
}

impl IncidentAlert {
    /// A one-line summary for logs, mail subjects and chat messages.
    pub fn summary(&self) -> String {
        let i = &self.incident;
        let what = match i.kind {
            IncidentKind::AppWide => "app-wide Graph API failure: tokens are held, not ended",
            IncidentKind::AccountWave => "many tokens ended at once by Meta",
        };
        format!(
            "lightwidget incident {} {} ({} app, {} account(s)): {what}",
            i.id,
            self.change.as_str(),
            i.connection,
            i.accounts
        )
    }
}
