//! JSON for the host's own pages: the signed-in owner's accounts (status in words, last
//! successful check, expiry, the URL that renews each) and their history, paged.
//!
//! Authenticated by the host's session like every page ([`crate::Host::viewer`]): no
//! session is `401`, an account that is not the viewer's is `404`, the store down is
//! `503`, each with `{"error": "…"}`. Times are RFC 3339 in UTC.

// A `Response` is the error of these handlers' steps, as axum's own rejections are.
#![allow(clippy::result_large_err)]

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use lightwidget_core::{AccountId, Error, HistoryEntry, HistoryQuery, StatusReport};
use serde::{Deserialize, Serialize};

use crate::Web;
use crate::host::Viewer;
use crate::state::Inner;
use crate::viewer::MaybeViewer;
use crate::views::history_detail;

type S = State<Web>;

/// The most entries one page holds.
pub const MAX_PAGE: u32 = 100;

/// One account, as `GET /api/accounts` lists it.
#[derive(Serialize, Debug)]
pub struct AccountView {
    /// The account id.
    pub id: AccountId,
    /// The Instagram username.
    pub username: String,
    /// `consumer` or `business`.
    pub kind: &'static str,
    /// "Consumer connection" / "Business connection".
    pub kind_label: &'static str,
    /// Whether the token works.
    pub active: bool,
    /// "Active" / "Expired", as the Accounts page says.
    pub status: &'static str,
    /// "ACTIVE" / "NOT ACTIVE", as My access token says.
    pub token_status: &'static str,
    /// Why it is not active, in words.
    pub reason: Option<String>,
    /// When a check last succeeded.
    pub last_successful_check: Option<DateTime<Utc>>,
    /// When the token expires (`None`: a Page token that does not).
    pub expires_at: Option<DateTime<Utc>>,
    /// When a business connection's data access ends.
    pub data_access_expires_at: Option<DateTime<Utc>>,
    /// A link that renews this account through the right OAuth flow (GET; it expires).
    pub renew_url: String,
}

/// A page of accounts.
#[derive(Serialize, Debug)]
pub struct AccountsPage {
    /// The accounts, by username.
    pub accounts: Vec<AccountView>,
    /// The `after` of the next page, when there is one.
    pub next: Option<String>,
}

/// One history entry.
#[derive(Serialize, Debug)]
pub struct EventView {
    /// Its position (pass the last one's as `before` for the next page).
    pub seq: i64,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// The event's stable name (`refreshed`).
    pub event: &'static str,
    /// The event in words ("Token refreshed").
    pub label: &'static str,
    /// What it says beyond its name.
    pub detail: String,
}

/// A page of history, newest first.
#[derive(Serialize, Debug)]
pub struct HistoryPage {
    /// The entries.
    pub entries: Vec<EventView>,
    /// The `before` of the next page, when there may be one.
    pub next_before: Option<i64>,
}

/// Paging of `GET /api/accounts`.
#[derive(Deserialize, Debug)]
pub struct AccountsParams {
    /// The id of the last account of the previous page.
    pub after: Option<String>,
    /// Page size (1–100, default 50).
    pub limit: Option<u32>,
}

/// Paging of `GET /api/accounts/{id}/history`.
#[derive(Deserialize, Debug)]
pub struct HistoryParams {
    /// Entries older than this `seq`.
    pub before: Option<i64>,
    /// Page size (1–100, default 50).
    pub limit: Option<u32>,
}

fn problem(status: StatusCode, msg: &str) -> Response {
    (status, Json(serde_json::json!({ "error": msg }))).into_response()
}

fn signed_in(v: Option<Viewer>) -> Result<Viewer, Response> {
    v.ok_or_else(|| problem(StatusCode::UNAUTHORIZED, "not signed in"))
}

fn store_failed(e: &Error) -> Response {
    tracing::warn!(error = %e, "keeper call failed");
    problem(
        StatusCode::SERVICE_UNAVAILABLE,
        "the accounts cannot be read right now; try again in a minute",
    )
}

fn limit(l: Option<u32>) -> Result<u32, Response> {
    match l.unwrap_or(50) {
        n @ 1..=MAX_PAGE => Ok(n),
        _ => Err(problem(
            StatusCode::BAD_REQUEST,
            "limit must be between 1 and 100",
        )),
    }
}

fn view(s: &Inner, owner: &lightwidget_core::OwnerId, r: &StatusReport) -> AccountView {
    let active = r.status.is_active();
    AccountView {
        id: r.account.id,
        username: r.account.username.clone(),
        kind: r.account.kind.as_str(),
        kind_label: r.account.kind.label(),
        active,
        status: if active { "Active" } else { "Expired" },
        token_status: r.status.label(),
        reason: r.status.reason().map(|x| x.describe()),
        last_successful_check: r.last_checked_at,
        expires_at: r.expires_at,
        data_access_expires_at: r.data_access_expires_at,
        renew_url: s
            .links
            .renewal_url_for(r.account.id, r.account.kind, owner, s.clock.now())
            .to_string(),
    }
}

async fn own(s: &Inner, v: &Viewer, id: &str) -> Result<StatusReport, Response> {
    let not_found = || problem(StatusCode::NOT_FOUND, "no such account");
    let id: AccountId = id.parse().map_err(|_| not_found())?;
    match s.keeper.status_for(&v.owner, id).await {
        Ok(r) => Ok(r),
        Err(Error::UnknownAccount(_)) => Err(not_found()),
        Err(e) => Err(store_failed(&e)),
    }
}

/// `GET /api/accounts?after=&limit=`.
pub async fn accounts(
    State(s): S,
    MaybeViewer(v): MaybeViewer,
    Query(p): Query<AccountsParams>,
) -> Response {
    let run = async {
        let v = signed_in(v)?;
        let limit = limit(p.limit)? as usize;
        let mut all = s
            .keeper
            .statuses(&v.owner)
            .await
            .map_err(|e| store_failed(&e))?;
        all.sort_by(|a, b| {
            (&a.account.username, a.account.id.to_string())
                .cmp(&(&b.account.username, b.account.id.to_string()))
        });
        let start = match &p.after {
            Some(after) => match all.iter().position(|r| &r.account.id.to_string() == after) {
                Some(i) => i + 1,
                None => return Err(problem(StatusCode::BAD_REQUEST, "unknown `after`")),
            },
            None => 0,
        };
        let page: Vec<AccountView> = all
            .iter()
            .skip(start)
            .take(limit)
            .map(|r| view(&s, &v.owner, r))
            .collect();
        let next = (start + page.len() < all.len())
            .then(|| page.last().map(|a| a.id.to_string()))
            .flatten();
        Ok(Json(AccountsPage {
            accounts: page,
            next,
        })
        .into_response())
    };
    run.await.unwrap_or_else(|r| r)
}

/// `GET /api/accounts/{id}`.
pub async fn account(State(s): S, MaybeViewer(v): MaybeViewer, Path(id): Path<String>) -> Response {
    let run = async {
        let v = signed_in(v)?;
        let r = own(&s, &v, &id).await?;
        Ok::<_, Response>(Json(view(&s, &v.owner, &r)).into_response())
    };
    run.await.unwrap_or_else(|r| r)
}

fn event(e: &HistoryEntry) -> EventView {
    EventView {
        seq: e.seq,
        at: e.event.at,
        event: e.event.kind.name(),
        label: e.event.kind.label(),
        detail: history_detail(e),
    }
}

/// `GET /api/accounts/{id}/history?before=&limit=`: the viewer's history of the account
/// (token events since they joined, and their own notices), newest first.
pub async fn history(
    State(s): S,
    MaybeViewer(v): MaybeViewer,
    Path(id): Path<String>,
    Query(p): Query<HistoryParams>,
) -> Response {
    let run = async {
        let v = signed_in(v)?;
        let limit = limit(p.limit)?;
        let r = own(&s, &v, &id).await?;
        let q = HistoryQuery {
            before: p.before,
            limit,
        };
        let entries = s
            .keeper
            .history_for(&v.owner, r.account.id, q)
            .await
            .map_err(|e| store_failed(&e))?;
        let next_before = (entries.len() == limit as usize)
            .then(|| entries.last().map(|e| e.seq))
            .flatten();
        Ok::<_, Response>(
            Json(HistoryPage {
                entries: entries.iter().map(event).collect(),
                next_before,
            })
            .into_response(),
        )
    };
    run.await.unwrap_or_else(|r| r)
}
