//! The login page with its three ways in: the email login stand-in (`POST /login`;
//! replace [`login`]'s user check with the host's real authentication), and *Login with
//! Instagram* / *Login with Facebook* (`POST /login/{instagram|facebook}`, the library's
//! login flow). `POST /logout` signs out.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use lightwidget::ConnectionKind;
use lightwidget::instagram::state::StatePurpose;
use serde::Deserialize;

use super::oauth::start_oauth;

use super::session::{CsrfForm, CsrfProtected, CurrentUser, Session, ensure_session, valid_user};
use super::state::{AppState, Jar};
use super::views::{csrf_field, layout, message_page};

/// `GET /`: the welcome page with the login form.
pub async fn index(State(s): State<Arc<AppState>>, jar: Jar) -> Response {
    let (jar, session) = ensure_session(jar, &s);
    let user = CurrentUser::from_session(session.clone());
    let body = format!(
        "<div class=card><p>This is the host app of the lightwidget example: it keeps the \
Instagram access tokens of its users alive.</p>\
<form method=post action=\"/login\" id=login-form>{csrf}<p><b>Log in</b> \
<button type=submit name=user value=alice id=login-alice>alice (Pro plan)</button> \
<button type=submit name=user value=bob class=alt id=login-bob>bob (Free plan)</button></p></form>\
<p class=muted id=login-stand-in>This login is a <b>stand-in</b> for your site's own authentication \
(no password here). In your app, sign people in the way you already do and create the session \
after your check: see <code>examples/host_app/app/session.rs</code>.</p>\
<p>Lost access? The <a href=\"/access-token\">access token page</a> renews a connection without logging in.</p></div>\
<div class=card id=social-login><p><b>Or log in with your Instagram account</b>: no password here, you log in on \
Instagram or Facebook, and your connection is your LightWidget account.</p>\
<form class=inline method=post action=\"/login/instagram\">{csrf}<button type=submit id=login-instagram>Login with Instagram</button></form> \
<form class=inline method=post action=\"/login/facebook\">{csrf}<button type=submit class=alt id=login-facebook>Login with Facebook</button></form>\
<p class=muted>Login with Instagram: professional (Business or Creator) accounts. Login with Facebook: the Facebook \
Page linked to your Instagram business account. Afterwards, <b>My access token</b> shows your token's status.</p></div>",
        csrf = csrf_field(&session.csrf)
    );
    (jar, layout("Welcome", user.as_ref(), &body)).into_response()
}

/// The login form.
#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    user: String,
}

impl CsrfProtected for LoginForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// `POST /login`: the stand-in check, then a new session.
pub async fn login(
    State(s): State<Arc<AppState>>,
    jar: Jar,
    CsrfForm { form }: CsrfForm<LoginForm>,
) -> Response {
    // A real host verifies a password / SSO assertion here instead.
    if !valid_user(&form.user) {
        return message_page(
            StatusCode::BAD_REQUEST,
            "Not signed in",
            None,
            "warn",
            "The user name must be 1-32 letters, digits, - or _.",
        );
    }
    let jar = Session::signed_in(&form.user).store(jar, &s);
    (jar, Redirect::to("/accounts")).into_response()
}

/// `POST /login/{instagram|facebook}`: "Log in with Instagram / Facebook" — the OAuth
/// flow with a [`StatePurpose::Login`] state. Who the person is comes only from the
/// verified callback (`connect::finish`), never from this request.
pub async fn login_social(
    State(s): State<Arc<AppState>>,
    Path(way): Path<String>,
    _form: CsrfForm<PlainForm>,
) -> Response {
    let kind = match way.as_str() {
        "instagram" => ConnectionKind::Consumer,
        "facebook" => ConnectionKind::Business,
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    start_oauth(&s, StatePurpose::Login { kind }, false)
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

/// `POST /logout`.
pub async fn logout(
    State(s): State<Arc<AppState>>,
    jar: Jar,
    _form: CsrfForm<PlainForm>,
) -> Response {
    (Session::clear(jar, &s), Redirect::to("/")).into_response()
}
