//! Several Pages: when a Facebook login gives more than one Page with an Instagram
//! business account, the person chooses which one to connect (never the first by
//! default), and a renewal that knows its account takes exactly that one.
//!
//! The pending authorization (its Page tokens) stays **server-side**, in
//! [`Pending`]: keyed by a random id that only this browser holds, in an `HttpOnly`
//! `SameSite=Lax` cookie; it expires after [`PENDING_FOR`] minutes and is taken once.
//! The choice page's form carries that entry's own CSRF token and the chosen Instagram
//! id, never a token. A renewal's target account is kept the same way, keyed by the
//! flow's browser binding.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::Form;
use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{AppendHeaders, IntoResponse, Redirect, Response};
use chrono::{DateTime, TimeDelta, Utc};
use lightwidget_instagram::flow::{Authorized, FlowError};
use lightwidget_instagram::state::StatePurpose;
use serde::Deserialize;

use lightwidget_core::sync::Locked;

use crate::Web;
use crate::connect::{finish, flow_failed};
use crate::state::Inner;
use crate::viewer::{MaybeViewer, same_secret};
use crate::views::{esc, layout, message_page};

/// How long a pending choice (and a renewal's target) is kept, in minutes.
pub const PENDING_FOR: i64 = 10;

/// The most entries each map keeps: past it, the one closest to expiring goes first (an
/// attacker starting flows in a loop cannot grow the memory without bound).
pub const MAX_PENDING: usize = 10_000;

fn make_room<V>(m: &mut HashMap<String, V>, until: impl Fn(&V) -> DateTime<Utc>) {
    while m.len() >= MAX_PENDING {
        let Some(k) = m
            .iter()
            .min_by_key(|(_, v)| until(v))
            .map(|(k, _)| k.clone())
        else {
            break;
        };
        m.remove(&k);
    }
}

/// The account a renewal is for: the flow must come back with exactly this one.
#[derive(Clone, Debug)]
pub struct Target {
    /// Its Instagram user id.
    pub ig_user_id: String,
    /// Its username (for the messages).
    pub username: String,
}

struct Held {
    purpose: StatePurpose,
    authorized: Authorized,
    csrf: String,
    until: DateTime<Utc>,
}

/// The server-side store of pending choices and renewal targets (in memory: a host
/// with several instances keeps them in its shared session store).
#[derive(Default)]
pub struct Pending {
    held: Mutex<HashMap<String, Held>>,
    targets: Mutex<HashMap<String, (Target, DateTime<Utc>)>>,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending").finish_non_exhaustive()
    }
}

fn random_id() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

impl Pending {
    /// Remembers that the flow bound to `binding` renews `target`.
    pub fn set_target(&self, binding: &str, target: Target, now: DateTime<Utc>) {
        let mut t = self.targets.locked();
        t.retain(|_, (_, until)| *until > now);
        make_room(&mut t, |(_, until)| *until);
        t.insert(
            binding.to_owned(),
            (target, now + TimeDelta::minutes(PENDING_FOR)),
        );
    }

    /// The target of the flow bound to `binding`, taken (once).
    pub fn take_target(&self, binding: Option<&str>, now: DateTime<Utc>) -> Option<Target> {
        let (t, until) = self.targets.locked().remove(binding?)?;
        (until > now).then_some(t)
    }

    fn hold(&self, purpose: StatePurpose, authorized: Authorized, now: DateTime<Utc>) -> String {
        let id = random_id();
        let mut h = self.held.locked();
        h.retain(|_, e| e.until > now);
        make_room(&mut h, |e| e.until);
        h.insert(
            id.clone(),
            Held {
                purpose,
                authorized,
                csrf: random_id(),
                until: now + TimeDelta::minutes(PENDING_FOR),
            },
        );
        id
    }

    /// The choices and CSRF token of a current entry, left in place.
    fn peek(&self, id: &str, now: DateTime<Utc>) -> Option<(Authorized, String)> {
        self.held
            .locked()
            .get(id)
            .filter(|e| e.until > now)
            .map(|e| (e.authorized.clone(), e.csrf.clone()))
    }

    fn take(&self, id: &str, now: DateTime<Utc>) -> Option<Held> {
        self.held.locked().remove(id).filter(|e| e.until > now)
    }
}

fn cookie_name(s: &Inner) -> &'static str {
    if s.secure_cookies {
        "__Host-lw-choice"
    } else {
        "lw-choice"
    }
}

fn set_cookie(s: &Inner, value: &str, max_age: i64) -> String {
    let secure = if s.secure_cookies { "; Secure" } else { "" };
    format!(
        "{}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}",
        cookie_name(s)
    )
}

fn cookie_value<'a>(s: &Inner, headers: &'a HeaderMap) -> Option<&'a str> {
    let name = cookie_name(s);
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|h| h.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
}

/// After the callback: several Pages and no target, so the person chooses. Keeps the
/// authorization server-side and sends the browser to the choice page.
pub fn ask(s: &Inner, purpose: StatePurpose, a: Authorized) -> Response {
    let id = s.pending.hold(purpose, a, s.clock.now());
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
        "This choice was already made, took longer than 10 minutes, or was started in another \
browser. Nothing was connected: please start again.",
    )
}

/// `GET /connect/choose`: which Instagram account to connect.
pub async fn choose_page(
    State(s): State<Web>,
    MaybeViewer(user): MaybeViewer,
    headers: HeaderMap,
) -> Response {
    let Some((a, csrf)) =
        cookie_value(&s, &headers).and_then(|id| s.pending.peek(id, s.clock.now()))
    else {
        return gone(user.as_ref());
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
        "<div class=card><p>Your Facebook login gives several Pages with an Instagram business \
account. Choose the Instagram account to connect:</p>\
<form method=post action=\"/connect/choose\" id=choose-form>\
<input type=hidden name=choice_token value=\"{c}\"><ul class=choices>{items}</ul>\
<button type=submit class=btn id=choose>Connect this account</button></form></div>",
        c = esc(&csrf),
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
    let Some(held) = cookie_value(&s, headers).and_then(|id| s.pending.take(id, s.clock.now()))
    else {
        return (clear, gone(user.as_ref())).into_response();
    };
    if !same_secret(&held.csrf, &f.choice_token) {
        tracing::warn!("choice refused: CSRF token does not match the pending choice");
        return (clear, crate::viewer::forbidden()).into_response();
    }
    let login = matches!(held.purpose, StatePurpose::Login { .. });
    let resp = match held.authorized.choose(&f.ig_user_id) {
        Ok(chosen) => finish(&s, &parts, user.as_ref(), held.purpose, chosen).await,
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
    let msg = match kind {
        lightwidget_core::ConnectionKind::Business => format!(
            "You logged in with a Facebook account whose Pages give {offered}, not @{u}. Nothing was \
renewed: log in with the Facebook account that manages the Page of @{u}."
        ),
        lightwidget_core::ConnectionKind::Consumer => format!(
            "You logged in on Instagram as {offered}, not @{u}. Nothing was renewed: log in as @{u}."
        ),
    };
    message_page(StatusCode::CONFLICT, "Nothing renewed", user, "warn", &msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(n: usize) -> Target {
        Target {
            ig_user_id: n.to_string(),
            username: format!("u{n}"),
        }
    }

    #[test]
    fn a_target_is_taken_once_and_not_after_it_expired() {
        let p = Pending::default();
        let now = Utc::now();
        p.set_target("b1", target(1), now);
        assert_eq!(p.take_target(Some("b1"), now).unwrap().ig_user_id, "1");
        assert!(p.take_target(Some("b1"), now).is_none(), "single use");
        p.set_target("b2", target(2), now);
        let later = now + TimeDelta::minutes(PENDING_FOR) + TimeDelta::seconds(1);
        assert!(p.take_target(Some("b2"), later).is_none(), "expired");
        assert!(p.take_target(None, now).is_none(), "no binding, no target");
    }

    #[test]
    fn the_maps_stay_bounded() {
        let p = Pending::default();
        let now = Utc::now();
        for i in 0..MAX_PENDING + 5 {
            p.set_target(
                &format!("b{i}"),
                target(i),
                now + TimeDelta::milliseconds(i as i64),
            );
        }
        assert_eq!(p.targets.locked().len(), MAX_PENDING);
        assert!(
            p.take_target(Some("b0"), now).is_none(),
            "the oldest went first"
        );
        let last = format!("b{}", MAX_PENDING + 4);
        assert!(p.take_target(Some(&last), now).is_some());
    }
}
