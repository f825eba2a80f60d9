//! HTML: the layout, the stylesheet, messages and the small formatters the pages share.
//! Everything interpolated is escaped; pages carry no script at all.

use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use chrono::{DateTime, Utc};
pub use lightwidget::notify::escape_html as esc;
use lightwidget::*;

use super::session::CurrentUser;

/// The stylesheet, served at `/app.css` (the CSP allows styles from the app only).
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

/// `GET /app.css`.
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
pub fn layout(title: &str, user: Option<&CurrentUser>, body: &str) -> Html<String> {
    let who = match user {
        Some(u) => format!(
            "<span class=who>Signed in as <b>{}</b> · <form method=post action=\"/logout\">{}\
<button type=submit class=link id=logout>Log out</button></form></span>",
            esc(&u.name),
            csrf_field(&u.csrf)
        ),
        None => "<span class=who><a href=\"/\">Log in</a></span>".into(),
    };
    Html(format!(
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>{t} · LightWidget</title>\
<meta name=viewport content=\"width=device-width,initial-scale=1\"><link rel=stylesheet href=\"/app.css\"></head><body>\
<header><span class=brand>LightWidget</span><a href=\"/accounts\">Accounts</a><a href=\"/my-token\">My access token</a>\
<a href=\"/settings\">Settings</a><a href=\"/inbox\">Inbox</a><a href=\"/access-token\">Access token page</a>{who}</header>\
<main><h1>{t}</h1>{body}</main></body></html>",
        t = esc(title)
    ))
}

/// A page with one message. `msg` is HTML: escape what you interpolate.
pub fn message_page(
    status: StatusCode,
    title: &str,
    user: Option<&CurrentUser>,
    class: &str,
    msg: &str,
) -> Response {
    let body = format!(
        "<div class=\"msg {class}\" id=message>{msg}</div><p><a class=btn href=\"/access-token\">Back to the access token page</a></p>"
    );
    (status, layout(title, user, &body)).into_response()
}

/// A keeper call failed (the store is down): a 503 page, the cause in the log.
pub fn store_down(e: &Error, user: Option<&CurrentUser>) -> Response {
    tracing::warn!(error = %e, "keeper call failed");
    message_page(
        StatusCode::SERVICE_UNAVAILABLE,
        "Temporarily unavailable",
        user,
        "warn",
        "We could not read your accounts right now. Please try again in a minute.",
    )
}

/// A timestamp in UTC, or a dash.
pub fn utc(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| "—".into())
}

/// ACTIVE / NOT ACTIVE, coloured.
pub fn status_cell(r: &StatusReport) -> String {
    let class = if r.status.is_active() { "ok" } else { "bad" };
    let mut out = format!("<span class=\"status {class}\">{}</span>", r.status.label());
    if r.unverified {
        out.push_str(&format!(
            "<br><span class=\"muted unverified\">not verified since {}</span>",
            utc(r.verified_at)
        ));
    }
    if let Some(lightwidget::Hold::Incident { since, .. }) = r.hold {
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

/// One row of a token's history.
pub fn history_row(e: &HistoryEntry) -> String {
    let detail = match &e.event.kind {
        TokenEventKind::Connected { expires_at }
        | TokenEventKind::Refreshed { expires_at }
        | TokenEventKind::Reconnected { expires_at } => match expires_at {
            Some(t) => format!("new token, expires {}", utc(Some(*t))),
            None => "new token (no expiry)".into(),
        },
        TokenEventKind::Expired { reason } => esc(&reason.describe()),
        TokenEventKind::Revoked => "the app was removed from the account".into(),
        TokenEventKind::NoticeSent { topic, channels } => {
            format!("“{}” notice sent by {}", topic, esc(&channels.join(", ")))
        }
        TokenEventKind::NoticeSuppressed { topic, why } => {
            format!("“{}” notice not sent: {}", topic, esc(why))
        }
        TokenEventKind::NoticeFailed { topic, error } => {
            format!("“{}” notice failed: {}", topic, esc(error))
        }
        _ => String::new(),
    };
    format!(
        "<tr class=event><td>{}</td><td class=event-name>{}</td><td>{detail}</td></tr>",
        utc(Some(e.event.at)),
        e.event.kind.name()
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
