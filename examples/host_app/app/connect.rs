//! After a verified callback: exchange the code for a long-lived token and connect,
//! attach (invitation) or renew the account.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use lightwidget::instagram::state::StatePurpose;
use lightwidget::*;

use super::session::CurrentUser;
use super::state::AppState;
use super::views::{esc, message_page, store_down, urlencode};

/// What an OAuth dance yields.
pub struct Connected {
    ig_user_id: String,
    username: String,
    page_id: Option<String>,
    token: Token,
}

/// Why an exchange failed, in the terms the person can act on. The Graph API's own
/// error goes to the log only.
pub enum ExchangeError {
    /// The code was refused (wrong, used or expired): a client error.
    Refused,
    /// Facebook Login went through but no Page has an Instagram business account.
    NoInstagramAccount,
    /// Graph is down or throttling: try again later.
    Unavailable,
}

/// The two error types the Graph clients return.
trait GraphFailure: std::fmt::Display {
    fn transient(&self) -> bool;
}

impl GraphFailure for lightwidget::instagram::Error {
    fn transient(&self) -> bool {
        self.is_transient()
    }
}

impl GraphFailure for ProviderError {
    fn transient(&self) -> bool {
        self.is_transient()
    }
}

fn graph_failed(e: impl GraphFailure) -> ExchangeError {
    // The error never carries a token (the adapter's guarantee); it may carry Graph's text.
    tracing::warn!(error = %e, "OAuth code exchange failed");
    if e.transient() {
        ExchangeError::Unavailable
    } else {
        ExchangeError::Refused
    }
}

/// Code -> short-lived -> long-lived token, and who it belongs to.
pub async fn exchange(
    s: &AppState,
    kind: ConnectionKind,
    code: &str,
) -> Result<Connected, ExchangeError> {
    let now = s.clock.now();
    match kind {
        ConnectionKind::Consumer => {
            let short = s
                .consumer
                .exchange_code(code, now)
                .await
                .map_err(graph_failed)?;
            let long = s
                .consumer
                .exchange_long_lived(&short.token, now)
                .await
                .map_err(graph_failed)?;
            let me = s.consumer.me(&long).await.map_err(graph_failed)?;
            Ok(Connected {
                ig_user_id: short.user_id,
                username: me.username,
                page_id: None,
                token: long,
            })
        }
        ConnectionKind::Business => {
            let short = s
                .business
                .exchange_code(code, now)
                .await
                .map_err(graph_failed)?;
            let long = s
                .business
                .exchange_long_lived(&short, now)
                .await
                .map_err(graph_failed)?;
            let pages = s.business.pages(&long).await.map_err(graph_failed)?;
            let (page, ig) = pages
                .iter()
                .find_map(|p| p.instagram_business_account.as_ref().map(|ig| (p, ig)))
                .ok_or(ExchangeError::NoInstagramAccount)?;
            let mut token = page.token(now);
            if let Ok(d) = s.business.debug_token(&token).await {
                token = token.with_data_access_expires_at(d.data_access_expires());
            }
            Ok(Connected {
                ig_user_id: ig.id.clone(),
                username: ig.username.clone(),
                page_id: Some(page.id.clone()),
                token,
            })
        }
    }
}

fn new_account(s: &AppState, owner: &OwnerId, kind: ConnectionKind, c: &Connected) -> NewAccount {
    let mut n = NewAccount::new(owner.clone(), kind, &c.ig_user_id, &c.username).with_entitlements(
        Entitlements {
            notifications: s.entitled.contains(owner.as_str()),
        },
    );
    if let Some(p) = &c.page_id {
        n = n.with_page_id(p.clone());
    }
    n
}

/// Does what the verified `purpose` asked for with the new token.
pub async fn finish(
    s: &AppState,
    user: Option<&CurrentUser>,
    purpose: StatePurpose,
    c: Connected,
) -> Response {
    let kind = purpose.kind();
    match purpose {
        StatePurpose::Connect { owner, .. } => {
            match s
                .keeper
                .connect(new_account(s, &owner, kind, &c), c.token)
                .await
            {
                Ok(_) => Redirect::to(&format!("/accounts?connected={}", urlencode(&c.username)))
                    .into_response(),
                Err(e) => store_down(&e, user),
            }
        }
        StatePurpose::Invitation { owner, .. } => {
            match s
                .keeper
                .connect(new_account(s, &owner, kind, &c), c.token)
                .await
            {
                Ok(_) => message_page(
                    StatusCode::OK,
                    "Connected",
                    user,
                    "info",
                    &format!(
                        "@{} is now connected to the LightWidget account of <b>{}</b>. You can close this page.",
                        esc(&c.username),
                        esc(owner.as_str())
                    ),
                ),
                Err(e) => store_down(&e, user),
            }
        }
        StatePurpose::Reconnect { .. } => renewed(s, user, kind, c).await,
    }
}

async fn renewed(
    s: &AppState,
    user: Option<&CurrentUser>,
    kind: ConnectionKind,
    c: Connected,
) -> Response {
    match s.keeper.reconnect(kind, &c.ig_user_id, c.token).await {
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
                    esc(&c.username)
                ),
            )
        }
        Err(Error::NotConnected { kind, hint, .. }) => {
            let msg = match hint {
                Some(other) => format!(
                    "@{} was not connected with a {}, but it is connected with a <b>{}</b>: \
use the <a href=\"/access-token/{}\">{}</a> button instead.",
                    esc(&c.username),
                    esc(kind.label()),
                    esc(other.label()),
                    other.as_str(),
                    esc(other.label())
                ),
                None => format!(
                    "@{} has never been connected to LightWidget with a {}, so there is nothing to renew. \
Log in and connect it from the Accounts page.",
                    esc(&c.username),
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
