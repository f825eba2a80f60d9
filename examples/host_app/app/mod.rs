//! The host app: what is its own (its login and sessions, its widgets, its mailbox
//! stand-in, its look), with every owner- and Meta-facing page mounted from
//! `lightwidget::web`.
//!
//! - [`state`]: what the handlers share ([`AppState`]).
//! - [`session`]: server-side sessions (tower-sessions) and the [`session::SiteHost`] the
//!   web layer asks who is signed in; [`login`]: the login page, the login stand-in,
//!   logout and "log out everywhere".
//! - [`widgets`]: the widget preview through the Graph gateway (the manual check), the
//!   widget settings page, and the sandbox's break control.
//! - [`views`]: the site's frame (the web layer's pages use it too); [`standins`]: the
//!   widget queue, the widgets and the mailbox; [`inbox`]: the mailbox page.
//!
//! [`app`] builds the router, so the binary and the tests serve the very same app.

pub mod inbox;
pub mod login;
pub mod session;
pub mod standins;
pub mod state;
pub mod views;
pub mod widgets;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};

pub use standins::WidgetQueue;
pub use state::AppState;

/// The app's router: its own routes, protected like the web layer's, then the web layer,
/// all behind the session layer.
pub fn app(state: Arc<AppState>) -> Router {
    let own = Router::new()
        .route("/", get(login::index))
        .route("/login", post(login::login))
        .route("/login/{way}", post(login::login_social))
        .route("/logout", post(login::logout))
        .route("/logout/everywhere", post(login::logout_everywhere))
        .route("/accounts/{id}/preview", get(widgets::preview))
        .route("/accounts/{id}/sandbox-break", post(widgets::sandbox_break))
        .route("/widgets", get(widgets::widgets))
        .route(
            "/widgets/{n}/settings",
            get(widgets::settings).post(widgets::save_settings),
        )
        .route("/inbox", get(inbox::inbox))
        .with_state(state.clone());
    state
        .web
        .protect(own)
        .merge(state.web.router())
        .layer(state.sessions.layer())
}
