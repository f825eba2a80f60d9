//! The OAuth flows of both connection kinds, end to end: the authorize URL, and the
//! callback's code exchanged for a long-lived token with everything checked **before
//! anything is saved** — the person did not cancel, granted every required permission,
//! has a professional account, and (Facebook Login) a Page with an Instagram business
//! account.
//!
//! - Instagram Login (consumer): code → short-lived token (with the granted
//!   `permissions`) → long-lived token → `/me?fields=id,username,account_type`.
//! - Facebook Login (business): code → short-lived user token → long-lived user token →
//!   `debug_token` (granted `scopes` / `granular_scopes`) → `/me?fields=id` (the
//!   app-scoped Facebook user id) → `/me/accounts` (**every** Page with an Instagram
//!   business account: the [choices](Authorized::choices)) → each one's Page token
//!   (never expires) and data-access expiry.
//!
//! ## Several Pages: the person chooses, never the first
//!
//! A Facebook Login token can give several Pages, each linked to its own Instagram
//! business account. With exactly one, it is selected. With more than one,
//! [`Authorized::needs_choice`] is true and nothing is selected: the account fields are
//! empty and [`Authorized::token`], [`into_token`](Authorized::into_token),
//! [`new_account`](Authorized::new_account) and
//! [`social_login`](Authorized::social_login) answer [`FlowError::ChoiceNeeded`]. The
//! host lists [`Authorized::choices`] (no token in them) and calls
//! [`Authorized::choose`] with the Instagram id the person picked. A **renewal** knows
//! its account: it calls `choose(account_ig_user_id)` whatever the number of Pages, and
//! [`FlowError::NotAmongPages`] means the login does not cover that account (renew
//! nothing, never another account).
//!
//! The host verifies the `state` with [`StateSigner`](crate::state::StateSigner) first
//! (its purpose says what the flow was for), then calls [`OAuth::complete`]. What
//! comes back, [`Authorized`], goes to the keeper: `Keeper::connect`, `reconnect` or
//! `login` ([`Authorized::social_login`]).
//!
//! ```
//! # #[cfg(feature = "sandbox")] #[tokio::main] async fn main() {
//! use std::sync::Arc;
//! use lightwidget_core::ConnectionKind;
//! use lightwidget_instagram::flow::{FlowError, OAuth, Prompt};
//! use lightwidget_instagram::sandbox::{Sandbox, SandboxConfig};
//! use lightwidget_instagram::InstagramLogin;
//!
//! let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
//! let paul = sandbox.create_consumer_user("paul");
//! sandbox.set_login_user(&paul);
//! let cfg = sandbox.consumer_config().redirect_uri("https://host.example/oauth/callback");
//! let oauth = OAuth::new(Some(Arc::new(InstagramLogin::new(cfg.build().unwrap()).unwrap())), None);
//!
//! // 1. Send the person to the dialog (the state comes from your StateSigner).
//! let url = oauth.authorize_url(ConnectionKind::Consumer, "signed-state", Prompt::Default).unwrap();
//! // 2. The dialog redirects back to your callback; pass its query string on.
//! let back = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
//!     .get(url).send().await.unwrap();
//! let location = url::Url::parse(back.headers()["location"].to_str().unwrap()).unwrap();
//! let authorized = oauth.complete(ConnectionKind::Consumer, location.query().unwrap()).await.unwrap();
//! assert_eq!(authorized.username, "paul");
//! assert!(!format!("{authorized:?}").contains(authorized.token().unwrap().secret()));
//! // A code works once.
//! let again = oauth.complete(ConnectionKind::Consumer, location.query().unwrap()).await;
//! assert!(matches!(again, Err(FlowError::CodeUsed)));
//! # }
//! # #[cfg(not(feature = "sandbox"))] fn main() {}
//! ```

use std::sync::Arc;

use lightwidget_core::{ConnectionKind, Token};
use url::Url;

use crate::callback::Redirect;
use crate::clients::Clients;
use crate::{Error, FacebookLogin, InstagramLogin};

mod authorized;
mod error;

pub use authorized::{Authorized, HeldError, PageChoice};
pub use error::FlowError;
use error::{code_refused, graph};

/// The permissions an Instagram Login connection needs by default: Meta refreshes a
/// token only while `instagram_business_basic` is granted.
pub const CONSUMER_REQUIRED: &[&str] = &["instagram_business_basic"];

/// The permissions a Facebook Login connection needs by default: `instagram_basic` to
/// read the Instagram business account, `pages_show_list` to find its Page.
pub const BUSINESS_REQUIRED: &[&str] = &["instagram_basic", "pages_show_list"];

/// How the authorize dialog asks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Prompt {
    /// A plain authorization.
    #[default]
    Default,
    /// Facebook Login: renew data access (`auth_type=reauthorize`). Instagram Login
    /// ignores it.
    Reauthorize,
    /// Facebook Login: ask again for permissions the person declined
    /// (`auth_type=rerequest`). Instagram Login ignores it.
    Rerequest,
}

/// The OAuth flows of the configured kinds, with the permissions each asks for and
/// requires (see the [module docs](self)).
#[derive(Debug, Clone)]
pub struct OAuth {
    clients: Clients,
    asked: [Vec<String>; 2],
    required: [Vec<String>; 2],
}

fn idx(kind: ConnectionKind) -> usize {
    match kind {
        ConnectionKind::Consumer => 0,
        ConnectionKind::Business => 1,
    }
}

fn owned(s: &[&str]) -> Vec<String> {
    s.iter().map(|s| (*s).to_owned()).collect()
}

impl OAuth {
    /// The flows of the clients given (a kind without a client is
    /// [`FlowError::NotConfigured`]). Asks for [`crate::consumer::DEFAULT_SCOPES`] /
    /// [`crate::business::DEFAULT_SCOPES`] and requires [`CONSUMER_REQUIRED`] /
    /// [`BUSINESS_REQUIRED`].
    pub fn new(
        consumer: Option<Arc<InstagramLogin>>,
        business: Option<Arc<FacebookLogin>>,
    ) -> Self {
        Self {
            clients: Clients::new(consumer, business),
            asked: [
                owned(crate::consumer::DEFAULT_SCOPES),
                owned(crate::business::DEFAULT_SCOPES),
            ],
            required: [owned(CONSUMER_REQUIRED), owned(BUSINESS_REQUIRED)],
        }
    }

    /// The permissions the `kind` dialog asks for (the required ones are always asked
    /// for too).
    pub fn with_scopes(mut self, kind: ConnectionKind, scopes: &[&str]) -> Self {
        self.asked[idx(kind)] = owned(scopes);
        self
    }

    /// The permissions a `kind` connection cannot do without: a flow where any of them
    /// was not granted fails with [`FlowError::PermissionsNotGranted`].
    pub fn with_required(mut self, kind: ConnectionKind, scopes: &[&str]) -> Self {
        self.required[idx(kind)] = owned(scopes);
        self
    }

    /// The required permissions of `kind`.
    pub fn required(&self, kind: ConnectionKind) -> &[String] {
        &self.required[idx(kind)]
    }

    /// What the `kind` dialog asks for: the configured scopes and the required ones.
    pub fn scopes(&self, kind: ConnectionKind) -> Vec<String> {
        let mut s = self.asked[idx(kind)].clone();
        for r in self.required(kind) {
            if !s.contains(r) {
                s.push(r.clone());
            }
        }
        s
    }

    /// The required permissions of `kind` missing from `granted`.
    pub fn missing(&self, kind: ConnectionKind, granted: &[String]) -> Vec<String> {
        self.required(kind)
            .iter()
            .filter(|r| !granted.contains(r))
            .cloned()
            .collect()
    }

    fn consumer(&self) -> Result<&InstagramLogin, FlowError> {
        self.clients.consumer().map_err(FlowError::NotConfigured)
    }

    fn business(&self) -> Result<&FacebookLogin, FlowError> {
        self.clients.business().map_err(FlowError::NotConfigured)
    }

    /// The authorize URL of `kind`'s dialog, carrying `state` (issue it with
    /// [`StateSigner::issue`](crate::state::StateSigner::issue)).
    pub fn authorize_url(
        &self,
        kind: ConnectionKind,
        state: &str,
        prompt: Prompt,
    ) -> Result<Url, FlowError> {
        let scopes = self.scopes(kind);
        let scopes: Vec<&str> = scopes.iter().map(String::as_str).collect();
        let url = match kind {
            ConnectionKind::Consumer => self.consumer()?.authorize_url(&scopes, state),
            ConnectionKind::Business => {
                let auth_type = match prompt {
                    Prompt::Default => None,
                    Prompt::Reauthorize => Some("reauthorize"),
                    Prompt::Rerequest => Some("rerequest"),
                };
                self.business()?
                    .authorize_url_with(&scopes, state, auth_type)
            }
        };
        url.map_err(|e| FlowError::Refused {
            detail: e.to_string(),
        })
    }

    /// Completes a `kind` flow from the callback's query string (the state already
    /// verified by the host): a refusal is [`FlowError::Cancelled`] (another dialog
    /// error [`FlowError::DialogFailed`]), a query without a
    /// code [`FlowError::Incomplete`]; otherwise [`OAuth::exchange`].
    pub async fn complete(
        &self,
        kind: ConnectionKind,
        callback_query: &str,
    ) -> Result<Authorized, FlowError> {
        let code = match Redirect::from_query(callback_query) {
            Ok(r) => r.code,
            Err(Error::Denied { reason, .. }) => {
                return Err(match reason.as_str() {
                    "user_denied" | "access_denied" => FlowError::Cancelled,
                    _ => FlowError::DialogFailed,
                });
            }
            Err(_) => return Err(FlowError::Incomplete),
        };
        self.exchange(kind, &code).await
    }

    /// Exchanges an authorization code for a long-lived token and checks it: required
    /// permissions granted, a professional account, (business) a Page with an Instagram
    /// business account. Nothing is saved.
    pub async fn exchange(
        &self,
        kind: ConnectionKind,
        code: &str,
    ) -> Result<Authorized, FlowError> {
        match kind {
            ConnectionKind::Consumer => self.exchange_consumer(code).await,
            ConnectionKind::Business => self.exchange_business(code).await,
        }
    }

    async fn exchange_consumer(&self, code: &str) -> Result<Authorized, FlowError> {
        let ig = self.consumer()?;
        let now = ig.config().clock.now();
        let short = ig.exchange_code(code, now).await.map_err(code_refused)?;
        // The exchange names what was granted; an answer without the list (the legacy
        // flat shape) says nothing, and the refresh would find out.
        let granted = short.permissions.clone();
        if short.permissions_listed {
            let missing = self.missing(ConnectionKind::Consumer, &granted);
            if !missing.is_empty() {
                return Err(FlowError::PermissionsNotGranted { missing });
            }
        }
        let long = ig
            .exchange_long_lived(&short.token, now)
            .await
            .map_err(graph)?;
        let me = ig.account(&long).await.map_err(graph)?;
        let account_type = me.account_type.map(|t| t.to_ascii_uppercase());
        if account_type.as_deref() == Some("PERSONAL") {
            return Err(FlowError::PersonalAccount);
        }
        let token = if granted.is_empty() {
            long
        } else {
            long.with_scopes(granted.clone())
        };
        Ok(Authorized {
            kind: ConnectionKind::Consumer,
            ig_user_id: short.user_id.into(),
            username: me.username,
            account_type,
            page_id: None,
            fb_user_id: None,
            granted,
            token: Some(token),
            pages: Vec::new(),
        })
    }

    async fn exchange_business(&self, code: &str) -> Result<Authorized, FlowError> {
        let fb = self.business()?;
        let now = fb.config().clock.now();
        let short = fb.exchange_code(code, now).await.map_err(code_refused)?;
        let user_token = fb.exchange_long_lived(&short, now).await.map_err(graph)?;
        // What was granted, before anything else: an unticked pages_show_list would
        // otherwise look like "no Page".
        let granted = fb.debug_token(&user_token).await.map_err(graph)?.granted();
        {
            let missing = self.missing(ConnectionKind::Business, &granted);
            if !missing.is_empty() {
                return Err(FlowError::PermissionsNotGranted { missing });
            }
        }
        let fb_user = fb.me(&user_token).await.map_err(graph)?;
        let pages = fb.pages(&user_token).await.map_err(graph)?;
        let mut choices = Vec::new();
        for page in &pages {
            let Some(ig) = &page.instagram_business_account else {
                continue;
            };
            let mut token = page.token(now);
            // Best effort: the data-access expiry (the keeper's checks learn it otherwise).
            if let Ok(d) = fb.debug_token(&token).await {
                token = token.with_data_access_expires_at(d.data_access_expires());
            }
            if !granted.is_empty() {
                token = token.with_scopes(granted.clone());
            }
            let choice = PageChoice {
                page_id: page.id.clone().into(),
                page_name: page.name.clone(),
                ig_user_id: ig.id.clone().into(),
                username: ig.username.clone(),
            };
            // The same Instagram account twice (two Pages): one choice.
            if !choices
                .iter()
                .any(|(c, _): &(PageChoice, Token)| c.ig_user_id == choice.ig_user_id)
            {
                choices.push((choice, token));
            }
        }
        let unchosen = Authorized {
            kind: ConnectionKind::Business,
            ig_user_id: Default::default(),
            username: String::new(),
            account_type: None,
            page_id: None,
            fb_user_id: Some(fb_user.id.into())
                .filter(|id: &lightwidget_core::FbUserId| !id.is_empty()),
            granted,
            token: None,
            pages: choices,
        };
        match unchosen.pages.as_slice() {
            [] => Err(FlowError::NoInstagramAccount),
            [(only, _)] => unchosen.choose(&only.ig_user_id.clone()),
            _ => Ok(unchosen),
        }
    }
}
