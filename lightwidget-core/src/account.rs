//! Accounts: who a token belongs to and how it was connected.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Error;

/// Stable identifier of a connected account, assigned by lightwidget on connect.
///
/// UUIDv7, so identifiers sort by creation time and index well.
///
/// ```
/// use lightwidget_core::AccountId;
/// let id = AccountId::new();
/// let parsed: AccountId = id.to_string().parse().unwrap();
/// assert_eq!(id, parsed);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AccountId(pub Uuid);

impl AccountId {
    /// A fresh, time-ordered identifier.
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }
}

impl Default for AccountId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AccountId({})", self.0)
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for AccountId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s)
            .map(Self)
            .map_err(|_| Error::InvalidInput(format!("not an account id: {s:?}")))
    }
}

/// The host's own identifier for the person who owns an account (opaque to lightwidget).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Debug)]
#[serde(transparent)]
pub struct OwnerId(pub String);

impl OwnerId {
    /// Wraps a host user id.
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }
    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OwnerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for OwnerId {
    fn from(s: &str) -> Self {
        Self(s.to_owned())
    }
}

impl From<String> for OwnerId {
    fn from(s: String) -> Self {
        Self(s)
    }
}

/// How an Instagram account was connected. Renewal must use the same kind.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Debug)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionKind {
    /// Instagram Login (`graph.instagram.com`): a 60-day user token that is refreshed.
    Consumer,
    /// Facebook Login through a Facebook Page (`graph.facebook.com`): a Page token
    /// that usually never expires, but whose data access lapses after ~90 days.
    Business,
}

impl ConnectionKind {
    /// Stable lowercase name, used in storage and URLs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Consumer => "consumer",
            Self::Business => "business",
        }
    }
    /// The other kind (for "did you mean" hints).
    pub fn other(self) -> Self {
        match self {
            Self::Consumer => Self::Business,
            Self::Business => Self::Consumer,
        }
    }
    /// Human label, as a host would show it ("Consumer connection").
    pub fn label(self) -> &'static str {
        match self {
            Self::Consumer => "Consumer connection (Instagram Login)",
            Self::Business => "Business connection (Facebook Login)",
        }
    }
}

impl fmt::Display for ConnectionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ConnectionKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "consumer" => Ok(Self::Consumer),
            "business" => Ok(Self::Business),
            other => Err(Error::InvalidInput(format!(
                "unknown connection kind {other:?} (expected \"consumer\" or \"business\")"
            ))),
        }
    }
}

/// Flags the host sets per account; lightwidget only reads them.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Debug, Default)]
pub struct Entitlements {
    /// Whether the owner's plan allows notices (the seeds: only upgraded widgets).
    pub notifications: bool,
}

/// A connected Instagram account.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Debug)]
pub struct Account {
    /// lightwidget's id for the account.
    pub id: AccountId,
    /// The host user who owns it.
    pub owner: OwnerId,
    /// How it was connected.
    pub kind: ConnectionKind,
    /// Instagram user id (Instagram-scoped for consumer, IG business account id for business).
    pub ig_user_id: String,
    /// Instagram username, for display.
    pub username: String,
    /// Facebook Page id the Page token belongs to (business connections).
    pub page_id: Option<String>,
    /// Host entitlement flags.
    pub entitlements: Entitlements,
}

/// What the host knows when it connects an account (the id is assigned by lightwidget).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct NewAccount {
    /// The host user who owns it.
    pub owner: OwnerId,
    /// How it was connected.
    pub kind: ConnectionKind,
    /// Instagram user id.
    pub ig_user_id: String,
    /// Instagram username.
    pub username: String,
    /// Facebook Page id (business connections).
    pub page_id: Option<String>,
    /// Host entitlement flags.
    pub entitlements: Entitlements,
}

impl NewAccount {
    /// A new account with no Page and no entitlements.
    pub fn new(
        owner: impl Into<OwnerId>,
        kind: ConnectionKind,
        ig_user_id: impl Into<String>,
        username: impl Into<String>,
    ) -> Self {
        Self {
            owner: owner.into(),
            kind,
            ig_user_id: ig_user_id.into(),
            username: username.into(),
            page_id: None,
            entitlements: Entitlements::default(),
        }
    }

    /// Sets the Facebook Page id.
    pub fn with_page_id(mut self, page_id: impl Into<String>) -> Self {
        self.page_id = Some(page_id.into());
        self
    }

    /// Sets the entitlement flags.
    pub fn with_entitlements(mut self, entitlements: Entitlements) -> Self {
        self.entitlements = entitlements;
        self
    }

    /// Checks the account can be connected: owner, username and Instagram user id are
    /// not empty (nor only whitespace).
    ///
    /// ```
    /// use lightwidget_core::{AccountProblem, ConnectionKind, NewAccount};
    /// let a = NewAccount::new("user-1", ConnectionKind::Consumer, " ", "paul");
    /// assert_eq!(a.validate(), Err(AccountProblem::EmptyIgUserId));
    /// ```
    pub fn validate(&self) -> Result<(), AccountProblem> {
        if self.owner.as_str().trim().is_empty() {
            return Err(AccountProblem::EmptyOwner);
        }
        if self.username.trim().is_empty() {
            return Err(AccountProblem::EmptyUsername);
        }
        validate_ig_user_id(&self.ig_user_id)
    }

    /// Builds the account with a fresh id.
    pub fn into_account(self) -> Account {
        Account {
            id: AccountId::new(),
            owner: self.owner,
            kind: self.kind,
            ig_user_id: self.ig_user_id,
            username: self.username,
            page_id: self.page_id,
            entitlements: self.entitlements,
        }
    }
}

/// Checks an Instagram user id is not empty (nor only whitespace).
pub(crate) fn validate_ig_user_id(id: &str) -> Result<(), AccountProblem> {
    if id.trim().is_empty() {
        Err(AccountProblem::EmptyIgUserId)
    } else {
        Ok(())
    }
}

/// Why an account cannot be connected ([`NewAccount::validate`]).
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AccountProblem {
    /// No owner (the host's user id) was given.
    #[error("the owner is empty")]
    EmptyOwner,
    /// No Instagram username was given.
    #[error("the username is empty")]
    EmptyUsername,
    /// No Instagram user id was given.
    #[error("the Instagram user id is empty")]
    EmptyIgUserId,
}
