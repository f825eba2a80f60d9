//! [`GraphProvider`]: core's [`TokenProvider`] over both clients.

use std::sync::Arc;

use async_trait::async_trait;
use lightwidget_core::gateway::{GraphFailure, Media, MediaPage, Profile};
use lightwidget_core::{
    Account, CheckInfo, Clock, ConnectionKind, ProviderError, ReportedExpiry, SystemClock, Token,
    TokenProvider,
};
use serde::Serialize;

use crate::clients::Clients;
use crate::gateway::{self, Get};
use crate::http::{Http, for_account};
use crate::{FacebookLogin, InstagramLogin};

/// Refreshes and checks tokens of both connection kinds:
/// - consumer (Instagram Login): `refresh` = `ig_refresh_token`; `check` = `/me`;
/// - business (Facebook Login Page tokens, which do not expire): `refresh` and `check`
///   both ask `debug_token`, which also reports the data-access expiry.
///
/// The gateway's calls (`Keeper::graph`) go to the host of the account's kind
/// (graph.instagram.com for consumer, graph.facebook.com for business) through the same
/// client, and so the same usage-header throttle, as `refresh` and `check`; their paths,
/// fields and JSON shapes are in [`gateway`](crate::gateway).
///
/// A kind with no client configured fails with a `Fatal` error naming it.
///
/// ```no_run
/// use std::sync::Arc;
/// use lightwidget_instagram::{FacebookLogin, GraphConfig, GraphProvider, InstagramLogin};
///
/// # fn f() -> Result<GraphProvider, lightwidget_instagram::Error> {
/// // LIGHTWIDGET_CONSUMER_APP_ID / _APP_SECRET / _REDIRECT_URI, and the same for BUSINESS.
/// let consumer = InstagramLogin::new(GraphConfig::from_env("LIGHTWIDGET_CONSUMER")?)?;
/// let business = FacebookLogin::new(GraphConfig::from_env("LIGHTWIDGET_BUSINESS")?)?;
/// Ok(GraphProvider::new(Some(Arc::new(consumer)), Some(Arc::new(business))))
/// # }
/// ```
pub struct GraphProvider {
    clients: Clients,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for GraphProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphProvider")
            .field("consumer", &self.clients.has(ConnectionKind::Consumer))
            .field("business", &self.clients.has(ConnectionKind::Business))
            .finish_non_exhaustive()
    }
}

impl GraphProvider {
    /// A provider for the configured kinds.
    pub fn new(
        consumer: Option<Arc<InstagramLogin>>,
        business: Option<Arc<FacebookLogin>>,
    ) -> Self {
        Self {
            clients: Clients::new(consumer, business),
            clock: Arc::new(SystemClock),
        }
    }

    /// Uses `clock` for token issue times (sandbox simulations).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    fn consumer(&self) -> Result<&InstagramLogin, ProviderError> {
        self.clients.consumer().map_err(not_configured)
    }

    fn business(&self) -> Result<&FacebookLogin, ProviderError> {
        self.clients.business().map_err(not_configured)
    }

    async fn debug(&self, token: &Token) -> Result<CheckInfo, ProviderError> {
        let d = self.business()?.debug_token(token).await?;
        if let Some(e) = d.failure() {
            return Err(e);
        }
        Ok(CheckInfo {
            expires_at: match d.expires() {
                Some(t) => ReportedExpiry::At(t),
                None => ReportedExpiry::Never,
            },
            data_access_expires_at: d.data_access_expires(),
            scopes: (!d.scopes.is_empty()).then_some(d.scopes),
        })
    }
}

impl GraphProvider {
    /// The HTTP client (and so the throttle) of the account's kind.
    fn http(&self, kind: ConnectionKind) -> Result<&Http, ProviderError> {
        Ok(match kind {
            ConnectionKind::Consumer => &self.consumer()?.http,
            ConnectionKind::Business => &self.business()?.http,
        })
    }

    /// Runs one call for `account` under its app's throttle, for the app and for the
    /// account (its Instagram id or Page, as `X-Business-Use-Case-Usage` names them):
    /// paced while the usage of either is at or above the high-water mark (the call
    /// waits for its slot, or is refused with the time left when the slot is further
    /// than `usage_max_wait`), refused without a request while Meta throttles either.
    /// An account-level rate limit (any throttling code but the app-wide 4) stops that
    /// account's calls — the keeper's and the gateway's — for Meta's regain time (or
    /// the default). See [`usage`](crate::usage).
    async fn throttled<T>(
        &self,
        account: &Account,
        call: impl std::future::Future<Output = Result<T, ProviderError>>,
    ) -> Result<T, ProviderError> {
        self.http(account.kind)?;
        let ids = scope(account).into_iter().map(str::to_owned).collect();
        for_account(ids, call).await
    }
}

/// A call for an account of a kind with no client.
fn not_configured(kind: ConnectionKind) -> ProviderError {
    let message = match kind {
        ConnectionKind::Consumer => "no Instagram Login app configured for consumer accounts",
        ConnectionKind::Business => "no Facebook Login app configured for business accounts",
    };
    ProviderError::Fatal {
        message: message.into(),
    }
}

/// The business object ids Meta may name an account's usage by.
fn scope(a: &Account) -> Vec<&str> {
    let mut ids = vec![a.ig_user_id.as_str()];
    if let Some(p) = a.page_id.as_deref() {
        ids.push(p);
    }
    ids
}

#[async_trait]
impl TokenProvider for GraphProvider {
    async fn refresh(&self, account: &Account, token: &Token) -> Result<Token, ProviderError> {
        self.throttled(account, self.refresh_unthrottled(account, token))
            .await
    }

    async fn check(&self, account: &Account, token: &Token) -> Result<CheckInfo, ProviderError> {
        self.throttled(account, self.check_unthrottled(account, token))
            .await
    }

    async fn graph_get(
        &self,
        account: &Account,
        token: &Token,
        path: &str,
        query: &[(String, String)],
    ) -> Result<Vec<u8>, ProviderError> {
        self.get(account, token, path, query).await
    }

    async fn graph_profile(
        &self,
        account: &Account,
        token: &Token,
    ) -> Result<Profile, GraphFailure> {
        let body = self
            .typed(account, token, gateway::profile(account))
            .await?;
        gateway::decode_profile(&body)
    }

    async fn graph_media<'a>(
        &self,
        account: &Account,
        token: &Token,
        after: Option<&'a str>,
        limit: Option<u32>,
    ) -> Result<MediaPage, GraphFailure> {
        let get = gateway::media(account, after, limit);
        let body = self.typed(account, token, get).await?;
        gateway::decode_media_page(&body)
    }

    async fn graph_media_item(
        &self,
        account: &Account,
        token: &Token,
        media_id: &str,
    ) -> Result<Media, GraphFailure> {
        let body = self
            .typed(account, token, gateway::media_item(media_id))
            .await?;
        gateway::decode_media(&body)
    }
}

impl GraphProvider {
    async fn refresh_unthrottled(
        &self,
        account: &Account,
        token: &Token,
    ) -> Result<Token, ProviderError> {
        match account.kind {
            ConnectionKind::Consumer => self.consumer()?.refresh(token, self.clock.now()).await,
            ConnectionKind::Business => {
                let info = self.debug(token).await?;
                let mut t = token.clone();
                if let ReportedExpiry::At(e) = info.expires_at {
                    t.expires_at = Some(e);
                } else if info.expires_at == ReportedExpiry::Never {
                    t.expires_at = None;
                }
                t.data_access_expires_at = info.data_access_expires_at.or(t.data_access_expires_at);
                Ok(t)
            }
        }
    }

    async fn check_unthrottled(
        &self,
        account: &Account,
        token: &Token,
    ) -> Result<CheckInfo, ProviderError> {
        match account.kind {
            ConnectionKind::Consumer => {
                self.consumer()?.me(token).await?;
                Ok(CheckInfo::default())
            }
            ConnectionKind::Business => self.debug(token).await,
        }
    }

    /// The GET of a typed gateway call.
    async fn typed(
        &self,
        account: &Account,
        token: &Token,
        get: Get<'_>,
    ) -> Result<Vec<u8>, ProviderError> {
        self.get(account, token, &get.path, &get.query).await
    }

    /// A gateway GET under the throttle of the account's app and account, on the Graph
    /// host of its kind.
    async fn get<Q: Serialize + Sync + ?Sized>(
        &self,
        account: &Account,
        token: &Token,
        path: &str,
        query: &Q,
    ) -> Result<Vec<u8>, ProviderError> {
        let (http, root) = match account.kind {
            ConnectionKind::Consumer => {
                let c = self.consumer()?;
                (&c.http, &c.graph_root)
            }
            ConnectionKind::Business => {
                let b = self.business()?;
                (&b.http, &b.graph_root)
            }
        };
        let url = graph_url(root, path)?;
        let req = http
            .client
            .get(url)
            .query(query)
            .query(&[("access_token", token.secret())]);
        self.throttled(account, async { Ok(http.send_raw(req).await?.1) })
            .await
    }
}

/// `root` + a relative path that cannot leave it (no host, scheme, `..`, query).
fn graph_url(root: &url::Url, path: &str) -> Result<url::Url, ProviderError> {
    let refused = || ProviderError::Fatal {
        message: format!("refused Graph API path {path:?}: not relative to the versioned root"),
    };
    let safe = !path.is_empty()
        && path.split('/').all(|s| {
            !s.is_empty()
                && s != "."
                && s != ".."
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
        });
    if !safe {
        return Err(refused());
    }
    let url = root.join(path).map_err(|_| refused())?;
    if url.origin() != root.origin() || !url.path().starts_with(root.path()) {
        return Err(refused());
    }
    Ok(url)
}
