//! HTML: the page frame ([`Pages`], replaceable by the host), the stylesheet, messages
//! and the small formatters the pages share. Everything interpolated is escaped; pages
//! carry no script at all.
//!
//! Handlers answer a [`PageOut`] (title, viewer, body); the frame is put around it by
//! one layer of the router, with the host's [`Pages`], so no handler
//! knows the look of the site.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use lightwidget_core::*;
pub use lightwidget_notify::escape_html as esc;

use crate::Web;
use crate::host::Viewer;

/// The default stylesheet, served at [`STYLESHEET_PATH`] (the CSP allows styles from the
/// site only).
pub const CSS: &str = "body{font-family:system-ui,sans-serif;margin:0;background:#f5f6f8;color:#222}\
header{background:#2b2d42;color:#fff;padding:.7em 1.5em;display:flex;gap:1.2em;align-items:center}\
header a{color:#dfe3ff;text-decoration:none}header .brand{font-weight:700;color:#fff;margin-right:1em}\
header .who{margin-left:auto;color:#bbb}header form{display:inline}header .link{background:none;color:#dfe3ff;padding:0}\
main{max-width:62em;margin:1.5em auto;padding:0 1em}\
.card{background:#fff;border-radius:8px;padding:1em 1.3em;margin-bottom:1em;box-shadow:0 1px 3px #0002}\
table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:.45em .6em;border-bottom:1px solid #eee;vertical-align:top}\
th{font-size:.85em;color:#666}.ok{color:#0a7d32;font-weight:700}.bad{color:#c0392b;font-weight:700}\
.btn,button{display:inline-block;background:#4361ee;color:#fff;border:0;border-radius:5px;padding:.45em .9em;text-decoration:none;font-size:.95em;cursor:pointer}\
.btn.alt,button.alt{background:#6c757d}form.inline{display:inline}.msg{padding:.8em 1em;border-radius:6px;margin-bottom:1em}\
.msg.info{background:#e7f5ea}.msg.warn{background:#fdecea}.muted{color:#777;font-size:.9em}\
pre.mail-text{white-space:pre-wrap;overflow-wrap:anywhere;font-family:inherit}\
input[type=text],input[type=email]{padding:.35em;width:22em}code{background:#eee;padding:0 .3em;border-radius:3px}#invite-link{width:100%;box-sizing:border-box}";

/// Where the router serves [`CSS`].
pub const STYLESHEET_PATH: &str = "/lightwidget.css";

/// The look of the web layer's pages: the frame around each page's body. Replace it to
/// give the pages the site's own header, menu and styles.
pub trait Pages: Send + Sync + 'static {
    /// The whole HTML document of a page. `body` is HTML the web layer built (everything
    /// interpolated in it is escaped); `title` is plain text: escape it.
    fn page(&self, title: &str, viewer: Option<&Viewer>, body: &str) -> String {
        default_page(title, viewer, body)
    }
}

/// The default frame: a header with the web layer's pages, the stylesheet at
/// [`STYLESHEET_PATH`].
#[derive(Clone, Copy, Debug, Default)]
pub struct DefaultPages;

impl Pages for DefaultPages {}

/// The default frame of [`DefaultPages`], for hosts that wrap it.
pub fn default_page(title: &str, viewer: Option<&Viewer>, body: &str) -> String {
    let who = match viewer {
        Some(u) => format!(
            "<span class=who>Signed in as <b>{}</b></span>",
            esc(&u.name)
        ),
        None => String::new(),
    };
    format!(
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>{t}</title>\
<meta name=viewport content=\"width=device-width,initial-scale=1\"><link rel=stylesheet href=\"{STYLESHEET_PATH}\"></head><body>\
<header><a href=\"/accounts\">Accounts</a><a href=\"/my-token\">My access token</a>\
<a href=\"/settings\">Settings</a><a href=\"/access-token\">Access token page</a>{who}</header>\
<main><h1>{t}</h1>{body}</main></body></html>",
        t = esc(title)
    )
}

/// A page before its frame: what a handler answers. The router's page layer
/// puts the host's [`Pages`] frame around it.
#[derive(Clone)]
pub struct PageOut {
    /// Plain-text title.
    pub title: String,
    /// Who is looking (the frame may show them).
    pub viewer: Option<Viewer>,
    /// HTML body.
    pub body: String,
}

impl std::fmt::Debug for PageOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The body carries CSRF tokens in its forms.
        f.debug_struct("PageOut")
            .field("title", &self.title)
            .field("viewer", &self.viewer)
            .finish_non_exhaustive()
    }
}

impl IntoResponse for PageOut {
    fn into_response(self) -> Response {
        let mut res = (
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            String::new(),
        )
            .into_response();
        res.extensions_mut().insert(Arc::new(self));
        res
    }
}

/// Puts the frame around every [`PageOut`] (the layer [`crate::Web::router`] adds).
pub(crate) async fn render_pages(State(s): State<Web>, req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    if let Some(p) = res.extensions_mut().remove::<Arc<PageOut>>() {
        let body = crate::messages::expand(&p.body, &s.messages);
        let html = s.pages.page(&p.title, p.viewer.as_ref(), &body);
        res.headers_mut().remove(header::CONTENT_LENGTH);
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        *res.body_mut() = Body::from(html);
    }
    res
}

/// `GET /lightwidget.css`.
pub async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        CSS,
    )
        .into_response()
}

/// The hidden CSRF field of a form.
pub fn csrf_field(token: &str) -> String {
    format!("<input type=hidden name=csrf value=\"{}\">", esc(token))
}

/// A page in the site's frame.
pub fn layout(title: &str, user: Option<&Viewer>, body: &str) -> PageOut {
    PageOut {
        title: title.to_owned(),
        viewer: user.cloned(),
        body: body.to_owned(),
    }
}

/// A page with one message. `msg` is HTML: escape what you interpolate.
pub fn message_page(
    status: StatusCode,
    title: &str,
    user: Option<&Viewer>,
    class: &str,
    msg: &str,
) -> Response {
    let body = format!(
        "<div class=\"msg {class}\" id=message>{msg}</div><p><a class=btn href=\"/access-token\">Back to the access token page</a></p>"
    );
    (status, layout(title, user, &body)).into_response()
}

/// A keeper call failed (the store is down): a 503 page, the cause in the log.
pub fn store_down(e: &Error, user: Option<&Viewer>) -> Response {
    tracing::warn!(error = %e, "keeper call failed");
    message_page(
        StatusCode::SERVICE_UNAVAILABLE,
        "Temporarily unavailable",
        user,
        "warn",
        &crate::messages::say("store-down", &[]),
    )
}

/// A timestamp in UTC, or a dash.
pub fn utc(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| "—".into())
}

/// ACTIVE / NOT ACTIVE, coloured (My access token, as seed 003 says).
pub fn status_cell(r: &StatusReport) -> String {
    status_in(r, r.status.label())
}

/// Active / Expired, coloured (the Accounts page, as seed 002 says).
pub fn account_status_cell(r: &StatusReport) -> String {
    status_in(
        r,
        if r.status.is_active() {
            "Active"
        } else {
            "Expired"
        },
    )
}

fn status_in(r: &StatusReport, word: &str) -> String {
    let class = if r.status.is_active() { "ok" } else { "bad" };
    let mut out = format!("<span class=\"status {class}\">{word}</span>");
    if r.unverified {
        out.push_str(&format!(
            "<br><span class=\"muted unverified\">not verified since {}</span>",
            utc(r.verified_at)
        ));
    }
    if let Some(lightwidget_core::Hold::Incident { since, .. }) = r.hold {
        out.push_str(&format!(
            "<br><span class=\"muted platform\">A problem on Instagram's side since {}: nothing to do on your side; we check again on our own</span>",
            utc(Some(since))
        ));
    }
    out
}

/// Why a token is not active.
pub fn reason_text(r: &StatusReport) -> String {
    r.status
        .reason()
        .map(|x| esc(&x.describe()))
        .unwrap_or_else(|| "—".into())
}

/// The current run of failed attempts, in words: how many, and what the last one was
/// (the keeper keeps trying on its own; tokens never appear in these texts).
pub fn failures_text(r: &StatusReport) -> String {
    if r.failures == 0 {
        return "—".into();
    }
    let last = r.last_error.as_deref().unwrap_or_default();
    let words = if last.starts_with("rate limited") {
        "Instagram asked us to slow down; we retry later"
    } else if last.starts_with("temporary provider failure") {
        "Instagram did not answer; we retry later"
    } else if last.starts_with("provider call failed") {
        "this site's Instagram app settings were refused; the site's operator must fix them"
    } else {
        "Instagram refused the last attempt; we retry later"
    };
    format!(
        "<span class=failures>{n} failed attempt{s}</span><br><span class=\"muted last-error\">{words}</span>",
        n = r.failures,
        s = if r.failures == 1 { "" } else { "s" },
    )
}

/// When the token (and its data access) expire.
pub fn expiry_text(r: &StatusReport) -> String {
    let mut s = match r.expires_at {
        Some(t) => utc(Some(t)),
        None => "never (Page token)".into(),
    };
    if let Some(d) = r.data_access_expires_at {
        s.push_str(&format!(
            "<br><span class=muted>data access until {}</span>",
            utc(Some(d))
        ));
    }
    s
}

/// What a history entry says beyond its name, in plain text (escape it for HTML).
pub fn history_detail(e: &HistoryEntry) -> String {
    match &e.event.kind {
        TokenEventKind::Connected { expires_at }
        | TokenEventKind::Refreshed { expires_at }
        | TokenEventKind::Reconnected { expires_at } => match expires_at {
            Some(t) => format!("new token, expires {}", utc(Some(*t))),
            None => "new token (no expiry)".into(),
        },
        TokenEventKind::Expired { reason } => reason.describe(),
        TokenEventKind::Revoked => "the app was removed from the account".into(),
        TokenEventKind::NoticeSent { topic, channels } => {
            format!("“{}” notice sent by {}", topic, channels.join(", "))
        }
        TokenEventKind::NoticeSuppressed { topic, why } => {
            format!("“{}” notice not sent: {}", topic, why)
        }
        TokenEventKind::NoticeFailed { topic, error } => {
            format!("“{}” notice failed: {}", topic, error)
        }
        _ => String::new(),
    }
}

/// One row of a token's history: when, the event in words, what it says.
pub fn history_row(e: &HistoryEntry) -> String {
    format!(
        "<tr class=event data-event=\"{name}\"><td>{}</td><td class=event-name>{}</td><td>{}</td></tr>",
        utc(Some(e.event.at)),
        e.event.kind.label(),
        esc(&history_detail(e)),
        name = e.event.kind.name(),
    )
}

/// Percent-encodes a query value.
pub fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Parses a connection kind from a path segment.
pub fn parse_kind(k: &str) -> Option<ConnectionKind> {
    match k {
        "consumer" => Some(ConnectionKind::Consumer),
        "business" => Some(ConnectionKind::Business),
        _ => None,
    }
}

/// What the owner is told after any renewal, in the seed's words: the widgets go first in
/// the refresh queue, which takes a minute or two, and the browser cache may show the old
/// feed for a while (how long is the host's [`CacheDurations`](crate::CacheDurations)).
pub fn after_renewal(cache: &crate::CacheDurations) -> String {
    use crate::messages::say;
    let free = duration_words(cache.free);
    let cached = match cache.upgraded {
        Some(up) => say(
            "cache-by-plan",
            &[("free", &free), ("upgraded", &duration_words(up))],
        ),
        None => say("cache-one", &[("free", &free)]),
    };
    format!(
        "<div class=\"msg info\" id=after-renewal><p>{}</p><p>{}</p></div>",
        say("after-renewal-queue", &[]),
        say("after-renewal-cache", &[("cached", &cached)])
    )
}

/// "6 hours", "30 minutes", "1 hour", "90 seconds".
pub fn duration_words(d: chrono::TimeDelta) -> String {
    let plural = |n: i64, unit: &str| {
        if n == 1 {
            format!("1 {unit}")
        } else {
            format!("{n} {unit}s")
        }
    };
    let s = d.num_seconds().max(0);
    if s >= 3600 && s % 3600 == 0 {
        plural(s / 3600, "hour")
    } else if s >= 60 && s % 60 == 0 {
        plural(s / 60, "minute")
    } else {
        plural(s, "second")
    }
}
