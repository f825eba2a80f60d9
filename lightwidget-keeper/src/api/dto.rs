//! The API's JSON shapes: a contract of their own, mapped from the library's types, so
//! the library can grow without breaking a PHP or Python client.

use chrono::{DateTime, Utc};
use lightwidget::{
    ConnectOutcome, HistoryEntry, Hold, NoticeTopic, Preferences, Recipient, StatusReport,
    TokenStatus,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// The longest owner id, account field or cursor the API takes.
pub const MAX_ID: usize = 200;

/// `consumer` (Instagram Login) or `business` (Facebook Login through a Page).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Instagram Login: a 60-day user token, refreshed.
    Consumer,
    /// Facebook Login: a Page token that does not expire, checked.
    Business,
}

impl From<Kind> for lightwidget::ConnectionKind {
    fn from(k: Kind) -> Self {
        match k {
            Kind::Consumer => Self::Consumer,
            Kind::Business => Self::Business,
        }
    }
}

impl From<lightwidget::ConnectionKind> for Kind {
    fn from(k: lightwidget::ConnectionKind) -> Self {
        match k {
            lightwidget::ConnectionKind::Business => Self::Business,
            _ => Self::Consumer,
        }
    }
}

/// Why a token stopped working.
#[derive(Debug, Serialize, ToSchema)]
pub struct Reason {
    /// Stable code: `password_changed`, `app_removed`, `session_expired`, …
    pub code: String,
    /// In words, for the owner.
    pub description: String,
}

/// The platform-side hold an account is under, if any: nothing to do on the owner's side.
#[derive(Debug, Serialize, ToSchema)]
pub struct HoldOut {
    /// The app-wide incident holding it.
    pub incident: Option<String>,
    /// Since when.
    pub since: Option<DateTime<Utc>>,
}

/// An account's status, as its owner sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountStatus {
    /// The account's id.
    pub id: Uuid,
    /// The owner it is viewed as.
    pub owner: String,
    /// How it was connected.
    pub kind: Kind,
    /// Instagram user id.
    pub ig_user_id: String,
    /// Instagram username.
    pub username: String,
    /// `active`, `expired` or `revoked`.
    pub status: String,
    /// `ACTIVE` or `NOT ACTIVE` (what the owner's page says).
    pub label: String,
    /// The status line in words (with "not verified since …" or a platform-side hold).
    pub headline: String,
    /// Why it is not active.
    pub reason: Option<Reason>,
    /// The last successful check.
    pub last_checked_at: Option<DateTime<Utc>>,
    /// When Graph last confirmed the token.
    pub graph_confirmed_at: Option<DateTime<Utc>>,
    /// No confirmation for longer than the policy allows.
    pub unverified: bool,
    /// What the keeper does next: `refresh`, `check`, `retry` or `none`.
    pub next_action: String,
    /// When.
    pub next_action_at: Option<DateTime<Utc>>,
    /// When the token expires (`null`: never).
    pub expires_at: Option<DateTime<Utc>>,
    /// When data access lapses, if known.
    pub data_access_expires_at: Option<DateTime<Utc>>,
    /// Consecutive failures of the current retry run.
    pub failures: u32,
    /// The platform-side hold, if any.
    pub hold: Option<HoldOut>,
    /// Whether the owner may get notices for it.
    pub notifications: bool,
}

impl AccountStatus {
    /// Maps a status report.
    pub fn of(r: &StatusReport) -> Self {
        let next_action = match (&r.status, r.next_action_at) {
            (s, _) if !s.is_active() => "none",
            (_, None) => "none",
            _ if r.failures > 0 => "retry",
            _ if r.expires_at.is_some() => "refresh",
            _ => "check",
        };
        Self {
            id: r.account.id.0,
            owner: r.account.owner.to_string(),
            kind: r.account.kind.into(),
            ig_user_id: r.account.ig_user_id.to_string(),
            username: r.account.username.clone(),
            status: r.status.as_str().to_owned(),
            label: r.status.label().to_owned(),
            headline: r.headline(),
            reason: reason(&r.status),
            last_checked_at: r.last_checked_at,
            graph_confirmed_at: r.verified_at,
            unverified: r.unverified,
            next_action: next_action.to_owned(),
            next_action_at: r.next_action_at,
            expires_at: r.expires_at,
            data_access_expires_at: r.data_access_expires_at,
            failures: r.failures,
            hold: r.hold.and_then(|h| match h {
                Hold::Incident { incident, since } => Some(HoldOut {
                    incident: Some(incident.to_string()),
                    since: Some(since),
                }),
                _ => None,
            }),
            notifications: r.account.entitlements.notifications,
        }
    }
}

/// The reason of a status, in code and words.
pub fn reason(s: &TokenStatus) -> Option<Reason> {
    s.reason().map(|r| Reason {
        code: r.code(),
        description: r.describe(),
    })
}

/// A page of accounts.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountPage {
    /// The accounts, by id.
    pub accounts: Vec<AccountStatus>,
    /// The `after` of the next page; `null` on the last.
    pub next: Option<String>,
}

/// One history event.
#[derive(Debug, Serialize, ToSchema)]
pub struct Event {
    /// Position (pass the last one as `before` for the next page).
    pub seq: i64,
    /// When.
    pub at: DateTime<Utc>,
    /// `connected`, `refreshed`, `expired`, `notice_sent`, …
    pub kind: String,
    /// The event's details, as the library records them.
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

impl Event {
    /// Maps a history entry.
    pub fn of(e: &HistoryEntry) -> Self {
        Self {
            seq: e.seq,
            at: e.event.at,
            kind: e.event.kind.name().to_owned(),
            details: serde_json::to_value(&e.event.kind).unwrap_or_default(),
        }
    }
}

/// A page of history, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryPage {
    /// The events.
    pub events: Vec<Event>,
    /// The `before` of the next (older) page; `null` on the last.
    pub next: Option<i64>,
}

/// An account to connect from a long-lived token. `Debug` shows no token.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAccountIn {
    /// The host's id for the owner.
    #[schema(min_length = 1, max_length = 200)]
    pub owner: String,
    /// How it was connected.
    pub kind: Kind,
    /// Instagram user id.
    #[schema(min_length = 1, max_length = 200)]
    pub ig_user_id: String,
    /// Instagram username.
    #[schema(min_length = 1, max_length = 200)]
    pub username: String,
    /// The long-lived token (a secret: never echoed, never logged).
    #[schema(min_length = 1, max_length = 4096)]
    pub token: String,
    /// When it was issued (default now).
    #[serde(default)]
    pub issued_at: Option<DateTime<Utc>>,
    /// When it expires (omit for tokens that never expire).
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
    /// Facebook Page id (business).
    #[serde(default)]
    #[schema(max_length = 200)]
    pub page_id: Option<String>,
    /// App-scoped Facebook user id (business).
    #[serde(default)]
    #[schema(max_length = 200)]
    pub fb_user_id: Option<String>,
    /// Whether the owner may get notices for it.
    #[serde(default)]
    pub notifications: bool,
    /// Install a token older than the one held, on purpose.
    #[serde(default)]
    pub force: bool,
}

impl std::fmt::Debug for NewAccountIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewAccountIn")
            .field("owner", &self.owner)
            .field("kind", &self.kind)
            .field("ig_user_id", &self.ig_user_id)
            .field("username", &self.username)
            .field("token", &"[REDACTED]")
            .finish_non_exhaustive()
    }
}

/// What a connect did.
#[derive(Debug, Serialize, ToSchema)]
pub struct Connected {
    /// `created`, `renewed` or `unchanged`.
    pub outcome: String,
    /// The account as it is now.
    pub account: AccountStatus,
}

/// The outcome's name.
pub fn outcome(o: ConnectOutcome) -> &'static str {
    match o {
        ConnectOutcome::Renewed => "renewed",
        ConnectOutcome::Unchanged => "unchanged",
        _ => "created",
    }
}

/// Many accounts to connect.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportIn {
    /// At most 1000.
    #[schema(max_items = 1000)]
    pub accounts: Vec<NewAccountIn>,
}

/// One line of an import's answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportLine {
    /// Position in the request.
    pub index: usize,
    /// The account, when it was connected.
    pub id: Option<Uuid>,
    /// `created`, `renewed`, `unchanged` or `failed`.
    pub outcome: String,
    /// Why it failed.
    pub error: Option<Problem>,
}

pub use super::problem::Problem;

/// An import's answer: one line per account, in order.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportOut {
    /// Connected (or renewed, or unchanged).
    pub connected: usize,
    /// Failed.
    pub failed: usize,
    /// Per account.
    pub results: Vec<ImportLine>,
}

/// Where notices go.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreferencesIO {
    /// Topics the owner wants: `expired`, `expiring_soon`, `data_access_expiring`, … (empty: none).
    pub topics: Vec<String>,
    /// Email addresses.
    #[serde(default)]
    #[schema(max_items = 20)]
    pub email: Vec<String>,
    /// Webhook URLs (signed notices).
    #[serde(default)]
    #[schema(max_items = 20)]
    pub webhook: Vec<String>,
}

impl PreferencesIO {
    /// Maps stored preferences.
    pub fn of(p: &Preferences) -> Self {
        let mut email = Vec::new();
        let mut webhook = Vec::new();
        for r in &p.recipients {
            match r {
                Recipient::Email(e) => email.push(e.clone()),
                Recipient::Webhook(u) => webhook.push(u.to_string()),
                #[allow(unreachable_patterns)]
                _ => {}
            }
        }
        Self {
            topics: p.topics.iter().map(|t| t.as_str().to_owned()).collect(),
            email,
            webhook,
        }
    }

    /// The stored form, or what is wrong.
    pub fn to_preferences(&self, owner: &str) -> Result<Preferences, String> {
        let mut p = Preferences::new(owner);
        for t in &self.topics {
            let topic: NoticeTopic = t.parse().map_err(|_| {
                format!(
                    "{:?} is not a topic: give {}",
                    t.chars().take(40).collect::<String>(),
                    NoticeTopic::ALL.map(|t| t.as_str()).join(", ")
                )
            })?;
            p.topics.insert(topic);
        }
        if self.email.len() + self.webhook.len() > 20 {
            return Err("at most 20 recipients".into());
        }
        for e in &self.email {
            if e.len() > 254 || e.parse::<lettre::Address>().is_err() {
                return Err(format!(
                    "{:?} is not an email address",
                    e.chars().take(64).collect::<String>()
                ));
            }
            p.recipients.push(Recipient::Email(e.clone()));
        }
        for w in &self.webhook {
            let u = url::Url::parse(w)
                .ok()
                .filter(|u| matches!(u.scheme(), "https" | "http") && u.host().is_some())
                .ok_or_else(|| {
                    format!(
                        "{:?} is not an http(s) URL",
                        w.chars().take(64).collect::<String>()
                    )
                })?;
            p.recipients.push(Recipient::Webhook(u));
        }
        Ok(p)
    }
}

/// An owner.
#[derive(Debug, Serialize, ToSchema)]
pub struct Owner {
    /// The host's id for the owner.
    pub owner: String,
    /// Their notice preferences.
    pub preferences: PreferencesIO,
    /// How many accounts they have.
    pub accounts: usize,
    /// How many of them are not active.
    pub not_active: usize,
}

/// What a link is for.
#[derive(Clone, Copy, Debug, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Purpose {
    /// Connect a new account to the owner (either kind).
    Connect,
    /// Renew one of the owner's accounts (the right flow for its kind).
    Renew,
    /// "Log in with Instagram / Facebook" (`kind`): the flow ends at the daemon's
    /// `return_url` with `?lw_login=<code>`, redeemed once at `POST /v1/logins/{code}`.
    Login,
}

/// A link to ask for.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkIn {
    /// What the link does.
    pub purpose: Purpose,
    /// The account to renew (`renew` only).
    #[serde(default)]
    pub account_id: Option<Uuid>,
    /// Which login (`login` only; default consumer).
    #[serde(default)]
    pub kind: Option<Kind>,
}

/// Who logged in, from a redeemed login code.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LoginOut {
    /// The owner the login signs in (`instagram:<id>` / `facebook:<id>`).
    pub owner: String,
    /// The account they logged in with.
    pub account_id: String,
    /// Its username.
    pub username: String,
    /// `consumer` or `business`.
    pub kind: String,
}

/// A URL to send the owner to: the web layer takes them to Meta and back.
#[derive(Debug, Serialize, ToSchema)]
pub struct Link {
    /// The URL.
    pub url: String,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
}

/// The account's Instagram profile, through the gateway.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProfileOut {
    /// Instagram user id.
    pub id: String,
    /// Username.
    pub username: String,
    /// `BUSINESS`, `MEDIA_CREATOR`, `PERSONAL`, …
    pub account_type: Option<String>,
    /// Number of media.
    pub media_count: Option<u64>,
    /// Profile picture (a CDN URL that expires).
    pub profile_picture_url: Option<String>,
    /// When that URL stops working.
    pub picture_expires_at: Option<DateTime<Utc>>,
}

/// One media item.
#[derive(Debug, Serialize, ToSchema)]
pub struct MediaOut {
    /// Media id.
    pub id: String,
    /// Caption.
    pub caption: Option<String>,
    /// `IMAGE`, `VIDEO`, `CAROUSEL_ALBUM`.
    pub media_type: Option<String>,
    /// The file (a CDN URL that expires).
    pub media_url: Option<String>,
    /// The post on Instagram.
    pub permalink: Option<String>,
    /// Video thumbnail.
    pub thumbnail_url: Option<String>,
    /// When it was posted.
    pub timestamp: Option<DateTime<Utc>>,
    /// Carousel children.
    #[schema(no_recursion)]
    pub children: Vec<MediaOut>,
}

impl MediaOut {
    /// Maps a gateway media item.
    pub fn of(m: &lightwidget::gateway::Media) -> Self {
        Self {
            id: m.id.clone(),
            caption: m.caption.clone(),
            media_type: m
                .media_type
                .as_ref()
                .and_then(|t| serde_json::to_value(t).ok())
                .and_then(|v| v.as_str().map(str::to_owned)),
            media_url: m.media_url.clone(),
            permalink: m.permalink.clone(),
            thumbnail_url: m.thumbnail_url.clone(),
            timestamp: m.timestamp,
            children: m.children.iter().map(Self::of).collect(),
        }
    }
}

/// A page of the feed.
#[derive(Debug, Serialize, ToSchema)]
pub struct MediaPageOut {
    /// The items, newest first.
    pub data: Vec<MediaOut>,
    /// The `after` of the next page; `null` on the last.
    pub next: Option<String>,
    /// When the page's CDN URLs stop working: fetch again before then.
    pub urls_expire_at: Option<DateTime<Utc>>,
}

/// An incident (app-wide failure or a wave of ended tokens).
#[derive(Debug, Serialize, ToSchema)]
pub struct IncidentOut {
    /// Its id.
    pub id: String,
    /// `app_wide` or `account_wave`.
    pub kind: String,
    /// `consumer` or `business`.
    pub connection: String,
    /// The error that opened it.
    pub error: String,
    /// Accounts concerned.
    pub accounts: u64,
    /// When it opened.
    pub opened_at: DateTime<Utc>,
    /// When it resolved (`null`: open).
    pub resolved_at: Option<DateTime<Utc>>,
}

impl IncidentOut {
    /// Maps an incident.
    pub fn of(i: &lightwidget::Incident) -> Self {
        Self {
            id: i.id.to_string(),
            kind: i.kind.as_str().to_owned(),
            connection: i.connection.to_string(),
            error: i.error.clone(),
            accounts: i.accounts,
            opened_at: i.opened_at,
            resolved_at: i.resolved_at,
        }
    }
}
