//! Who is asking: the session cookie, the [`CurrentUser`] extractor, and the CSRF check
//! of every state-changing form ([`CsrfForm`]).
//!
//! The session is an encrypted, authenticated cookie (axum-extra's `Jar`,
//! AES-256-GCM with the cookie's name bound in): `__Host-lw-session`, `HttpOnly`,
//! `Secure`, `SameSite=Lax`, holding the user name, a per-session CSRF token and an
//! expiry. Anonymous visitors get one too (with no user) so that the login form itself
//! carries a CSRF token; logging in replaces it, token and all (no session fixation).
//!
//! **The email login is a stand-in** (`POST /login` accepts a user name, no password). A
//! real host plugs its own authentication in at exactly one place: [`Session::signed_in`]
//! is called by `login::login` after *its* check (password, SSO, ...); everything else
//! only reads [`CurrentUser`].
//!
//! **Log in with Instagram / Facebook** is real: [`Session::signed_in_social`] is called
//! only from the verified OAuth callback, with the owner identity `Keeper::login`
//! derived from Meta's answer (`instagram:<id>` / `facebook:<id>`), never from anything
//! the browser sent. Email user names cannot contain `:`, so the two never collide.

use std::sync::Arc;

use axum::extract::{Form, FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::{Cookie, SameSite};
use chrono::{TimeDelta, Utc};
use lightwidget::{AccountId, ConnectionKind, OwnerId};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::state::{AppState, Jar};
use super::views::message_page;

/// How long a session lasts (wall time: browsers, not the keeper's clock).
const SESSION_TTL: TimeDelta = TimeDelta::hours(8);

/// The session cookie's name: `__Host-` when cookies are `Secure`.
pub fn cookie_name(s: &AppState) -> &'static str {
    if s.secure_cookies {
        "__Host-lw-session"
    } else {
        "lw-session"
    }
}

/// What the session cookie holds (encrypted: the browser cannot read or change it).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Session {
    /// The signed-in user (their owner id); `None` for an anonymous visitor.
    pub user: Option<String>,
    /// Set when they logged in with Instagram or Facebook: the connection they are.
    #[serde(default)]
    pub social: Option<SocialIdentity>,
    /// The per-session CSRF token every form carries.
    pub csrf: String,
    exp: i64,
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

impl Session {
    /// A new anonymous session.
    pub fn anonymous() -> Self {
        Self {
            user: None,
            social: None,
            csrf: random_token(),
            exp: (Utc::now() + SESSION_TTL).timestamp(),
        }
    }

    /// A new session for `user`, who the host has just authenticated. Everything of the
    /// previous session, CSRF token included, is replaced.
    pub fn signed_in(user: &str) -> Self {
        Self {
            user: Some(user.to_owned()),
            ..Self::anonymous()
        }
    }

    /// A new session for a person who logged in with Instagram or Facebook. Call it only
    /// from the verified callback, with the owner `Keeper::login` returned.
    pub fn signed_in_social(
        owner: &OwnerId,
        kind: ConnectionKind,
        account: AccountId,
        username: &str,
    ) -> Self {
        Self {
            user: Some(owner.as_str().to_owned()),
            social: Some(SocialIdentity {
                kind,
                account,
                username: username.to_owned(),
            }),
            ..Self::anonymous()
        }
    }

    /// Whether `token` is this session's CSRF token (constant time).
    pub fn csrf_matches(&self, token: &str) -> bool {
        let (a, b) = (self.csrf.as_bytes(), token.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }

    /// The session in the request's cookies, if it is ours and current.
    pub fn from_jar(jar: &Jar, s: &AppState) -> Option<Self> {
        let c = jar.get(cookie_name(s))?;
        let session: Self = serde_json::from_str(c.value()).ok()?;
        (session.exp > Utc::now().timestamp()).then_some(session)
    }

    /// The jar with this session stored.
    pub fn store(&self, jar: Jar, s: &AppState) -> Jar {
        let value = serde_json::to_string(self).expect("plain data");
        jar.add(base_cookie(s, value))
    }

    /// The jar with the session removed.
    pub fn clear(jar: Jar, s: &AppState) -> Jar {
        jar.remove(base_cookie(s, String::new()))
    }
}

fn base_cookie(s: &AppState, value: String) -> Cookie<'static> {
    Cookie::build((cookie_name(s), value))
        .path("/")
        .http_only(true)
        .secure(s.secure_cookies)
        .same_site(SameSite::Lax)
        .build()
}

/// The signed-in user. Pages that need one take this extractor; without a session it
/// answers with a redirect to the login page (GET) or 403 (anything else).
#[derive(Clone, Debug)]
pub struct CurrentUser {
    /// The name shown: the user name, or `@username` for a social user.
    pub name: String,
    /// The owner id the keeper knows them by.
    pub owner: OwnerId,
    /// Their session's CSRF token (for the forms on the page).
    pub csrf: String,
    /// The connection a social user logged in with (`None` for email users).
    pub social: Option<SocialIdentity>,
}

impl CurrentUser {
    /// The user of a session, if it is signed in.
    pub fn from_session(session: Session) -> Option<Self> {
        let owner = session.user?;
        let name = match &session.social {
            Some(id) => format!("@{}", id.username),
            None => owner.clone(),
        };
        Some(Self {
            owner: OwnerId::new(owner),
            name,
            csrf: session.csrf,
            social: session.social,
        })
    }
}

async fn session_of(parts: &mut Parts, s: &Arc<AppState>) -> Option<Session> {
    let jar = Jar::from_request_parts(parts, s).await.ok()?;
    Session::from_jar(&jar, s)
}

impl FromRequestParts<Arc<AppState>> for CurrentUser {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        s: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        match session_of(parts, s)
            .await
            .and_then(CurrentUser::from_session)
        {
            Some(u) => Ok(u),
            None if parts.method == axum::http::Method::GET => {
                Err(Redirect::to("/").into_response())
            }
            None => Err(forbidden()),
        }
    }
}

/// The signed-in user if there is one (public pages show who is signed in).
#[derive(Clone, Debug)]
pub struct MaybeUser(pub Option<CurrentUser>);

impl FromRequestParts<Arc<AppState>> for MaybeUser {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        s: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self(
            session_of(parts, s)
                .await
                .and_then(CurrentUser::from_session),
        ))
    }
}

/// A form that carries the session's CSRF token in its `csrf` field.
pub trait CsrfProtected {
    /// The token the form carried.
    fn csrf(&self) -> &str;
}

/// A state-changing form, accepted only with the CSRF token of the requester's session
/// (anonymous sessions included: the login form). Cross-site requests were already
/// refused by the Origin / `Sec-Fetch-Site` check (`security::same_origin_posts`); this
/// refuses forged same-site ones and requests without a session. The rejection is 403
/// and nothing runs.
pub struct CsrfForm<T> {
    /// The form.
    pub form: T,
}

/// The 403 page of a refused form.
pub fn forbidden() -> Response {
    message_page(
        StatusCode::FORBIDDEN,
        "Request refused",
        None,
        "warn",
        "This form was not sent from this site, or your session ended. Nothing was changed: \
reload the page and try again.",
    )
}

impl<T> FromRequest<Arc<AppState>> for CsrfForm<T>
where
    T: DeserializeOwned + CsrfProtected + Send,
{
    type Rejection = Response;

    async fn from_request(req: Request, s: &Arc<AppState>) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let session = session_of(&mut parts, s).await.ok_or_else(forbidden)?;
        let req = Request::from_parts(parts, body);
        let Form(form) = Form::<T>::from_request(req, s)
            .await
            .map_err(IntoResponse::into_response)?;
        if !session.csrf_matches(form.csrf()) {
            tracing::warn!("form refused: CSRF token does not match the session");
            return Err(forbidden());
        }
        Ok(Self { form })
    }
}

/// Gives a visitor without a session an anonymous one (for the login form's token).
pub fn ensure_session(jar: Jar, s: &AppState) -> (Jar, Session) {
    match Session::from_jar(&jar, s) {
        Some(session) => (jar, session),
        None => {
            let session = Session::anonymous();
            (session.store(jar, s), session)
        }
    }
}
