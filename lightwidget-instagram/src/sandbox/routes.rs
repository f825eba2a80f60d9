//! The sandbox's HTTP endpoints.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use chrono::TimeDelta;
use serde_json::{Value, json};

use super::state::{Fault, Grant, SandboxState, TokenInfo, TokenKind};

type S = State<Arc<SandboxState>>;
type Q = Query<HashMap<String, String>>;

pub(crate) fn router(state: Arc<SandboxState>) -> Router {
    Router::new()
        .route("/oauth/authorize", get(ig_authorize))
        .route("/oauth/access_token", axum::routing::post(ig_code_exchange))
        .route("/access_token", get(ig_exchange))
        .route("/refresh_access_token", get(ig_refresh).post(unsupported))
        .route("/me", get(me))
        .route("/{ver}/me", get(me_v))
        .route("/{ver}/dialog/oauth", get(fb_authorize))
        .route("/{ver}/oauth/access_token", get(fb_access_token))
        .route("/{ver}/me/accounts", get(fb_pages))
        .route("/{ver}/debug_token", get(debug_token))
        .route("/{ver}/me/media", get(super::feed::my_media))
        .route("/{ver}/{node}", get(super::feed::node))
        .route("/{ver}/{node}/media", get(super::feed::node_media))
        .route("/{ver}/{node}/{edge}", get(super::feed::other_edge))
        .route("/cdn/{*file}", get(super::feed::cdn))
        .route(
            "/_sandbox/accounts/{ig_user_id}/break",
            axum::routing::post(super::control::break_account),
        )
        .route(
            "/_sandbox/accounts/{ig_user_id}/heal",
            axum::routing::post(super::control::heal_account),
        )
        .fallback(super::feed::unknown_path)
        .with_state(state)
}

pub(super) fn graph_error(
    status: StatusCode,
    code: i64,
    subcode: Option<i64>,
    msg: &str,
) -> Response {
    let mut e = json!({"message": msg, "type": "OAuthException", "code": code, "fbtrace_id": "SandboxTrace"});
    if let Some(s) = subcode {
        e["error_subcode"] = json!(s);
    }
    if code == 1 || code == 2 {
        e["is_transient"] = json!(true);
    }
    (status, axum::Json(json!({ "error": e }))).into_response()
}

fn bad_token() -> Response {
    graph_error(
        StatusCode::BAD_REQUEST,
        190,
        None,
        "Invalid OAuth access token - Cannot parse access token",
    )
}

/// Applies an injected fault, if any. `Some(response)` short-circuits the handler.
pub(super) async fn fault(s: &SandboxState) -> Option<Response> {
    let app = s
        .app_error
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    if let Some((code, message)) = app {
        return Some(graph_error(StatusCode::BAD_REQUEST, code, None, &message));
    }
    match s.next_fault()? {
        Fault::Status(code) => {
            let st = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let c = if code >= 500 { 2 } else { 1 };
            Some(graph_error(st, c, None, "Service temporarily unavailable"))
        }
        Fault::Delay(d) => {
            tokio::time::sleep(d).await;
            None
        }
        Fault::Malformed => Some((StatusCode::OK, "{\"access_token\": \"trunc").into_response()),
        Fault::RateLimit {
            code,
            regain_minutes,
        } => {
            let mut r = graph_error(
                StatusCode::BAD_REQUEST,
                code,
                None,
                "There have been too many calls. Wait a bit and try again.",
            );
            let h = json!({"sandbox": [{"type": "instagram", "call_count": 100, "total_cputime": 20, "total_time": 30, "estimated_time_to_regain_access": regain_minutes}]});
            if let Ok(v) = HeaderValue::from_str(&h.to_string()) {
                r.headers_mut().insert("x-business-use-case-usage", v);
            }
            Some(r)
        }
    }
}

pub(super) fn with_usage(s: &SandboxState, mut r: Response) -> Response {
    if let Some(p) = *s.app_usage.lock().unwrap_or_else(|e| e.into_inner())
        && let Ok(v) = HeaderValue::from_str(&format!(
            r#"{{"call_count":{p},"total_cputime":{p},"total_time":{p}}}"#
        ))
    {
        r.headers_mut().insert("x-app-usage", v);
    }
    r
}

/// Resolves a token and applies the user's scenario and the token's lifetime.
// An early-return `Response` is the point of this helper; boxing it buys nothing here.
#[allow(clippy::result_large_err)]
pub(super) fn valid(s: &SandboxState, token: Option<&String>) -> Result<TokenInfo, Response> {
    let info = token.and_then(|t| s.token(t)).ok_or_else(bad_token)?;
    let user = s.user(&info.user).ok_or_else(bad_token)?;
    if let Some(sc) = info.dead.or(user.scenario) {
        let (c, sub, m) = sc.error();
        let mut r = graph_error(StatusCode::BAD_REQUEST, c, sub, m);
        if let super::Scenario::RateLimited { regain_minutes } = sc {
            let h = json!({ user.handle.id.clone(): [{"type": "instagram", "call_count": 100, "total_cputime": 12, "total_time": 18, "estimated_time_to_regain_access": regain_minutes}]});
            if let Ok(v) = HeaderValue::from_str(&h.to_string()) {
                r.headers_mut().insert("x-business-use-case-usage", v);
            }
        }
        return Err(r);
    }
    let now = s.now();
    if let Some(exp) = info.expires_at
        && exp <= now
    {
        let msg = format!(
            "Error validating access token: Session has expired on {}. The current time is {}.",
            exp.format("%A, %d-%b-%y %H:%M:%S UTC"),
            now.format("%A, %d-%b-%y %H:%M:%S UTC")
        );
        return Err(graph_error(StatusCode::BAD_REQUEST, 190, Some(463), &msg));
    }
    Ok(info)
}

fn token_json(token: &str, expires_in: i64) -> Value {
    json!({"access_token": token, "token_type": "bearer", "expires_in": expires_in})
}

async fn ig_authorize(State(s): S, Query(q): Q) -> Response {
    authorize(&s, &q, "#_", false)
}

async fn fb_authorize(
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
    let user = q.get("sandbox_user").cloned().or_else(|| {
        s.login_user
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    });
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
            s.codes.lock().unwrap_or_else(|p| p.into_inner()).insert(
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
        .read()
        .unwrap_or_else(|p| p.into_inner())
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

async fn ig_code_exchange(State(s): S, Form(f): Form<HashMap<String, String>>) -> Response {
    s.hit("code_exchange");
    if let Some(r) = fault(&s).await {
        return r;
    }
    let (id, secret) = &s.cfg.consumer_app;
    if f.get("client_id") != Some(id) || f.get("client_secret") != Some(secret) {
        return graph_error(
            StatusCode::BAD_REQUEST,
            101,
            None,
            "Error validating client secret.",
        );
    }
    let taken = f
        .get("code")
        .and_then(|c| s.codes.lock().unwrap_or_else(|p| p.into_inner()).remove(c));
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

async fn ig_exchange(State(s): S, Query(q): Q) -> Response {
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
    let t = s.mint_with_scopes(
        &info.user,
        TokenKind::IgLong,
        now,
        Some(now + TimeDelta::days(60)),
        info.scopes,
    );
    with_usage(&s, axum::Json(token_json(&t, 60 * 86_400)).into_response())
}

async fn ig_refresh(State(s): S, Query(q): Q) -> Response {
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
    let t = s.mint_with_scopes(
        &info.user,
        TokenKind::IgLong,
        now,
        Some(now + TimeDelta::days(60)),
        info.scopes,
    );
    with_usage(&s, axum::Json(token_json(&t, 60 * 86_400)).into_response())
}

async fn unsupported() -> Response {
    graph_error(
        StatusCode::BAD_REQUEST,
        100,
        None,
        "Unsupported request - method type: post",
    )
}

async fn me(State(s): S, Query(q): Q) -> Response {
    me_inner(&s, &q).await
}

async fn me_v(
    State(s): S,
    Path(_v): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    me_inner(&s, &q).await
}

async fn me_inner(s: &SandboxState, q: &HashMap<String, String>) -> Response {
    s.hit("me");
    if let Some(r) = fault(s).await {
        return r;
    }
    match valid(s, q.get("access_token")) {
        // A Facebook user token's `/me` is the Facebook user (app-scoped id).
        Ok(info) if matches!(info.kind, TokenKind::FbShort | TokenKind::FbLong) => {
            let Some(user) = s.user(&info.user) else {
                return bad_token();
            };
            let id = user.handle.fb_user_id.unwrap_or(user.handle.id);
            with_usage(
                s,
                axum::Json(json!({"id": id, "name": format!("{} owner", user.handle.username)}))
                    .into_response(),
            )
        }
        Ok(info) => super::feed::profile(s, &info, q, true),
        Err(r) => r,
    }
}

async fn fb_access_token(
    State(s): S,
    Path(_v): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    s.hit("fb_access_token");
    if let Some(r) = fault(&s).await {
        return r;
    }
    let (id, secret) = &s.cfg.business_app;
    if q.get("client_id") != Some(id) || q.get("client_secret") != Some(secret) {
        return graph_error(
            StatusCode::BAD_REQUEST,
            101,
            None,
            "Error validating client secret.",
        );
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
    let taken = q
        .get("code")
        .and_then(|c| s.codes.lock().unwrap_or_else(|p| p.into_inner()).remove(c));
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

async fn fb_pages(
    State(s): S,
    Path(v): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    s.hit("pages");
    if let Some(r) = fault(&s).await {
        return r;
    }
    let info = match valid(&s, q.get("access_token")) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let Some(user) = s.user(&info.user) else {
        return bad_token();
    };
    if user.handle.page_id.is_none() {
        return axum::Json(json!({"data": []})).into_response();
    }
    // Without pages_show_list, /me/accounts lists nothing.
    if !info.scopes.iter().any(|s| s == "pages_show_list") {
        return axum::Json(json!({"data": []})).into_response();
    }
    let now = s.now();
    let mut data = Vec::new();
    // Like Graph, one answer holds `limit` Pages (default 25, at most 100) and
    // `paging.cursors.after` / `paging.next` lead to the rest.
    let all = s.pages_of(&info.user);
    let limit = q
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(PAGES_DEFAULT_LIMIT)
        .clamp(1, PAGES_MAX_LIMIT);
    let start = match q.get("after").map(|c| super::feed::offset(c)) {
        None => 0,
        Some(Some(o)) => o,
        Some(None) => {
            return graph_error(
                StatusCode::BAD_REQUEST,
                100,
                None,
                "(#100) The after cursor is invalid",
            );
        }
    };
    let end = start.saturating_add(limit).min(all.len());
    // Every Page of the Facebook user, each with a Page token for its own Instagram
    // business account only.
    for ig in all.get(start..end).unwrap_or_default() {
        let ig = ig.clone();
        let Some(page_user) = s.user(&ig) else {
            continue;
        };
        let Some(page_id) = page_user.handle.page_id.clone() else {
            continue;
        };
        // A Page token from a long-lived user token never expires (and Meta hands out
        // the same one again while it works); from a short one, 1 h.
        let t = if info.kind == TokenKind::FbLong {
            let mut held = s.page_tokens.lock().unwrap_or_else(|p| p.into_inner());
            match held
                .get(&ig)
                .filter(|t| s.token(t).is_some_and(|i| i.dead.is_none()))
            {
                Some(t) => t.clone(),
                None => {
                    let t =
                        s.mint_with_scopes(&ig, TokenKind::Page, now, None, info.scopes.clone());
                    held.insert(ig.clone(), t.clone());
                    t
                }
            }
        } else {
            let exp = now + TimeDelta::hours(1);
            s.mint_with_scopes(&ig, TokenKind::Page, now, Some(exp), info.scopes.clone())
        };
        data.push(json!({
            "id": page_id, "name": format!("{} Page", page_user.handle.username), "access_token": t,
            "instagram_business_account": {"id": page_user.handle.id, "username": page_user.handle.username}
        }));
    }
    let mut body = json!({ "data": data });
    if start < end {
        let (before, after) = (super::feed::cursor(start), super::feed::cursor(end));
        body["paging"] = json!({"cursors": {"before": before, "after": after}});
        if end < all.len()
            && let Ok(mut next) =
                url::Url::parse(&format!("{}{v}/me/accounts", super::feed::base(&s)))
        {
            {
                let mut qp = next.query_pairs_mut();
                for (k, val) in &q {
                    if k != "after" {
                        qp.append_pair(k, val);
                    }
                }
                qp.append_pair("after", &after);
            }
            body["paging"]["next"] = json!(next.to_string());
        }
    }
    axum::Json(body).into_response()
}

/// Pages per `/me/accounts` answer without a `limit` (Graph's default).
const PAGES_DEFAULT_LIMIT: usize = 25;
/// The most Pages one `/me/accounts` answer holds, whatever `limit` asks.
const PAGES_MAX_LIMIT: usize = 100;

async fn debug_token(
    State(s): S,
    Path(_v): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    s.hit("debug_token");
    if let Some(r) = fault(&s).await {
        return r;
    }
    let (id, secret) = &s.cfg.business_app;
    if q.get("access_token").map(String::as_str) != Some(format!("{id}|{secret}").as_str()) {
        return graph_error(
            StatusCode::BAD_REQUEST,
            190,
            None,
            "Invalid OAuth access token signature.",
        );
    }
    let Some(info) = q.get("input_token").and_then(|t| s.token(t)) else {
        return axum::Json(json!({"data": {"is_valid": false, "error": {"code": 190, "message": "Invalid OAuth access token - Cannot parse access token"}}})).into_response();
    };
    let user = s.user(&info.user);
    let dae = user
        .as_ref()
        .map(|u| u.data_access_expires_at.timestamp())
        .unwrap_or(0);
    let kind = if info.kind == TokenKind::Page {
        "PAGE"
    } else {
        "USER"
    };
    let mut data = json!({
        "app_id": id, "type": kind, "application": "lightwidget sandbox",
        "data_access_expires_at": dae,
        "expires_at": info.expires_at.map_or(0, |e| e.timestamp()),
        "issued_at": info.issued_at.timestamp(),
        "is_valid": true,
        "scopes": info.scopes.clone(),
        "granular_scopes": info.scopes.iter().map(|s| json!({"scope": s})).collect::<Vec<_>>(),
        "user_id": info.user,
    });
    if let Err(r) = valid(&s, q.get("input_token")) {
        // Re-derive the error for the data.error object.
        let (code, sub, msg) = match info.dead.or(user.and_then(|u| u.scenario)) {
            Some(sc) => {
                let (c, s2, m) = sc.error();
                (c, s2, m.to_owned())
            }
            None => (
                190,
                Some(463),
                "Error validating access token: Session has expired".to_owned(),
            ),
        };
        drop(r);
        data["is_valid"] = json!(false);
        data["error"] = json!({"code": code, "subcode": sub, "message": msg});
    }
    with_usage(&s, axum::Json(json!({ "data": data })).into_response())
}
