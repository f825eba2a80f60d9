//! The site's own sessions, and the [`SiteHost`] that tells the web layer who is signed in.
//!
//! Sessions are server-side (tower-sessions; a bounded in-memory store here, at most
//! [`MAX_SESSIONS`], expired entries evicted; a host's shared store in production): the cookie (`__Host-lw-session`, `HttpOnly`, `Secure`,
//! `SameSite=Lax`) carries only a random id. So logging out deletes the session on the
//! server, and a copied cookie stops working at once; a session unused for
//! [`IDLE_TIMEOUT`] ends; "log out everywhere" ends every session of the user (each
//! session carries the user's generation, and a newer one refuses the older). Anonymous
//! visitors get a session too, so that the login form carries a CSRF token; signing in
//! changes the id and the token (no session fixation).
//!
//! **The email login is a stand-in** (`POST /login` takes a user name, no password). A
//! real host signs people in its own way and then calls [`Sessions::sign_in`].
//! **Log in with Instagram / Facebook** is the web layer's: it calls
//! [`SiteHost::sign_in`] only from the verified OAuth callback.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::http::HeaderMap;
use axum::http::request::Parts;
use lightwidget::sync::Locked;
use lightwidget::web::{Host, HostError, SocialIdentity, SocialSignIn, Viewer};
use lightwidget::*;
use serde::{Deserialize, Serialize};
use tower_sessions::cookie::SameSite;
use tower_sessions::cookie::time::Duration;
use tower_sessions::{Expiry, Session, SessionManagerLayer};
use tower_sessions_moka_store::MokaStore;
use url::Url;

use super::standins::WidgetQueue;

/// A session unused this long ends (sliding: every request renews it).
pub const IDLE_TIMEOUT: Duration = Duration::minutes(30);

const KEY: &str = "lw";

/// The most sessions kept: past it, the least recently used go first.
pub const MAX_SESSIONS: u64 = 100_000;

/// What a session holds, server-side. `Debug` never shows the CSRF token.
#[derive(Clone, Serialize, Deserialize)]
pub struct SessionData {
    /// The signed-in user (their owner id); `None` for an anonymous visitor.
    pub user: Option<String>,
    /// Set when they logged in with Instagram or Facebook.
    pub social: Option<SocialIdentity>,
    /// The per-session CSRF token every form carries.
    pub csrf: String,
    /// The user's generation when the session was signed in ("log out everywhere"
    /// moves it on).
    pub generation: u64,
}

impl std::fmt::Debug for SessionData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionData")
            .field("user", &self.user)
            .field("social", &self.social)
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

fn random_token() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// Whether `u` is an acceptable user name for the stand-in login.
pub fn valid_user(u: &str) -> bool {
    !u.is_empty()
        && u.len() <= 32
        && u.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The site's sessions: the store behind the cookie, and each user's generation.
pub struct Sessions {
    store: MokaStore,
    secure: bool,
    generations: Mutex<HashMap<String, u64>>,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions").finish_non_exhaustive()
    }
}

impl Sessions {
    /// Sessions whose cookie is `Secure` with a `__Host-` name when `secure`.
    pub fn new(secure: bool) -> Self {
        Self {
            store: MokaStore::new(Some(MAX_SESSIONS)),
            secure,
            generations: Mutex::new(HashMap::new()),
        }
    }

    /// The layer that loads and saves sessions around every request.
    pub fn layer(&self) -> SessionManagerLayer<MokaStore> {
        SessionManagerLayer::new(self.store.clone())
            .with_name(if self.secure {
                "__Host-lw-session"
            } else {
                "lw-session"
            })
            .with_path("/")
            .with_secure(self.secure)
            .with_http_only(true)
            .with_same_site(SameSite::Lax)
            .with_expiry(Expiry::OnInactivity(IDLE_TIMEOUT))
    }

    fn generation(&self, user: &str) -> u64 {
        self.generations.locked().get(user).copied().unwrap_or(0)
    }

    /// The session's data if it is current (signed in or anonymous).
    pub async fn current(&self, session: &Session) -> Option<SessionData> {
        let data: SessionData = session.get(KEY).await.ok()??;
        match &data.user {
            Some(u) if data.generation != self.generation(u) => {
                // Ended by "log out everywhere": gone for good.
                let _ = session.flush().await;
                None
            }
            _ => Some(data),
        }
    }

    /// The session's data, creating an anonymous session (with a CSRF token) if there is
    /// none.
    pub async fn ensure(&self, session: &Session) -> Result<SessionData, HostError> {
        if let Some(d) = self.current(session).await {
            return Ok(d);
        }
        let d = SessionData {
            user: None,
            social: None,
            csrf: random_token(),
            generation: 0,
        };
        session.insert(KEY, &d).await?;
        Ok(d)
    }

    /// Signs `user` in on this session, after the host's own check: a new session id
    /// and CSRF token, so nothing of the previous session is kept.
    pub async fn sign_in(
        &self,
        session: &Session,
        user: &str,
        social: Option<SocialIdentity>,
    ) -> Result<(), HostError> {
        session.cycle_id().await?;
        let d = SessionData {
            user: Some(user.to_owned()),
            social,
            csrf: random_token(),
            generation: self.generation(user),
        };
        session.insert(KEY, &d).await?;
        Ok(())
    }

    /// Ends this session on the server (its cookie is worthless from now on).
    pub async fn sign_out(&self, session: &Session) -> Result<(), HostError> {
        session.flush().await?;
        Ok(())
    }

    /// Ends every session of `user`, on every device.
    pub fn sign_out_everywhere(&self, user: &str) {
        *self
            .generations
            .locked()
            .entry(user.to_owned())
            .or_insert(0) += 1;
    }
}

/// The viewer of a session.
pub fn viewer_of(d: SessionData) -> Option<Viewer> {
    let owner = d.user?;
    let name = match &d.social {
        Some(id) => format!("@{}", id.username),
        None => owner.clone(),
    };
    Some(Viewer {
        owner: OwnerId::new(owner),
        name,
        csrf: d.csrf,
        social: d.social,
    })
}

/// The site as the web layer sees it.
pub struct SiteHost {
    /// The sessions.
    pub sessions: Arc<Sessions>,
    /// Owners on a plan that includes notifications (a stand-in for billing).
    pub entitled: HashSet<String>,
    /// The widget queues (the Accounts page shows the owner's).
    pub queue: Arc<WidgetQueue>,
    /// Sandbox only: who logs in at each kind's dialog.
    pub sandbox_login: Arc<Mutex<HashMap<ConnectionKind, String>>>,
    /// Sandbox only: show the dialogs as pages.
    pub sandbox_dialog: Arc<AtomicBool>,
    /// Whether the app runs against the sandbox.
    pub sandbox: bool,
}

#[lightwidget::async_trait]
impl Host for SiteHost {
    async fn viewer(&self, request: &Parts) -> Option<Viewer> {
        let session = request.extensions.get::<Session>()?;
        viewer_of(self.sessions.current(session).await?)
    }

    async fn entitlements(&self, owner: &OwnerId) -> Result<Entitlements, HostError> {
        Ok(Entitlements {
            notifications: self.entitled.contains(owner.as_str()),
        })
    }

    async fn sign_in(&self, request: &Parts, who: &SocialSignIn) -> Result<HeaderMap, HostError> {
        let session = request
            .extensions
            .get::<Session>()
            .ok_or("the session layer is not installed")?;
        self.sessions
            .sign_in(session, who.owner.as_str(), Some(who.identity.clone()))
            .await?;
        // The session layer sets the cookie itself.
        Ok(HeaderMap::new())
    }

    fn decorate_authorize_url(&self, kind: ConnectionKind, url: &mut Url) {
        if let Some(id) = self.sandbox_login.locked().get(&kind) {
            url.query_pairs_mut().append_pair("sandbox_user", id);
        }
        if self.sandbox && self.sandbox_dialog.load(Ordering::Relaxed) {
            url.query_pairs_mut().append_pair("sandbox_dialog", "show");
        }
    }

    async fn accounts_extra(&self, viewer: &Viewer) -> String {
        let queue: String = self
            .queue
            .snapshot(&viewer.owner)
            .iter()
            .enumerate()
            .map(|(i, j)| {
                format!(
                    "<li>{}{}</li>",
                    super::views::esc(j),
                    if i == 0 { " <b>(next)</b>" } else { "" }
                )
            })
            .collect();
        format!("<div class=card><h3>Widget refresh queue</h3><ol id=queue>{queue}</ol></div>")
    }
}
