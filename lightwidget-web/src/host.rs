//! What the host plugs in: who is signed in ([`Host::viewer`]), what they are entitled to,
//! how a social login becomes the host's own session, and where each step sends the
//! browser. Every method but [`Host::viewer`] has a documented default.

use async_trait::async_trait;
use axum::http::HeaderMap;
use axum::http::request::Parts;
use lightwidget_core::{AccountId, ConnectionKind, Entitlements, OwnerId};
use serde::{Deserialize, Serialize};
use url::Url;

/// A boxed error from the host's side (its session store, its billing).
pub type HostError = Box<dyn std::error::Error + Send + Sync>;

/// The person a request comes from, as the host's own session knows them. `Debug`
/// never shows the CSRF token.
#[derive(Clone)]
pub struct Viewer {
    /// The owner id the keeper knows them by.
    pub owner: OwnerId,
    /// The name pages show (a user name, or `@username` for a social login).
    pub name: String,
    /// The host session's CSRF token: a random secret per session, at least 16 bytes,
    /// that every state-changing form of the web layer carries and is compared (in
    /// constant time) with. Never the session id itself.
    pub csrf: String,
    /// Set when they signed in with Instagram or Facebook: the connection they are.
    pub social: Option<SocialIdentity>,
}

impl std::fmt::Debug for Viewer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Viewer")
            .field("owner", &self.owner)
            .field("name", &self.name)
            .field("csrf", &"[REDACTED]")
            .field("social", &self.social)
            .finish()
    }
}

/// Who a social user is: the connection they logged in with.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct SocialIdentity {
    /// Instagram Login (consumer) or Facebook Login (business).
    pub kind: ConnectionKind,
    /// The account they logged in with.
    pub account: AccountId,
    /// Its Instagram username (for display).
    pub username: String,
}

/// A verified "Log in with Instagram / Facebook": who the person is, derived by
/// `Keeper::login` from Meta's answer and never from anything the browser sent.
#[derive(Clone, Debug)]
pub struct SocialSignIn {
    /// The owner to sign in (`instagram:<id>` / `facebook:<id>`).
    pub owner: OwnerId,
    /// The connection they logged in with.
    pub identity: SocialIdentity,
}

/// Where the web layer sends the browser after a step (paths or absolute URLs of the
/// host's site). Each has a default, see [`Host::redirect`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Step {
    /// A signed-in page was asked for without a session (default `/`).
    SignIn,
    /// An account was connected or disconnected (default `/accounts`).
    Connected,
    /// A social login succeeded (default `/my-token`).
    LoggedIn,
}

/// The host's side of the web layer.
///
/// ```
/// use lightwidget_web::{Host, Viewer, async_trait};
/// use axum::http::request::Parts;
///
/// struct MySite;
///
/// #[async_trait]
/// impl Host for MySite {
///     async fn viewer(&self, request: &Parts) -> Option<Viewer> {
///         // Read *your* session (cookie, header) from `request` and say who it is.
///         request.extensions.get::<Viewer>().cloned()
///     }
/// }
/// ```
#[async_trait]
pub trait Host: Send + Sync + 'static {
    /// Who is signed in on this request, from the host's own session; `None` for an
    /// anonymous visitor. Called for every page that needs one; keep it cheap.
    async fn viewer(&self, request: &Parts) -> Option<Viewer>;

    /// What `owner` is entitled to (notifications are a paid feature on many sites).
    /// Default: nothing ([`Entitlements::default`]).
    async fn entitlements(&self, owner: &OwnerId) -> Result<Entitlements, HostError> {
        let _ = owner;
        Ok(Entitlements::default())
    }

    /// A verified social login: create the host's session for `who` (`request` is the
    /// callback's, with the host's session layer's extensions) (a fresh one, with
    /// a new id and CSRF token, so no session is fixed) and answer the headers that
    /// carry it (`Set-Cookie`). A `Location` among them replaces the redirect of
    /// [`Step::LoggedIn`] for this login (a host that hands the result on elsewhere, with
    /// a one-time code in the URL, say). Default: social login is not offered (an error, and the
    /// person sees that signing in failed).
    async fn sign_in(&self, request: &Parts, who: &SocialSignIn) -> Result<HeaderMap, HostError> {
        let _ = (request, who);
        Err("this site does not offer Login with Instagram / Facebook".into())
    }

    /// Where `step` sends the browser. Defaults: [`Step::SignIn`] `/`,
    /// [`Step::Connected`] `/accounts`, [`Step::LoggedIn`] `/my-token`.
    fn redirect(&self, step: Step) -> String {
        match step {
            Step::SignIn => "/".into(),
            Step::Connected => "/accounts".into(),
            Step::LoggedIn => "/my-token".into(),
        }
    }

    /// Adds parameters to an authorize URL before the browser is sent there (a test
    /// sandbox's user choice, say). Default: none.
    fn decorate_authorize_url(&self, kind: ConnectionKind, url: &mut Url) {
        let _ = (kind, url);
    }

    /// How pages name `owner` to people holding a link (an invitation, an unsubscribe
    /// link). Default: the owner id when it is a plain user name; "a user of this site"
    /// for ids that are Meta ids or addresses (`instagram:…`, `…@…`), which must not be
    /// shown to whoever holds a link.
    async fn display_name(&self, owner: &OwnerId) -> String {
        let id = owner.as_str();
        if id.contains([':', '@']) {
            "a user of this site".into()
        } else {
            id.to_owned()
        }
    }

    /// HTML the Accounts page shows below the accounts (the host's widgets, its refresh
    /// queue). Escape what you interpolate. Default: nothing.
    async fn accounts_extra(&self, viewer: &Viewer) -> String {
        let _ = viewer;
        String::new()
    }
}
