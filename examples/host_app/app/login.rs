//! The login page with its three ways in: the email login stand-in (`POST /login`;
//! replace its user check with the site's real authentication), and *Login with
//! Instagram* / *Login with Facebook* (`POST /login/{instagram|facebook}`, the web
//! layer's flow). `POST /logout` ends this session on the server, `POST
//! /logout/everywhere` every session of the user.

use std::sync::Arc;

use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use lightwidget::ConnectionKind;
use lightwidget::web::{CsrfForm, PlainForm, forbidden, same_secret};
use serde::Deserialize;
use tower_sessions::Session;

use super::session::{valid_user, viewer_of};
use super::state::AppState;
use super::views::{csrf_field, layout, message_page, unavailable};

type S = State<Arc<AppState>>;

/// `GET /`: the welcome page with the login form.
pub async fn index(State(s): S, session: Session) -> Response {
    let data = match s.sessions.ensure(&session).await {
        Ok(d) => d,
        Err(_) => return unavailable(None),
    };
    let csrf = csrf_field(&data.csrf);
    let user = viewer_of(data);
    let body = format!(
        "<div class=card><p>This is the host app of the lightwidget example: it keeps the \
Instagram access tokens of its users alive.</p>\
<form method=post action=\"/login\" id=login-form>{csrf}<p><b>Log in</b> \
<button type=submit name=user value=alice id=login-alice>alice (Pro plan)</button> \
<button type=submit name=user value=bob class=alt id=login-bob>bob (Free plan)</button></p></form>\
<p class=muted id=login-stand-in>This login is a <b>stand-in</b> for your site's own authentication \
(no password here). In your app, sign people in the way you already do and create the session \
after your check: see <code>examples/host_app/app/session.rs</code>.</p>\
<p>Lost access? The <a href=\"/access-token\">access token page</a> renews a connection without logging in.</p>\
<p>Is my access token active? <a href=\"/widgets\">Preview a widget</a>: if you see your pictures, it is.</p></div>\
<div class=card id=social-login><p><b>Or log in with your Instagram account</b>: no password here, you log in on \
Instagram or Facebook, and your connection is your LightWidget account.</p>\
<form class=inline method=post action=\"/login/instagram\">{csrf}<button type=submit id=login-instagram>Login with Instagram</button></form> \
<form class=inline method=post action=\"/login/facebook\">{csrf}<button type=submit class=alt id=login-facebook>Login with Facebook</button></form>\
<p class=muted>Login with Instagram: professional (Business or Creator) accounts. Login with Facebook: the Facebook \
Page linked to your Instagram business account. Afterwards, <b>My access token</b> shows your token's status.</p></div>",
    );
    layout("Welcome", user.as_ref(), &body).into_response()
}

/// The login form (anonymous sessions carry a CSRF token too).
#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    user: String,
}

/// Whether `token` is the CSRF token of this (possibly anonymous) session.
async fn csrf_ok(s: &AppState, session: &Session, token: &str) -> bool {
    match s.sessions.current(session).await {
        Some(d) => same_secret(&d.csrf, token),
        None => false,
    }
}

/// `POST /login`: the stand-in check, then a new session.
pub async fn login(State(s): S, session: Session, Form(form): Form<LoginForm>) -> Response {
    if !csrf_ok(&s, &session, &form.csrf).await {
        return forbidden();
    }
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
    match s.sessions.sign_in(&session, &form.user, None).await {
        Ok(()) => Redirect::to("/accounts").into_response(),
        Err(_) => unavailable(None),
    }
}

/// A form with only its CSRF token (anonymous sessions included).
#[derive(Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /login/{instagram|facebook}`: "Log in with Instagram / Facebook", the web
/// layer's flow. Who the person is comes only from the verified callback.
pub async fn login_social(
    State(s): S,
    session: Session,
    Path(way): Path<String>,
    Form(form): Form<TokenForm>,
) -> Response {
    if !csrf_ok(&s, &session, &form.csrf).await {
        return forbidden();
    }
    let kind = match way.as_str() {
        "instagram" => ConnectionKind::Consumer,
        "facebook" => ConnectionKind::Business,
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    s.web.start_login(kind).await
}

/// `POST /logout`: this session ends on the server.
pub async fn logout(State(s): S, session: Session, _f: CsrfForm<PlainForm>) -> Response {
    let _ = s.sessions.sign_out(&session).await;
    Redirect::to("/").into_response()
}

/// `POST /logout/everywhere`: every session of this user ends, on every device.
pub async fn logout_everywhere(State(s): S, session: Session, f: CsrfForm<PlainForm>) -> Response {
    s.sessions.sign_out_everywhere(f.viewer.owner.as_str());
    let _ = s.sessions.sign_out(&session).await;
    Redirect::to("/").into_response()
}
