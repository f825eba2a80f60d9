//! Accounts: who a token belongs to and how it was connected.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{Error, FbUserId, IgUserId, PageId};

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

/// A connected Instagram account: one token per (kind, Instagram user id), shared by
/// any number of owners ([`Membership`]).
///
/// `owner` and `entitlements` are a *view*: in what
/// [`Keeper::statuses`](crate::Keeper::statuses) and
/// [`TokenStore::list_by_owner`](crate::TokenStore::list_by_owner) return they are the
/// owner asked about and that owner's entitlements; elsewhere (`get`, claims, hooks of a
/// sweep) they are the *primary* owner's, the member who joined first. Who may see or
/// act on an account is decided by its memberships
/// ([`Keeper::owners`](crate::Keeper::owners)), never by comparing `owner`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Debug)]
pub struct Account {
    /// lightwidget's id for the account.
    pub id: AccountId,
    /// The owner this record is viewed as (see above): the primary owner unless the
    /// record was read for one owner.
    pub owner: OwnerId,
    /// How it was connected.
    pub kind: ConnectionKind,
    /// Instagram user id (Instagram-scoped for consumer, IG business account id for business).
    pub ig_user_id: IgUserId,
    /// Instagram username, for display.
    pub username: String,
    /// Facebook Page id the Page token belongs to (business connections).
    pub page_id: Option<PageId>,
    /// The app-scoped Facebook user id of the person who connected it (business
    /// connections): what Facebook Login's deauthorize and data-deletion callbacks carry
    /// (see [`Keeper::deauthorize_facebook_user`](crate::Keeper::deauthorize_facebook_user)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fb_user_id: Option<FbUserId>,
    /// Host entitlement flags of `owner`.
    pub entitlements: Entitlements,
}

/// One owner of a shared account: who, with which entitlements, since when.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Debug)]
pub struct Membership {
    /// The host user.
    pub owner: OwnerId,
    /// That owner's entitlement flags (their plan decides whether *their* copy of a
    /// notice is sent).
    pub entitlements: Entitlements,
    /// When they joined: they see the account's token events from then on.
    pub joined_at: chrono::DateTime<chrono::Utc>,
}

impl Membership {
    /// A membership of `owner` from `joined_at`.
    pub fn new(
        owner: impl Into<OwnerId>,
        entitlements: Entitlements,
        joined_at: chrono::DateTime<chrono::Utc>,
    ) -> Self {
        Self {
            owner: owner.into(),
            entitlements,
            joined_at,
        }
    }
}

/// What [`TokenStore::leave`](crate::TokenStore::leave) did.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Departure {
    /// The owner was not a member: nothing changed.
    NotAMember,
    /// The owner left; others remain.
    Left,
    /// The owner was the last one: the account, its token, history and notices are gone.
    Deleted,
}

/// What the host knows when it connects an account (the id is assigned by lightwidget).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct NewAccount {
    /// The host user who owns it.
    pub owner: OwnerId,
    /// How it was connected.
    pub kind: ConnectionKind,
    /// Instagram user id.
    pub ig_user_id: IgUserId,
    /// Instagram username.
    pub username: String,
    /// Facebook Page id (business connections).
    pub page_id: Option<PageId>,
    /// App-scoped Facebook user id (business connections).
    pub fb_user_id: Option<FbUserId>,
    /// Host entitlement flags.
    pub entitlements: Entitlements,
}

impl NewAccount {
    /// A new account with no Page and no entitlements.
    pub fn new(
        owner: impl Into<OwnerId>,
        kind: ConnectionKind,
        ig_user_id: impl Into<IgUserId>,
        username: impl Into<String>,
    ) -> Self {
        Self {
            owner: owner.into(),
            kind,
            ig_user_id: ig_user_id.into(),
            username: username.into(),
            page_id: None,
            fb_user_id: None,
            entitlements: Entitlements::default(),
        }
    }

    /// Sets the app-scoped Facebook user id (business connections: the `id` of `/me`
    /// with the user token, what Facebook Login's `signed_request` callbacks carry as
    /// `user_id`). Blank ids are ignored.
    ///
    /// ```
    /// use lightwidget_core::{ConnectionKind, NewAccount};
    /// let a = NewAccount::new("u", ConnectionKind::Business, "17841400001", "shop")
    ///     .with_fb_user_id("10158000000000001");
    /// assert_eq!(a.into_account().fb_user_id.as_deref(), Some("10158000000000001"));
    /// ```
    pub fn with_fb_user_id(mut self, fb_user_id: impl Into<FbUserId>) -> Self {
        let id: FbUserId = fb_user_id.into();
        self.fb_user_id = (!id.trim().is_empty()).then_some(id);
        self
    }

    /// Sets the Facebook Page id.
    pub fn with_page_id(mut self, page_id: impl Into<PageId>) -> Self {
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
            fb_user_id: self.fb_user_id,
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
