//! What arrives from outside with its own signature: one-click unsubscribe (signed link)
//! and Meta's deauthorize / data-deletion callbacks (`signed_request`).

use axum::extract::{Form, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::TimeDelta;
use lightwidget_core::lifecycle::Unsubscribed;
use lightwidget_core::*;
use lightwidget_instagram::signed_request::{self, DataDeletionResponse, SignedRequest};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};

use crate::Web;
use crate::choose::digest_key;
use crate::messages::say;
use crate::state::Inner;
use crate::views::{esc, layout, message_page, store_down, urlencode};

type S = State<Web>;

/// How old a `signed_request` may be (Meta calls right away; a replay later must not
/// revoke a connection renewed meanwhile).
const CALLBACK_MAX_AGE: TimeDelta = TimeDelta::hours(1);

fn link_refused(e: &lightwidget_notify::LinkError) -> Response {
    message_page(
        StatusCode::BAD_REQUEST,
        "Link not valid",
        None,
        "warn",
        &esc(&e.to_string()),
    )
}

/// An unsubscribe link's query: its signed token, and `all=1` when the person chose
/// "unsubscribe from all" on the page.
#[derive(Deserialize)]
pub struct UnsubscribeQuery {
    #[serde(default)]
    token: String,
    #[serde(default)]
    all: Option<String>,
}

/// "expired token emails", "all notification emails".
fn topic_words(topic: Option<NoticeTopic>) -> String {
    match topic {
        Some(t) => format!("{} emails", t.label()),
        None => "all notification emails".into(),
    }
}

/// "expired token and token expiring soon emails".
fn topics_words(topics: &std::collections::BTreeSet<NoticeTopic>) -> String {
    let labels: Vec<&str> = topics.iter().map(|t| t.label()).collect();
    match labels.split_last() {
        Some((last, [])) => format!("{last} emails"),
        Some((last, rest)) => format!("{} and {last} emails", rest.join(", ")),
        None => "notification emails".into(),
    }
}

/// `GET /unsubscribe?token=`: asks (mail scanners fetch GET links, so it spends nothing):
/// the topic of the email the link came in, or all of them.
pub async fn unsubscribe_page(State(s): S, Query(q): Query<UnsubscribeQuery>) -> Response {
    match s.links.verify_unsubscribe(&q.token, s.clock.now()) {
        Ok(l) => {
            let t = esc(&urlencode(&q.token));
            let all = if l.topic.is_some() {
                format!(
                    "<form method=post action=\"/unsubscribe?token={t}&amp;all=1\">\
<button type=submit id=unsubscribe-all class=secondary>Unsubscribe from all emails</button></form>"
                )
            } else {
                String::new()
            };
            let body = format!(
                "<div class=card><p>Stop {what} for <b>{o}</b>?</p>\
<form method=post action=\"/unsubscribe?token={t}\"><button type=submit id=unsubscribe>Unsubscribe from {what}</button></form>{all}</div>",
                what = topic_words(l.topic),
                o = esc(&s.host.display_name(&l.owner).await),
            );
            layout("Unsubscribe", None, &body).into_response()
        }
        Err(e) => link_refused(&e),
    }
}

/// `POST /unsubscribe?token=[&all=1]`: one-click (RFC 8058 `List-Unsubscribe-Post` sends
/// the same POST). The link works once, recorded in the store (`Keeper::unsubscribe`);
/// the page says what changed, and if nothing did, why.
pub async fn unsubscribe(State(s): S, Query(q): Query<UnsubscribeQuery>) -> Response {
    let l = match s.links.verify_unsubscribe(&q.token, s.clock.now()) {
        Ok(l) => l,
        Err(e) => return link_refused(&e),
    };
    let scope = if q.all.as_deref() == Some("1") {
        None
    } else {
        l.topic
    };
    let did = match s.keeper.unsubscribe(&l.link_id, &l.owner, scope).await {
        Ok(did) => did,
        Err(e) => return store_down(&e, None),
    };
    let (title, text) = match did {
        Unsubscribed::TurnedOff(topics) => (
            "Unsubscribed",
            say(
                "unsubscribed",
                &[
                    ("topics", &topics_words(&topics)),
                    ("owner", &esc(&s.host.display_name(&l.owner).await)),
                ],
            ),
        ),
        Unsubscribed::AlreadyOff => (
            "Already unsubscribed",
            say("already-unsubscribed", &[("topics", &topic_words(scope))]),
        ),
        Unsubscribed::LinkUsed { on_now } if on_now.is_empty() => (
            "Already unsubscribed",
            say("link-used-unsubscribed", &[("topics", &topic_words(scope))]),
        ),
        Unsubscribed::LinkUsed { on_now } => (
            "Link already used",
            say("link-used-turned-on", &[("topics", &topics_words(&on_now))]),
        ),
        // A later kind of outcome: say only what is certain.
        _ => ("Unsubscribe", say("request-handled", &[])),
    };
    message_page(StatusCode::OK, title, None, "info", &text)
}

/// A Meta callback's form.
#[derive(Deserialize)]
pub struct SignedForm {
    #[serde(default)]
    signed_request: String,
}

/// Which app signed it tells the connection kind; it must be fresh.
fn verify_signed(s: &Inner, sr: &str) -> Option<(SignedRequest, ConnectionKind)> {
    let age = Some((CALLBACK_MAX_AGE, s.clock.now()));
    let secrets = [
        (&s.app_secrets.consumer, ConnectionKind::Consumer),
        (&s.app_secrets.business, ConnectionKind::Business),
    ];
    for (secret, kind) in secrets {
        // An app secret that was not configured verifies nothing.
        if secret.expose_secret().len() < 16 {
            continue;
        }
        match signed_request::verify(sr, secret.expose_secret(), age) {
            Ok(r) => return Some((r, kind)),
            Err(e) => tracing::debug!(error = %e, kind = kind.as_str(), "signed_request refused"),
        }
    }
    None
}

/// The accounts a verified callback names. Instagram Login's `signed_request` carries the
/// Instagram-scoped user id; Facebook Login's carries the *app-scoped Facebook user id*
/// (stored at connect: `NewAccount::with_fb_user_id`), never the Instagram id, so each
/// kind is matched on its own id and a callback of one kind never touches the other's.
async fn revoke_named(
    s: &Inner,
    kind: ConnectionKind,
    user_id: &str,
) -> Result<Vec<StatusReport>, Error> {
    let ids = match kind {
        ConnectionKind::Consumer => match s.keeper.deauthorize(kind, user_id).await {
            Ok(id) => vec![id],
            Err(Error::NotConnected { .. }) => Vec::new(),
            Err(e) => return Err(e),
        },
        ConnectionKind::Business => s.keeper.deauthorize_facebook_user(user_id).await?,
    };
    let mut out = Vec::new();
    for id in ids {
        match s.keeper.status(id).await {
            Ok(r) => out.push(r),
            Err(Error::UnknownAccount(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// `POST /deauthorize`: the person removed the app.
pub async fn deauthorize(State(s): S, Form(f): Form<SignedForm>) -> StatusCode {
    let Some((req, kind)) = verify_signed(&s, &f.signed_request) else {
        return StatusCode::FORBIDDEN;
    };
    // A replay within the request's hour changes nothing (a connection renewed since
    // stays renewed).
    let seen = digest_key("deauthorize", &f.signed_request);
    match s.keeper.held(&seen).await {
        Ok(Some(_)) => return StatusCode::OK,
        Ok(None) => {}
        Err(_) => return StatusCode::SERVICE_UNAVAILABLE,
    }
    match revoke_named(&s, kind, &req.user_id).await {
        Ok(_) => {
            let until = s.clock.now() + CALLBACK_MAX_AGE + CALLBACK_MAX_AGE;
            // Remembering the replay is best effort: the revocation itself is done.
            let _ = s.keeper.hold(&seen, &"done".to_owned().into(), until).await;
            StatusCode::OK
        }
        Err(_) => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// How long a data-deletion request's status page answers (in the store: every instance
/// serves it).
pub const DELETION_STATUS_FOR: TimeDelta = TimeDelta::days(90);

/// What a data-deletion request removed, for its status page (no token, no id Meta did
/// not send).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Deletion {
    /// The connection kind of the app that sent it.
    pub kind: ConnectionKind,
    /// The usernames of the accounts deleted (empty: nothing was stored).
    pub deleted: Vec<String>,
}

/// `POST /data-deletion`: revoke, delete, answer Meta's JSON.
pub async fn data_deletion(State(s): S, Form(f): Form<SignedForm>) -> Response {
    let Some((req, kind)) = verify_signed(&s, &f.signed_request) else {
        return StatusCode::FORBIDDEN.into_response();
    };
    // A replay gets the first answer again (one request, one confirmation code).
    let seen = digest_key("data-deletion", &f.signed_request);
    match s.keeper.held(&seen).await {
        Ok(Some(code)) => return deletion_answer(&s, code.expose_secret()),
        Ok(None) => {}
        Err(_) => return StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
    // Revoke first (so no keeper uses the token meanwhile), then delete the accounts, their
    // tokens, history and pending notices, for every owner. The host deletes its own widget
    // data likewise.
    let revoked = match revoke_named(&s, kind, &req.user_id).await {
        Ok(r) => r,
        Err(_) => return StatusCode::SERVICE_UNAVAILABLE.into_response(),
    };
    let mut deleted = Vec::new();
    for r in &revoked {
        match s.keeper.delete_account(r.account.id).await {
            Ok(()) | Err(Error::UnknownAccount(_)) => deleted.push(r.account.username.clone()),
            Err(_) => return StatusCode::SERVICE_UNAVAILABLE.into_response(),
        }
    }
    let code = uuid::Uuid::new_v4().simple().to_string();
    let record = serde_json::to_string(&Deletion { kind, deleted }).unwrap_or_default();
    let until = s.clock.now() + DELETION_STATUS_FOR;
    if s.keeper
        .hold(&format!("deletion:{code}"), &record.into(), until)
        .await
        .is_err()
    {
        // Deleted, but the status page would not find it: Meta retries the request.
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let replay_until = s.clock.now() + CALLBACK_MAX_AGE + CALLBACK_MAX_AGE;
    let _ = s
        .keeper
        .hold(&seen, &code.clone().into(), replay_until)
        .await;
    deletion_answer(&s, &code)
}

/// Meta's JSON answer to a data-deletion request: the status page URL and the code.
fn deletion_answer(s: &Inner, code: &str) -> Response {
    let mut url = s
        .public_url
        .join("data-deletion")
        .unwrap_or_else(|_| s.public_url.clone());
    url.query_pairs_mut().append_pair("code", code);
    axum::Json(DataDeletionResponse {
        url: url.to_string(),
        confirmation_code: code.to_owned(),
    })
    .into_response()
}

/// The deletion status page's query.
#[derive(Deserialize)]
pub struct CodeQuery {
    #[serde(default)]
    code: String,
}

/// `GET /data-deletion?code=`: the status page Meta links the person to.
pub async fn data_deletion_status(State(s): S, Query(q): Query<CodeQuery>) -> Response {
    // Only what we could have issued is looked up (a UUID in hex).
    let plausible = q.code.len() == 32 && q.code.bytes().all(|b| b.is_ascii_hexdigit());
    let found = if plausible {
        match s.keeper.held(&format!("deletion:{}", q.code)).await {
            Ok(v) => v.and_then(|v| serde_json::from_str::<Deletion>(v.expose_secret()).ok()),
            Err(e) => return store_down(&e, None),
        }
    } else {
        None
    };
    let known = found.is_some();
    let msg = match found {
        Some(d) if d.deleted.is_empty() => say(
            "deletion-nothing-held",
            &[("code", &esc(&q.code)), ("kind", &esc(d.kind.label()))],
        ),
        Some(d) => {
            let accounts = d
                .deleted
                .iter()
                .map(|u| format!("<b>@{}</b>", esc(u)))
                .collect::<Vec<_>>()
                .join(", ");
            say(
                "deletion-done",
                &[
                    ("code", &esc(&q.code)),
                    ("kind", &esc(d.kind.label())),
                    ("accounts", &accounts),
                ],
            )
        }
        None => say("deletion-unknown", &[]),
    };
    message_page(
        StatusCode::OK,
        "Data deletion",
        None,
        if known { "info" } else { "warn" },
        &msg,
    )
}
