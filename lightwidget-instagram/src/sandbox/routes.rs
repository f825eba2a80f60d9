//! The sandbox's HTTP router and what its endpoints share (Graph errors, faults,
//! usage headers, token checks), with the Facebook token, Page and `debug_token`
//! endpoints; the OAuth endpoints are in `oauth.rs`, the media feed in `feed.rs`.

use lightwidget_core::sync::Locked;
use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::TimeDelta;
use serde_json::{Value, json};

use super::state::{Fault, SandboxState, TokenInfo, TokenKind};

pub(super) type S = State<Arc<SandboxState>>;
pub(super) type Q = Query<HashMap<String, String>>;

pub(crate) fn router(state: Arc<SandboxState>) -> Router {
    Router::new()
        .route("/oauth/authorize", get(super::oauth::ig_authorize))
        .route(
            "/oauth/access_token",
            axum::routing::post(super::oauth::ig_code_exchange),
        )
        .route("/access_token", get(super::oauth::ig_exchange))
        .route(
            "/refresh_access_token",
            get(super::oauth::ig_refresh).post(super::oauth::unsupported),
        )
        .route("/me", get(me))
        .route("/{ver}/me", get(me_v))
        .route("/{ver}/dialog/oauth", get(super::oauth::fb_authorize))
        .route(
            "/{ver}/oauth/access_token",
            get(super::oauth::fb_access_token),
        )
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
    let app = s.app_error.locked().clone();
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
    if let Some(p) = *s.app_usage.locked()
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

pub(super) fn token_json(token: &str, expires_in: i64) -> Value {
    json!({"access_token": token, "token_type": "bearer", "expires_in": expires_in})
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
            let mut held = s.page_tokens.locked();
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
