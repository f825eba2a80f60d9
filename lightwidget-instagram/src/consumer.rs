//! Instagram Login ("consumer" connections): authorize, code exchange, long-lived
//! exchange, refresh and `/me`.

use chrono::{DateTime, Utc};
use lightwidget_core::{ProviderError, Token};
use serde::Deserialize;
use url::Url;

use crate::http::Http;
use crate::{Error, GraphConfig};

/// Default scopes for a feed widget.
pub const DEFAULT_SCOPES: &[&str] = &["instagram_business_basic"];

/// Client for Instagram Login.
pub struct InstagramLogin {
    pub(crate) http: Http,
}

impl std::fmt::Debug for InstagramLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InstagramLogin")
            .field("config", &self.http.cfg)
            .finish_non_exhaustive()
    }
}

/// The result of a code exchange: a short-lived (1 h) token and who it belongs to.
#[derive(Clone, Debug)]
pub struct ShortLived {
    /// The token (secret).
    pub token: Token,
    /// Instagram-scoped user id.
    pub user_id: String,
    /// Granted permissions.
    pub permissions: Vec<String>,
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
}

#[derive(Deserialize)]
struct CodeItem {
    access_token: String,
    #[serde(deserialize_with = "crate::util::string_or_number")]
    user_id: String,
    #[serde(default, deserialize_with = "crate::util::list_or_csv")]
    permissions: Vec<String>,
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
        Ok(Self {
            http: Http::new(cfg)?,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &GraphConfig {
        &self.http.cfg
    }

    /// The authorize URL to send the person to.
    pub fn authorize_url(&self, scopes: &[&str], state: &str) -> Result<Url, Error> {
        let cfg = &self.http.cfg;
        let mut u = cfg
            .urls
            .www_instagram
            .join("oauth/authorize")
            .map_err(|e| Error::Config(e.to_string()))?;
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
        let url = cfg
            .urls
            .api_instagram
            .join("oauth/access_token")
            .map_err(|e| Error::Config(e.to_string()))?;
        let req = self.http.client.post(url).form(&[
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
            permissions: item.permissions,
        })
    }

    /// Short-lived → long-lived (60 days) token (`ig_exchange_token`).
    pub async fn exchange_long_lived(
        &self,
        short: &Token,
        now: DateTime<Utc>,
    ) -> Result<Token, ProviderError> {
        let cfg = &self.http.cfg;
        let url = cfg
            .urls
            .graph_instagram
            .join("access_token")
            .map_err(|e| fatal(e.to_string()))?;
        let req = self.http.client.get(url).query(&[
            ("grant_type", "ig_exchange_token"),
            ("client_secret", cfg.secret()),
            ("access_token", short.secret()),
        ]);
        let r: TokenResponse = self.http.send(req).await?;
        Ok(token_from(r, now))
    }

    /// Refreshes a long-lived token (`ig_refresh_token`): a new 60-day token. Meta
    /// refuses tokens under 24 h old or already expired; the keeper's policy never asks.
    pub async fn refresh(&self, token: &Token, now: DateTime<Utc>) -> Result<Token, ProviderError> {
        let url = self
            .http
            .cfg
            .urls
            .graph_instagram
            .join("refresh_access_token")
            .map_err(|e| fatal(e.to_string()))?;
        let req = self.http.client.get(url).query(&[
            ("grant_type", "ig_refresh_token"),
            ("access_token", token.secret()),
        ]);
        let r: TokenResponse = self.http.send(req).await?;
        Ok(token_from(r, now).with_scopes(token.scopes.clone()))
    }

    /// The cheapest validity check: `GET /me?fields=id,username`.
    pub async fn me(&self, token: &Token) -> Result<Profile, ProviderError> {
        let cfg = &self.http.cfg;
        let url = cfg
            .urls
            .graph_instagram
            .join(&format!("{}/me", cfg.version))
            .map_err(|e| fatal(e.to_string()))?;
        let req = self
            .http
            .client
            .get(url)
            .query(&[("fields", "id,username"), ("access_token", token.secret())]);
        self.http.send(req).await
    }
}

pub(crate) fn fatal(m: String) -> ProviderError {
    ProviderError::Fatal { message: m }
}

pub(crate) fn token_from(r: TokenResponse, now: DateTime<Utc>) -> Token {
    let t = Token::new(r.access_token, now);
    match r.expires_in {
        Some(s) if s > 0 => t.expiring_in(s),
        _ => t,
    }
}
