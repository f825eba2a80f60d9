//! Facebook Login ("business" connections through a Facebook Page): authorize, code
//! exchange, long-lived user token, Pages with their Instagram business accounts,
//! Page tokens and `debug_token`.

use chrono::{DateTime, Utc};
use lightwidget_core::{ProviderError, Token};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;

use crate::classify::{GraphError, classify};
use crate::consumer::{TokenResponse, token_from};
use crate::http::Http;
use crate::util::Paging;
use crate::{Error, GraphConfig};

/// Default scopes for a business feed widget.
pub const DEFAULT_SCOPES: &[&str] = &[
    "instagram_basic",
    "pages_show_list",
    "pages_read_engagement",
];

/// Client for Facebook Login.
///
/// ```
/// use lightwidget_instagram::{FacebookLogin, GraphConfig, business::DEFAULT_SCOPES};
/// let cfg = GraphConfig::builder("1234", "app-secret")
///     .redirect_uri("https://host.example/oauth/facebook")
///     .build()?;
/// let fb = FacebookLogin::new(cfg)?;
/// // Renewing data access asks the person to re-authorize.
/// let url = fb.authorize_url(DEFAULT_SCOPES, "signed-state", true)?;
/// assert!(url.query_pairs().any(|(k, v)| k == "auth_type" && v == "reauthorize"));
/// # Ok::<(), lightwidget_instagram::Error>(())
/// ```
pub struct FacebookLogin {
    pub(crate) http: Http,
    dialog: Url,
    oauth: Url,
    accounts: Url,
    me: Url,
    debug: Url,
    /// `graph.facebook.com/{version}/`, the root of the gateway's paths.
    pub(crate) graph_root: Url,
    /// `app_id|app_secret`, built once.
    app_token: SecretString,
}

impl std::fmt::Debug for FacebookLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.http.fmt_client(f, "FacebookLogin")
    }
}

/// A Facebook Page the person manages, with its token and linked Instagram account.
#[derive(Clone, Deserialize)]
pub struct Page {
    /// Page id.
    pub id: String,
    /// Page name.
    #[serde(default)]
    pub name: String,
    /// Page token (no expiry when obtained with a long-lived user token). Secret.
    access_token: SecretString,
    /// The linked Instagram business account.
    #[serde(default)]
    pub instagram_business_account: Option<IgBusinessAccount>,
}

impl std::fmt::Debug for Page {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Page")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("access_token", &"[REDACTED]")
            .field(
                "instagram_business_account",
                &self.instagram_business_account,
            )
            .finish()
    }
}

impl Page {
    /// The Page token as a [`Token`] that never expires (data access still lapses).
    pub fn token(&self, now: DateTime<Utc>) -> Token {
        Token::from_secret(self.access_token.clone(), now)
    }
    /// The raw Page token.
    pub fn access_token(&self) -> &str {
        self.access_token.expose_secret()
    }
}

/// An Instagram business account linked to a Page.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct IgBusinessAccount {
    /// Instagram business account id.
    pub id: String,
    /// Username.
    #[serde(default)]
    pub username: String,
}

/// What `debug_token` says about a token.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct DebugToken {
    /// App the token belongs to.
    #[serde(default, deserialize_with = "crate::util::string_or_number")]
    pub app_id: String,
    /// `USER`, `PAGE` or `APP`.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// Whether the token works.
    #[serde(default)]
    pub is_valid: bool,
    /// Unix seconds; 0 = never.
    #[serde(default)]
    pub expires_at: i64,
    /// Unix seconds; 0 / absent = unknown.
    #[serde(default)]
    pub data_access_expires_at: i64,
    /// Unix seconds, for long-lived tokens.
    #[serde(default)]
    pub issued_at: Option<i64>,
    /// Granted permissions.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Granted permissions with their targets (`{scope, target_ids?}`).
    #[serde(default)]
    pub granular_scopes: Vec<GranularScope>,
    /// User id.
    #[serde(default)]
    pub user_id: Option<String>,
    /// Page id for Page tokens.
    #[serde(default)]
    pub profile_id: Option<String>,
    /// Why the token is invalid.
    #[serde(default)]
    pub error: Option<DebugTokenError>,
}

/// One entry of `debug_token`'s `granular_scopes`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct GranularScope {
    /// The permission.
    pub scope: String,
    /// The objects it applies to; absent = all.
    #[serde(default)]
    pub target_ids: Option<Vec<String>>,
}

/// The Facebook user of a user token (`/me?fields=id`): the app-scoped user id.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct FacebookUser {
    /// App-scoped Facebook user id (what Facebook Login's callbacks carry).
    #[serde(deserialize_with = "crate::util::string_or_number")]
    pub id: String,
}

/// The `error` object inside `debug_token` data.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct DebugTokenError {
    /// Code.
    #[serde(default)]
    pub code: i64,
    /// Subcode.
    #[serde(default)]
    pub subcode: Option<i64>,
    /// Message.
    #[serde(default)]
    pub message: String,
}

impl DebugToken {
    /// Every permission granted: `scopes` and `granular_scopes` together.
    pub fn granted(&self) -> Vec<String> {
        let mut all: Vec<String> = self.scopes.clone();
        for g in &self.granular_scopes {
            if !all.contains(&g.scope) {
                all.push(g.scope.clone());
            }
        }
        all
    }
    /// `expires_at` as a time; `None` = never expires.
    pub fn expires(&self) -> Option<DateTime<Utc>> {
        (self.expires_at > 0)
            .then(|| DateTime::from_timestamp(self.expires_at, 0))
            .flatten()
    }
    /// `data_access_expires_at` as a time, if known.
    pub fn data_access_expires(&self) -> Option<DateTime<Utc>> {
        (self.data_access_expires_at > 0)
            .then(|| DateTime::from_timestamp(self.data_access_expires_at, 0))
            .flatten()
    }
    /// The classified reason an invalid token is invalid.
    pub fn failure(&self) -> Option<ProviderError> {
        if self.is_valid {
            return None;
        }
        Some(match &self.error {
            Some(e) => classify(
                &GraphError {
                    code: e.code,
                    error_subcode: e.subcode,
                    message: e.message.clone(),
                    ..Default::default()
                },
                None,
            ),
            None => classify(
                &GraphError {
                    code: 190,
                    ..Default::default()
                },
                None,
            ),
        })
    }
}

#[derive(Deserialize)]
struct Data<T> {
    data: T,
}

/// Pages asked for per `/me/accounts` answer (`limit`); Meta may send fewer.
pub const PAGES_PER_ANSWER: u32 = 100;

/// The most `/me/accounts` answers [`FacebookLogin::pages`] reads for one login
/// (`MAX_PAGE_ANSWERS × PAGES_PER_ANSWER` = 5 000 Pages at Meta's full answers).
pub const MAX_PAGE_ANSWERS: usize = 50;

/// One `/me/accounts` answer: its Pages and the cursor to the next.
#[derive(Deserialize)]
struct PagesAnswer {
    #[serde(default)]
    data: Vec<Page>,
    #[serde(default)]
    paging: Option<Paging>,
}

impl FacebookLogin {
    /// A client for the Facebook app in `cfg`.
    pub fn new(cfg: GraphConfig) -> Result<Self, Error> {
        let v = &cfg.version;
        let join = |base: &Url, p: String| {
            crate::BaseUrls::endpoint(base, &p)
                .map_err(|e| Error::Config(format!("URL for {p}: {e}")))
        };
        let dialog = join(&cfg.urls.www_facebook, format!("{v}/dialog/oauth"))?;
        let oauth = join(&cfg.urls.graph_facebook, format!("{v}/oauth/access_token"))?;
        let accounts = join(&cfg.urls.graph_facebook, format!("{v}/me/accounts"))?;
        let debug = join(&cfg.urls.graph_facebook, format!("{v}/debug_token"))?;
        let me = join(&cfg.urls.graph_facebook, format!("{v}/me"))?;
        let graph_root = join(&cfg.urls.graph_facebook, format!("{v}/"))?;
        let app_token = SecretString::from(cfg.app_token());
        Ok(Self {
            http: Http::new(cfg, lightwidget_core::ConnectionKind::Business)?,
            dialog,
            oauth,
            accounts,
            me,
            debug,
            graph_root,
            app_token,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &GraphConfig {
        &self.http.cfg
    }

    /// The authorize URL. `reauthorize = true` asks the person to renew data access
    /// (`auth_type=reauthorize`).
    pub fn authorize_url(
        &self,
        scopes: &[&str],
        state: &str,
        reauthorize: bool,
    ) -> Result<Url, Error> {
        self.authorize_url_with(scopes, state, reauthorize.then_some("reauthorize"))
    }

    /// The authorize URL with an `auth_type`: `reauthorize` (renew data access) or
    /// `rerequest` (ask again for declined permissions).
    pub fn authorize_url_with(
        &self,
        scopes: &[&str],
        state: &str,
        auth_type: Option<&str>,
    ) -> Result<Url, Error> {
        let cfg = &self.http.cfg;
        let mut u = self.dialog.clone();
        {
            let mut q = u.query_pairs_mut();
            q.append_pair("client_id", &cfg.app_id)
                .append_pair("redirect_uri", cfg.redirect()?.as_str())
                .append_pair("response_type", "code")
                .append_pair("scope", &scopes.join(","))
                .append_pair("state", state);
            if let Some(t) = auth_type {
                q.append_pair("auth_type", t);
            }
        }
        Ok(u)
    }

    /// Exchanges the redirect's code for a short-lived user token. A trailing `#_=_`
    /// (Facebook appends it to redirects) is stripped.
    pub async fn exchange_code(&self, code: &str, now: DateTime<Utc>) -> Result<Token, Error> {
        let cfg = &self.http.cfg;
        let req = self.http.client.get(self.oauth.clone()).query(&[
            ("client_id", cfg.app_id.as_str()),
            ("client_secret", cfg.secret()),
            ("redirect_uri", cfg.redirect()?.as_str()),
            ("code", code.trim().trim_end_matches("#_=_")),
        ]);
        let r: TokenResponse = self.http.send(req).await?;
        Ok(token_from(r, now))
    }

    /// Short-lived → long-lived (~60 days) user token (`fb_exchange_token`).
    pub async fn exchange_long_lived(
        &self,
        short: &Token,
        now: DateTime<Utc>,
    ) -> Result<Token, ProviderError> {
        let cfg = &self.http.cfg;
        let req = self.http.client.get(self.oauth.clone()).query(&[
            ("grant_type", "fb_exchange_token"),
            ("client_id", cfg.app_id.as_str()),
            ("client_secret", cfg.secret()),
            ("fb_exchange_token", short.secret()),
        ]);
        let r: TokenResponse = self.http.send(req).await?;
        Ok(token_from(r, now))
    }

    /// Every Page the user manages, with Page tokens and linked Instagram accounts, in
    /// Meta's order.
    ///
    /// `/me/accounts` answers in pages of [`PAGES_PER_ANSWER`]; the cursor
    /// (`paging.cursors.after`, followed while `paging.next` says there is more) is
    /// followed for at most [`MAX_PAGE_ANSWERS`] answers. The next answer is asked of
    /// the configured Graph URL with the cursor (never of the URL in `paging.next`, so
    /// the token goes nowhere else). A cursor that repeats, or an empty answer, ends the
    /// listing; past the bound the Pages read so far are returned and a warning logged.
    pub async fn pages(&self, user_token: &Token) -> Result<Vec<Page>, ProviderError> {
        let limit = PAGES_PER_ANSWER.to_string();
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        for _ in 0..MAX_PAGE_ANSWERS {
            let mut req = self.http.client.get(self.accounts.clone()).query(&[
                (
                    "fields",
                    "id,name,access_token,instagram_business_account{id,username}",
                ),
                ("limit", limit.as_str()),
                ("access_token", user_token.secret()),
            ]);
            if let Some(a) = &after {
                req = req.query(&[("after", a.as_str())]);
            }
            let d: PagesAnswer = self.http.send(req).await?;
            let empty = d.data.is_empty();
            out.extend(d.data);
            let next = d
                .paging
                .and_then(Paging::next_after)
                .filter(|a| Some(a) != after.as_ref());
            match next {
                Some(a) if !empty => after = Some(a),
                _ => return Ok(out),
            }
        }
        tracing::warn!(
            pages = out.len(),
            answers = MAX_PAGE_ANSWERS,
            "/me/accounts: stopped following the cursor at the bound; later Pages are not listed"
        );
        Ok(out)
    }

    /// The Facebook user of a user token: `GET /me?fields=id` (the app-scoped id).
    pub async fn me(&self, user_token: &Token) -> Result<FacebookUser, ProviderError> {
        let req = self
            .http
            .client
            .get(self.me.clone())
            .query(&[("fields", "id"), ("access_token", user_token.secret())]);
        self.http.send(req).await
    }

    /// Inspects a token with the app token.
    pub async fn debug_token(&self, token: &Token) -> Result<DebugToken, ProviderError> {
        let req = self.http.client.get(self.debug.clone()).query(&[
            ("input_token", token.secret()),
            ("access_token", self.app_token.expose_secret()),
        ]);
        let d: Data<DebugToken> = self.http.send(req).await?;
        Ok(d.data)
    }
}
