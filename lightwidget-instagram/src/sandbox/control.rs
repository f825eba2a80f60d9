//! Control endpoints, so a running host app (or a person with `curl`) can break an
//! account over HTTP: `POST /_sandbox/accounts/{ig_user_id}/break` with a `reason`
//! (JSON body, form or query) and `POST /_sandbox/accounts/{ig_user_id}/heal`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::Scenario;
use super::state::SandboxState;

type S = State<Arc<SandboxState>>;

/// Query parameters, overridden by a JSON object or form body.
fn params(q: HashMap<String, String>, body: &[u8]) -> HashMap<String, String> {
    let mut p = q;
    if let Ok(Value::Object(o)) = serde_json::from_slice::<Value>(body) {
        for (k, v) in o {
            let v = match v {
                Value::String(s) => s,
                other => other.to_string(),
            };
            p.insert(k, v);
        }
    } else {
        p.extend(url::form_urlencoded::parse(body).into_owned());
    }
    p
}

/// Breaks an account: every call with its tokens fails as the reason says from now on
/// (`rate_limited` until healed, advertising `regain_minutes`, default 15). With
/// `app_removed` and a `callback` URL, Meta's signed deauthorize callback is POSTed
/// to it as well.
pub(super) async fn break_account(
    State(s): S,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    let p = params(q, &body);
    let Some(user) = s.user(&id) else {
        return (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"error": format!("no sandbox user with id {id}")})),
        )
            .into_response();
    };
    let reason = p.get("reason").map(String::as_str).unwrap_or_default();
    let regain = p
        .get("regain_minutes")
        .and_then(|m| m.parse().ok())
        .unwrap_or(15);
    let Some(scenario) = Scenario::from_reason(reason, regain) else {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": format!("unknown reason {reason:?}"), "reasons": Scenario::REASONS})),
        )
            .into_response();
    };
    s.set_scenario(&id, Some(scenario));
    let mut out = json!({"ig_user_id": id, "reason": reason});
    if let (Scenario::AppRemoved, Some(cb)) = (
        scenario,
        p.get("callback").and_then(|c| url::Url::parse(c).ok()),
    ) {
        out["callback_status"] = json!(s.deauthorize_callback(&user.handle, &cb).await);
    }
    axum::Json(out).into_response()
}

/// Heals an account: its tokens work again.
pub(super) async fn heal_account(State(s): S, Path(id): Path<String>) -> Response {
    if s.user(&id).is_none() {
        return (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"error": format!("no sandbox user with id {id}")})),
        )
            .into_response();
    }
    s.set_scenario(&id, None);
    axum::Json(json!({"ig_user_id": id, "healed": true})).into_response()
}

/// The reasons the break control takes, with what each plays, for a host's own control
/// (a demo's "Break it" menu).
pub const BREAK_REASONS: [(&str, &str); 5] = [
    ("password_changed", "The owner changed their password"),
    ("checkpoint", "A security checkpoint"),
    ("app_removed", "The owner removed the app"),
    ("permission_removed", "A permission was removed"),
    (
        "rate_limited",
        "Meta throttles the account (the token stays fine)",
    ),
];

/// Breaks `ig_user_id` for `reason` (one of [`BREAK_REASONS`]) in the sandbox at `base`,
/// over HTTP (what a running host that only knows the sandbox's URL calls).
pub async fn break_remote(base: &url::Url, ig_user_id: &str, reason: &str) -> Result<(), String> {
    if !BREAK_REASONS.iter().any(|(r, _)| *r == reason) {
        return Err(format!("unknown break reason {reason:?}"));
    }
    let id: String = url::form_urlencoded::byte_serialize(ig_user_id.as_bytes()).collect();
    let url = crate::BaseUrls::endpoint(base, &format!("_sandbox/accounts/{id}/break"))
        .map_err(|e| e.to_string())?;
    let resp = reqwest::Client::new()
        .post(url)
        .form(&[("reason", reason)])
        .send()
        .await
        .map_err(|e| e.without_url().to_string())?;
    if resp.status().is_success() {
        Ok(())
    } else {
        Err(format!("the sandbox answered {}", resp.status()))
    }
}
