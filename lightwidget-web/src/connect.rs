//! After a verified callback: what the flow was for, done with the library's
//! [`Authorized`] (the code exchange and its checks are `flow::OAuth`'s): connect, attach
//! (invitation), renew, or log the person in with the connection itself.

use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{AppendHeaders, IntoResponse, Redirect, Response};
use lightwidget_core::*;
use lightwidget_instagram::flow::{Authorized, FlowError};
use lightwidget_instagram::state::StatePurpose;

use crate::accounts::{Done, flash};
use crate::host::{SocialIdentity, SocialSignIn, Step, Viewer};
use crate::state::Inner;
use crate::views::{after_renewal, esc, layout, message_page, store_down};

/// The flow's failure in the person's words (nothing was saved). Meta's own error text
/// goes to the log only.
pub fn flow_failed(e: &FlowError, user: Option<&Viewer>, login: bool) -> Response {
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

/// The host could not answer (its session store or billing is down): a 503 page.
fn unavailable(user: Option<&Viewer>) -> Response {
    message_page(
        StatusCode::SERVICE_UNAVAILABLE,
        "Temporarily unavailable",
        user,
        "warn",
        "This site could not complete the sign-in right now. Nothing was changed: please try \
again in a minute.",
    )
}

/// A connect the keeper refused (the store is down, a token it cannot use). Another
/// owner holding the account is not a refusal: the account is shared.
fn not_connected(e: &Error, user: Option<&Viewer>, _username: &str) -> Response {
    store_down(e, user)
}

/// The account and token to connect for `owner` (a chosen connection: the callback and
/// the choice page never pass an unchosen one).
fn new_account(
    owner: &OwnerId,
    entitlements: Entitlements,
    a: Authorized,
) -> Result<(NewAccount, Token), FlowError> {
    let n = a.new_account(owner.clone(), entitlements)?;
    Ok((n, a.into_token()?))
}

/// What the host says `owner` is entitled to; a host that cannot say (its billing is
/// down) gets the 503 page, and nothing is connected.
async fn entitlements_of(
    s: &Inner,
    owner: &OwnerId,
    user: Option<&Viewer>,
) -> Result<Entitlements, Response> {
    s.host.entitlements(owner).await.map_err(|e| {
        tracing::warn!(error = %e, "the host could not say what the owner is entitled to");
        unavailable(user)
    })
}

/// Does what the verified `purpose` asked for with the authorized connection
/// (`renewing`: the flow renews a known account, the Accounts page's Refresh token). A login
/// also answers with the host's new session ([`crate::Host::sign_in`]).
pub async fn finish(
    s: &Inner,
    parts: &Parts,
    user: Option<&Viewer>,
    purpose: StatePurpose,
    a: Authorized,

    renewing: bool,
) -> Response {
    match purpose {
        StatePurpose::Connect { owner, .. } => {
            let username = a.username.clone();
            let entitlements = match entitlements_of(s, &owner, user).await {
                Ok(e) => e,
                Err(resp) => return resp,
            };
            let (n, t) = match new_account(&owner, entitlements, a) {
                Ok(x) => x,
                Err(e) => return flow_failed(&e, user, false),
            };
            match s.keeper.connect(n, t).await {
                // A renewal (Refresh token) says so, with the seed's words.
                Ok(id) if renewing => crate::accounts::done(s, Done::Renewed(id)),
                Ok(id) => crate::accounts::done(s, Done::Connected(id)),
                Err(e) => not_connected(&e, user, &username),
            }
        }
        StatePurpose::Invitation { owner, .. } => {
            let username = a.username.clone();
            let entitlements = match entitlements_of(s, &owner, user).await {
                Ok(e) => e,
                Err(resp) => return resp,
            };
            let (n, t) = match new_account(&owner, entitlements, a) {
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
                        esc(&s.host.display_name(&owner).await)
                    ),
                ),
                Err(e) => not_connected(&e, user, &username),
            }
        }
        StatePurpose::Reconnect { kind } => renewed(s, user, kind, a).await,
        StatePurpose::Login { .. } => logged_in(s, parts, a).await,
    }
}

/// "Log in with Instagram / Facebook": the keeper connects or renews the account and
/// says who the person is; the session is created from that, and only from that.
async fn logged_in(s: &Inner, parts: &Parts, a: Authorized) -> Response {
    let kind = a.kind;
    let username = a.username.clone();
    let login = match a.social_login(Entitlements::default()) {
        Ok(l) => l,
        Err(e) => return flow_failed(&e, None, true),
    };
    let owner = login.owner();
    let entitlements = match entitlements_of(s, &owner, None).await {
        Ok(e) => e,
        Err(resp) => return resp,
    };
    let login = login.with_entitlements(entitlements);
    let token = match a.into_token() {
        Ok(t) => t,
        Err(e) => return flow_failed(&e, None, true),
    };
    match s.keeper.login(login, token).await {
        Ok(out) => {
            let who = SocialSignIn {
                owner: out.owner.clone(),
                identity: SocialIdentity {
                    kind,
                    account: out.account_id,
                    username: username.clone(),
                },
            };
            let headers = match s.host.sign_in(parts, &who).await {
                Ok(h) => h,
                Err(e) => {
                    tracing::warn!(error = %e, "the host did not create the session");
                    return unavailable(None);
                }
            };
            let what = Done::LoggedIn {
                also: out.other_kind,
                renewed: matches!(out.effect, LoginEffect::Renewed),
            };
            (
                headers,
                AppendHeaders([(header::SET_COOKIE, flash(s, &what))]),
                Redirect::to(&s.host.redirect(Step::LoggedIn)),
            )
                .into_response()
        }
        Err(e) => store_down(&e, None),
    }
}

async fn renewed(
    s: &Inner,
    user: Option<&Viewer>,
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
                    "The access token of @{} is <span class=\"status ok\">{label}</span> again.{}",
                    esc(&username),
                    after_renewal(&s.cache)
                ),
            )
        }
        Err(Error::NotConnected { kind, hint, .. }) => {
            // The seeds' error 1075, its code shown so support can find it.
            let msg = match hint {
                Some(other) => format!(
                    "@{} was not connected with a {}, but it is connected with a <b>{}</b>: \
use the <a href=\"/access-token/{}\">{}</a> button instead. <span class=muted id=error-code>Error code: 1075</span>",
                    esc(&username),
                    esc(kind.label()),
                    esc(other.label()),
                    other.as_str(),
                    esc(other.label())
                ),
                None => format!(
                    "@{} has never been connected to LightWidget with a {}, so there is nothing to renew. \
Log in and connect it from the Accounts page. <span class=muted id=error-code>Error code: 1075</span>",
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
pub async fn renew_all(s: &Inner, user: Option<&Viewer>, a: Authorized) -> Response {
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
            "Renewed (the access token is <span class=\"status ok\">ACTIVE</span> again):\
<ul id=renewed>{}</ul>{rest}{}",
            list(&renewed),
            after_renewal(&s.cache)
        ),
    )
}
