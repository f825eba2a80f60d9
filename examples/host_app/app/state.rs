//! What every handler shares: the keeper, the Graph clients, the signers and secrets, and
//! the in-memory stand-ins.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::extract::FromRef;
use axum::http::HeaderValue;
use axum_extra::extract::cookie::Key;
use lightwidget::instagram::flow::OAuth;
use lightwidget::instagram::state::{BindingCookie, StateSigner};
use lightwidget::instagram::{FacebookLogin, InstagramLogin};
use lightwidget::notify::LinkSigner;
use lightwidget::*;
use secrecy::SecretString;
use url::Url;

use super::standins::{Inbox, WidgetQueue};

/// The app secrets Meta signs its callbacks with (`signed_request`).
pub struct AppSecrets {
    /// Instagram Login app (consumer connections).
    pub consumer: SecretString,
    /// Facebook Login app (business connections).
    pub business: SecretString,
}

/// Everything the handlers share.
pub struct AppState {
    /// The token keeper.
    pub keeper: Keeper,
    /// The time source (shared with the keeper; a manual clock in tests).
    pub clock: Arc<dyn Clock>,
    /// Instagram Login client (consumer connections).
    pub consumer: Arc<InstagramLogin>,
    /// Facebook Login client (business connections).
    pub business: Arc<FacebookLogin>,
    /// The OAuth flows of both kinds (authorize URLs, code exchange and its checks).
    pub oauth: OAuth,
    /// App secrets, to verify `signed_request` callbacks.
    pub app_secrets: AppSecrets,
    /// Signs the OAuth `state` (bound to the browser) and developer invitations.
    pub oauth_state: StateSigner,
    /// Signs renewal and unsubscribe links.
    pub links: Arc<LinkSigner>,
    /// Encrypts and authenticates the session cookie.
    pub cookie_key: Key,
    /// Whether cookies are `Secure` with `__Host-` names (HTTPS or loopback).
    pub secure_cookies: bool,
    /// The `Content-Security-Policy` of every response.
    pub csp: HeaderValue,
    /// Where this app is reachable (for links in callbacks' answers and the Origin check).
    pub public_url: Url,
    /// Owners on a plan that includes expired-token notifications (a stand-in for billing).
    pub entitled: HashSet<String>,
    /// The stand-in mailbox the notices go to.
    pub inbox: Arc<Inbox>,
    /// The stand-in widget refresh queues, one per owner.
    pub queue: Arc<WidgetQueue>,
    /// The in-process Graph API sandbox's base URL, when the app runs against it (its
    /// break control is offered on the widget preview).
    pub sandbox: Option<Url>,
    /// Sandbox only: which sandbox user "logs in" at each kind's authorize dialog.
    pub sandbox_login: Mutex<HashMap<ConnectionKind, String>>,
    /// Sandbox only: show the dialogs as pages (choose who logs in, untick a permission,
    /// cancel) instead of allowing at once. On in the demo, off in the tests.
    pub sandbox_dialog: std::sync::atomic::AtomicBool,
    /// Pending Page choices and renewal targets, server-side (see [`super::choose`]).
    pub pending: super::choose::Pending,
    /// Data-deletion requests received: confirmation code -> what was deleted.
    pub deletions: Mutex<HashMap<String, super::callbacks::Deletion>>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("public_url", &self.public_url)
            .field("secure_cookies", &self.secure_cookies)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// The cookie that binds an OAuth flow to the browser that started it.
    pub fn binding_cookie(&self) -> BindingCookie {
        self.oauth_state.binding_cookie(self.secure_cookies)
    }
}

/// The session cookie key, as the cookie jar extractor takes it from the state.
#[derive(Clone)]
pub struct SessionKey(Key);

impl From<SessionKey> for Key {
    fn from(k: SessionKey) -> Self {
        k.0
    }
}

impl FromRef<Arc<AppState>> for SessionKey {
    fn from_ref(s: &Arc<AppState>) -> Self {
        Self(s.cookie_key.clone())
    }
}

/// The encrypted cookie jar of a request.
pub type Jar = axum_extra::extract::PrivateCookieJar<SessionKey>;

/// Locks a stand-in's mutex (a panic elsewhere does not take the app down).
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
