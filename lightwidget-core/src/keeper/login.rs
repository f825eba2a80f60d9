//! "Log in with Instagram / Facebook": the host's second kind of user, whose identity on
//! the site *is* the connection they logged in with.
//!
//! The host runs the OAuth flow (lightwidget-instagram's `flow::OAuth` does the code
//! exchange and the checks), then hands what it learnt to [`Keeper::login`], which
//! connects the account or renews it and returns the [`OwnerId`] to put in the session.
//! That identity is derived from the connection kind and the ids Meta returned — never
//! from anything the browser chose.

use super::Keeper;
use super::write::Guard;
use crate::lifecycle::{Observation, Outcome};
use crate::{AccountId, ConnectionKind, Entitlements, Error, NewAccount, OwnerId, Result, Token};

/// What a completed login flow learnt about the person, from Meta's answers.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SocialLogin {
    /// How they logged in: Instagram Login (consumer) or Facebook Login (business).
    pub kind: ConnectionKind,
    /// The Instagram user id (Instagram-scoped for consumer, the Instagram business
    /// account id for business).
    pub ig_user_id: crate::IgUserId,
    /// The Instagram username.
    pub username: String,
    /// The Facebook Page (business).
    pub page_id: Option<crate::PageId>,
    /// The app-scoped Facebook user id (business, from `/me` with the user token). The
    /// business owner identity is derived from it when present.
    pub fb_user_id: Option<crate::FbUserId>,
    /// The host's entitlement flags for a new account (a login never changes those of an
    /// account already connected).
    pub entitlements: Entitlements,
}

impl SocialLogin {
    /// A login of `kind` for the Instagram account `ig_user_id` / `username`.
    pub fn new(
        kind: ConnectionKind,
        ig_user_id: impl Into<crate::IgUserId>,
        username: impl Into<String>,
    ) -> Self {
        Self {
            kind,
            ig_user_id: ig_user_id.into(),
            username: username.into(),
            page_id: None,
            fb_user_id: None,
            entitlements: Entitlements::default(),
        }
    }

    /// Sets the Facebook Page id (business).
    pub fn with_page_id(mut self, page_id: impl Into<crate::PageId>) -> Self {
        self.page_id = Some(page_id.into());
        self
    }

    /// Sets the app-scoped Facebook user id (business).
    pub fn with_fb_user_id(mut self, fb_user_id: impl Into<crate::FbUserId>) -> Self {
        self.fb_user_id = Some(fb_user_id.into()).filter(|s| !s.is_empty());
        self
    }

    /// Sets the entitlements a new account gets.
    pub fn with_entitlements(mut self, entitlements: Entitlements) -> Self {
        self.entitlements = entitlements;
        self
    }

    /// The stable owner identity of this person: `instagram:<ig user id>` for Instagram
    /// Login, `facebook:<app-scoped Facebook user id>` for Facebook Login (or
    /// `facebook-ig:<ig user id>` when the Facebook user id is unknown). The same person
    /// logging in again gets the same owner; the other kind is another owner. Email user
    /// names of the host cannot contain `:`, so the two kinds of users never collide.
    ///
    /// ```
    /// use lightwidget_core::{ConnectionKind, SocialLogin};
    /// let ig = SocialLogin::new(ConnectionKind::Consumer, "1789", "paul");
    /// assert_eq!(ig.owner().as_str(), "instagram:1789");
    /// let fb = SocialLogin::new(ConnectionKind::Business, "1784", "shop").with_fb_user_id("1022");
    /// assert_eq!(fb.owner().as_str(), "facebook:1022");
    /// ```
    pub fn owner(&self) -> OwnerId {
        match (self.kind, &self.fb_user_id) {
            (ConnectionKind::Consumer, _) => OwnerId::new(format!("instagram:{}", self.ig_user_id)),
            (ConnectionKind::Business, Some(fb)) => OwnerId::new(format!("facebook:{fb}")),
            (ConnectionKind::Business, None) => {
                OwnerId::new(format!("facebook-ig:{}", self.ig_user_id))
            }
        }
    }

    fn new_account(&self, owner: OwnerId) -> NewAccount {
        // The app-scoped Facebook user id is what Meta's deauthorize and data-deletion
        // callbacks name: stored, so `Keeper::deauthorize_facebook_user` finds it.
        let mut n = NewAccount::new(owner, self.kind, self.ig_user_id.clone(), &self.username)
            .with_entitlements(self.entitlements);
        if let Some(fb) = &self.fb_user_id {
            n = n.with_fb_user_id(fb.clone());
        }
        if let Some(p) = &self.page_id {
            n = n.with_page_id(p.clone());
        }
        n
    }
}

/// What a login did to the account.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum LoginEffect {
    /// First login: the account was connected (history: `connected`).
    Connected,
    /// A new token was installed (history: `reconnected`; the widget-first hook ran).
    Renewed,
    /// The token was the one already held: only the last successful check moved.
    Checked,
    /// The account was connected before by another owner (an email user of the host):
    /// the person joined it as an owner of their own and the new token renewed it for
    /// every owner (a shared account; history: `joined`, `reconnected`).
    Joined,
}

/// The result of [`Keeper::login`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct LoginOutcome {
    /// Who to sign in: the stable identity for the session.
    pub owner: OwnerId,
    /// The account the person logged in with.
    pub account_id: AccountId,
    /// What happened to it.
    pub effect: LoginEffect,
    /// The same Instagram user id is also connected with the other kind: a different
    /// connection, which this login did not touch.
    pub other_kind: Option<ConnectionKind>,
}

impl Keeper {
    /// Turns a completed "Log in with Instagram / Facebook" into "this person owns this
    /// connection": connects the account (first login) or renews it (a login is a
    /// renewal: new token, history entry, last check moved, widget-first hook), and
    /// returns the stable owner identity ([`SocialLogin::owner`]) for the session.
    ///
    /// A login whose token is the one already held only moves the last successful
    /// check, with no history entry (the pure rule of [`Observation::LoggedIn`]).
    /// An account connected earlier by another owner (an email user of the host) is
    /// shared: the person joins it ([`LoginEffect::Joined`]) and the other owners keep
    /// it, with their own entitlements and notices.
    ///
    /// Refused before anything is saved, like [`Keeper::connect`]: an incomplete
    /// account or an unusable token.
    pub async fn login(&self, login: SocialLogin, token: Token) -> Result<LoginOutcome> {
        let owner = login.owner();
        let new = login.new_account(owner.clone());
        new.validate()?;
        token.validate(self.inner.clock.now())?;
        let store = &self.inner.store;
        // Both kinds at once: one round trip of waiting, not two.
        let (other, found) = futures::try_join!(
            store.find(login.kind.other(), &login.ig_user_id),
            store.find(login.kind, &login.ig_user_id),
        )?;
        let other_kind = other.map(|_| login.kind.other());
        let done = |account_id, effect| LoginOutcome {
            owner: owner.clone(),
            account_id,
            effect,
            other_kind,
        };
        let Some(existing) = found else {
            // First login. A connect that races another one joins it (shared accounts).
            let id = self.connect(new, token).await?;
            return Ok(done(id, LoginEffect::Connected));
        };
        let id = existing.account.id;
        // Connected before by someone else (an email user of the host, an agency): the
        // person joins it as an owner of their own, like a second owner's connect, and
        // the new token fixes it for everyone.
        match self.membership(&owner, id).await {
            Ok(_) => {}
            Err(Error::UnknownAccount(_)) => {
                let opts = super::ConnectOptions::default();
                return match self.join_existing(&new, &token, opts, existing).await? {
                    Some((id, _)) => Ok(done(id, LoginEffect::Joined)),
                    // Deleted meanwhile (its last owner left): connect afresh.
                    None => Ok(done(
                        self.connect(new, token).await?,
                        LoginEffect::Connected,
                    )),
                };
            }
            Err(e) => return Err(e),
        }
        // A login updates what Meta said (username, Page), never the host's entitlements
        // of an account someone may already pay for.
        let mut account = existing.account.clone();
        account.username = login.username.clone();
        if login.page_id.is_some() {
            account.page_id = login.page_id.clone();
        }
        let obs = Observation::LoggedIn {
            token,
            account: Some(account),
        };
        let logged_in = |_: &crate::AccountRecord| Ok(Some(obs.clone()));
        let w = self
            .write(id, Some(existing), Guard::Caller, logged_in)
            .await?;
        let effect = match w.transition().map(|t| t.outcome) {
            Some(Outcome::Reconnected) => LoginEffect::Renewed,
            _ => LoginEffect::Checked,
        };
        tracing::info!(account_id = %id, kind = %login.kind, effect = ?effect, "logged in");
        Ok(done(id, effect))
    }
}
