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
use std::time::Duration;

use lightwidget_core::{
    ConnectionKind, Entitlements, NewAccount, OwnerId, ProviderError, SocialLogin, Token,
};
use url::Url;

use crate::callback::Redirect;
use crate::{Error, FacebookLogin, InstagramLogin};

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

/// Why a flow did not authorize anything. Nothing was saved; the messages are meant
/// for the person (they never carry a token, a code or Meta's own error text).
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FlowError {
    /// The person cancelled the dialog (or did not allow access).
    #[error("you cancelled the login: nothing was changed")]
    Cancelled,
    /// The person unticked permissions the connection needs.
    #[error("these permissions were not granted: {}; allow them to connect", missing.join(", "))]
    PermissionsNotGranted {
        /// The required permissions that were not granted.
        missing: Vec<String>,
    },
    /// An Instagram account that is not professional (Business or Creator).
    #[error(
        "this is a personal Instagram account: Meta no longer supports personal accounts since the \
Basic Display API ended on 2024-12-04; switch to a professional (Business or Creator) account in \
the Instagram app, then connect again"
    )]
    PersonalAccount,
    /// The code was already used or has expired (a reload, the back button, or more
    /// than an hour).
    #[error("this login was already used or has expired; start again")]
    CodeUsed,
    /// Facebook Login went through, but none of the person's Pages has an Instagram
    /// business account.
    #[error("none of your Facebook Pages is linked to an Instagram professional account")]
    NoInstagramAccount,
    /// Meta is down or throttling: try again later.
    #[error("Instagram is not answering right now; try again in a minute")]
    Unavailable {
        /// Meta's hint for when to retry.
        retry_after: Option<Duration>,
    },
    /// The dialog came back with an error other than the person's refusal (Meta's
    /// `error=server_error`, ...).
    #[error("Instagram did not complete the login; start again")]
    DialogFailed,
    /// The callback carries no code (a damaged or hand-made link).
    #[error("this login link is incomplete; start again")]
    Incomplete,
    /// This connection kind is not configured on this site.
    #[error("{} is not configured on this site", .0.label())]
    NotConfigured(ConnectionKind),
    /// The Facebook login gives several Pages with an Instagram business account and
    /// none was chosen yet: ask the person ([`Authorized::choices`],
    /// [`Authorized::choose`]).
    #[error("this Facebook login gives several Instagram accounts: choose one")]
    ChoiceNeeded {
        /// The usernames offered.
        offered: Vec<String>,
    },
    /// The Instagram account asked for (chosen, or being renewed) is not among the Pages
    /// this login gives: nothing was chosen or renewed.
    #[error(
        "the Instagram account {ig_user_id} is not among the Pages this Facebook login gives ({}); \
log in with the Facebook account that manages its Page: nothing was changed",
        if offered.is_empty() { "none".to_owned() } else { offered.iter().map(|u| format!("@{u}")).collect::<Vec<_>>().join(", ") }
    )]
    NotAmongPages {
        /// The Instagram user id asked for.
        ig_user_id: String,
        /// The usernames this login offers.
        offered: Vec<String>,
    },
    /// Meta refused for another reason (misconfiguration: app secret, redirect URI).
    /// The detail, for the log only, never carries a token.
    #[error("Meta refused the login; the site's Instagram app may be misconfigured")]
    Refused {
        /// Meta's classified error, for the log.
        detail: String,
    },
}

impl FlowError {
    /// Whether trying again later may succeed without the person doing anything else.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable { .. })
    }

    /// For the log: the classified detail, if any (never a token).
    pub fn detail(&self) -> Option<&str> {
        match self {
            Self::Refused { detail } => Some(detail),
            _ => None,
        }
    }
}

fn graph(e: ProviderError) -> FlowError {
    if e.is_transient() {
        FlowError::Unavailable {
            retry_after: e.retry_after(),
        }
    } else {
        FlowError::Refused {
            detail: e.to_string(),
        }
    }
}

/// A failed code exchange: the code is spent or stale unless Meta says the app itself is
/// misconfigured.
fn code_refused(e: Error) -> FlowError {
    match e {
        Error::Graph(p) if p.is_transient() => graph(p),
        Error::Graph(p) => {
            let m = p.to_string().to_ascii_lowercase();
            if m.contains("client secret") || m.contains("redirect_uri") || m.contains("app id") {
                FlowError::Refused {
                    detail: p.to_string(),
                }
            } else {
                FlowError::CodeUsed
            }
        }
        other => FlowError::Refused {
            detail: other.to_string(),
        },
    }
}

/// What a completed flow yields: who the person is on Instagram (and Facebook), what
/// they granted, and the long-lived token. `Debug` never shows the token.
#[derive(Clone)]
#[non_exhaustive]
pub struct Authorized {
    /// The connection kind.
    pub kind: ConnectionKind,
    /// Instagram user id (Instagram-scoped for consumer; the Instagram business account
    /// id for business).
    pub ig_user_id: String,
    /// Instagram username.
    pub username: String,
    /// `BUSINESS` or `MEDIA_CREATOR` (Instagram Login; `None` for Facebook Login, whose
    /// accounts are business accounts).
    pub account_type: Option<String>,
    /// The Facebook Page (business).
    pub page_id: Option<String>,
    /// The app-scoped Facebook user id (business): what Facebook Login's deauthorize and
    /// data-deletion callbacks carry.
    pub fb_user_id: Option<String>,
    /// The permissions the person granted.
    pub granted: Vec<String>,
    /// The selected connection's token; `None` while a choice is needed.
    token: Option<Token>,
    /// Facebook Login: every Page with an Instagram business account, with its Page
    /// token (empty for Instagram Login).
    pages: Vec<(PageChoice, Token)>,
}

/// One Facebook Page with an Instagram business account that a Facebook login gives:
/// what a host shows when the person must choose. No token in it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PageChoice {
    /// The Facebook Page id.
    pub page_id: String,
    /// The Page's name.
    pub page_name: String,
    /// The Instagram business account id.
    pub ig_user_id: String,
    /// Its Instagram username.
    pub username: String,
}

impl std::fmt::Debug for Authorized {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authorized")
            .field("kind", &self.kind)
            .field("ig_user_id", &self.ig_user_id)
            .field("username", &self.username)
            .field("account_type", &self.account_type)
            .field("page_id", &self.page_id)
            .field("fb_user_id", &self.fb_user_id)
            .field("granted", &self.granted)
            .field("token", &self.token.as_ref().map(|_| "[REDACTED]"))
            .field(
                "choices",
                &self.pages.iter().map(|(c, _)| c).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Authorized {
    fn choice_needed(&self) -> FlowError {
        FlowError::ChoiceNeeded {
            offered: self.pages.iter().map(|(c, _)| c.username.clone()).collect(),
        }
    }

    /// Whether the person must choose among several Pages first (see the
    /// [module docs](self)): then the account fields are empty and the token is not
    /// available.
    pub fn needs_choice(&self) -> bool {
        self.token.is_none()
    }

    /// Facebook Login: every Page with an Instagram business account this login gives,
    /// in Meta's order (empty for Instagram Login).
    pub fn choices(&self) -> Vec<PageChoice> {
        self.pages.iter().map(|(c, _)| c.clone()).collect()
    }

    /// The connection of the Instagram account `ig_user_id`: for Facebook Login, the
    /// Page whose Instagram business account it is, with that Page's own token; for
    /// Instagram Login, this connection if it is that account. Any other id is
    /// [`FlowError::NotAmongPages`] (nothing chosen).
    pub fn choose(&self, ig_user_id: &str) -> Result<Authorized, FlowError> {
        let not_among = || FlowError::NotAmongPages {
            ig_user_id: ig_user_id.to_owned(),
            offered: if self.pages.is_empty() {
                vec![self.username.clone()]
            } else {
                self.pages.iter().map(|(c, _)| c.username.clone()).collect()
            },
        };
        if self.pages.is_empty() {
            return if self.token.is_some() && self.ig_user_id == ig_user_id {
                Ok(self.clone())
            } else {
                Err(not_among())
            };
        }
        let (c, t) = self
            .pages
            .iter()
            .find(|(c, _)| c.ig_user_id == ig_user_id)
            .ok_or_else(not_among)?;
        let mut a = self.clone();
        a.ig_user_id = c.ig_user_id.clone();
        a.username = c.username.clone();
        a.page_id = Some(c.page_id.clone());
        a.token = Some(t.clone());
        Ok(a)
    }

    /// The long-lived token (the chosen Page's token for business);
    /// [`FlowError::ChoiceNeeded`] while none is chosen.
    pub fn token(&self) -> Result<&Token, FlowError> {
        self.token.as_ref().ok_or_else(|| self.choice_needed())
    }

    /// The token, taken; [`FlowError::ChoiceNeeded`] while none is chosen.
    pub fn into_token(self) -> Result<Token, FlowError> {
        match self.token {
            Some(t) => Ok(t),
            None => Err(self.choice_needed()),
        }
    }

    /// The account to `Keeper::connect` for `owner`; [`FlowError::ChoiceNeeded`] while
    /// none is chosen.
    pub fn new_account(
        &self,
        owner: OwnerId,
        entitlements: Entitlements,
    ) -> Result<NewAccount, FlowError> {
        if self.needs_choice() {
            return Err(self.choice_needed());
        }
        let mut n = NewAccount::new(owner, self.kind, &self.ig_user_id, &self.username)
            .with_entitlements(entitlements);
        if let Some(p) = &self.page_id {
            n = n.with_page_id(p.clone());
        }
        // What Facebook Login's deauthorize and data-deletion callbacks name.
        if let Some(fb) = &self.fb_user_id {
            n = n.with_fb_user_id(fb.clone());
        }
        Ok(n)
    }

    /// What `Keeper::login` takes for "Log in with Instagram / Facebook";
    /// [`FlowError::ChoiceNeeded`] while none is chosen.
    pub fn social_login(&self, entitlements: Entitlements) -> Result<SocialLogin, FlowError> {
        if self.needs_choice() {
            return Err(self.choice_needed());
        }
        let mut l = SocialLogin::new(self.kind, &self.ig_user_id, &self.username)
            .with_entitlements(entitlements);
        if let Some(p) = &self.page_id {
            l = l.with_page_id(p.clone());
        }
        if let Some(fb) = &self.fb_user_id {
            l = l.with_fb_user_id(fb.clone());
        }
        Ok(l)
    }
}

/// The OAuth flows of the configured kinds, with the permissions each asks for and
/// requires (see the [module docs](self)).
#[derive(Debug, Clone)]
pub struct OAuth {
    consumer: Option<Arc<InstagramLogin>>,
    business: Option<Arc<FacebookLogin>>,
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
            consumer,
            business,
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
        self.consumer
            .as_deref()
            .ok_or(FlowError::NotConfigured(ConnectionKind::Consumer))
    }

    fn business(&self) -> Result<&FacebookLogin, FlowError> {
        self.business
            .as_deref()
            .ok_or(FlowError::NotConfigured(ConnectionKind::Business))
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
            ig_user_id: short.user_id,
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
                page_id: page.id.clone(),
                page_name: page.name.clone(),
                ig_user_id: ig.id.clone(),
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
            ig_user_id: String::new(),
            username: String::new(),
            account_type: None,
            page_id: None,
            fb_user_id: Some(fb_user.id).filter(|id| !id.is_empty()),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_what_to_do_and_never_meta_text() {
        let e = FlowError::PermissionsNotGranted {
            missing: vec!["pages_show_list".into()],
        };
        assert!(e.to_string().contains("pages_show_list"), "{e}");
        let p = FlowError::PersonalAccount.to_string();
        assert!(
            p.contains("2024-12-04") && p.contains("professional"),
            "{p}"
        );
        let r = FlowError::Refused {
            detail: "Error validating client secret".into(),
        };
        assert!(!r.to_string().contains("client secret"));
        assert_eq!(r.detail(), Some("Error validating client secret"));
    }

    #[test]
    fn a_spent_code_is_code_used_and_a_bad_secret_is_refused() {
        let used = ProviderError::Fatal {
            message: "Matching code was not found or was already used".into(),
        };
        assert_eq!(code_refused(Error::Graph(used)), FlowError::CodeUsed);
        let secret = ProviderError::Fatal {
            message: "Error validating client secret. (code 101)".into(),
        };
        assert!(matches!(
            code_refused(Error::Graph(secret)),
            FlowError::Refused { .. }
        ));
        let down = ProviderError::Transient {
            retry_after: None,
            message: "HTTP 503".into(),
        };
        assert!(code_refused(Error::Graph(down)).is_transient());
    }
}
