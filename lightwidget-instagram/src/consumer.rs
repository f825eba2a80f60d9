//! Instagram Login ("consumer" connections): authorize, code exchange, long-lived
//! exchange, refresh and `/me`.

use chrono::{DateTime, TimeDelta, Utc};
use lightwidget_core::{ExpiryReason, ProviderError, Token};
use serde::Deserialize;
use url::Url;

use crate::http::Http;
use crate::{Error, GraphConfig};

/// Default scopes for a feed widget.
pub const DEFAULT_SCOPES: &[&str] = &["instagram_business_basic"];

/// Meta refreshes a long-lived token only once it is at least this old.
pub const MIN_REFRESH_AGE: TimeDelta = TimeDelta::hours(24);

/// Client for Instagram Login.
///
/// ```
/// use lightwidget_instagram::{GraphConfig, InstagramLogin, consumer::DEFAULT_SCOPES};
/// let cfg = GraphConfig::builder("1234", "app-secret")
///     .redirect_uri("https://host.example/oauth/instagram")
///     .build()?;
/// let ig = InstagramLogin::new(cfg)?;
/// let url = ig.authorize_url(DEFAULT_SCOPES, "signed-state")?;
/// assert!(url.as_str().starts_with("https://www.instagram.com/oauth/authorize?client_id=1234"));
/// # Ok::<(), lightwidget_instagram::Error>(())
/// ```
pub struct InstagramLogin {
    pub(crate) http: Http,
    authorize: Url,
    code: Url,
    exchange: Url,
    refresh: Url,
    me: Url,
    /// `graph.instagram.com/{version}/`, the root of the gateway's paths.
    pub(crate) graph_root: Url,
}

impl std::fmt::Debug for InstagramLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.http.fmt_client(f, "InstagramLogin")
    }
}

/// The result of a code exchange: a short-lived (1 h) token and who it belongs to.
#[derive(Clone, Debug)]
pub struct ShortLived {
    /// The token (secret).
    pub token: Token,
    /// Instagram-scoped user id.
    pub user_id: String,
    /// Granted permissions (empty when the answer did not list them).
    pub permissions: Vec<String>,
    /// Whether the answer listed the granted permissions (an empty list then means
    /// none was granted).
    pub permissions_listed: bool,
}

/// The `/me` profile.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Profile {
    /// Instagram user id.
    #[serde(deserialize_with = "crate::util::string_or_number")]
    pub id: String,
    /// Username.
    #[serde(default)]
    pub username: String,
    /// `BUSINESS`, `MEDIA_CREATOR` or `PERSONAL`, when asked for ([`InstagramLogin::account`]).
    #[serde(default)]
    pub account_type: Option<String>,
}

#[derive(Deserialize)]
struct CodeItem {
    access_token: String,
    #[serde(deserialize_with = "crate::util::string_or_number")]
    user_id: String,
    #[serde(default, deserialize_with = "listed")]
    permissions: Option<Vec<String>>,
}

/// A present `permissions` (list or comma-separated); absent stays `None`.
fn listed<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    crate::util::list_or_csv(d).map(Some)
}

#[derive(Deserialize)]
#[serde(untagged)]
enum CodeResponse {
    Wrapped { data: Vec<CodeItem> },
    Flat(CodeItem),
}

#[derive(Deserialize)]
pub(crate) struct TokenResponse {
    pub access_token: String,
    #[serde(default)]
    pub expires_in: Option<i64>,
}

impl InstagramLogin {
    /// A client for the Instagram app in `cfg`.
    pub fn new(cfg: GraphConfig) -> Result<Self, Error> {
        let u = &cfg.urls;
        let join = |base: &Url, p: &str| {
            crate::BaseUrls::endpoint(base, p)
                .map_err(|e| Error::Config(format!("URL for {p}: {e}")))
        };
        let authorize = join(&u.www_instagram, "oauth/authorize")?;
        let code = join(&u.api_instagram, "oauth/access_token")?;
        let exchange = join(&u.graph_instagram, "access_token")?;
        let refresh = join(&u.graph_instagram, "refresh_access_token")?;
        let me = join(&u.graph_instagram, &format!("{}/me", cfg.version))?;
        let graph_root = join(&u.graph_instagram, &format!("{}/", cfg.version))?;
        Ok(Self {
            http: Http::new(cfg, lightwidget_core::ConnectionKind::Consumer)?,
            authorize,
            code,
            exchange,
            refresh,
            me,
            graph_root,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &GraphConfig {
        &self.http.cfg
    }

    /// The authorize URL to send the person to.
    pub fn authorize_url(&self, scopes: &[&str], state: &str) -> Result<Url, Error> {
        let cfg = &self.http.cfg;
        let mut u = self.authorize.clone();
        u.query_pairs_mut()
            .append_pair("client_id", &cfg.app_id)
            .append_pair("redirect_uri", cfg.redirect()?.as_str())
            .append_pair("response_type", "code")
            .append_pair("scope", &scopes.join(","))
            .append_pair("state", state);
        Ok(u)
    }

    /// Exchanges the code from the redirect for a short-lived token. A trailing `#_`
    /// (Instagram appends it) is stripped.
    pub async fn exchange_code(&self, code: &str, now: DateTime<Utc>) -> Result<ShortLived, Error> {
        let cfg = &self.http.cfg;
        let code = code.trim().trim_end_matches("#_");
        let req = self.http.client.post(self.code.clone()).form(&[
            ("client_id", cfg.app_id.as_str()),
            ("client_secret", cfg.secret()),
            ("grant_type", "authorization_code"),
            ("redirect_uri", cfg.redirect()?.as_str()),
            ("code", code),
        ]);
        let item = match self.http.send::<CodeResponse>(req).await? {
            CodeResponse::Flat(i) => i,
            CodeResponse::Wrapped { data } => data
                .into_iter()
                .next()
                .ok_or_else(|| Error::Unexpected("code exchange returned no token".into()))?,
        };
        Ok(ShortLived {
            token: Token::new(item.access_token, now).expiring_in(3600),
            user_id: item.user_id,
            permissions_listed: item.permissions.is_some(),
            permissions: item.permissions.unwrap_or_default(),
        })
    }

    /// Short-lived → long-lived (60 days) token (`ig_exchange_token`).
    pub async fn exchange_long_lived(
        &self,
        short: &Token,
        now: DateTime<Utc>,
    ) -> Result<Token, ProviderError> {
        let cfg = &self.http.cfg;
        let req = self.http.client.get(self.exchange.clone()).query(&[
            ("grant_type", "ig_exchange_token"),
            ("client_secret", cfg.secret()),
            ("access_token", short.secret()),
        ]);
        let r: TokenResponse = self.http.send(req).await?;
        Ok(token_from(r, now))
    }

    /// Refreshes a long-lived token (`ig_refresh_token`): a new 60-day token.
    ///
    /// Meta refreshes only tokens that are at least 24 hours old and not expired, so
    /// neither is asked for: an expired token fails with `Expired(LifetimeEnded)`, and
    /// one younger than [`MIN_REFRESH_AGE`] with `Transient` and the time left until it
    /// is old enough (no request is sent in either case).
    pub async fn refresh(&self, token: &Token, now: DateTime<Utc>) -> Result<Token, ProviderError> {
        if token.is_lapsed(now) {
            return Err(ProviderError::Expired {
                reason: ExpiryReason::LifetimeEnded,
                message: "the token's 60 days ended; an expired token cannot be refreshed".into(),
            });
        }
        let age = now - token.issued_at;
        if age < MIN_REFRESH_AGE {
            return Err(ProviderError::Transient {
                retry_after: (MIN_REFRESH_AGE - age).to_std().ok(),
                message: "Meta refreshes only tokens at least 24 hours old".into(),
            });
        }
        let req = self.http.client.get(self.refresh.clone()).query(&[
            ("grant_type", "ig_refresh_token"),
            ("access_token", token.secret()),
        ]);
        let r: TokenResponse = self.http.send(req).await?;
        Ok(token_from(r, now).with_scopes(token.scopes.clone()))
    }

    /// The cheapest validity check: `GET /me?fields=id,username`.
    pub async fn me(&self, token: &Token) -> Result<Profile, ProviderError> {
        let req = self
            .http
            .client
            .get(self.me.clone())
            .query(&[("fields", "id,username"), ("access_token", token.secret())]);
        self.http.send(req).await
    }
}

impl InstagramLogin {
    /// The profile with its account type: `GET /me?fields=id,username,account_type`
    /// (what a login checks: a `PERSONAL` account cannot be connected).
    pub async fn account(&self, token: &Token) -> Result<Profile, ProviderError> {
        let req = self.http.client.get(self.me.clone()).query(&[
            ("fields", "id,username,account_type"),
            ("access_token", token.secret()),
        ]);
        self.http.send(req).await
    }
}

pub(crate) fn token_from(r: TokenResponse, now: DateTime<Utc>) -> Token {
    let t = Token::new(r.access_token, now);
    match r.expires_in {
        Some(s) if s > 0 => t.expiring_in(s),
        _ => t,
    }
}
