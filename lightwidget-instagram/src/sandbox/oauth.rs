//! The sandbox's OAuth endpoints: both authorize dialogs (with their test-only
//! controls), the code exchanges, and the long-lived token exchange and refresh.

use lightwidget_core::sync::{Locked, RwLocked};
use std::collections::HashMap;

use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::json;

use super::routes::{Q, S, fault, graph_error, token_json, valid, with_usage};
use super::state::{Grant, SandboxState, TokenKind};

pub(super) async fn ig_authorize(State(s): S, Query(q): Q) -> Response {
    authorize(&s, &q, "#_", false)
}

pub(super) async fn fb_authorize(
    State(s): S,
    Path(_v): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    authorize(&s, &q, "", true)
}

fn authorize(
    s: &SandboxState,
    q: &HashMap<String, String>,
    suffix: &str,
    business: bool,
) -> Response {
    s.hit("authorize");
    let Some(redirect) = q.get("redirect_uri").and_then(|r| url::Url::parse(r).ok()) else {
        return (StatusCode::BAD_REQUEST, "redirect_uri is required").into_response();
    };
    let decided = q.get("sandbox_decision");
    if q.get("sandbox_dialog").map(String::as_str) == Some("show") && decided.is_none() {
        return dialog_page(s, q, business);
    }
    let user = q
        .get("sandbox_user")
        .cloned()
        .or_else(|| s.login_user.locked().clone());
    // What the person does at the dialog: allow (default), cancel, or allow with some
    // permissions unticked.
    let cancelled = q.get("sandbox_outcome").map(String::as_str) == Some("cancel")
        || decided.map(String::as_str) == Some("cancel");
    let mut unticked = list(q.get("sandbox_untick"));
    if decided.is_some() {
        // The dialog page's boxes: a permission whose box was not ticked was unticked.
        unticked.extend(
            list(q.get("scope"))
                .into_iter()
                .filter(|sc| !q.contains_key(&format!("grant_{sc}"))),
        );
    }
    let mut to = redirect.clone();
    match user.filter(|_| !cancelled) {
        None => {
            to.query_pairs_mut()
                .append_pair("error", "access_denied")
                .append_pair("error_reason", "user_denied")
                .append_pair("error_description", "Permissions error");
        }
        Some(u) => {
            // Logging in again is how a person fixes a broken session.
            s.logged_in_again(&u);
            let scopes = list(q.get("scope"))
                .into_iter()
                .filter(|sc| !unticked.contains(sc))
                .collect();
            let code = SandboxState::random("AQ");
            s.codes.locked().insert(
                code.clone(),
                Grant {
                    user: u,
                    business,
                    scopes,
                },
            );
            to.query_pairs_mut().append_pair("code", &code);
        }
    }
    if let Some(st) = q.get("state") {
        to.query_pairs_mut().append_pair("state", st);
    }
    Redirect::to(&format!("{to}{suffix}")).into_response()
}

fn esc(v: &str) -> String {
    v.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The dialog as a page (`sandbox_dialog=show`): who logs in, the permissions asked for
/// (each can be unticked), *Allow* and *Cancel*. The form comes back to the same
/// endpoint with `sandbox_decision`.
fn dialog_page(s: &SandboxState, q: &HashMap<String, String>, business: bool) -> Response {
    let chosen = q.get("sandbox_user");
    let mut users: Vec<_> = s
        .users
        .read_locked()
        .values()
        .filter(|u| u.handle.page_id.is_some() == business)
        .map(|u| {
            (
                u.handle.id.clone(),
                u.handle.username.clone(),
                u.account_type,
            )
        })
        .collect();
    users.sort();
    let options: String = users
        .iter()
        .map(|(id, name, ty)| {
            format!(
                "<option value=\"{}\"{}>@{} ({})</option>",
                esc(id),
                if chosen == Some(id) { " selected" } else { "" },
                esc(name),
                ty.to_ascii_lowercase()
            )
        })
        .collect();
    let hidden: String = q
        .iter()
        .filter(|(k, _)| {
            !matches!(k.as_str(), "sandbox_user" | "sandbox_decision") && !k.starts_with("grant_")
        })
        .map(|(k, v)| {
            format!(
                "<input type=hidden name=\"{}\" value=\"{}\">",
                esc(k),
                esc(v)
            )
        })
        .collect();
    let boxes: String = list(q.get("scope"))
        .iter()
        .map(|sc| {
            format!(
                "<label><input type=checkbox name=\"grant_{0}\" id=\"grant-{0}\" value=1 checked> {0}</label><br>",
                esc(sc)
            )
        })
        .collect();
    let who = if business { "Facebook" } else { "Instagram" };
    axum::response::Html(format!(
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>Log in with {who} (sandbox)</title></head>\
<body style=\"font-family:sans-serif;max-width:32em;margin:3em auto\"><h1>Log in with {who}</h1>\
<p>Graph API sandbox: this stands in for {who}'s dialog.</p><form method=get action=\"\">{hidden}\
<p><label>Log in as <select name=sandbox_user id=sandbox-user>{options}</select></label></p>\
<p>The app asks for:</p><p>{boxes}</p>\
<p><button type=submit name=sandbox_decision value=allow id=dialog-allow>Allow</button> \
<button type=submit name=sandbox_decision value=cancel id=dialog-cancel>Cancel</button></p></form></body></html>"
    ))
    .into_response()
}

/// A comma- or space-separated list (Meta accepts both for `scope`).
fn list(v: Option<&String>) -> Vec<String> {
    v.map(|v| {
        v.split([',', ' '])
            .map(str::trim)
            .filter(|x| !x.is_empty())
            .map(str::to_owned)
            .collect()
    })
    .unwrap_or_default()
}

/// The start of an app's token call: counts the hit, plays a fault, checks the app's
/// credentials. `Some` is the answer to send instead.
async fn app_call(
    s: &SandboxState,
    endpoint: &'static str,
    (id, secret): &(String, String),
    params: &HashMap<String, String>,
) -> Option<Response> {
    s.hit(endpoint);
    if let Some(r) = fault(s).await {
        return Some(r);
    }
    (params.get("client_id") != Some(id) || params.get("client_secret") != Some(secret)).then(
        || {
            graph_error(
                StatusCode::BAD_REQUEST,
                101,
                None,
                "Error validating client secret.",
            )
        },
    )
}

/// The grant of the `code` in `params`, taken: a code is used once.
fn take_code(s: &SandboxState, params: &HashMap<String, String>) -> Option<Grant> {
    let code = params.get("code")?;
    s.codes.locked().remove(code)
}

pub(super) async fn ig_code_exchange(
    State(s): S,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    if let Some(r) = app_call(&s, "code_exchange", &s.cfg.consumer_app, &f).await {
        return r;
    }
    let taken = take_code(&s, &f);
    let Some(Grant {
        user,
        business: false,
        scopes,
    }) = taken
    else {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error_type": "OAuthException", "code": 400, "error_message": "Matching code was not found or was already used"})),
        )
            .into_response();
    };
    let now = s.now();
    let permissions = scopes.join(",");
    let t = s.mint_with_scopes(
        &user,
        TokenKind::IgShort,
        now,
        Some(now + TimeDelta::hours(1)),
        scopes,
    );
    axum::Json(json!({"data": [{"access_token": t, "user_id": user, "permissions": permissions}]}))
        .into_response()
}

pub(super) async fn ig_exchange(State(s): S, Query(q): Q) -> Response {
    s.hit("exchange");
    if let Some(r) = fault(&s).await {
        return r;
    }
    if q.get("grant_type").map(String::as_str) != Some("ig_exchange_token")
        || q.get("client_secret") != Some(&s.cfg.consumer_app.1)
    {
        return graph_error(
            StatusCode::BAD_REQUEST,
            100,
            None,
            "Invalid grant_type or client_secret",
        );
    }
    let info = match valid(&s, q.get("access_token")) {
        Ok(i) if i.kind == TokenKind::IgShort => i,
        Ok(_) => {
            return graph_error(
                StatusCode::BAD_REQUEST,
                100,
                None,
                "Only short-lived tokens can be exchanged",
            );
        }
        Err(r) => return r,
    };
    let now = s.now();
    long_lived(&s, &info.user, info.scopes, now)
}

pub(super) async fn ig_refresh(State(s): S, Query(q): Q) -> Response {
    s.hit("refresh");
    if let Some(r) = fault(&s).await {
        return r;
    }
    if q.get("grant_type").map(String::as_str) != Some("ig_refresh_token") {
        return graph_error(StatusCode::BAD_REQUEST, 100, None, "Invalid grant_type");
    }
    let info = match valid(&s, q.get("access_token")) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let now = s.now();
    if info.kind != TokenKind::IgLong {
        return graph_error(
            StatusCode::BAD_REQUEST,
            100,
            None,
            "Only long-lived tokens can be refreshed",
        );
    }
    if now - info.issued_at < TimeDelta::hours(24) {
        return graph_error(
            StatusCode::BAD_REQUEST,
            100,
            None,
            "The access token is less than 24 hours old and cannot be refreshed yet",
        );
    }
    long_lived(&s, &info.user, info.scopes, now)
}

pub(super) async fn unsupported() -> Response {
    graph_error(
        StatusCode::BAD_REQUEST,
        100,
        None,
        "Unsupported request - method type: post",
    )
}

pub(super) async fn fb_access_token(
    State(s): S,
    Path(_v): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Some(r) = app_call(&s, "fb_access_token", &s.cfg.business_app, &q).await {
        return r;
    }
    let now = s.now();
    if q.get("grant_type").map(String::as_str) == Some("fb_exchange_token") {
        let info = match valid(&s, q.get("fb_exchange_token")) {
            Ok(i) => i,
            Err(r) => return r,
        };
        let t = s.mint_with_scopes(
            &info.user,
            TokenKind::FbLong,
            now,
            Some(now + TimeDelta::days(60)),
            info.scopes,
        );
        return axum::Json(token_json(&t, 60 * 86_400)).into_response();
    }
    let taken = take_code(&s, &q);
    let Some(Grant {
        user,
        business: true,
        scopes,
    }) = taken
    else {
        return graph_error(
            StatusCode::BAD_REQUEST,
            100,
            Some(36009),
            "This authorization code has been used.",
        );
    };
    let t = s.mint_with_scopes(
        &user,
        TokenKind::FbShort,
        now,
        Some(now + TimeDelta::hours(1)),
        scopes,
    );
    axum::Json(token_json(&t, 3600)).into_response()
}

/// A new long-lived Instagram token (60 days) for `user`, as exchange and refresh answer.
fn long_lived(s: &SandboxState, user: &str, scopes: Vec<String>, now: DateTime<Utc>) -> Response {
    let t = s.mint_with_scopes(
        user,
        TokenKind::IgLong,
        now,
        Some(now + TimeDelta::days(60)),
        scopes,
    );
    with_usage(s, axum::Json(token_json(&t, 60 * 86_400)).into_response())
}
