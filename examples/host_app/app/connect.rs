//! After a verified callback: what the flow was for, done with the library's
//! [`Authorized`] (the code exchange and its checks are `flow::OAuth`'s): connect, attach
//! (invitation), renew, or log the person in with the connection itself.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use lightwidget::instagram::flow::{Authorized, FlowError};
use lightwidget::instagram::state::StatePurpose;
use lightwidget::*;

use super::session::{CurrentUser, Session};
use super::state::{AppState, Jar};
use super::views::{esc, layout, message_page, store_down, urlencode};

/// The flow's failure in the person's words (nothing was saved). Meta's own error text
/// goes to the log only.
pub fn flow_failed(e: &FlowError, user: Option<&CurrentUser>, login: bool) -> Response {
    let (status, msg) = match e {
        FlowError::Cancelled => (
            StatusCode::OK,
            "Nothing was changed: you chose not to allow access.".to_owned(),
        ),
        FlowError::DialogFailed => (
            StatusCode::OK,
            "Nothing was changed: Instagram did not complete the sign-in.".to_owned(),
        ),
        FlowError::PermissionsNotGranted { missing } => (
            StatusCode::BAD_REQUEST,
            format!(
                "Nothing was changed: you did not allow {}. LightWidget needs {} to show your \
posts; start again and leave {} ticked.",
                missing
                    .iter()
                    .map(|m| format!("<code>{}</code>", esc(m)))
                    .collect::<Vec<_>>()
                    .join(", "),
                if missing.len() == 1 { "it" } else { "them" },
                if missing.len() == 1 { "it" } else { "them" },
            ),
        ),
        FlowError::PersonalAccount => (
            StatusCode::BAD_REQUEST,
            "This is a personal Instagram account. Meta no longer supports personal accounts since \
the Basic Display API ended on 2024-12-04: switch to a professional (Business or Creator) account \
in the Instagram app (Settings → Account type and tools), then connect again."
                .to_owned(),
        ),
        FlowError::CodeUsed => (
            StatusCode::BAD_REQUEST,
            "Instagram did not accept this sign-in: the link was already used or has expired. \
Please start again."
                .to_owned(),
        ),
        FlowError::NoInstagramAccount => (
            StatusCode::BAD_REQUEST,
            "None of your Facebook Pages is linked to an Instagram business account.".to_owned(),
        ),
        FlowError::Unavailable { .. } => (
            StatusCode::BAD_GATEWAY,
            "Instagram is not answering right now. Please try again in a minute.".to_owned(),
        ),
        FlowError::NotAmongPages { offered, .. } => (
            StatusCode::BAD_REQUEST,
            format!(
                "Nothing was changed: that Instagram account is not among the Pages of your \
Facebook login ({}). Start again and choose one of them.",
                offered
                    .iter()
                    .map(|u| format!("@{}", esc(u)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ),
        FlowError::ChoiceNeeded { .. } => (
            StatusCode::BAD_REQUEST,
            "Nothing was changed: your Facebook login gives several Instagram accounts and none \
was chosen. Please start again and choose one."
                .to_owned(),
        ),
        FlowError::Incomplete => (
            StatusCode::BAD_REQUEST,
            "This sign-in link is incomplete. Nothing was connected.".to_owned(),
        ),
        _ => (
            StatusCode::BAD_GATEWAY,
            "Instagram refused this sign-in. Nothing was connected; please try again later."
                .to_owned(),
        ),
    };
    if login {
        let body = format!(
            "<div class=\"msg warn\" id=message>{msg}</div><p><a class=btn href=\"/\">Back to the login page</a></p>"
        );
        return (status, layout("Not signed in", user, &body)).into_response();
    }
    message_page(status, "Not connected", user, "warn", &msg)
}

/// A connect the keeper refused (the store is down, a token it cannot use). Another
/// owner holding the account is not a refusal: the account is shared.
fn not_connected(e: &Error, user: Option<&CurrentUser>, _username: &str) -> Response {
    store_down(e, user)
}

/// The account and token to connect for `owner` (a chosen connection: the callback and
/// the choice page never pass an unchosen one).
fn new_account(
    s: &AppState,
    owner: &OwnerId,
    a: Authorized,
) -> Result<(NewAccount, Token), FlowError> {
    let n = a.new_account(
        owner.clone(),
        Entitlements {
            notifications: s.entitled.contains(owner.as_str()),
        },
    )?;
    Ok((n, a.into_token()?))
}

/// Does what the verified `purpose` asked for with the authorized connection. A login
/// also answers with the new session in `jar`.
pub async fn finish(
    s: &AppState,
    user: Option<&CurrentUser>,
    jar: Jar,
    purpose: StatePurpose,
    a: Authorized,
) -> Response {
    match purpose {
        StatePurpose::Connect { owner, .. } => {
            let username = a.username.clone();
            let (n, t) = match new_account(s, &owner, a) {
                Ok(x) => x,
                Err(e) => return flow_failed(&e, user, false),
            };
            match s.keeper.connect(n, t).await {
                Ok(_) => Redirect::to(&format!("/accounts?connected={}", urlencode(&username)))
                    .into_response(),
                Err(e) => not_connected(&e, user, &username),
            }
        }
        StatePurpose::Invitation { owner, .. } => {
            let username = a.username.clone();
            let (n, t) = match new_account(s, &owner, a) {
                Ok(x) => x,
                Err(e) => return flow_failed(&e, user, false),
            };
            match s.keeper.connect(n, t).await {
                Ok(_) => message_page(
                    StatusCode::OK,
                    "Connected",
                    user,
                    "info",
                    &format!(
                        "@{} is now connected to the LightWidget account of <b>{}</b>. You can close this page.",
                        esc(&username),
                        esc(owner.as_str())
                    ),
                ),
                Err(e) => not_connected(&e, user, &username),
            }
        }
        StatePurpose::Reconnect { kind } => renewed(s, user, kind, a).await,
        StatePurpose::Login { .. } => logged_in(s, jar, a).await,
    }
}

/// "Log in with Instagram / Facebook": the keeper connects or renews the account and
/// says who the person is; the session is created from that, and only from that.
async fn logged_in(s: &AppState, jar: Jar, a: Authorized) -> Response {
    let kind = a.kind;
    let username = a.username.clone();
    let login = match a.social_login(Entitlements::default()) {
        Ok(l) => l,
        Err(e) => return flow_failed(&e, None, true),
    };
    let owner = login.owner();
    let login = login.with_entitlements(Entitlements {
        notifications: s.entitled.contains(owner.as_str()),
    });
    let token = match a.into_token() {
        Ok(t) => t,
        Err(e) => return flow_failed(&e, None, true),
    };
    match s.keeper.login(login, token).await {
        Ok(out) => {
            let session = Session::signed_in_social(&out.owner, kind, out.account_id, &username);
            let jar = session.store(jar, s);
            let mut to = String::from("/my-token?welcome=1");
            if let Some(other) = out.other_kind {
                to.push_str("&also=");
                to.push_str(other.as_str());
            }
            (jar, Redirect::to(&to)).into_response()
        }
        Err(e) => store_down(&e, None),
    }
}

async fn renewed(
    s: &AppState,
    user: Option<&CurrentUser>,
    kind: ConnectionKind,
    a: Authorized,
) -> Response {
    let username = a.username.clone();
    let ig_user_id = a.ig_user_id.clone();
    let token = match a.into_token() {
        Ok(t) => t,
        Err(e) => return flow_failed(&e, user, false),
    };
    match s
        .keeper
        .reconnect_as(kind, &ig_user_id, &username, token)
        .await
    {
        Ok(id) => {
            let label = s
                .keeper
                .status(id)
                .await
                .map(|r| r.status.label())
                .unwrap_or("ACTIVE");
            message_page(
                StatusCode::OK,
                "Connection renewed",
                user,
                "info",
                &format!(
                    "The access token of @{} is <span class=\"status ok\">{label}</span> again. Its widgets are refreshed first.",
                    esc(&username)
                ),
            )
        }
        Err(Error::NotConnected { kind, hint, .. }) => {
            let msg = match hint {
                Some(other) => format!(
                    "@{} was not connected with a {}, but it is connected with a <b>{}</b>: \
use the <a href=\"/access-token/{}\">{}</a> button instead.",
                    esc(&username),
                    esc(kind.label()),
                    esc(other.label()),
                    other.as_str(),
                    esc(other.label())
                ),
                None => format!(
                    "@{} has never been connected to LightWidget with a {}, so there is nothing to renew. \
Log in and connect it from the Accounts page.",
                    esc(&username),
                    esc(kind.label())
                ),
            };
            message_page(
                StatusCode::NOT_FOUND,
                "Nothing to renew",
                user,
                "warn",
                &msg,
            )
        }
        Err(e) => store_down(&e, user),
    }
}

/// The access token page's business renewal when the login gives several Pages: it
/// knows only the kind, so every connected account among the choices is renewed, each
/// with its own Page token, and the page says which (the others are left alone).
pub async fn renew_all(s: &AppState, user: Option<&CurrentUser>, a: Authorized) -> Response {
    let mut renewed = Vec::new();
    let mut skipped = Vec::new();
    for c in a.choices() {
        let token = match a.choose(&c.ig_user_id).and_then(Authorized::into_token) {
            Ok(t) => t,
            Err(_) => continue,
        };
        match s
            .keeper
            .reconnect_as(a.kind, &c.ig_user_id, &c.username, token)
            .await
        {
            Ok(_) => renewed.push(c.username),
            Err(Error::NotConnected { .. }) => skipped.push(c.username),
            Err(e) => return store_down(&e, user),
        }
    }
    let list = |v: &[String]| {
        v.iter()
            .map(|u| format!("<li>@{}</li>", esc(u)))
            .collect::<String>()
    };
    if renewed.is_empty() {
        return message_page(
            StatusCode::NOT_FOUND,
            "Nothing to renew",
            user,
            "warn",
            &format!(
                "None of the Instagram accounts of your Pages is connected to LightWidget with a {}, \
so nothing was renewed:<ul id=not-connected>{}</ul>Log in and connect one from the Accounts page.",
                esc(a.kind.label()),
                list(&skipped)
            ),
        );
    }
    let rest = if skipped.is_empty() {
        String::new()
    } else {
        format!(
            "<p>Not connected to LightWidget, so left alone:</p><ul id=not-connected>{}</ul>",
            list(&skipped)
        )
    };
    message_page(
        StatusCode::OK,
        "Connection renewed",
        user,
        "info",
        &format!(
            "Renewed (the access token is <span class=\"status ok\">ACTIVE</span> again and its \
widgets are refreshed first):<ul id=renewed>{}</ul>{rest}",
            list(&renewed)
        ),
    )
}
