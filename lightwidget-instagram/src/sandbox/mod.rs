//! A Graph API sandbox: an in-process HTTP server on `127.0.0.1:0` that behaves like the
//! endpoints lightwidget uses — real payload shapes, 60-day lifetimes on a controllable
//! clock, the 24 h refresh rule, Page tokens that never expire, data-access expiry, an
//! authorize dialog that redirects back with a code (or with the person's refusal),
//! scenarios (password change,
//! checkpoint, app removal with a signed deauthorize callback, session invalidation,
//! data access expiry) and fault injection (5xx, delays, malformed JSON, rate limits and
//! usage headers).
//!
//! ```
//! # #[tokio::main] async fn main() {
//! use lightwidget_instagram::sandbox::{Sandbox, SandboxConfig};
//! let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
//! let paul = sandbox.create_consumer_user("paul");
//! let token = sandbox.issue_consumer_token(&paul, chrono::TimeDelta::days(2));
//! let url = format!("{}refresh_access_token?grant_type=ig_refresh_token&access_token={}", sandbox.base_url(), token.secret());
//! let body: serde_json::Value = reqwest::get(url).await.unwrap().json().await.unwrap();
//! assert_eq!(body["expires_in"], 5_184_000);
//! # }
//! ```

mod control;
pub use control::{BREAK_REASONS, break_remote};
mod feed;
mod oauth;
mod routes;
mod state;

use lightwidget_core::sync::Locked;
use std::net::SocketAddr;
use std::sync::Arc;

use chrono::TimeDelta;
use lightwidget_core::{Clock, SystemClock, Token};
use url::Url;

pub use state::{Fault, Scenario, UserHandle};
use state::{SandboxState, TokenKind};

/// What the person does at the sandbox's authorize dialogs, as query parameters a test
/// appends to the authorize URL: who logs in (`sandbox_user=<id>`, else the
/// [`Sandbox::set_login_user`] user, else the dialog is refused), `sandbox_outcome=cancel`
/// (the redirect carries `error=access_denied`), `sandbox_untick=<scope>,...` (allowed
/// with those permissions unticked: the code exchange, `debug_token` and the tokens
/// carry only what was granted). Logging in at a dialog heals a broken account for its
/// new tokens; the tokens issued before stay broken.
pub mod dialog {
    /// Who logs in.
    pub const USER: &str = "sandbox_user";
    /// `cancel` to refuse.
    pub const OUTCOME: &str = "sandbox_outcome";
    /// Permissions to untick (comma-separated).
    pub const UNTICK: &str = "sandbox_untick";
    /// `show` for the dialog as a page.
    pub const PAGE: &str = "sandbox_dialog";
}

/// Sandbox settings.
#[derive(Clone)]
pub struct SandboxConfig {
    /// Instagram Login app (id, secret) the sandbox accepts.
    pub consumer_app: (String, String),
    /// Facebook Login app (id, secret) the sandbox accepts.
    pub business_app: (String, String),
    /// The sandbox's clock (share a `ManualClock` with the keeper to simulate months).
    pub clock: Arc<dyn Clock>,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            consumer_app: ("ig-sandbox-app".into(), "ig-sandbox-secret".into()),
            business_app: ("fb-sandbox-app".into(), "fb-sandbox-secret".into()),
            clock: Arc::new(SystemClock),
        }
    }
}

impl std::fmt::Debug for SandboxConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxConfig")
            .field("consumer_app_id", &self.consumer_app.0)
            .field("business_app_id", &self.business_app.0)
            .finish_non_exhaustive()
    }
}

/// A running sandbox. Dropping it stops the server.
pub struct Sandbox {
    addr: SocketAddr,
    state: Arc<SandboxState>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

impl Sandbox {
    /// Binds `127.0.0.1:0` and serves on the current tokio runtime.
    pub async fn start(cfg: SandboxConfig) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(SandboxState::new(cfg));
        let _ = state.base.set(format!("http://{addr}/"));
        let app = routes::router(state.clone());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Ok(Self {
            addr,
            state,
            stop: Some(tx),
        })
    }

    /// `http://127.0.0.1:PORT` — use it for every base URL ([`crate::BaseUrls::all`]).
    pub fn base_url(&self) -> Url {
        Url::parse(&format!("http://{}", self.addr)).expect("loopback URL")
    }

    /// A [`crate::GraphConfig`] builder for the sandbox's consumer app.
    pub fn consumer_config(&self) -> crate::GraphConfigBuilder {
        let (id, secret) = &self.state.cfg.consumer_app;
        crate::GraphConfig::builder(id, secret).base_urls(crate::BaseUrls::all(&self.base_url()))
    }

    /// A [`crate::GraphConfig`] builder for the sandbox's business app.
    pub fn business_config(&self) -> crate::GraphConfigBuilder {
        let (id, secret) = &self.state.cfg.business_app;
        crate::GraphConfig::builder(id, secret).base_urls(crate::BaseUrls::all(&self.base_url()))
    }

    /// A test user who connects with Instagram Login.
    pub fn create_consumer_user(&self, username: &str) -> UserHandle {
        self.state.create_user(username, false)
    }

    /// A test user with a Facebook Page linked to an Instagram business account.
    pub fn create_business_user(&self, username: &str) -> UserHandle {
        self.state.create_user(username, true)
    }

    /// Gives the Facebook user of `owner` (a business user) another Page, linked to a
    /// new Instagram business account `username`: `/me/accounts` with their token then
    /// lists both Pages, each with a Page token that reads its own account only. The
    /// handle is the new account's (its `fb_user_id` is `owner`'s).
    pub fn add_business_page(&self, owner: &UserHandle, username: &str) -> UserHandle {
        self.state.add_business_page(owner, username)
    }

    /// The Instagram account of `business` (a Facebook Login user) as Instagram Login
    /// sees it: a consumer user with the same username and its **own** id. Meta names one
    /// professional account with an Instagram-scoped user id in Instagram Login and with
    /// the Instagram business account id in Facebook Login, and does not promise they
    /// are equal; what both flows share is the username.
    pub fn instagram_login_of(&self, business: &UserHandle) -> UserHandle {
        self.state.create_user(&business.username, false)
    }

    /// A test user with a *personal* Instagram account (`account_type` `PERSONAL`): Meta
    /// ended the Basic Display API on 2024-12-04, so such an account can no longer be
    /// connected; the login flow refuses it.
    pub fn create_personal_user(&self, username: &str) -> UserHandle {
        self.state.create_user_of_type(username, false, "PERSONAL")
    }

    /// Mints a long-lived Instagram Login token issued `age` ago (60-day lifetime),
    /// without the OAuth dance. Cheap: for seeding thousands of accounts.
    pub fn issue_consumer_token(&self, user: &UserHandle, age: TimeDelta) -> Token {
        let now = self.state.now();
        let issued = now - age;
        let exp = issued + TimeDelta::days(60);
        let v = self
            .state
            .mint(&user.id, TokenKind::IgLong, issued, Some(exp));
        Token::new(v, issued)
            .expiring_at(exp)
            .with_scopes(["instagram_business_basic"])
    }

    /// Mints a Page token (never expires; data access lapses 90 days from now).
    pub fn issue_page_token(&self, user: &UserHandle) -> Token {
        let now = self.state.now();
        let v = self.state.mint(&user.id, TokenKind::Page, now, None);
        let dae = self.state.data_access_expires_at(&user.id);
        Token::new(v, now)
            .with_data_access_expires_at(dae)
            .with_scopes(["instagram_basic", "pages_show_list"])
    }

    /// Who "logs in" at the next authorize dialog.
    pub fn set_login_user(&self, user: &UserHandle) {
        *self.state.login_user.locked() = Some(user.id.clone());
    }

    /// Puts a user in a scenario: every call with their tokens fails accordingly.
    pub fn set_scenario(&self, user: &UserHandle, s: Option<Scenario>) {
        self.state.set_scenario(&user.id, s);
    }

    /// The user changed their password (190/460).
    pub fn password_changed(&self, user: &UserHandle) {
        self.set_scenario(user, Some(Scenario::PasswordChanged));
    }

    /// Security checkpoint (190/459).
    pub fn checkpoint(&self, user: &UserHandle) {
        self.set_scenario(user, Some(Scenario::Checkpoint));
    }

    /// Session invalidated (190/467).
    pub fn invalidate_session(&self, user: &UserHandle) {
        self.set_scenario(user, Some(Scenario::SessionInvalidated));
    }

    /// The user removes the app (190/458); if `callback` is given, POSTs a correctly
    /// signed `signed_request` form field to it, like Meta's deauthorize callback.
    /// Returns the callback's HTTP status.
    pub async fn remove_app(&self, user: &UserHandle, callback: Option<&Url>) -> Option<u16> {
        self.set_scenario(user, Some(Scenario::AppRemoved));
        self.state.deauthorize_callback(user, callback?).await
    }

    /// The user takes a permission back from the app (code 10 on every call): the
    /// gateway's feed calls end the token with `PermissionRemoved`.
    pub fn remove_permission(&self, user: &UserHandle) {
        self.set_scenario(user, Some(Scenario::PermissionRemoved));
    }

    /// Meta throttles the user's account (code 80002, with `X-Business-Use-Case-Usage`
    /// naming it and `estimated_time_to_regain_access` in minutes) until healed.
    pub fn rate_limit(&self, user: &UserHandle, regain_minutes: u64) {
        self.set_scenario(user, Some(Scenario::RateLimited { regain_minutes }));
    }

    /// Ends any scenario: the user's tokens work again.
    pub fn heal(&self, user: &UserHandle) {
        self.set_scenario(user, None);
    }

    /// How many media the feed endpoints serve for the user (default 30, at most 999).
    pub fn set_media_count(&self, user: &UserHandle, n: usize) {
        self.state.set_media_count(&user.id, n);
    }

    /// Data access lapses now (business users).
    pub fn expire_data_access(&self, user: &UserHandle) {
        self.state
            .set_data_access(&user.id, self.state.now() - TimeDelta::seconds(1));
    }

    /// Sets when data access lapses.
    pub fn set_data_access_expires_at(&self, user: &UserHandle, at: chrono::DateTime<chrono::Utc>) {
        self.state.set_data_access(&user.id, at);
    }

    /// The next `n` requests (any endpoint) get `fault`.
    pub fn inject(&self, fault: Fault, n: usize) {
        self.state.inject(fault, n);
    }

    /// Every call of the app answers with this Graph error from now on, for every
    /// account (an app-level failure: a capability lost after an app-review change, an
    /// app restricted or in development mode), until [`clear_app_error`](Self::clear_app_error).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let sandbox = lightwidget_instagram::sandbox::Sandbox::start(Default::default()).await.unwrap();
    /// sandbox.set_app_error(3, "(#3) Application does not have the capability to make this API call.");
    /// sandbox.clear_app_error();
    /// # }
    /// ```
    pub fn set_app_error(&self, code: i64, message: &str) {
        *self.state.app_error.locked() = Some((code, message.to_owned()));
    }

    /// Ends [`set_app_error`](Self::set_app_error).
    pub fn clear_app_error(&self) {
        *self.state.app_error.locked() = None;
    }

    /// Adds `X-App-Usage` with this percentage to every response (`None` = off).
    pub fn set_app_usage(&self, percent: Option<u32>) {
        *self.state.app_usage.locked() = percent;
    }

    /// Requests served per endpoint name (`refresh`, `me`, `debug_token`, ...).
    pub fn requests(&self, endpoint: &str) -> u64 {
        self.state.count(endpoint)
    }
}
