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
use crate::messages::say;
use crate::state::Inner;
use crate::views::{after_renewal, esc, layout, message_page, store_down};

/// The flow's failure in the person's words (nothing was saved). Meta's own error text
/// goes to the log only.
pub fn flow_failed(e: &FlowError, user: Option<&Viewer>, login: bool) -> Response {
    let (status, msg) = match e {
        FlowError::Cancelled => (StatusCode::OK, say("flow-cancelled", &[])),
        FlowError::DialogFailed => (StatusCode::OK, say("flow-dialog-failed", &[])),
        FlowError::PermissionsNotGranted { missing } => {
            let list = missing
                .iter()
                .map(|m| format!("<code>{}</code>", esc(m)))
                .collect::<Vec<_>>()
                .join(", ");
            let them = if missing.len() == 1 { "it" } else { "them" };
            (
                StatusCode::BAD_REQUEST,
                say("flow-permissions", &[("missing", &list), ("them", them)]),
            )
        }
        FlowError::PersonalAccount => (StatusCode::BAD_REQUEST, say("flow-personal-account", &[])),
        FlowError::CodeUsed => (StatusCode::BAD_REQUEST, say("flow-code-used", &[])),
        FlowError::NoInstagramAccount => (
            StatusCode::BAD_REQUEST,
            say("flow-no-instagram-account", &[]),
        ),
        FlowError::Unavailable { .. } => (StatusCode::BAD_GATEWAY, say("flow-unavailable", &[])),
        FlowError::NotAmongPages { offered, .. } => {
            let list = offered
                .iter()
                .map(|u| format!("@{}", esc(u)))
                .collect::<Vec<_>>()
                .join(", ");
            (
                StatusCode::BAD_REQUEST,
                say("flow-not-among-pages", &[("offered", &list)]),
            )
        }
        FlowError::ChoiceNeeded { .. } => (StatusCode::BAD_REQUEST, say("flow-choice-needed", &[])),
        FlowError::Incomplete => (StatusCode::BAD_REQUEST, say("flow-incomplete", &[])),
        _ => (StatusCode::BAD_GATEWAY, say("flow-refused", &[])),
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
        &say("host-unavailable", &[]),
    )
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

/// Connects the authorized account for `owner` with what the host says they are entitled
/// to: the new account's id, or the page to answer (the host or the store could not, or
/// the authorization has no token to keep).
async fn connect_for(
    s: &Inner,
    owner: &OwnerId,
    user: Option<&Viewer>,
    a: Authorized,
) -> Result<AccountId, Response> {
    let entitlements = entitlements_of(s, owner, user).await?;
    // A chosen connection: the callback and the choice page never pass an unchosen one.
    let new = a
        .new_account(owner.clone(), entitlements)
        .map_err(|e| flow_failed(&e, user, false))?;
    let token = a.into_token().map_err(|e| flow_failed(&e, user, false))?;
    // The store is down or refused: a 503 page (another owner holding the account is not a
    // refusal: the account is shared).
    s.keeper
        .connect(new, token)
        .await
        .map_err(|e| store_down(&e, user))
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
        StatePurpose::Connect { owner, .. } => match connect_for(s, &owner, user, a).await {
            // A renewal (Refresh token) says so, with the seed's words.
            Ok(id) if renewing => crate::accounts::done(s, Done::Renewed(id)),
            Ok(id) => crate::accounts::done(s, Done::Connected(id)),
            Err(resp) => resp,
        },
        StatePurpose::Invitation { owner, .. } => {
            let username = a.username.clone();
            match connect_for(s, &owner, user, a).await {
                Ok(_) => message_page(
                    StatusCode::OK,
                    "Connected",
                    user,
                    "info",
                    &say(
                        "invited-connected",
                        &[
                            ("username", &esc(&username)),
                            ("owner", &esc(&s.host.display_name(&owner).await)),
                        ],
                    ),
                ),
                Err(resp) => resp,
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
            // A `Location` among the host's headers is where this login goes instead.
            let mut headers = headers;
            let to = headers
                .remove(header::LOCATION)
                .and_then(|v| v.to_str().ok().map(str::to_owned))
                .unwrap_or_else(|| s.host.redirect(Step::LoggedIn));
            (
                headers,
                AppendHeaders([(header::SET_COOKIE, flash(s, &what))]),
                Redirect::to(&to),
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
                    "{}{}",
                    say(
                        "renewed",
                        &[("username", &esc(&username)), ("status", label)]
                    ),
                    after_renewal(&s.cache)
                ),
            )
        }
        Err(Error::NotConnected { kind, hint, .. }) => {
            // The seeds' error 1075, its code shown so support can find it.
            let msg = match hint {
                Some(other) => say(
                    "connected-with-other-kind",
                    &[
                        ("username", &esc(&username)),
                        ("kind", &esc(kind.label())),
                        ("other", &esc(other.label())),
                        (
                            "other_button",
                            &format!(
                                "<a href=\"/access-token/{}\">{}</a>",
                                other.as_str(),
                                esc(other.label())
                            ),
                        ),
                    ],
                ),
                None => say(
                    "never-connected",
                    &[("username", &esc(&username)), ("kind", &esc(kind.label()))],
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
            &say(
                "none-of-the-pages-connected",
                &[("kind", &esc(a.kind.label())), ("skipped", &list(&skipped))],
            ),
        );
    }
    let rest = if skipped.is_empty() {
        String::new()
    } else {
        say("renewed-left-alone", &[("skipped", &list(&skipped))])
    };
    message_page(
        StatusCode::OK,
        "Connection renewed",
        user,
        "info",
        &format!(
            "{}{}",
            say(
                "renewed-several",
                &[("renewed", &list(&renewed)), ("rest", &rest)]
            ),
            after_renewal(&s.cache)
        ),
    )
}
