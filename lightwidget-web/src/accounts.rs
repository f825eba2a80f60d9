//! The signed-in pages about accounts: Accounts (with its Refresh token, Disconnect and
//! Connect buttons and the invitation link), My access token (status and history).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{AppendHeaders, IntoResponse, Redirect, Response};
use lightwidget_core::*;
use lightwidget_instagram::state::StatePurpose;

use crate::Web;
use crate::cookies::FLASH;
use crate::host::{Step, Viewer};
use crate::messages::say;
use crate::oauth::{start_oauth, start_renewal_of};
use crate::state::Inner;
use crate::viewer::{CsrfForm, PlainForm};
use crate::views::{
    account_status_cell, after_renewal, csrf_field, esc, expiry_text, failures_text, history_row,
    layout, message_page, parse_kind, reason_text, status_cell, store_down, urlencode, utc,
};

type S = State<Web>;

/// What just happened, for the Accounts page's message. It travels in a short-lived
/// `HttpOnly` cookie the server sets (`__Host-` where cookies are secure), never in the
/// URL: no page shows text a link can carry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Done {
    /// This account was connected (or joined) for the viewer.
    Connected(AccountId),
    /// This account of the viewer's was renewed.
    Renewed(AccountId),
    /// The viewer left the account with this username.
    Disconnected(String),
    /// The viewer's notification settings were saved.
    Saved,
    /// The viewer logged in with Instagram / Facebook; the same account is also connected
    /// with the other kind when `also` says so; `renewed` when its token was renewed.
    LoggedIn {
        /// The other kind the account is connected with.
        also: Option<ConnectionKind>,
        /// Whether the login renewed a token that was not active.
        renewed: bool,
    },
}

fn flash_cookie(s: &Inner, value: &str, max_age: i64) -> String {
    FLASH.set(s.secure_cookies, value, max_age)
}

/// The flash cookie that says `what` happened (to add to a response).
pub(crate) fn flash(s: &Inner, what: &Done) -> String {
    let value = match what {
        Done::Connected(id) => format!("c.{id}"),
        Done::Renewed(id) => format!("r.{id}"),
        Done::Disconnected(u) => format!("d.{}", urlencode(u)),
        Done::Saved => "s.1".to_owned(),
        Done::LoggedIn { also, renewed } => format!(
            "l.{}.{}",
            also.map(ConnectionKind::as_str).unwrap_or("-"),
            u8::from(*renewed)
        ),
    };
    flash_cookie(s, &value, 60)
}

/// The `Set-Cookie` that drops the flash once its page was shown.
pub(crate) fn clear_flash(s: &Inner) -> String {
    flash_cookie(s, "", 0)
}

/// The redirect to the Accounts page after `what`, with its message in the flash cookie.
pub(crate) fn done(s: &Inner, what: Done) -> Response {
    (
        AppendHeaders([(header::SET_COOKIE, flash(s, &what))]),
        Redirect::to(&s.host.redirect(Step::Connected)),
    )
        .into_response()
}

pub(crate) fn read_flash(s: &Inner, headers: &HeaderMap) -> Option<Done> {
    let v = FLASH.read(s.secure_cookies, headers)?;
    match v.split_once('.')? {
        ("c", id) => id.parse().ok().map(Done::Connected),
        ("r", id) => id.parse().ok().map(Done::Renewed),
        ("s", _) => Some(Done::Saved),
        ("l", rest) => {
            let (also, renewed) = rest.split_once('.')?;
            Some(Done::LoggedIn {
                also: parse_kind(also),
                renewed: renewed == "1",
            })
        }
        ("d", u) => url::form_urlencoded::parse(format!("u={u}").as_bytes())
            .next()
            .map(|(_, u)| Done::Disconnected(u.into_owned())),
        _ => None,
    }
}

fn post_button(action: &str, csrf: &str, label: &str, id: &str, class: &str) -> String {
    format!(
        "<form class=inline method=post action=\"{action}\">{}<button type=submit class=\"{class}\"{id}>{label}</button></form>",
        csrf_field(csrf),
        id = if id.is_empty() {
            String::new()
        } else {
            format!(" id={id}")
        },
    )
}

fn account_row(r: &StatusReport, csrf: &str) -> String {
    let kind = r.account.kind;
    let id = r.account.id;
    format!(
        "<tr class=account data-kind=\"{k}\" data-id=\"{id}\"><td class=username>@{u}</td><td>{kl}</td><td>{st}</td>\
<td class=reason>{re}</td><td class=failures-cell>{fa}</td><td>{lc}</td><td>{ex}</td><td><a class=btn href=\"/accounts/{id}/preview\">Preview widget</a> {refresh} {disconnect}</td></tr>",
        k = kind.as_str(),
        u = esc(&r.account.username),
        kl = esc(kind.label()),
        st = account_status_cell(r),
        re = reason_text(r),
        fa = failures_text(r),
        lc = utc(r.last_checked_at),
        ex = expiry_text(r),
        refresh = post_button(
            &format!("/accounts/{id}/refresh"),
            csrf,
            "Refresh token",
            "",
            "refresh"
        ),
        disconnect = post_button(
            &format!("/accounts/{id}/disconnect"),
            csrf,
            "Disconnect",
            "",
            "alt disconnect"
        ),
    )
}

/// `GET /accounts`.
pub async fn accounts(State(s): S, user: Viewer, headers: HeaderMap) -> Response {
    let reports = match s.keeper.statuses(&user.owner).await {
        Ok(r) => r,
        Err(e) => return store_down(&e, Some(&user)),
    };
    let rows: String = reports.iter().map(|r| account_row(r, &user.csrf)).collect();
    let table = if reports.is_empty() {
        format!(
            "<p class=muted id=no-accounts>{}</p>",
            say("no-accounts", &[])
        )
    } else {
        format!(
            "<table><tr><th>Account</th><th>Connection</th><th>Access token</th><th>Reason</th>\
<th>Failures</th><th>Last successful check</th><th>Expires</th><th></th></tr>{rows}</table>"
        )
    };
    // Only what the server knows happened: an account of this viewer's, or the name it
    // set itself when the viewer left one.
    let flash = match read_flash(&s, &headers) {
        Some(Done::Connected(id)) => reports
            .iter()
            .find(|r| r.account.id == id)
            .map(|r| {
                format!(
                    "<div class=\"msg info\" id=message>{}</div>",
                    say(
                        "connected-flash",
                        &[("username", &esc(&r.account.username))]
                    )
                )
            })
            .unwrap_or_default(),
        Some(Done::Renewed(id)) => reports
            .iter()
            .find(|r| r.account.id == id)
            .map(|r| {
                format!(
                    "<div class=\"msg info\" id=message>{}</div>{}",
                    say("renewed-flash", &[("username", &esc(&r.account.username))]),
                    after_renewal(&s.cache)
                )
            })
            .unwrap_or_default(),
        Some(Done::Disconnected(u)) if reports.iter().all(|r| r.account.username != u) => format!(
            "<div class=\"msg info\" id=message>{}</div>",
            say("disconnected-flash", &[("username", &esc(&u))])
        ),
        _ => String::new(),
    };
    let extra = s.host.accounts_extra(&user).await;
    let body = format!(
        "{flash}<div class=card>{table}</div>\
<div class=card><h3>Connect an Instagram account</h3>{consumer} {business}\
<p class=muted>Consumer = Instagram Login, for professional Instagram accounts (Business or Creator). \
Business = Facebook Login through the Facebook Page linked to the Instagram account. Personal Instagram accounts \
can no longer be connected: Meta ended the Instagram Basic Display API on 2024-12-04.</p></div>\
<div class=card><h3>Invite a client</h3><p>Send a client an invitation link: they connect their own account from their own device, \
it is attached to you, and no password is shared. Links are valid for 7 days.</p>{invite}</div>\
{extra}",
        consumer = post_button(
            "/connect/consumer",
            &user.csrf,
            "Consumer connection",
            "connect-consumer",
            ""
        ),
        business = post_button(
            "/connect/business",
            &user.csrf,
            "Business connection",
            "connect-business",
            ""
        ),
        invite = post_button(
            "/invitations",
            &user.csrf,
            "Create an invitation link",
            "new-invitation",
            ""
        ),
    );
    let clear = AppendHeaders([(header::SET_COOKIE, flash_cookie(&s, "", 0))]);
    (clear, layout("Accounts", Some(&user), &body)).into_response()
}

/// `POST /invitations`: a fresh invitation link, signed by the library's state signer.
pub async fn create_invitation(State(s): S, user: Viewer, _f: CsrfForm<PlainForm>) -> Response {
    let token = s.oauth_state.invitation(&user.owner, s.clock.now());
    let mut link = s
        .public_url
        .join("invite")
        .unwrap_or_else(|_| s.public_url.clone());
    link.query_pairs_mut().append_pair("token", &token);
    let body = format!(
        "<div class=card><p>Send this link to your client. It attaches the account they connect to \
<b>{o}</b> and is valid for 7 days.</p><input type=text readonly id=invite-link value=\"{l}\"></div>\
<p><a class=btn href=\"/accounts\">Back to Accounts</a></p>",
        o = esc(&user.name),
        l = esc(link.as_str()),
    );
    layout("Invitation link", Some(&user), &body).into_response()
}

/// `POST /connect/{kind}`: a new connection for the signed-in owner.
pub async fn connect_start(
    State(s): S,
    user: Viewer,
    Path(k): Path<String>,
    _f: CsrfForm<PlainForm>,
) -> Response {
    let Some(kind) = parse_kind(&k) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    start_oauth(
        &s,
        StatePurpose::Connect {
            kind,
            owner: user.owner,
        },
        false,
    )
    .await
}

/// One of the signed-in owner's accounts, or 404 (unknown ids, and other owners' ids).
pub(crate) async fn own_account(
    s: &Inner,
    user: &Viewer,
    id: &str,
) -> Result<StatusReport, Response> {
    let not_found = || {
        message_page(
            StatusCode::NOT_FOUND,
            "No such account",
            Some(user),
            "warn",
            &say("no-such-account", &[]),
        )
    };
    let id: AccountId = id.parse().map_err(|_| not_found())?;
    // Membership decides (shared accounts): a non-member gets "unknown account".
    match s.keeper.status_for(&user.owner, id).await {
        Ok(r) => Ok(r),
        Err(Error::UnknownAccount(_)) => Err(not_found()),
        Err(e) => Err(store_down(&e, Some(user))),
    }
}

/// `POST /accounts/{id}/refresh`: the OAuth flow of the account's own kind.
pub async fn refresh(
    State(s): S,
    user: Viewer,
    Path(id): Path<String>,
    _f: CsrfForm<PlainForm>,
) -> Response {
    match own_account(&s, &user, &id).await {
        // Exactly this account is renewed (never another Page of the login), asking
        // again for a removed permission when that is why it stopped.
        Ok(r) => {
            start_renewal_of(
                &s,
                StatePurpose::Connect {
                    kind: r.account.kind,
                    owner: user.owner.clone(),
                },
                &r,
            )
            .await
        }
        Err(resp) => resp,
    }
}

/// `POST /accounts/{id}/disconnect`: the owner leaves the account; with its last owner the
/// account, its token and history are removed.
pub async fn disconnect(
    State(s): S,
    user: Viewer,
    Path(id): Path<String>,
    _f: CsrfForm<PlainForm>,
) -> Response {
    let r = match own_account(&s, &user, &id).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    // The owner leaves; the account (and its token) goes only with its last owner.
    match s.keeper.disconnect(&user.owner, r.account.id).await {
        Ok(_) => done(&s, Done::Disconnected(r.account.username.clone())),
        Err(e) => store_down(&e, Some(&user)),
    }
}

/// Instagram / Facebook: the network a connection kind logs in on.
fn network(kind: ConnectionKind) -> &'static str {
    match kind {
        ConnectionKind::Consumer => "Instagram",
        ConnectionKind::Business => "Facebook",
    }
}

/// The seed's words on what moves the last successful check, and on the history.
const LAST_CHECK_HELP: &str = "<div class=card id=last-check-help><h3>Last successful check date</h3>\
<p>Date and time is given in UTC – Coordinated Universal Time. This date/time is updated when:</p><ul>\
<li>You log in to our website</li>\
<li>You generate preview, create widget or change settings of your widget</li>\
<li>You manually refresh your access token and new token is generated</li>\
<li>When we refresh your widget with latest pictures</li></ul>\
<h3>Access token history</h3><p class=muted>When your access token expires or is updated, a new entry \
appears in the history. Logging in with a token that did not change only updates the last check date.</p></div>";

async fn token_card(s: &Inner, owner: &OwnerId, r: &StatusReport, update: Option<&str>) -> String {
    // Owner-scoped: token events since this owner joined, and only their own notices.
    let history = s
        .keeper
        .history_for(owner, r.account.id, HistoryQuery::default())
        .await
        .unwrap_or_default();
    let rows: String = history.iter().map(history_row).collect();
    let rows = if rows.is_empty() {
        format!(
            "<tr><td colspan=3 class=muted>{}</td></tr>",
            say("history-empty", &[])
        )
    } else {
        rows
    };
    let button = match update {
        Some(csrf) if !r.status.is_active() => format!(
            "<p>{}</p>",
            post_button(
                "/my-token/update",
                csrf,
                "Update your access token",
                "update-token",
                ""
            )
        ),
        _ => String::new(),
    };
    format!(
        "<div class=\"card token\"><h2>@{u} <span class=muted>{kl}</span></h2>\
<h3>Access token status</h3>\
<table><tr><th>Access token status</th><td id=token-status>{st}</td></tr><tr><th>Reason</th><td class=reason>{re}</td></tr>\
<tr><th>Last successful check</th><td id=last-check>{lc}</td></tr><tr><th>Expires</th><td>{ex}</td></tr></table>{button}\
<h3>Token history</h3><table class=history><tr><th>When</th><th>Event</th><th>Details</th></tr>{rows}</table></div>",
        u = esc(&r.account.username),
        kl = esc(r.account.kind.label()),
        st = status_cell(r),
        re = reason_text(r),
        lc = utc(r.last_checked_at),
        ex = expiry_text(r),
    )
}

/// `GET /my-token`: the access token status. A social user sees the connection they
/// logged in with (and, when it is NOT ACTIVE, *Update your access token*); an email
/// user sees each of their accounts.
pub async fn my_token(State(s): S, user: Viewer, headers: HeaderMap) -> Response {
    let mut body = String::new();
    let (welcome, also, renewed) = match read_flash(&s, &headers) {
        Some(Done::LoggedIn { also, renewed }) => (true, also, renewed),
        _ => (false, None, false),
    };
    if let Some(id) = &user.social {
        if welcome {
            body.push_str(&format!(
                "<div class=\"msg info\" id=message>{}</div>",
                say(
                    "logged-in-as",
                    &[
                        ("network", network(id.kind)),
                        ("username", &esc(&id.username))
                    ]
                )
            ));
        }
        if renewed {
            body.push_str(&format!(
                "<div class=\"msg info\" id=renewed>{}</div>{}",
                say("token-renewed", &[]),
                after_renewal(&s.cache)
            ));
        }
        if let Some(other) = also {
            body.push_str(&format!(
                "<div class=\"msg info\" id=other-kind>{}</div>",
                say(
                    "also-connected",
                    &[
                        ("username", &esc(&id.username)),
                        ("other", &esc(other.label())),
                        ("network", network(other)),
                    ]
                )
            ));
        }
        match s.keeper.status_for(&user.owner, id.account).await {
            Ok(r) if r.account.kind == id.kind => {
                body.push_str(&token_card(&s, &user.owner, &r, Some(&user.csrf)).await);
            }
            Ok(_) | Err(Error::UnknownAccount(_)) => body.push_str(&format!(
                "<div class=card><p class=muted id=no-accounts>{}</p></div>",
                say("connection-removed", &[])
            )),
            Err(e) => return store_down(&e, Some(&user)),
        }
    } else {
        let reports = match s.keeper.statuses(&user.owner).await {
            Ok(r) => r,
            Err(e) => return store_down(&e, Some(&user)),
        };
        if reports.is_empty() {
            body.push_str(&format!(
                "<div class=card><p class=muted>{}</p></div>",
                say("no-accounts", &[])
            ));
        }
        for r in &reports {
            body.push_str(&token_card(&s, &user.owner, r, None).await);
        }
    }
    body.push_str(LAST_CHECK_HELP);
    let clear = AppendHeaders([(header::SET_COOKIE, flash_cookie(&s, "", 0))]);
    (clear, layout("My access token", Some(&user), &body)).into_response()
}

/// `POST /my-token/update`: *Update your access token* — the social user's login flow
/// again (Facebook Login re-authorizes data access).
pub async fn update_token(State(s): S, user: Viewer, _f: CsrfForm<PlainForm>) -> Response {
    match &user.social {
        Some(id) => match s.keeper.status_for(&user.owner, id.account).await {
            Ok(r) => start_renewal_of(&s, StatePurpose::Login { kind: id.kind }, &r).await,
            Err(_) => {
                start_oauth(
                    &s,
                    StatePurpose::Login { kind: id.kind },
                    id.kind == ConnectionKind::Business,
                )
                .await
            }
        },
        None => Redirect::to("/accounts").into_response(),
    }
}
