//! The host web app: its state, its router and its pages, by concern.
//!
//! - [`state`]: what the handlers share ([`AppState`], secrets as `SecretString`).
//! - [`session`]: the encrypted session cookie, the [`session::CurrentUser`] extractor
//!   and the CSRF-checked [`session::CsrfForm`]; [`login`] is the login stand-in.
//! - [`security`]: the cross-site POST check, the body cap, the security headers.
//! - [`accounts`], [`settings`]: the signed-in pages; [`oauth`] and [`connect`]: the
//!   OAuth flows, [`choose`] the choice among several Pages; [`callbacks`]: unsubscribe and Meta's callbacks.
//! - [`widgets`]: the widget preview through the Graph gateway (and the sandbox's break
//!   control).
//! - [`views`]: layout and formatters; [`standins`]: the widget queue and the mailbox.
//!
//! [`app`] builds the router, so the binary and the tests serve the very same app.

pub mod accounts;
pub mod callbacks;
pub mod choose;
pub mod connect;
pub mod login;
pub mod oauth;
pub mod security;
pub mod session;
pub mod settings;
pub mod standins;
pub mod state;
pub mod views;
pub mod widgets;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::from_fn_with_state;
use axum::routing::{get, post};

pub use standins::{Inbox, WidgetQueue};
pub use state::{AppSecrets, AppState};

/// The app's router.
pub fn app(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/", get(login::index))
        .route("/app.css", get(views::stylesheet))
        .route("/login", post(login::login))
        .route("/login/{way}", post(login::login_social))
        .route("/logout", post(login::logout))
        .route("/accounts", get(accounts::accounts))
        .route("/accounts/{id}/refresh", post(accounts::refresh))
        .route("/accounts/{id}/disconnect", post(accounts::disconnect))
        .route("/accounts/{id}/preview", get(widgets::preview))
        .route("/accounts/{id}/sandbox-break", post(widgets::sandbox_break))
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
        .route("/inbox", get(settings::inbox))
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
        .layer(DefaultBodyLimit::max(security::MAX_FORM_BYTES))
        .layer(from_fn_with_state(
            state.clone(),
            security::same_origin_posts,
        ))
        .layer(from_fn_with_state(
            state.clone(),
            security::security_headers,
        ))
        .with_state(state)
}
