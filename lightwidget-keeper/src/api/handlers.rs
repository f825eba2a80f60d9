//! The `/v1` operations. Each is documented for OpenAPI by its `#[utoipa::path]`.

// A problem is built once per failed request and turned into a response at once: its
// size on the error path costs nothing worth boxing for.
#![allow(clippy::result_large_err)]

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use lightwidget::{
    AccountId, ConnectOptions, Departure, Entitlements, HistoryQuery, NewAccount, OwnerId,
};
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use super::dto::*;
use super::{ApiState, Body, Query, Segment};

type R<T> = Result<T, Problem>;

/// An owner id from the path: 1–200 bytes, no control characters.
fn owner(s: &str) -> R<OwnerId> {
    if s.is_empty() || s.len() > MAX_ID || s.chars().any(char::is_control) {
        return Err(Problem::bad_request(
            "an owner id has 1 to 200 bytes and no control characters",
        ));
    }
    Ok(OwnerId::new(s))
}

fn account_id(s: &str) -> R<AccountId> {
    s.parse::<Uuid>().map(AccountId).map_err(|_| {
        Problem::bad_request("an account id is a UUID, as `POST /v1/accounts` returns")
    })
}

fn limit(l: Option<u32>, default: u32) -> R<u32> {
    match l.unwrap_or(default) {
        n @ 1..=100 => Ok(n),
        _ => Err(Problem::bad_request("limit is 1 to 100")),
    }
}

/// Paging by id.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AccountsQuery {
    /// The `next` of the previous page (an account id).
    #[param(value_type = Option<Uuid>)]
    after: Option<String>,
    /// Page size, 1–100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
}

/// Paging of history, newest first.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryParams {
    /// The `next` of the previous page.
    before: Option<i64>,
    /// Page size, 1–100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
}

/// Paging of the feed.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MediaParams {
    /// The `next` of the previous page.
    #[param(max_length = 200)]
    after: Option<String>,
    /// Page size, 1–100 (default 25).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
}

fn new_account(a: &NewAccountIn) -> R<(NewAccount, lightwidget::Token, ConnectOptions)> {
    for (name, v) in [
        ("owner", &a.owner),
        ("ig_user_id", &a.ig_user_id),
        ("username", &a.username),
    ] {
        if v.trim().is_empty() || v.len() > MAX_ID || v.chars().any(char::is_control) {
            return Err(Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-input",
                format!("{name} has 1 to 200 bytes and no control characters"),
            ));
        }
    }
    for (name, v) in [("page_id", &a.page_id), ("fb_user_id", &a.fb_user_id)] {
        if v.as_ref().is_some_and(|v| {
            v.trim().is_empty() || v.len() > MAX_ID || v.chars().any(char::is_control)
        }) {
            return Err(Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-input",
                format!("{name} has 1 to 200 bytes and no control characters"),
            ));
        }
    }
    let token = a.token.trim();
    if token.is_empty() || token.len() > 4096 || !token.is_ascii() {
        return Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-input",
            "token: a Meta access token is 1 to 4096 ASCII characters",
        ));
    }
    let t = super::super::commands::token(token.to_owned(), a.issued_at, a.expires_at, None)
        .map_err(|m| Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid-input", m))?;
    let mut acct = NewAccount::new(
        a.owner.as_str(),
        a.kind.into(),
        a.ig_user_id.as_str(),
        a.username.as_str(),
    )
    .with_entitlements(Entitlements {
        notifications: a.notifications,
    });
    if let Some(p) = &a.page_id {
        acct = acct.with_page_id(p.as_str());
    }
    if let Some(f) = &a.fb_user_id {
        acct = acct.with_fb_user_id(f.as_str());
    }
    Ok((acct, t, ConnectOptions::default().force(a.force)))
}

/// Connect an account from a long-lived token.
#[utoipa::path(post, path = "/v1/accounts", tag = "accounts", request_body = NewAccountIn,
    responses((status = 201, description = "connected (or renewed, or unchanged)", body = Connected)))]
pub async fn create_account(State(s): State<ApiState>, Body(a): Body<NewAccountIn>) -> R<Response> {
    let (acct, t, opts) = new_account(&a)?;
    let owner = acct.owner.clone();
    let (id, o) = s.keeper.connect_with(acct, t, opts).await?;
    let r = s.keeper.status_for(&owner, id).await?;
    Ok((
        StatusCode::CREATED,
        Json(Connected {
            outcome: outcome(o).to_owned(),
            account: AccountStatus::of(&r),
        }),
    )
        .into_response())
}

/// Connect many accounts (at most 1000); one result per account, in order.
#[utoipa::path(post, path = "/v1/accounts/import", tag = "accounts", request_body = ImportIn,
    responses((status = 200, description = "one line per account", body = ImportOut)))]
pub async fn import_accounts(
    State(s): State<ApiState>,
    Body(i): Body<ImportIn>,
) -> R<Json<ImportOut>> {
    if i.accounts.len() > 1000 {
        return Err(Problem::bad_request("at most 1000 accounts per import"));
    }
    let mut out = ImportOut {
        connected: 0,
        failed: 0,
        results: Vec::with_capacity(i.accounts.len()),
    };
    for (index, a) in i.accounts.iter().enumerate() {
        let r = match new_account(a) {
            Ok((acct, t, opts)) => s
                .keeper
                .connect_with(acct, t, opts)
                .await
                .map_err(Problem::from),
            Err(p) => Err(p),
        };
        match r {
            Ok((id, o)) => {
                out.connected += 1;
                out.results.push(ImportLine {
                    index,
                    id: Some(id.0),
                    outcome: outcome(o).to_owned(),
                    error: None,
                });
            }
            Err(p) => {
                out.failed += 1;
                out.results.push(ImportLine {
                    index,
                    id: None,
                    outcome: "failed".into(),
                    error: Some(p),
                });
            }
        }
    }
    Ok(Json(out))
}

/// An account's status, as its primary owner sees it.
#[utoipa::path(get, path = "/v1/accounts/{id}", tag = "accounts",
    params(("id" = Uuid, Path, description = "the account")),
    responses((status = 200, body = AccountStatus)))]
pub async fn get_account(
    State(s): State<ApiState>,
    Segment(id): Segment,
) -> R<Json<AccountStatus>> {
    Ok(Json(AccountStatus::of(
        &s.keeper.status(account_id(&id)?).await?,
    )))
}

/// An account's history (token events), newest first.
#[utoipa::path(get, path = "/v1/accounts/{id}/history", tag = "accounts",
    params(("id" = Uuid, Path, description = "the account"), HistoryParams),
    responses((status = 200, body = HistoryPage)))]
pub async fn account_history(
    State(s): State<ApiState>,
    Segment(id): Segment,
    Query(q): Query<HistoryParams>,
) -> R<Json<HistoryPage>> {
    let limit = limit(q.limit, 50)?;
    let h = s
        .keeper
        .history(
            account_id(&id)?,
            HistoryQuery {
                before: q.before,
                limit: limit + 1,
            },
        )
        .await?;
    Ok(Json(history_page(&h, limit)))
}

/// A page of `limit` events from `limit + 1` read: the extra one says there is more.
fn history_page(h: &[lightwidget::HistoryEntry], limit: u32) -> HistoryPage {
    let page = &h[..h.len().min(limit as usize)];
    HistoryPage {
        events: page.iter().map(Event::of).collect(),
        next: (h.len() > page.len())
            .then(|| page.last().map(|e| e.seq))
            .flatten(),
    }
}

/// Check (or refresh) the account now: the keeper does it at once and records the result.
#[utoipa::path(post, path = "/v1/accounts/{id}/refresh", tag = "accounts",
    params(("id" = Uuid, Path, description = "the account")),
    responses((status = 202, description = "scheduled now", body = AccountStatus)))]
pub async fn refresh_account(State(s): State<ApiState>, Segment(id): Segment) -> R<Response> {
    let id = account_id(&id)?;
    let now = s.keeper.status(id).await?;
    if !now.status.is_active() {
        let mut p = Problem::new(
            StatusCode::CONFLICT,
            "not-active",
            format!(
                "account {id} is {}: a dead token cannot be refreshed; send the owner a renewal link",
                now.status.as_str()
            ),
        );
        p.reason = now.status.reason().map(|r| r.code());
        return Err(p);
    }
    let r = s.keeper.force_refresh(id).await?;
    s.keeper.wake();
    Ok((StatusCode::ACCEPTED, Json(AccountStatus::of(&r))).into_response())
}

/// Delete an account and its history for every owner (data deletion).
#[utoipa::path(delete, path = "/v1/accounts/{id}", tag = "accounts",
    params(("id" = Uuid, Path, description = "the account")),
    responses((status = 204, description = "deleted")))]
pub async fn delete_account(State(s): State<ApiState>, Segment(id): Segment) -> R<StatusCode> {
    s.keeper.delete_account(account_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The account's Instagram profile, through the Graph gateway (the host never holds a token).
#[utoipa::path(get, path = "/v1/accounts/{id}/profile", tag = "feed",
    params(("id" = Uuid, Path, description = "the account")),
    responses((status = 200, body = ProfileOut)))]
pub async fn account_profile(
    State(s): State<ApiState>,
    Segment(id): Segment,
) -> R<Json<ProfileOut>> {
    let p = s.keeper.graph(account_id(&id)?).profile().await?;
    Ok(Json(ProfileOut {
        id: p.id,
        username: p.username,
        account_type: p.account_type,
        media_count: p.media_count,
        profile_picture_url: p.profile_picture_url,
        picture_expires_at: p.picture_expires_at,
    }))
}

/// A page of the account's media, through the Graph gateway, with when its URLs expire.
#[utoipa::path(get, path = "/v1/accounts/{id}/media", tag = "feed",
    params(("id" = Uuid, Path, description = "the account"), MediaParams),
    responses((status = 200, body = MediaPageOut)))]
pub async fn account_media(
    State(s): State<ApiState>,
    Segment(id): Segment,
    Query(q): Query<MediaParams>,
) -> R<Json<MediaPageOut>> {
    let limit = limit(q.limit, 25)?;
    if q.after
        .as_ref()
        .is_some_and(|a| a.is_empty() || a.len() > MAX_ID)
    {
        return Err(Problem::bad_request("after has 1 to 200 characters"));
    }
    let p = s
        .keeper
        .graph(account_id(&id)?)
        .media(q.after.as_deref(), Some(limit))
        .await?;
    Ok(Json(MediaPageOut {
        data: p.items.iter().map(MediaOut::of).collect(),
        next: p.after,
        urls_expire_at: p.url_expires_at,
    }))
}

/// An owner: preferences and a count of accounts.
#[utoipa::path(get, path = "/v1/owners/{owner}", tag = "owners",
    params(("owner" = String, Path, description = "the host's id for the owner", max_length = 200)),
    responses((status = 200, body = Owner)))]
pub async fn get_owner(State(s): State<ApiState>, Segment(o): Segment) -> R<Json<Owner>> {
    let o = owner(&o)?;
    let prefs = s.keeper.preferences(&o).await?;
    let accounts = s.keeper.statuses(&o).await?;
    Ok(Json(Owner {
        owner: o.to_string(),
        preferences: PreferencesIO::of(&prefs),
        accounts: accounts.len(),
        not_active: accounts.iter().filter(|r| !r.status.is_active()).count(),
    }))
}

/// Replace an owner's notice preferences.
#[utoipa::path(put, path = "/v1/owners/{owner}/preferences", tag = "owners",
    params(("owner" = String, Path, description = "the host's id for the owner", max_length = 200)),
    request_body = PreferencesIO,
    responses((status = 200, body = PreferencesIO)))]
pub async fn put_preferences(
    State(s): State<ApiState>,
    Segment(o): Segment,
    Body(p): Body<PreferencesIO>,
) -> R<Json<PreferencesIO>> {
    let o = owner(&o)?;
    let prefs = p
        .to_preferences(o.as_str())
        .map_err(|m| Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid-input", m))?;
    s.keeper.set_preferences(&prefs).await?;
    Ok(Json(PreferencesIO::of(&s.keeper.preferences(&o).await?)))
}

/// An owner's accounts, by id, paged.
#[utoipa::path(get, path = "/v1/owners/{owner}/accounts", tag = "owners",
    params(("owner" = String, Path, description = "the host's id for the owner", max_length = 200), AccountsQuery),
    responses((status = 200, body = AccountPage)))]
pub async fn owner_accounts(
    State(s): State<ApiState>,
    Segment(o): Segment,
    Query(q): Query<AccountsQuery>,
) -> R<Json<AccountPage>> {
    let o = owner(&o)?;
    let limit = limit(q.limit, 50)? as usize;
    let after = q.after.as_deref().map(account_id).transpose()?;
    let mut all = s.keeper.statuses(&o).await?;
    all.sort_by_key(|r| r.account.id);
    let page: Vec<_> = all
        .iter()
        .filter(|r| after.is_none_or(|a| r.account.id > a))
        .take(limit + 1)
        .collect();
    let next = (page.len() > limit).then(|| page[limit - 1].account.id.to_string());
    Ok(Json(AccountPage {
        accounts: page
            .iter()
            .take(limit)
            .map(|r| AccountStatus::of(r))
            .collect(),
        next,
    }))
}

/// One of an owner's accounts, as that owner sees it (404 if it is not theirs).
#[utoipa::path(get, path = "/v1/owners/{owner}/accounts/{id}", tag = "owners",
    params(("owner" = String, Path, description = "the host's id for the owner", max_length = 200),
           ("id" = Uuid, Path, description = "the account")),
    responses((status = 200, body = AccountStatus)))]
pub async fn owner_account(
    State(s): State<ApiState>,
    super::Segments(o, id): super::Segments,
) -> R<Json<AccountStatus>> {
    let r = s.keeper.status_for(&owner(&o)?, account_id(&id)?).await?;
    Ok(Json(AccountStatus::of(&r)))
}

/// An owner's account's history as that owner sees it (from when they joined, with
/// their own notices), newest first.
#[utoipa::path(get, path = "/v1/owners/{owner}/accounts/{id}/history", tag = "owners",
    params(("owner" = String, Path, description = "the host's id for the owner", max_length = 200),
           ("id" = Uuid, Path, description = "the account"), HistoryParams),
    responses((status = 200, body = HistoryPage)))]
pub async fn owner_history(
    State(s): State<ApiState>,
    super::Segments(o, id): super::Segments,
    Query(q): Query<HistoryParams>,
) -> R<Json<HistoryPage>> {
    let limit = limit(q.limit, 50)?;
    let h = s
        .keeper
        .history_for(
            &owner(&o)?,
            account_id(&id)?,
            HistoryQuery {
                before: q.before,
                limit: limit + 1,
            },
        )
        .await?;
    Ok(Json(history_page(&h, limit)))
}

/// The owner leaves the account (disconnect). The last owner to leave deletes the account
/// and its history, as `DELETE /v1/accounts/{id}` would: nobody is left to see it.
#[utoipa::path(delete, path = "/v1/owners/{owner}/accounts/{id}", tag = "owners",
    params(("owner" = String, Path, description = "the host's id for the owner", max_length = 200),
           ("id" = Uuid, Path, description = "the account")),
    responses((status = 204, description = "left (or deleted, for the last owner)")))]
pub async fn leave(
    State(s): State<ApiState>,
    super::Segments(o, id): super::Segments,
) -> R<StatusCode> {
    match s.keeper.disconnect(&owner(&o)?, account_id(&id)?).await? {
        Departure::NotAMember => Err(Problem::not_found("this owner has no such account")),
        _ => Ok(StatusCode::NO_CONTENT),
    }
}

/// A URL to send the owner to: connect a new account, or renew one through the right
/// OAuth flow. Served by this daemon's web pages (`public_base_url`).
#[utoipa::path(post, path = "/v1/owners/{owner}/links", tag = "owners",
    params(("owner" = String, Path, description = "the host's id for the owner", max_length = 200)),
    request_body = LinkIn,
    responses((status = 201, body = Link)))]
pub async fn create_link(
    State(s): State<ApiState>,
    Segment(o): Segment,
    Body(l): Body<LinkIn>,
) -> R<Response> {
    let o = owner(&o)?;
    let Some(web) = &s.web else {
        return Err(Problem::new(
            StatusCode::NOT_IMPLEMENTED,
            "links-not-configured",
            "links need `public_base_url`, `link_secret` and an app (consumer_app_id / business_app_id) in the daemon's settings",
        ));
    };
    let now = chrono::Utc::now();
    let link = match (l.purpose, l.account_id) {
        (Purpose::Connect, None) => {
            let token = web.state_signer().invitation(&o, now);
            let mut url = s
                .public_url
                .join("invite")
                .map_err(|e| Problem::bad_request(e.to_string()))?;
            url.query_pairs_mut().append_pair("token", &token);
            Link {
                url: url.into(),
                expires_at: now + chrono::TimeDelta::days(7),
            }
        }
        (Purpose::Login, None) => {
            let kind = match l.kind.unwrap_or(Kind::Consumer) {
                Kind::Consumer => "consumer",
                Kind::Business => "business",
            };
            let url = s
                .public_url
                .join(&format!("login/{kind}"))
                .map_err(|e| Problem::bad_request(e.to_string()))?;
            Link {
                url: url.into(),
                // The link itself does not expire; each flow's `state` lives 15 minutes.
                expires_at: now + chrono::TimeDelta::days(3650),
            }
        }
        (Purpose::Login, Some(_)) => {
            return Err(Problem::bad_request("a login link names no account_id"));
        }
        (Purpose::Connect, Some(_)) => {
            return Err(Problem::bad_request("a connect link names no account_id"));
        }
        (Purpose::Renew, None) => {
            return Err(Problem::bad_request("a renew link needs account_id"));
        }
        (Purpose::Renew, Some(id)) => {
            let r = s.keeper.status_for(&o, AccountId(id)).await?;
            Link {
                url: web
                    .links()
                    .renewal_url_for(r.account.id, r.account.kind, &o, now)
                    .into(),
                // LinkSigner::new's lifetime for renewal links.
                expires_at: now + chrono::TimeDelta::days(30),
            }
        }
    };
    Ok((StatusCode::CREATED, Json(link)).into_response())
}

/// Incidents, newest first (open ones only unless `all`).
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct IncidentsQuery {
    /// Resolved ones too.
    all: Option<bool>,
}

/// App-wide incidents and waves of ended tokens.
#[utoipa::path(get, path = "/v1/incidents", tag = "operations", params(IncidentsQuery),
    responses((status = 200, body = Vec<IncidentOut>)))]
pub async fn incidents(
    State(s): State<ApiState>,
    Query(q): Query<IncidentsQuery>,
) -> R<Json<Vec<IncidentOut>>> {
    let list = s.keeper.incidents(!q.all.unwrap_or(false), 100).await?;
    Ok(Json(list.iter().map(IncidentOut::of).collect()))
}

/// Redeem a login code (from `return_url?lw_login=<code>`): who logged in, once.
#[utoipa::path(post, path = "/v1/logins/{code}", tag = "owners",
    params(("code" = String, Path, description = "the `lw_login` code", max_length = 128)),
    responses((status = 200, body = LoginOut)))]
pub async fn redeem_login(State(s): State<ApiState>, Segment(code): Segment) -> R<Json<LoginOut>> {
    if code.is_empty()
        || code.len() > 64
        || !code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(Problem::not_found(
            "no such login code (used, expired or never issued)",
        ));
    }
    let held = s
        .keeper
        .take_held(&super::super::serve::login_key(&code))
        .await?
        .ok_or_else(|| Problem::not_found("no such login code (used, expired or never issued)"))?;
    let out: LoginOut =
        serde_json::from_str(secrecy::ExposeSecret::expose_secret(&held)).map_err(|e| {
            Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                format!("a stored login is unreadable: {e}"),
            )
        })?;
    Ok(Json(out))
}
