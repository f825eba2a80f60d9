//! The OAuth flows: connect (signed in), renew (no login: the access token page and the
//! emailed link), a developer's invitation, and the callback they all come back to.
//!
//! Every flow starts with a `state` from the library's `StateSigner` and its browser
//! binding in a `__Host-` cookie; the callback verifies both, so a `state` completes only
//! in the browser that started it, once, before it expires.

use axum::extract::{Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{AppendHeaders, IntoResponse, Redirect, Response};
use lightwidget_core::*;
use lightwidget_instagram::flow::{FlowError, Prompt};
use lightwidget_instagram::state::{StateError, StatePurpose};
use serde::Deserialize;

use crate::Web;
use crate::choose::{Target, ask, digest_key, not_covered, set_target, take_target};
use crate::connect::{finish, flow_failed, renew_all};
use crate::messages::say;
use crate::state::Inner;
use crate::viewer::MaybeViewer;
use crate::views::{esc, layout, message_page, parse_kind, store_down};

type S = State<Web>;

/// Redirects to the authorize dialog of `purpose`'s kind, with a fresh state, and
/// stores the state's browser binding in the binding cookie. `reauthorize` asks
/// Facebook Login to renew data access.
pub async fn start_oauth(s: &Inner, purpose: StatePurpose, reauthorize: bool) -> Response {
    let prompt = if reauthorize {
        Prompt::Reauthorize
    } else {
        Prompt::Default
    };
    start_oauth_with(s, purpose, prompt).await
}

/// [`start_oauth`] with the dialog's [`Prompt`].
pub async fn start_oauth_with(s: &Inner, purpose: StatePurpose, prompt: Prompt) -> Response {
    start_renewal(s, purpose, prompt, None).await
}

/// How a renewal of the account in `r` asks: a business account whose token ended
/// because a permission was removed re-asks for it (`auth_type=rerequest`); another
/// business account renews data access (`auth_type=reauthorize`); Instagram Login has
/// no such option.
pub fn renewal_prompt(r: &StatusReport) -> Prompt {
    match r.account.kind {
        ConnectionKind::Business if r.status.reason() == Some(ExpiryReason::PermissionRemoved) => {
            Prompt::Rerequest
        }
        ConnectionKind::Business => Prompt::Reauthorize,
        ConnectionKind::Consumer => Prompt::Default,
    }
}

/// The flow of a renewal of the account in `r` (the Accounts page's Refresh token
/// button, the emailed link, *Update your access token*): it asks with
/// [`renewal_prompt`], and the callback takes exactly this account among the Pages of
/// the login (never another one).
pub async fn start_renewal_of(s: &Inner, purpose: StatePurpose, r: &StatusReport) -> Response {
    let target = Target {
        ig_user_id: r.account.ig_user_id.to_string(),
        username: r.account.username.clone(),
    };
    start_renewal(s, purpose, renewal_prompt(r), Some(target)).await
}

/// [`start_oauth_with`], remembering (server-side, bound to this browser's flow) the
/// account a renewal is for.
pub async fn start_renewal(
    s: &Inner,
    purpose: StatePurpose,
    prompt: Prompt,
    target: Option<Target>,
) -> Response {
    let kind = purpose.kind();
    let issued = s.oauth_state.issue(&purpose, s.clock.now());
    match s.oauth.authorize_url(kind, &issued.state, prompt) {
        Ok(mut u) => {
            if let Some(t) = target
                && let Err(e) = set_target(s, issued.binding.expose_secret(), &t).await
            {
                return store_down(&e, None);
            }
            s.host.decorate_authorize_url(kind, &mut u);
            let cookie = s.binding_cookie().set_cookie(&issued.binding);
            (
                AppendHeaders([(header::SET_COOKIE, cookie)]),
                Redirect::to(u.as_str()),
            )
                .into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, kind = kind.as_str(), "authorize URL");
            message_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Not configured",
                None,
                "warn",
                &say("not-configured", &[]),
            )
        }
    }
}

/// `GET /access-token`: renew without logging in.
pub async fn access_token_page(MaybeViewer(user): MaybeViewer) -> Response {
    let body = format!(
        "<div class=card><p>{}</p>\
<p><a class=btn id=renew-consumer href=\"/access-token/consumer\">Consumer connection</a> \
<a class=btn id=renew-business href=\"/access-token/business\">Business connection</a></p>\
<p class=muted>{}</p></div>",
        say("access-token-intro", &[]),
        say("access-token-kinds", &[])
    );
    layout("Access token", user.as_ref(), &body).into_response()
}

/// `GET /access-token/{kind}`: the renewal flow of that kind.
pub async fn renew_start(State(s): S, Path(k): Path<String>, headers: HeaderMap) -> Response {
    let Some(kind) = parse_kind(&k) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if let Some(refused) = started_elsewhere(&headers) {
        return refused;
    }
    start_oauth(
        &s,
        StatePurpose::Reconnect { kind },
        kind == ConnectionKind::Business,
    )
    .await
}

/// A flow start another site navigated the browser to (`Sec-Fetch-Site: cross-site`):
/// refused, so no page elsewhere can start a flow (or overwrite this browser's flow
/// cookie). The emailed renewal link is not one of these: it names its own account.
fn started_elsewhere(headers: &HeaderMap) -> Option<Response> {
    let site = headers.get("sec-fetch-site")?.to_str().ok()?;
    (site == "cross-site").then(|| {
        tracing::warn!("OAuth flow start from another site refused");
        message_page(
            StatusCode::FORBIDDEN,
            "Start from this site",
            None,
            "warn",
            &say("started-elsewhere", &[]),
        )
    })
}

/// A signed link's query.
#[derive(Deserialize)]
pub struct TokenQuery {
    #[serde(default)]
    token: String,
}

impl TokenQuery {
    /// The link's token (empty when missing: refused like a forged one).
    pub fn token(&self) -> &str {
        &self.token
    }
}

/// `GET /renew?token=`: the emailed renewal link.
pub async fn renew_link(State(s): S, Query(q): Query<TokenQuery>) -> Response {
    match s.links.verify_renewal(q.token(), s.clock.now()) {
        // The link names its account: renew exactly that one, asking as its state needs.
        Ok(l) => match s.keeper.status_for(&l.owner, l.account).await {
            Ok(r) if r.account.kind == l.kind => {
                start_renewal_of(&s, StatePurpose::Reconnect { kind: l.kind }, &r).await
            }
            Ok(_) | Err(Error::UnknownAccount(_)) => message_page(
                StatusCode::NOT_FOUND,
                "Nothing to renew",
                None,
                "warn",
                &say("link-account-gone", &[]),
            ),
            Err(e) => store_down(&e, None),
        },
        Err(e) => message_page(
            StatusCode::BAD_REQUEST,
            "Link not valid",
            None,
            "warn",
            &say("link-not-valid", &[("reason", &esc(&e.to_string()))]),
        ),
    }
}

fn invitation_refused() -> Response {
    message_page(
        StatusCode::BAD_REQUEST,
        "Invitation not valid",
        None,
        "warn",
        &say("invitation-not-valid", &[]),
    )
}

/// `GET /invite?token=`: a developer's invitation.
pub async fn invite_page(State(s): S, Query(q): Query<TokenQuery>) -> Response {
    let Ok(from) = s.oauth_state.verify_invitation(&q.token, s.clock.now()) else {
        return invitation_refused();
    };
    let t = esc(&super::views::urlencode(&q.token));
    let body = format!(
        "<div class=card><p>{invitation}</p>\
<p><a class=btn id=invite-consumer href=\"/invite/start?kind=consumer&amp;token={t}\">Consumer connection</a> \
<a class=btn id=invite-business href=\"/invite/start?kind=business&amp;token={t}\">Business connection</a></p></div>",
        invitation = say(
            "invitation",
            &[("inviter", &esc(&s.host.display_name(&from).await))]
        )
    );
    layout("Invitation", None, &body).into_response()
}

/// The invitation's start query.
#[derive(Deserialize)]
pub struct InviteStartQuery {
    #[serde(default)]
    token: String,
    #[serde(default)]
    kind: String,
}

/// `GET /invite/start?token=&kind=`: the invited client's flow.
pub async fn invite_start(
    State(s): S,
    Query(q): Query<InviteStartQuery>,
    headers: HeaderMap,
) -> Response {
    // Only from the invitation page itself: another site must not send a person straight
    // to Meta's dialog (which names this site, not the inviter) to attach their account.
    if let Some(refused) = started_elsewhere(&headers) {
        return refused;
    }
    let (Ok(owner), Some(kind)) = (
        s.oauth_state.verify_invitation(&q.token, s.clock.now()),
        parse_kind(&q.kind),
    ) else {
        return invitation_refused();
    };
    start_oauth(&s, StatePurpose::Invitation { kind, owner }, false).await
}

/// The callback's query: `error_description` is deliberately not read (it is never shown).
#[derive(Deserialize)]
pub struct CallbackQuery {
    state: Option<String>,
}

fn state_refused(e: &StateError) -> String {
    let key = match e {
        StateError::WrongBrowser => "state-wrong-browser",
        StateError::Expired => "state-expired",
        StateError::Replayed => "state-replayed",
        _ => "state-not-ours",
    };
    say(key, &[])
}

/// `GET /oauth/callback`: verify state and binding, exchange the code, connect.
pub async fn oauth_callback(State(s): S, req: Request) -> Response {
    let (parts, _) = req.into_parts();
    let user = s.host.viewer(&parts).await;
    let headers = &parts.headers;
    let raw = parts.uri.query();
    let q: CallbackQuery = match Query::try_from_uri(&parts.uri) {
        Ok(Query(q)) => q,
        Err(_) => CallbackQuery { state: None },
    };
    let cookie = s.binding_cookie();
    let refused = |status, msg: &str| {
        message_page(status, "Not connected", user.as_ref(), "warn", msg).into_response()
    };
    let Some(state) = q.state.filter(|st| !st.is_empty()) else {
        return refused(StatusCode::BAD_REQUEST, &say("flow-incomplete", &[]));
    };
    let binding = cookie.find(
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok()),
    );
    // A refused state leaves the cookie alone (another page must not end this browser's
    // own flow); a verified one has served its purpose: every answer from here clears it.
    let purpose = match s.oauth_state.verify(&state, binding, s.clock.now()) {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(error = %e, "OAuth state refused");
            return refused(StatusCode::BAD_REQUEST, &state_refused(&e));
        }
    };
    // Single use across every instance: the store spends the state (the signer's
    // in-process nonce list only covers this process).
    match s.keeper.spend_once(&digest_key("oauth", &state)).await {
        Ok(true) => {}
        Ok(false) => {
            tracing::warn!("OAuth state replayed (already spent in the store)");
            return refused(
                StatusCode::BAD_REQUEST,
                &state_refused(&StateError::Replayed),
            );
        }
        Err(e) => return store_down(&e, user.as_ref()),
    }
    let target = match take_target(&s, binding).await {
        Ok(t) => t,
        Err(e) => return store_down(&e, user.as_ref()),
    };
    let clear = AppendHeaders([(header::SET_COOKIE, cookie.clear_cookie())]);
    (
        clear,
        complete(&s, &parts, user.as_ref(), purpose, target, raw).await,
    )
        .into_response()
}

async fn complete(
    s: &Inner,
    parts: &Parts,
    user: Option<&crate::host::Viewer>,
    purpose: StatePurpose,
    target: Option<Target>,
    raw: Option<&str>,
) -> Response {
    let login = matches!(purpose, StatePurpose::Login { .. });
    match s
        .oauth
        .complete(purpose.kind(), raw.unwrap_or_default())
        .await
    {
        // A renewal takes its own account among the Pages, or renews nothing.
        Ok(a) => match target {
            Some(t) => match a.choose(&t.ig_user_id) {
                Ok(chosen) => finish(s, parts, user, purpose, chosen, true).await,
                Err(e) => not_covered(&e, &t, purpose.kind(), user),
            },
            // The access token page knows only the kind: renew the connected ones.
            None if a.needs_choice() && matches!(purpose, StatePurpose::Reconnect { .. }) => {
                renew_all(s, user, a).await
            }
            None if a.needs_choice() => ask(s, purpose, a).await,
            None => finish(s, parts, user, purpose, a, false).await,
        },
        Err(e) => {
            if matches!(
                e,
                FlowError::CodeUsed | FlowError::Unavailable { .. } | FlowError::Refused { .. }
            ) {
                // Never a token here: the flow's errors carry none.
                tracing::warn!(error = %e, detail = e.detail().unwrap_or_default(), "OAuth code exchange failed");
            } else {
                tracing::info!(error = %e, "OAuth flow ended without authorization");
            }
            flow_failed(&e, user, login)
        }
    }
}
