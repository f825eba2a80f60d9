//! `GET /inbox`: the mailbox stand-in, with the notices the keeper delivered to this
//! owner in the library's texts.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use lightwidget::web::Viewer;

use super::state::AppState;
use super::views::{esc, layout, utc};

/// `GET /inbox`.
pub async fn inbox(State(s): State<Arc<AppState>>, user: Viewer) -> Response {
    let mails = s.inbox.of(&user.owner);
    let mut body = String::from(
        "<p class=muted>A stand-in for the owner's mailbox: the notices the keeper delivered.</p>",
    );
    if mails.is_empty() {
        body.push_str("<div class=card><p class=muted id=empty-inbox>No messages.</p></div>");
    }
    for m in &mails {
        body.push_str(&format!(
            "<div class=\"card mail\"><p class=muted>To {to} · {at}</p><h3 class=subject>{sub}</h3>\
<pre class=mail-text>{text}</pre>\
<p><a class=btn href=\"{renew}\">Renew the connection</a></p>\
<p class=muted><a class=unsubscribe href=\"{unsub}\">Unsubscribe</a> from these emails.</p></div>",
            to = esc(&m.to),
            at = utc(Some(m.at)),
            sub = esc(&m.subject),
            text = esc(&m.text),
            renew = esc(m.renew.as_str()),
            unsub = esc(m.unsubscribe.as_str()),
        ));
    }
    layout("Inbox", Some(&user), &body).into_response()
}
