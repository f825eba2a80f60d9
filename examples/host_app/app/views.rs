//! The site's look: its frame around every page (its own and, through [`SitePages`], the
//! web layer's), and the message pages of its own routes. Pages carry no script.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use lightwidget::web::views::{STYLESHEET_PATH, csrf_field as field};
use lightwidget::web::{Pages, Viewer};

pub use lightwidget::web::views::{esc, status_cell, utc};

/// The hidden CSRF field of a form.
pub fn csrf_field(token: &str) -> String {
    field(token)
}

/// The site's frame: its menu, who is signed in, and the logout buttons.
pub fn frame(title: &str, user: Option<&Viewer>, body: &str) -> String {
    let who = match user {
        Some(u) => format!(
            "<span class=who>Signed in as <b>{}</b> · <form method=post action=\"/logout\">{c}\
<button type=submit class=link id=logout>Log out</button></form> · \
<form method=post action=\"/logout/everywhere\">{c}<button type=submit class=link id=logout-everywhere>\
Log out everywhere</button></form></span>",
            esc(&u.name),
            c = csrf_field(&u.csrf)
        ),
        None => "<span class=who><a href=\"/\">Log in</a></span>".into(),
    };
    format!(
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>{t} · LightWidget</title>\
<meta name=viewport content=\"width=device-width,initial-scale=1\"><link rel=stylesheet href=\"{STYLESHEET_PATH}\"></head><body>\
<header><span class=brand>LightWidget</span><a href=\"/accounts\">Accounts</a><a href=\"/widgets\">Widgets</a>\
<a href=\"/my-token\">My access token</a><a href=\"/settings\">Settings</a><a href=\"/inbox\">Inbox</a>\
<a href=\"/access-token\">Access token page</a>{who}</header>\
<main><h1>{t}</h1>{body}</main></body></html>",
        t = esc(title)
    )
}

/// The web layer's pages in the site's frame.
#[derive(Clone, Copy, Debug, Default)]
pub struct SitePages;

impl Pages for SitePages {
    fn page(&self, title: &str, viewer: Option<&Viewer>, body: &str) -> String {
        frame(title, viewer, body)
    }
}

/// One of the site's own pages.
pub fn layout(title: &str, user: Option<&Viewer>, body: &str) -> Html<String> {
    Html(frame(title, user, body))
}

/// A page with one message. `msg` is HTML: escape what you interpolate.
pub fn message_page(
    status: StatusCode,
    title: &str,
    user: Option<&Viewer>,
    class: &str,
    msg: &str,
) -> Response {
    let body = format!("<div class=\"msg {class}\" id=message>{msg}</div>");
    (status, layout(title, user, &body)).into_response()
}

/// The site could not answer (its sessions or the keeper's store): 503.
pub fn unavailable(user: Option<&Viewer>) -> Response {
    message_page(
        StatusCode::SERVICE_UNAVAILABLE,
        "Temporarily unavailable",
        user,
        "warn",
        "This page is not available right now. Please try again in a minute.",
    )
}
