//! Several Pages: when a Facebook login gives more than one Page with an Instagram
//! business account, the person chooses which one to connect (never the first by
//! default), and a renewal that knows its account takes exactly that one.
//!
//! The pending authorization (its Page tokens) stays **server-side, in the store**
//! (`Keeper::hold`: sealed like tokens, seen by every instance of the host): keyed by a
//! random id that only this browser holds, in an `HttpOnly` `SameSite=Lax` cookie; it
//! expires after [`PENDING_FOR`] minutes and is taken once. The choice page's form
//! carries that entry's own CSRF token and the chosen Instagram id, never a token. A
//! renewal's target account is kept the same way, keyed by the digest of the flow's
//! browser binding.

use axum::Form;
use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{AppendHeaders, IntoResponse, Redirect, Response};
use chrono::{DateTime, TimeDelta, Utc};
use lightwidget_core::Error;
use lightwidget_instagram::flow::{Authorized, FlowError};
use lightwidget_instagram::state::StatePurpose;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::Web;
use crate::connect::{finish, flow_failed};
use crate::cookies::CHOICE;
use crate::messages::say;
use crate::state::Inner;
use crate::viewer::{MaybeViewer, same_secret};
use crate::views::{esc, layout, message_page, store_down};

/// How long a pending choice (and a renewal's target) is kept, in minutes.
pub const PENDING_FOR: i64 = 10;

/// The account a renewal is for: the flow must come back with exactly this one.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Target {
    /// Its Instagram user id.
    pub ig_user_id: String,
    /// Its username (for the messages).
    pub username: String,
}

/// A pending choice, as held (sealed) in the store.
#[derive(Serialize, Deserialize)]
struct HeldChoice {
    purpose: StatePurpose,
    /// [`Authorized::to_held`].
    authorized: String,
    csrf: String,
}

pub(crate) struct Held {
    pub purpose: StatePurpose,
    pub authorized: Authorized,
    pub csrf: String,
}

fn random_id() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// A store key from a secret (the browser binding): its SHA-256, so the store never
/// holds the cookie's value.
pub(crate) fn digest_key(prefix: &str, secret: &str) -> String {
    let d = Sha256::digest(secret.as_bytes());
    let hex: String = d.iter().map(|b| format!("{b:02x}")).collect();
    format!("{prefix}:{hex}")
}

fn until(s: &Inner) -> DateTime<Utc> {
    s.clock.now() + TimeDelta::minutes(PENDING_FOR)
}

/// A renewal's target lives as long as its flow's `state` may still come back (never
/// shorter: a late callback must not find the target gone and renew another account).
fn target_until(s: &Inner) -> DateTime<Utc> {
    s.clock.now() + s.oauth_state.ttl().max(TimeDelta::minutes(PENDING_FOR))
}

/// Remembers, in the store (every instance sees it), that the flow bound to `binding`
/// renews `target`.
pub(crate) async fn set_target(s: &Inner, binding: &str, target: &Target) -> Result<(), Error> {
    let value = serde_json::to_string(target).unwrap_or_default();
    s.keeper
        .hold(
            &digest_key("target", binding),
            &value.into(),
            target_until(s),
        )
        .await
}

/// The target of the flow bound to `binding`, taken (once).
pub(crate) async fn take_target(s: &Inner, binding: Option<&str>) -> Result<Option<Target>, Error> {
    let Some(binding) = binding else {
        return Ok(None);
    };
    let held = s.keeper.take_held(&digest_key("target", binding)).await?;
    Ok(held.and_then(|v| serde_json::from_str(v.expose_secret()).ok()))
}

async fn hold(s: &Inner, purpose: StatePurpose, a: &Authorized) -> Result<String, Error> {
    let id = random_id();
    let held = HeldChoice {
        purpose,
        authorized: a.to_held().expose_secret().to_owned(),
        csrf: random_id(),
    };
    let value = serde_json::to_string(&held).unwrap_or_default();
    s.keeper
        .hold(&format!("choice:{id}"), &value.into(), until(s))
        .await?;
    Ok(id)
}

fn read(v: Option<SecretString>) -> Option<Held> {
    let h: HeldChoice = serde_json::from_str(v?.expose_secret()).ok()?;
    let authorized = Authorized::from_held(&h.authorized.into()).ok()?;
    Some(Held {
        purpose: h.purpose,
        authorized,
        csrf: h.csrf,
    })
}

/// A pending choice, left in place.
async fn peek(s: &Inner, id: &str) -> Result<Option<Held>, Error> {
    Ok(read(s.keeper.held(&format!("choice:{id}")).await?))
}

/// A pending choice, taken (once, across instances).
async fn take(s: &Inner, id: &str) -> Result<Option<Held>, Error> {
    Ok(read(s.keeper.take_held(&format!("choice:{id}")).await?))
}

/// Whether `id` can be a choice id (what `random_id` makes): anything else is not looked up.
fn plausible(id: &str) -> bool {
    id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

fn set_cookie(s: &Inner, value: &str, max_age: i64) -> String {
    CHOICE.set(s.secure_cookies, value, max_age)
}

fn cookie_value<'a>(s: &Inner, headers: &'a HeaderMap) -> Option<&'a str> {
    CHOICE.read(s.secure_cookies, headers)
}

/// After the callback: several Pages and no target, so the person chooses. Keeps the
/// authorization server-side and sends the browser to the choice page.
pub async fn ask(s: &Inner, purpose: StatePurpose, a: Authorized) -> Response {
    let id = match hold(s, purpose, &a).await {
        Ok(id) => id,
        Err(e) => return store_down(&e, None),
    };
    (
        AppendHeaders([(header::SET_COOKIE, set_cookie(s, &id, PENDING_FOR * 60))]),
        Redirect::to("/connect/choose"),
    )
        .into_response()
}

fn gone(user: Option<&crate::host::Viewer>) -> Response {
    message_page(
        StatusCode::BAD_REQUEST,
        "Choice expired",
        user,
        "warn",
        &say("choice-expired", &[]),
    )
}

/// `GET /connect/choose`: which Instagram account to connect.
pub async fn choose_page(
    State(s): State<Web>,
    MaybeViewer(user): MaybeViewer,
    headers: HeaderMap,
) -> Response {
    let id = cookie_value(&s, &headers).filter(|id| plausible(id));
    let held = match id {
        Some(id) => peek(&s, id).await,
        None => Ok(None),
    };
    let (a, csrf) = match held {
        Ok(Some(h)) => (h.authorized, h.csrf),
        Ok(None) => return gone(user.as_ref()),
        Err(e) => return store_down(&e, user.as_ref()),
    };
    let items: String = a
        .choices()
        .iter()
        .enumerate()
        .map(|(i, c)| {
            format!(
                "<li><label><input type=radio name=ig_user_id value=\"{v}\" id=\"choice-{v}\"{chk}> \
<b>@{u}</b> <span class=muted>(Facebook Page {p})</span></label></li>",
                v = esc(&c.ig_user_id),
                u = esc(&c.username),
                p = esc(&c.page_name),
                chk = if i == 0 { " required" } else { "" },
            )
        })
        .collect();
    let body = format!(
        "<div class=card><p>{intro}</p>\
<form method=post action=\"/connect/choose\" id=choose-form>\
<input type=hidden name=choice_token value=\"{c}\"><ul class=choices>{items}</ul>\
<button type=submit class=btn id=choose>Connect this account</button></form></div>",
        c = esc(&csrf),
        intro = say("choose-intro", &[]),
    );
    layout("Choose an Instagram account", user.as_ref(), &body).into_response()
}

/// The choice page's form.
#[derive(Deserialize)]
pub struct ChooseForm {
    #[serde(default)]
    choice_token: String,
    #[serde(default)]
    ig_user_id: String,
}

/// `POST /connect/choose`: connects (or logs in with) the chosen account only.
pub async fn choose_submit(State(s): State<Web>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let user = s.host.viewer(&parts).await;
    let headers = &parts.headers;
    let f = match Form::<ChooseForm>::from_request(Request::from_parts(parts.clone(), body), &s)
        .await
    {
        Ok(Form(f)) => f,
        Err(e) => return e.into_response(),
    };
    let clear = AppendHeaders([(header::SET_COOKIE, set_cookie(&s, "", 0))]);
    // Single use: taken whatever happens next.
    let id = cookie_value(&s, headers).filter(|id| plausible(id));
    let taken = match id {
        Some(id) => take(&s, id).await,
        None => Ok(None),
    };
    let held = match taken {
        Ok(Some(h)) => h,
        Ok(None) => return (clear, gone(user.as_ref())).into_response(),
        Err(e) => return store_down(&e, user.as_ref()),
    };
    if !same_secret(&held.csrf, &f.choice_token) {
        tracing::warn!("choice refused: CSRF token does not match the pending choice");
        return (clear, crate::viewer::forbidden()).into_response();
    }
    let login = matches!(held.purpose, StatePurpose::Login { .. });
    let resp = match held.authorized.choose(&f.ig_user_id) {
        Ok(chosen) => finish(&s, &parts, user.as_ref(), held.purpose, chosen, false).await,
        Err(e) => flow_failed(&e, user.as_ref(), login),
    };
    (clear, resp).into_response()
}

/// A renewal whose login does not cover its account: nothing renewed, in words.
pub fn not_covered(
    e: &FlowError,
    target: &Target,
    kind: lightwidget_core::ConnectionKind,
    user: Option<&crate::host::Viewer>,
) -> Response {
    let offered = match e {
        FlowError::NotAmongPages { offered, .. } if !offered.is_empty() => offered
            .iter()
            .map(|u| format!("@{}", esc(u)))
            .collect::<Vec<_>>()
            .join(", "),
        _ => "no Instagram account".to_owned(),
    };
    let u = esc(&target.username);
    let key = match kind {
        lightwidget_core::ConnectionKind::Business => "not-covered-business",
        lightwidget_core::ConnectionKind::Consumer => "not-covered-consumer",
    };
    let msg = say(key, &[("offered", &offered), ("username", &u)]);
    message_page(StatusCode::CONFLICT, "Nothing renewed", user, "warn", &msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_from_secrets_are_digests_within_the_store_limit() {
        let k = digest_key("target", "the-binding-cookie-value");
        assert!(k.starts_with("target:") && k.len() <= lightwidget_core::MAX_LINK_ID_LEN);
        assert!(!k.contains("binding"));
        assert_ne!(k, digest_key("target", "the-binding-cookie-valuf"));
        assert!(plausible(&random_id()));
        assert!(!plausible("../etc") && !plausible(&"g".repeat(64)));
    }
}
