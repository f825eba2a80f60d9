//! Who is asking, through the host's [`Host::viewer`](crate::Host::viewer): the
//! [`Viewer`] extractor for signed-in pages, [`MaybeViewer`] for public ones, and the
//! CSRF check of every state-changing form ([`CsrfForm`]).

use axum::extract::{Form, FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::WebState;
use crate::host::{Step, Viewer};
use crate::views::message_page;

/// Signed-in pages take a [`Viewer`]: the host's [`crate::Host::viewer`] says who it is;
/// without one, a GET is sent to [`Step::SignIn`] and anything else is refused (403).
/// Works in the host's own handlers too, with any state a [`crate::Web`] can be taken from ([`crate::WebState`]).
impl<S> FromRequestParts<S> for Viewer
where
    S: WebState,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        let s = state.web();
        match s.host.viewer(parts).await {
            Some(u) => Ok(u),
            None if parts.method == axum::http::Method::GET => {
                Err(Redirect::to(&s.host.redirect(Step::SignIn)).into_response())
            }
            None => Err(forbidden()),
        }
    }
}

/// The signed-in viewer if there is one (public pages show who is signed in).
#[derive(Clone, Debug)]
pub struct MaybeViewer(pub Option<Viewer>);

impl<S> FromRequestParts<S> for MaybeViewer
where
    S: WebState,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let s = state.web();
        Ok(Self(s.host.viewer(parts).await))
    }
}

/// Whether two secrets are equal, in time that does not depend on where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A form that carries the viewer's CSRF token in its `csrf` field.
pub trait CsrfProtected {
    /// The token the form carried.
    fn csrf(&self) -> &str;
}

/// A form with only its CSRF token.
#[derive(Deserialize)]
pub struct PlainForm {
    #[serde(default)]
    csrf: String,
}

impl CsrfProtected for PlainForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// A state-changing form of a signed-in viewer, accepted only with their session's CSRF
/// token ([`Viewer::csrf`]). Cross-site requests were already refused by the Origin /
/// `Sec-Fetch-Site` check; this refuses forged same-site ones and requests without a
/// session. The rejection is 403 and nothing runs.
pub struct CsrfForm<T> {
    /// Who sent it.
    pub viewer: Viewer,
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
        &crate::messages::say("forbidden", &[]),
    )
}

impl<S, T> FromRequest<S> for CsrfForm<T>
where
    S: WebState,
    T: DeserializeOwned + CsrfProtected + Send,
{
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let s = state.web();
        let (parts, body) = req.into_parts();
        let viewer = s.host.viewer(&parts).await.ok_or_else(forbidden)?;
        let req = Request::from_parts(parts, body);
        let Form(form) = Form::<T>::from_request(req, state)
            .await
            .map_err(IntoResponse::into_response)?;
        if viewer.csrf.len() < 16 || !same_secret(&viewer.csrf, form.csrf()) {
            tracing::warn!("form refused: CSRF token does not match the session");
            return Err(forbidden());
        }
        Ok(Self { viewer, form })
    }
}
