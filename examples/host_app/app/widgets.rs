//! The widget preview: an account's latest posts fetched through the keeper's Graph
//! gateway (`Keeper::graph`). The token never leaves the library, and every answer keeps
//! the status true: a success moves the last successful check (at most every
//! `graph_observe_interval`), a dead token turns the account NOT ACTIVE at once, with
//! its notice. With the sandbox, a control breaks the account so that path can be seen.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use lightwidget::gateway::{GatewayError, Media};
use lightwidget::instagram::BaseUrls;
use serde::Deserialize;

use super::accounts::own_account;
use super::session::{CsrfForm, CsrfProtected, CurrentUser};
use super::state::AppState;
use super::views::{csrf_field, esc, layout, message_page, status_cell, utc};

type S = State<Arc<AppState>>;

/// The reasons the sandbox can break an account for (its `/_sandbox/…/break` control).
const BREAKS: [(&str, &str); 5] = [
    ("password_changed", "The owner changed their password"),
    ("checkpoint", "A security checkpoint"),
    ("app_removed", "The owner removed the app"),
    ("permission_removed", "A permission was removed"),
    (
        "rate_limited",
        "Meta throttles the account (the token stays fine)",
    ),
];

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

/// `GET /accounts/{id}/preview`: the account's latest posts, through the gateway.
pub async fn preview(State(s): S, user: CurrentUser, Path(id): Path<String>) -> Response {
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
        let options: String = BREAKS
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
    user: CurrentUser,
    Path(id): Path<String>,
    f: CsrfForm<BreakForm>,
) -> Response {
    let r = match own_account(&s, &user, &id).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let Some(base) = s.sandbox.clone() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if !BREAKS.iter().any(|(v, _)| *v == f.form.reason) {
        return StatusCode::NOT_FOUND.into_response();
    }
    let path = format!(
        "_sandbox/accounts/{}/break",
        url::form_urlencoded::byte_serialize(r.account.ig_user_id.as_bytes()).collect::<String>()
    );
    let Ok(url) = BaseUrls::endpoint(&base, &path) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let sent = reqwest::Client::new()
        .post(url)
        .form(&[("reason", f.form.reason.as_str())])
        .send()
        .await;
    match sent {
        Ok(resp) if resp.status().is_success() => {
            Redirect::to(&format!("/accounts/{}/preview", r.account.id)).into_response()
        }
        _ => message_page(
            StatusCode::BAD_GATEWAY,
            "Sandbox unavailable",
            Some(&user),
            "warn",
            "The Graph API sandbox did not take the request.",
        ),
    }
}
