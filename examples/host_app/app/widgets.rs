//! The host's widgets: the list, each widget's settings (which Instagram account it
//! shows, with connections annotated by kind as seed 004 describes), and the preview: an
//! account's latest posts fetched through the keeper's Graph gateway (`Keeper::graph`),
//! which is also the manual check of seed 003. The token never leaves the library, and every answer keeps
//! the status true: a success moves the last successful check (at most every
//! `graph_observe_interval`), a dead token turns the account NOT ACTIVE at once, with
//! its notice. With the sandbox, a control breaks the account so that path can be seen.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use lightwidget::gateway::{GatewayError, Media};
use lightwidget::instagram::sandbox::{BREAK_REASONS, break_remote};
use lightwidget::web::{CsrfForm, CsrfProtected, Viewer};
use lightwidget::*;
use serde::Deserialize;

use super::state::AppState;
use super::views::{csrf_field, esc, layout, message_page, status_cell, unavailable, utc};

type S = State<Arc<AppState>>;

fn media_row(m: &Media) -> String {
    let img = m
        .thumbnail_url
        .as_deref()
        .or(m.media_url.as_deref())
        .map(|u| format!("<img src=\"{}\" alt=\"\" width=96 height=96>", esc(u)))
        .unwrap_or_default();
    format!(
        "<tr class=media><td>{img}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        esc(m.caption.as_deref().unwrap_or("")),
        m.children.len(),
        utc(m.url_expires_at),
    )
}

/// One of the viewer's accounts, or 404 (unknown ids, and other owners' ids).
async fn own_account(s: &AppState, user: &Viewer, id: &str) -> Result<StatusReport, Response> {
    let not_found = || {
        message_page(
            StatusCode::NOT_FOUND,
            "No such account",
            Some(user),
            "warn",
            "You have no account with this id.",
        )
    };
    let id: AccountId = id.parse().map_err(|_| not_found())?;
    match s.keeper.status_for(&user.owner, id).await {
        Ok(r) => Ok(r),
        Err(Error::UnknownAccount(_)) => Err(not_found()),
        Err(_) => Err(unavailable(Some(user))),
    }
}

/// "@paul (Business connection FB)": how a widget's account choice names a connection.
fn annotated(r: &StatusReport) -> String {
    let via = match r.account.kind {
        ConnectionKind::Business => "Business connection FB",
        ConnectionKind::Consumer => "Consumer connection IG",
    };
    format!("@{} ({via})", r.account.username)
}

/// `GET /widgets`: the viewer's widgets, the account each shows, and its preview.
pub async fn widgets(State(s): S, user: Viewer) -> Response {
    let reports = match s.keeper.statuses(&user.owner).await {
        Ok(r) => r,
        Err(_) => return unavailable(Some(&user)),
    };
    let rows: String = s
        .widgets
        .of(&user.owner)
        .iter()
        .map(|w| {
            let shows = w.account.and_then(|id| reports.iter().find(|r| r.account.id == id));
            let (what, preview) = match shows {
                Some(r) => (
                    format!("{} · {}", esc(&annotated(r)), status_cell(r)),
                    format!(
                        "<a class=btn href=\"/accounts/{}/preview\">Preview</a>",
                        r.account.id
                    ),
                ),
                None => ("<span class=muted>no account chosen</span>".to_owned(), String::new()),
            };
            format!(
                "<tr class=widget><td>{name}</td><td>{what}</td><td><a class=btn href=\"/widgets/{n}/settings\" \
id=\"settings-{n}\">Settings</a> {preview}</td></tr>",
                name = esc(&w.name),
                n = w.n,
            )
        })
        .collect();
    let body = format!(
        "<div class=card><table><tr><th>Widget</th><th>Instagram account</th><th></th></tr>{rows}</table></div>"
    );
    layout("Widgets", Some(&user), &body).into_response()
}

/// `GET /widgets/{n}/settings`: Content → Instagram account.
pub async fn settings(State(s): S, user: Viewer, Path(n): Path<u32>) -> Response {
    let Some(w) = s.widgets.get(&user.owner, n) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let reports = match s.keeper.statuses(&user.owner).await {
        Ok(r) => r,
        Err(_) => return unavailable(Some(&user)),
    };
    let options: String = reports
        .iter()
        .map(|r| {
            format!(
                "<option value=\"{id}\"{sel}>{label}</option>",
                id = r.account.id,
                sel = if w.account == Some(r.account.id) {
                    " selected"
                } else {
                    ""
                },
                label = esc(&annotated(r)),
            )
        })
        .collect();
    let body = format!(
        "<div class=card><form method=post action=\"/widgets/{n}/settings\">{csrf}<h3>Content</h3>\
<p><label>Instagram account <select name=account id=widget-account>{options}</select></label></p>\
<p class=muted>A business connection (Facebook Login through the Page linked to the Instagram account) \
lasts longer: choose the one marked “Business connection FB”.</p>\
<button type=submit id=save-widget>Save</button></form></div>",
        csrf = csrf_field(&user.csrf),
    );
    layout(&format!("Settings of {}", w.name), Some(&user), &body).into_response()
}

/// The widget settings form.
#[derive(Deserialize)]
pub struct WidgetForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    account: String,
}

impl CsrfProtected for WidgetForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// `POST /widgets/{n}/settings`: only one of the viewer's own accounts can be chosen.
/// Saving checks the token through the gateway (seed 003: changing a widget's settings
/// moves the last successful check).
pub async fn save_settings(State(s): S, Path(n): Path<u32>, f: CsrfForm<WidgetForm>) -> Response {
    let user = f.viewer;
    if s.widgets.get(&user.owner, n).is_none() {
        return StatusCode::NOT_FOUND.into_response();
    }
    let r = match own_account(&s, &user, &f.form.account).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    s.widgets.choose(&user.owner, n, r.account.id);
    let _ = s.keeper.graph(r.account.id).profile().await;
    Redirect::to("/widgets").into_response()
}

/// `GET /accounts/{id}/preview`: the account's latest posts, through the gateway.
pub async fn preview(State(s): S, user: Viewer, Path(id): Path<String>) -> Response {
    let r = match own_account(&s, &user, &id).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let session = s.keeper.graph(r.account.id);
    let fetched = session.media(None, Some(6)).await;
    // Re-read: the call itself may have moved the check or ended the token.
    let now = match s.keeper.status(r.account.id).await {
        Ok(now) => now,
        Err(_) => r.clone(),
    };
    let posts = match &fetched {
        Ok(page) => {
            let rows: String = page.items.iter().map(media_row).collect();
            format!(
                "<table id=posts><tr><th></th><th>Caption</th><th>Album items</th><th>Image URLs expire (UTC)</th></tr>{rows}</table>\
<p class=muted>Fetch again before {} so images do not break.</p>",
                utc(session.urls_expire_at())
            )
        }
        Err(GatewayError::Throttled { until, .. }) => format!(
            "<p class=warn id=preview-error>Instagram asked us to slow down; the preview is back after {}.</p>",
            utc(Some(*until))
        ),
        Err(_) => "<p class=warn id=preview-error>Instagram did not give us the posts. \
If the token stopped working, the status above says so and the owner was told.</p>"
            .into(),
    };
    let controls = if s.sandbox.is_some() {
        let options: String = BREAK_REASONS
            .iter()
            .map(|(v, t)| format!("<option value=\"{v}\">{}</option>", esc(t)))
            .collect();
        format!(
            "<div class=card id=sandbox-controls><h2>Sandbox</h2><p>Break this account in the \
Graph API sandbox, then reload the preview: the next call finds out.</p>\
<form method=post action=\"/accounts/{id}/sandbox-break\">{}<select name=reason>{options}</select> \
<button type=submit id=sandbox-break>Break it</button></form></div>",
            csrf_field(&user.csrf),
            id = r.account.id,
        )
    } else {
        String::new()
    };
    let body = format!(
        "<p>@{u} · {status} · last successful check <span id=last-check>{check}</span></p>{posts}{controls}\
<p><a class=btn href=\"/accounts\">Back to Accounts</a></p>",
        u = esc(&now.account.username),
        status = status_cell(&now),
        check = utc(now.last_checked_at),
    );
    layout("Widget preview", Some(&user), &body).into_response()
}

/// The sandbox control form.
#[derive(Deserialize)]
pub struct BreakForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
}

impl CsrfProtected for BreakForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// `POST /accounts/{id}/sandbox-break`: asks the sandbox to break the account.
pub async fn sandbox_break(
    State(s): S,
    user: Viewer,
    Path(id): Path<String>,
    f: CsrfForm<BreakForm>,
) -> Response {
    let r = match own_account(&s, &user, &id).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let known = BREAK_REASONS.iter().any(|(v, _)| *v == f.form.reason);
    let (Some(base), true) = (s.sandbox.clone(), known) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match break_remote(&base, r.account.ig_user_id.as_str(), &f.form.reason).await {
        Ok(()) => Redirect::to(&format!("/accounts/{}/preview", r.account.id)).into_response(),
        Err(_) => message_page(
            StatusCode::BAD_GATEWAY,
            "Sandbox unavailable",
            Some(&user),
            "warn",
            "The Graph API sandbox did not take the request.",
        ),
    }
}
