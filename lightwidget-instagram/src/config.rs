//! Configuration of one Meta app (Instagram Login or Facebook Login).

use std::time::Duration;

use std::sync::Arc;

use lightwidget_core::{Clock, SystemClock};
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use crate::Error;

/// The Graph API version used by default (overridable).
pub const DEFAULT_GRAPH_VERSION: &str = "v25.0";

/// Base URLs of Meta's hosts. Tests point them all at a loopback sandbox with
/// [`BaseUrls::all`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BaseUrls {
    /// `https://www.instagram.com` (authorize dialog, Instagram Login).
    pub www_instagram: Url,
    /// `https://api.instagram.com` (code exchange, Instagram Login).
    pub api_instagram: Url,
    /// `https://graph.instagram.com` (long-lived exchange, refresh, `/me`).
    pub graph_instagram: Url,
    /// `https://graph.facebook.com` (Facebook Login: exchange, Pages, `debug_token`).
    pub graph_facebook: Url,
    /// `https://www.facebook.com` (authorize dialog, Facebook Login).
    pub www_facebook: Url,
}

impl Default for BaseUrls {
    fn default() -> Self {
        let u = |s: &str| Url::parse(s).expect("static URL");
        Self {
            www_instagram: u("https://www.instagram.com"),
            api_instagram: u("https://api.instagram.com"),
            graph_instagram: u("https://graph.instagram.com"),
            graph_facebook: u("https://graph.facebook.com"),
            www_facebook: u("https://www.facebook.com"),
        }
    }
}

impl BaseUrls {
    /// Instagram's hosts (`www`, `api`, `graph.instagram.com`) at one base URL and
    /// Facebook's (`www`, `graph.facebook.com`) at another, e.g. two proxies.
    pub fn per_platform(instagram: &Url, facebook: &Url) -> Self {
        Self {
            www_instagram: instagram.clone(),
            api_instagram: instagram.clone(),
            graph_instagram: instagram.clone(),
            graph_facebook: facebook.clone(),
            www_facebook: facebook.clone(),
        }
    }

    /// `base` with `path` (relative, e.g. `v25.0/me`) appended. A base with a path
    /// prefix works with or without its trailing slash: `https://proxy/meta` and
    /// `https://proxy/meta/` both give `https://proxy/meta/v25.0/me` (plain
    /// [`Url::join`] would drop `meta` from the first).
    pub fn endpoint(base: &Url, path: &str) -> Result<Url, url::ParseError> {
        if base.path().ends_with('/') {
            base.join(path)
        } else {
            let mut dir = base.clone();
            dir.set_path(&format!("{}/", base.path()));
            dir.join(path)
        }
    }

    /// Every host at one base URL (a sandbox or a recording proxy).
    pub fn all(base: &Url) -> Self {
        Self {
            www_instagram: base.clone(),
            api_instagram: base.clone(),
            graph_instagram: base.clone(),
            graph_facebook: base.clone(),
            www_facebook: base.clone(),
        }
    }
}

/// A Meta app's credentials and the client's limits.
///
/// ```
/// use lightwidget_instagram::GraphConfig;
/// let cfg = GraphConfig::builder("1234", "app-secret-value")
///     .redirect_uri("https://host.example/oauth/callback")
///     .build()
///     .unwrap();
/// assert!(!format!("{cfg:?}").contains("app-secret-value"));
/// ```
#[derive(Clone)]
pub struct GraphConfig {
    pub(crate) app_id: String,
    pub(crate) app_secret: SecretString,
    pub(crate) redirect_uri: Option<Url>,
    pub(crate) version: String,
    pub(crate) urls: BaseUrls,
    pub(crate) timeout: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) max_body: usize,
    pub(crate) user_agent: String,
    pub(crate) usage_threshold: u32,
    pub(crate) default_throttle: Duration,
    pub(crate) usage_allowance: u32,
    pub(crate) usage_max_wait: Duration,
    pub(crate) clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for GraphConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphConfig")
            .field("app_id", &self.app_id)
            .field("app_secret", &"[REDACTED]")
            .field("redirect_uri", &self.redirect_uri)
            .field("version", &self.version)
            .field("urls", &self.urls)
            .finish_non_exhaustive()
    }
}

impl GraphConfig {
    /// Starts a configuration for an app.
    pub fn builder(app_id: impl Into<String>, app_secret: impl Into<String>) -> GraphConfigBuilder {
        GraphConfigBuilder {
            app_id: app_id.into(),
            app_secret: SecretString::from(app_secret.into()),
            redirect_uri: None,
            version: DEFAULT_GRAPH_VERSION.into(),
            urls: BaseUrls::default(),
            timeout: Duration::from_secs(20),
            connect_timeout: Duration::from_secs(5),
            max_body: 1 << 20,
            user_agent: concat!("lightwidget/", env!("CARGO_PKG_VERSION")).into(),
            usage_threshold: 90,
            default_throttle: Duration::from_secs(3600),
            usage_allowance: 20_000,
            usage_max_wait: Duration::from_secs(5),
            clock: Arc::new(SystemClock),
        }
    }

    /// Reads `{PREFIX}_APP_ID`, `{PREFIX}_APP_SECRET`, and optionally
    /// `{PREFIX}_REDIRECT_URI`, `LIGHTWIDGET_GRAPH_VERSION`, `LIGHTWIDGET_GRAPH_BASE_URL`.
    /// Prefixes used by lightwidget: `LIGHTWIDGET_CONSUMER` and `LIGHTWIDGET_BUSINESS`.
    pub fn from_env(prefix: &str) -> Result<Self, Error> {
        let var = |n: &str| {
            std::env::var(format!("{prefix}_{n}"))
                .ok()
                .filter(|v| !v.is_empty())
        };
        let id =
            var("APP_ID").ok_or_else(|| Error::Config(format!("{prefix}_APP_ID is not set")))?;
        let secret = var("APP_SECRET")
            .ok_or_else(|| Error::Config(format!("{prefix}_APP_SECRET is not set")))?;
        let mut b = Self::builder(id, secret);
        if let Some(r) = var("REDIRECT_URI") {
            b = b.redirect_uri(r);
        }
        if let Ok(v) = std::env::var("LIGHTWIDGET_GRAPH_VERSION") {
            b = b.version(v);
        }
        if let Ok(u) = std::env::var("LIGHTWIDGET_GRAPH_BASE_URL") {
            let u = Url::parse(&u)
                .map_err(|e| Error::Config(format!("LIGHTWIDGET_GRAPH_BASE_URL: {e}")))?;
            b = b.base_urls(BaseUrls::all(&u));
        }
        b.build()
    }

    /// The app id.
    pub fn app_id(&self) -> &str {
        &self.app_id
    }

    /// The Graph API version.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The base URLs.
    pub fn urls(&self) -> &BaseUrls {
        &self.urls
    }

    pub(crate) fn secret(&self) -> &str {
        self.app_secret.expose_secret()
    }

    /// The app access token `app_id|app_secret` (secret).
    pub(crate) fn app_token(&self) -> String {
        format!("{}|{}", self.app_id, self.secret())
    }

    pub(crate) fn redirect(&self) -> Result<&Url, Error> {
        self.redirect_uri
            .as_ref()
            .ok_or_else(|| Error::Config("redirect_uri is not configured".into()))
    }
}

/// Builder for [`GraphConfig`].
#[derive(Clone)]
pub struct GraphConfigBuilder {
    app_id: String,
    app_secret: SecretString,
    redirect_uri: Option<String>,
    version: String,
    urls: BaseUrls,
    timeout: Duration,
    connect_timeout: Duration,
    max_body: usize,
    user_agent: String,
    usage_threshold: u32,
    default_throttle: Duration,
    usage_allowance: u32,
    usage_max_wait: Duration,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for GraphConfigBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphConfigBuilder")
            .field("app_id", &self.app_id)
            .finish_non_exhaustive()
    }
}

impl GraphConfigBuilder {
    /// The OAuth redirect URI (must match the app dashboard exactly).
    pub fn redirect_uri(mut self, u: impl Into<String>) -> Self {
        self.redirect_uri = Some(u.into());
        self
    }
    /// Graph API version, e.g. `v25.0`.
    pub fn version(mut self, v: impl Into<String>) -> Self {
        self.version = v.into();
        self
    }
    /// Base URLs (tests: [`BaseUrls::all`] with the sandbox URL).
    pub fn base_urls(mut self, u: BaseUrls) -> Self {
        self.urls = u;
        self
    }
    /// Whole-request timeout (default 20 s).
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = d;
        self
    }
    /// Connect timeout (default 5 s).
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = d;
        self
    }
    /// Largest response body accepted (default 1 MiB).
    pub fn max_body_bytes(mut self, n: usize) -> Self {
        self.max_body = n;
        self
    }
    /// `User-Agent` header.
    pub fn user_agent(mut self, ua: impl Into<String>) -> Self {
        self.user_agent = ua.into();
        self
    }
    /// The high-water mark: the usage percentage from which calls are paced (default
    /// 90) — the whole app's when `X-App-Usage` reaches it, one account's (its Instagram
    /// id or Page) when its `X-Business-Use-Case-Usage` entry does. Shared by the
    /// keeper's refreshes and checks and the gateway's calls made through this client.
    /// See [`usage::spacing`](crate::usage::spacing) for the pace.
    pub fn usage_threshold_percent(mut self, p: u32) -> Self {
        self.usage_threshold = p;
        self
    }
    /// The calls the app is assumed to be allowed per usage window, from which the
    /// pace above the high-water mark is computed (default 20 000: Meta allows an app
    /// 200 calls per hour per daily active user; this is 100 users). The client raises
    /// it when its own calls prove the app's allowance larger. A larger value paces
    /// less. See [`usage::spacing`](crate::usage::spacing).
    pub fn usage_allowance(mut self, calls_per_window: u32) -> Self {
        self.usage_allowance = calls_per_window;
        self
    }
    /// The longest a paced call waits for its slot (default 5 s); a call whose slot is
    /// further away is refused at once with a `RateLimited` error carrying the time
    /// left, so a widget is never held longer than this.
    pub fn usage_max_wait(mut self, d: Duration) -> Self {
        self.usage_max_wait = d;
        self
    }
    /// The stop when Meta throttles (a throttling error code, HTTP 429) without saying
    /// for how long — no `estimated_time_to_regain_access`, no `Retry-After` (default
    /// 1 h, Meta's usage window).
    pub fn default_throttle(mut self, d: Duration) -> Self {
        self.default_throttle = d;
        self
    }

    /// The clock of Meta's throttle stops (simulations share a `ManualClock`); the
    /// spacing of paced calls is real time.
    pub fn clock(mut self, c: Arc<dyn Clock>) -> Self {
        self.clock = c;
        self
    }

    /// Validates and builds.
    pub fn build(self) -> Result<GraphConfig, Error> {
        if self.app_id.trim().is_empty() {
            return Err(Error::Config("app id is empty".into()));
        }
        if self.app_secret.expose_secret().trim().is_empty() {
            return Err(Error::Config("app secret is empty".into()));
        }
        if !self.version.starts_with('v') {
            return Err(Error::Config(format!(
                "Graph API version must look like \"v25.0\", got {:?}",
                self.version
            )));
        }
        let redirect_uri = self
            .redirect_uri
            .map(|r| Url::parse(&r).map_err(|e| Error::Config(format!("redirect_uri {r:?}: {e}"))))
            .transpose()?;
        if self.max_body < 1024 {
            return Err(Error::Config("max_body_bytes must be at least 1024".into()));
        }
        Ok(GraphConfig {
            app_id: self.app_id,
            app_secret: self.app_secret,
            redirect_uri,
            version: self.version,
            urls: self.urls,
            timeout: self.timeout,
            connect_timeout: self.connect_timeout,
            max_body: self.max_body,
            user_agent: self.user_agent,
            usage_threshold: self.usage_threshold,
            default_throttle: self.default_throttle,
            usage_allowance: self.usage_allowance,
            usage_max_wait: self.usage_max_wait,
            clock: self.clock,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_refuses_bad_settings_without_echoing_the_secret() {
        let bad = [
            GraphConfig::builder(" ", "s3cr3t-value").build(),
            GraphConfig::builder("1", "  ").build(),
            GraphConfig::builder("1", "s3cr3t-value")
                .version("25.0")
                .build(),
            GraphConfig::builder("1", "s3cr3t-value")
                .redirect_uri("not a url")
                .build(),
            GraphConfig::builder("1", "s3cr3t-value")
                .max_body_bytes(10)
                .build(),
        ];
        for r in bad {
            let e = r.unwrap_err();
            assert!(matches!(e, Error::Config(_)), "{e:?}");
            assert!(!format!("{e} {e:?}").contains("s3cr3t-value"));
        }
    }

    #[test]
    fn endpoints_keep_a_base_path_with_or_without_its_trailing_slash() {
        for base in ["https://proxy.example/meta", "https://proxy.example/meta/"] {
            let u = BaseUrls::endpoint(&Url::parse(base).unwrap(), "v25.0/me").unwrap();
            assert_eq!(u.as_str(), "https://proxy.example/meta/v25.0/me", "{base}");
        }
        let root = Url::parse("https://graph.instagram.com").unwrap();
        assert_eq!(
            BaseUrls::endpoint(&root, "refresh_access_token")
                .unwrap()
                .as_str(),
            "https://graph.instagram.com/refresh_access_token"
        );
        let ig = Url::parse("http://127.0.0.1:1/ig").unwrap();
        let fb = Url::parse("http://127.0.0.1:2/").unwrap();
        let u = BaseUrls::per_platform(&ig, &fb);
        assert_eq!(u.api_instagram, ig);
        assert_eq!(u.www_facebook, fb);
    }

    #[test]
    fn defaults_and_overrides() {
        let c = GraphConfig::builder("1", "s").build().unwrap();
        assert_eq!(c.version(), DEFAULT_GRAPH_VERSION);
        assert_eq!(
            c.urls().graph_facebook.as_str(),
            "https://graph.facebook.com/"
        );
        assert_eq!(c.max_body, 1 << 20);
        assert_eq!(c.usage_threshold, 90);
        let base = Url::parse("http://127.0.0.1:9/").unwrap();
        let c = GraphConfig::builder("1", "s")
            .version("v26.0")
            .base_urls(BaseUrls::all(&base))
            .build()
            .unwrap();
        assert_eq!(c.version(), "v26.0");
        assert_eq!(c.urls().www_instagram, base);
        assert!(matches!(c.redirect(), Err(Error::Config(_))));
    }
}
