//! # lightwidget-web
//!
//! The owner-facing web layer of [lightwidget](https://docs.rs/lightwidget) for axum:
//! mount it, don't copy it. One [`Web`] gives a router with every page and callback a
//! site owner or Meta touches, secure by default:
//!
//! | route | what |
//! |---|---|
//! | `GET /accounts` | the owner's accounts: *Active* / *Expired*, reason, last successful check, Refresh token, Disconnect, Connect |
//! | `POST /connect/{consumer,business}` | a new connection (OAuth, browser-bound single-use `state`) |
//! | `GET,POST /connect/choose` | the choice among several Facebook Pages (kept server-side) |
//! | `GET /my-token`, `POST /my-token/update` | My access token: ACTIVE / NOT ACTIVE, history, *Update your access token* |
//! | `GET,POST /settings` | notification preferences (for entitled owners) |
//! | `GET /access-token`, `GET /access-token/{kind}` | renew without logging in (Consumer / Business buttons) |
//! | `GET /renew?token=` | the emailed renewal link |
//! | `POST /invitations`, `GET /invite`, `GET /invite/start` | a developer's invitation |
//! | `GET /oauth/callback` | where every flow comes back |
//! | `GET,POST /unsubscribe` | RFC 8058 one-click unsubscribe |
//! | `POST /deauthorize`, `POST,GET /data-deletion` | Meta's callbacks and the deletion status page |
//! | `GET /api/accounts`, `GET /api/accounts/{id}/history` | JSON for the host's own pages |
//!
//! What is the host's own comes in through two small traits: [`Host`] (who is signed in,
//! what they are entitled to, how a social login becomes a session, where each step
//! goes) and [`Pages`] (the frame of every page; [`DefaultPages`] otherwise).
//!
//! Built in and on: CSRF tokens on every form, an Origin / `Sec-Fetch-Site` check on
//! every state-changing request (Meta's signed callbacks and the signed unsubscribe
//! link excepted), a strict Content-Security-Policy with no script, `X-Frame-Options`,
//! `nosniff`, `no-referrer`, `no-store`, a body limit, and no token or Graph error text
//! in any page.
//!
//! ```no_run
//! use std::sync::Arc;
//! use lightwidget_web::{Host, Viewer, Web, async_trait};
//! # async fn mount(
//! #     keeper: lightwidget_core::Keeper,
//! #     oauth: lightwidget_instagram::flow::OAuth,
//! #     links: Arc<lightwidget_notify::LinkSigner>,
//! # ) -> Result<(), Box<dyn std::error::Error>> {
//! struct MySite;
//!
//! #[async_trait]
//! impl Host for MySite {
//!     async fn viewer(&self, request: &axum::http::request::Parts) -> Option<Viewer> {
//!         request.extensions.get::<Viewer>().cloned() // your session lookup here
//!     }
//! }
//!
//! let web = Web::builder(keeper, oauth, links, "https://example.com/".parse()?)
//!     .host(Arc::new(MySite))
//!     .app_secrets("consumer app secret".into(), "business app secret".into())
//!     .build()?;
//! let app = axum::Router::new() /* your routes */ .merge(web.router());
//! # let _ = app; Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod accounts;
mod api;
mod callbacks;
mod choose;
mod connect;
mod cookies;
mod host;
pub mod messages;
mod oauth;
mod security;
mod settings;
mod state;
mod viewer;
pub mod views;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::from_fn_with_state;
use axum::response::Response;
use axum::routing::{get, post};
use lightwidget_core::{Clock, ConnectionKind, Keeper, SystemClock};
use lightwidget_instagram::flow::{OAuth, Prompt};
use lightwidget_instagram::state::{MemoryNonceStore, StatePurpose, StateSigner};
use lightwidget_notify::LinkSigner;
use secrecy::SecretString;
use url::Url;

pub use async_trait::async_trait;
pub use host::{Host, HostError, SocialIdentity, SocialSignIn, Step, Viewer};
pub use messages::Messages;
pub use security::{MAX_FORM_BYTES, content_security_policy, secure_cookies};
use state::Inner;
pub use state::{AppSecrets, CacheDurations};
pub use viewer::{CsrfForm, CsrfProtected, MaybeViewer, PlainForm, forbidden, same_secret};
pub use views::{DefaultPages, PageOut, Pages};

/// A setting [`WebBuilder::build`] refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WebError {
    /// No [`Host`] was given ([`WebBuilder::host`]).
    #[error("no Host was given: the web layer must know who is signed in (WebBuilder::host)")]
    NoHost,
    /// The public URL cannot be a base for the routes.
    #[error("the public URL {0} cannot be a base (it must be http(s) and end in /)")]
    PublicUrl(String),
}

/// The web layer: cheap to clone, one per site.
#[derive(Clone)]
pub struct Web {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Web {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Web")
            .field("public_url", &self.inner.public_url.as_str())
            .finish_non_exhaustive()
    }
}

/// Builds a [`Web`]; see [`Web::builder`].
#[must_use]
pub struct WebBuilder {
    keeper: Keeper,
    oauth: OAuth,
    links: Arc<LinkSigner>,
    public_url: Url,
    clock: Arc<dyn Clock>,
    app_secrets: AppSecrets,
    state_signer: Option<StateSigner>,
    host: Option<Arc<dyn Host>>,
    pages: Arc<dyn Pages>,
    cache: CacheDurations,
    messages: Messages,
}

impl std::fmt::Debug for WebBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebBuilder")
            .field("public_url", &self.public_url.as_str())
            .finish_non_exhaustive()
    }
}

fn random_secret() -> SecretString {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
    .into()
}

impl WebBuilder {
    /// The time source (the keeper's, in tests a manual clock). Default: the system clock.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The app secrets Meta signs the deauthorize and data-deletion callbacks with, for
    /// the Instagram Login app and the Facebook Login app. Default: none, and every
    /// callback is refused (a secret shorter than 16 bytes counts as none: Meta's are 32
    /// hex digits).
    pub fn app_secrets(mut self, consumer: SecretString, business: SecretString) -> Self {
        self.app_secrets = AppSecrets { consumer, business };
        self
    }

    /// Signs the OAuth `state` and invitations. Default: a random secret and an
    /// in-memory nonce store, which suits one instance; several instances behind a load
    /// balancer share one secret and a shared nonce store.
    pub fn state_signer(mut self, signer: StateSigner) -> Self {
        self.state_signer = Some(signer);
        self
    }

    /// The host's side (required).
    pub fn host(mut self, host: Arc<dyn Host>) -> Self {
        self.host = Some(host);
        self
    }

    /// The frame of every page. Default: [`DefaultPages`].
    pub fn pages(mut self, pages: Arc<dyn Pages>) -> Self {
        self.pages = pages;
        self
    }

    /// How long widgets may show an old feed after a renewal (the renewal page says so).
    /// Default: [`CacheDurations::default`] (6 hours free, 30 minutes upgraded).
    pub fn cache_durations(mut self, cache: CacheDurations) -> Self {
        self.cache = cache;
        self
    }

    /// The texts of the pages. Default: [`Messages::default`] (the seeds' words).
    pub fn messages(mut self, messages: Messages) -> Self {
        self.messages = messages;
        self
    }

    /// The web layer, or what is missing.
    pub fn build(self) -> Result<Web, WebError> {
        let host = self.host.ok_or(WebError::NoHost)?;
        if self.public_url.cannot_be_a_base()
            || !matches!(self.public_url.scheme(), "http" | "https")
            || !self.public_url.path().ends_with('/')
        {
            return Err(WebError::PublicUrl(self.public_url.to_string()));
        }
        let dialogs: Vec<Url> = [ConnectionKind::Consumer, ConnectionKind::Business]
            .into_iter()
            .filter_map(|k| self.oauth.authorize_url(k, "-", Prompt::Default).ok())
            .collect();
        let state_signer = self.state_signer.unwrap_or_else(|| {
            StateSigner::new(random_secret(), Box::new(MemoryNonceStore::default()))
        });
        Ok(Web {
            inner: Arc::new(Inner {
                keeper: self.keeper,
                clock: self.clock,
                secure_cookies: secure_cookies(&self.public_url),
                csp: content_security_policy(&dialogs),
                oauth: self.oauth,
                app_secrets: self.app_secrets,
                oauth_state: state_signer,
                links: self.links,
                public_url: self.public_url,
                host,
                pages: self.pages,
                cache: self.cache,
                messages: self.messages,
            }),
        })
    }
}

impl std::ops::Deref for Web {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.inner
    }
}

/// A router state the web layer's extractors ([`Viewer`], [`MaybeViewer`],
/// [`CsrfForm`]) can find the [`Web`] in, so the host's own handlers use them too.
/// Implement it for the host's state type; `Arc<T>` of such a type has it.
pub trait WebState: Send + Sync {
    /// The web layer.
    fn web(&self) -> &Web;
}

impl WebState for Web {
    fn web(&self) -> &Web {
        self
    }
}

impl<T: WebState + ?Sized> WebState for Arc<T> {
    fn web(&self) -> &Web {
        (**self).web()
    }
}

impl Web {
    /// Starts building the web layer of `keeper`, with its OAuth flows, the signer of
    /// the renewal and unsubscribe links its notices carry, and the site's public URL
    /// (ending in `/`; the OAuth redirect URI is `{public_url}oauth/callback`).
    pub fn builder(
        keeper: Keeper,
        oauth: OAuth,
        links: Arc<LinkSigner>,
        public_url: Url,
    ) -> WebBuilder {
        WebBuilder {
            keeper,
            oauth,
            links,
            public_url,
            clock: Arc::new(SystemClock),
            app_secrets: AppSecrets {
                consumer: SecretString::default(),
                business: SecretString::default(),
            },
            state_signer: None,
            host: None,
            pages: Arc::new(DefaultPages),
            cache: CacheDurations::default(),
            messages: Messages::default(),
        }
    }

    /// The keeper the pages act on.
    pub fn keeper(&self) -> &Keeper {
        &self.inner.keeper
    }

    /// The signer of the renewal and unsubscribe links.
    pub fn links(&self) -> &LinkSigner {
        &self.inner.links
    }

    /// The OAuth `state` signer (invitations are signed by it too).
    pub fn state_signer(&self) -> &StateSigner {
        &self.inner.oauth_state
    }

    /// The router with every route of the [crate docs](crate), its security layers
    /// applied. Merge it into the host's router.
    pub fn router(&self) -> Router {
        let s = self.clone();
        Router::new()
            .route(views::STYLESHEET_PATH, get(views::stylesheet))
            .route("/accounts", get(accounts::accounts))
            .route("/accounts/{id}/refresh", post(accounts::refresh))
            .route("/accounts/{id}/disconnect", post(accounts::disconnect))
            .route(
                "/connect/choose",
                get(choose::choose_page).post(choose::choose_submit),
            )
            .route("/connect/{kind}", post(accounts::connect_start))
            .route("/invitations", post(accounts::create_invitation))
            .route("/my-token", get(accounts::my_token))
            .route("/my-token/update", post(accounts::update_token))
            .route(
                "/settings",
                get(settings::settings).post(settings::save_settings),
            )
            .route("/access-token", get(oauth::access_token_page))
            .route("/access-token/{kind}", get(oauth::renew_start))
            .route("/renew", get(oauth::renew_link))
            .route("/invite", get(oauth::invite_page))
            .route("/invite/start", get(oauth::invite_start))
            .route("/oauth/callback", get(oauth::oauth_callback))
            .route(
                "/unsubscribe",
                get(callbacks::unsubscribe_page).post(callbacks::unsubscribe),
            )
            .route("/deauthorize", post(callbacks::deauthorize))
            .route(
                "/data-deletion",
                post(callbacks::data_deletion).get(callbacks::data_deletion_status),
            )
            .route("/api/accounts", get(api::accounts))
            .route("/api/accounts/{id}", get(api::account))
            .route("/api/accounts/{id}/history", get(api::history))
            .layer(from_fn_with_state(s.clone(), views::render_pages))
            .layer(DefaultBodyLimit::max(MAX_FORM_BYTES))
            .layer(from_fn_with_state(s.clone(), security::same_origin_posts))
            .layer(from_fn_with_state(s.clone(), security::security_headers))
            .with_state(s)
    }

    /// The host's own routes with the same protection as the web layer's: the body
    /// limit, the cross-site check of state-changing requests, and the security headers.
    pub fn protect(&self, routes: Router) -> Router {
        let s = self.clone();
        routes
            .layer(DefaultBodyLimit::max(MAX_FORM_BYTES))
            .layer(from_fn_with_state(s.clone(), security::same_origin_all))
            .layer(from_fn_with_state(s, security::security_headers))
    }

    /// Starts "Log in with Instagram / Facebook" (call it from the host's login form,
    /// after its own CSRF check): the redirect to the authorize dialog, with a fresh
    /// browser-bound `state`. Who the person is comes only from the verified callback,
    /// which calls [`Host::sign_in`].
    pub async fn start_login(&self, kind: ConnectionKind) -> Response {
        oauth::start_oauth(&self.inner, StatePurpose::Login { kind }, false).await
    }

    /// The web layer's page frame around `body`, for the host's own pages that want the
    /// same look.
    pub fn page(&self, title: &str, viewer: Option<&Viewer>, body: &str) -> String {
        self.inner.pages.page(title, viewer, body)
    }
}
