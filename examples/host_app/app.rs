//! The host web app: its state, its router and its pages.
//!
//! Everything a request handler needs is in [`AppState`]; [`app`] builds the router, so
//! the binary and the browser test both serve the very same app.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use lightwidget::instagram::signed_request::{self, DataDeletionResponse};
use lightwidget::instagram::state::{StatePurpose, StateSigner};
use lightwidget::instagram::{FacebookLogin, InstagramLogin};
use lightwidget::notify::{LinkSigner, MemoryUsedLinks, escape_html as esc};
use lightwidget::*;
use sha2::Sha256;
use url::Url;

/// Everything the handlers share.
pub struct AppState {
    /// The token keeper.
    pub keeper: Keeper,
    /// The time source (shared with the keeper; a manual clock in tests).
    pub clock: Arc<dyn Clock>,
    /// Instagram Login client (consumer connections).
    pub consumer: Arc<InstagramLogin>,
    /// Facebook Login client (business connections).
    pub business: Arc<FacebookLogin>,
    /// App secrets, to verify `signed_request` callbacks: (consumer, business).
    pub app_secrets: (String, String),
    /// Signs the OAuth `state`.
    pub oauth_state: StateSigner,
    /// Signs renewal and unsubscribe links.
    pub links: Arc<LinkSigner>,
    /// Single-use unsubscribe links.
    pub used_links: MemoryUsedLinks,
    /// Signs developer invitation links.
    pub invite_secret: String,
    /// Where this app is reachable (for links in callbacks' answers).
    pub public_url: Url,
    /// Owners on a plan that includes expired-token notifications (a stand-in for billing).
    pub entitled: HashSet<String>,
    /// The stand-in mailbox the notices go to.
    pub inbox: Arc<Inbox>,
    /// The stand-in widget refresh queue.
    pub queue: Arc<WidgetQueue>,
    /// Sandbox only: which sandbox user "logs in" at each kind's authorize dialog.
    pub sandbox_login: Mutex<HashMap<ConnectionKind, String>>,
    /// Data-deletion requests received: confirmation code -> Instagram user id.
    pub deletions: Mutex<HashMap<String, String>>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("public_url", &self.public_url)
            .field("secrets", &"[REDACTED]")
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

// ------------------------------------------------------------------ stand-ins

/// The widget refresh queue (a visible stand-in): renewed accounts go first.
#[derive(Debug, Default)]
pub struct WidgetQueue {
    items: Mutex<VecDeque<String>>,
}

impl WidgetQueue {
    /// Appends a job at the back (normal scheduling).
    pub fn push_back(&self, job: impl Into<String>) {
        lock(&self.items).push_back(job.into());
    }
    /// The queue, front first.
    pub fn snapshot(&self) -> Vec<String> {
        lock(&self.items).iter().cloned().collect()
    }
}

#[async_trait]
impl LifecycleHooks for WidgetQueue {
    async fn on_renewed(&self, account: &Account) {
        let job = format!("widgets of @{}", account.username);
        let mut q = lock(&self.items);
        q.retain(|j| j != &job);
        q.push_front(job);
    }
}

/// One delivered notice, as the owner would read it.
#[derive(Clone, Debug)]
pub struct Mail {
    /// The notice's id (delivery is idempotent on it).
    pub notice_id: uuid::Uuid,
    /// Recipient address.
    pub to: String,
    /// The owner.
    pub owner: OwnerId,
    /// Subject line.
    pub subject: String,
    /// Body text.
    pub text: String,
    /// Signed renewal link.
    pub renew: Url,
    /// Signed one-click unsubscribe link.
    pub unsubscribe: Url,
    /// When it was delivered.
    pub at: DateTime<Utc>,
}

/// A mailbox standing in for SMTP: the `email` channel, shown on the Inbox page.
pub struct Inbox {
    links: Arc<LinkSigner>,
    clock: Arc<dyn Clock>,
    mails: Mutex<Vec<Mail>>,
}

impl std::fmt::Debug for Inbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inbox").finish_non_exhaustive()
    }
}

impl Inbox {
    /// An empty inbox whose mails carry links signed by `links`.
    pub fn new(links: Arc<LinkSigner>, clock: Arc<dyn Clock>) -> Self {
        Self {
            links,
            clock,
            mails: Mutex::new(Vec::new()),
        }
    }
    /// Mails of one owner, newest first.
    pub fn of(&self, owner: &OwnerId) -> Vec<Mail> {
        let mut v: Vec<Mail> = lock(&self.mails)
            .iter()
            .filter(|m| &m.owner == owner)
            .cloned()
            .collect();
        v.reverse();
        v
    }
}

/// Subject and text of a notice.
pub fn notice_text(n: &Notice) -> (String, String) {
    let who = format!("@{}", n.username);
    match n.kind {
        NoticeKind::Expired { reason } => (
            format!("Your Instagram access token for {who} expired"),
            format!(
                "The connection between LightWidget and {who} stopped working: {}. Your widgets no longer update until you renew the {}.",
                reason.describe(),
                n.connection.label()
            ),
        ),
        NoticeKind::Revoked => (
            format!("LightWidget was removed from {who}"),
            format!("{who} removed the app, so its widgets no longer update."),
        ),
        NoticeKind::DataAccessExpiring { at } => (
            format!("Data access for {who} lapses soon"),
            format!(
                "Meta pauses data access for {who} on {}. Renew the connection before then.",
                utc(Some(at))
            ),
        ),
        NoticeKind::ExpiringSoon { at } => (
            format!("The access token for {who} expires soon"),
            format!(
                "We could not refresh the token of {who}; it expires on {}.",
                utc(Some(at))
            ),
        ),
    }
}

#[async_trait]
impl Notifier for Inbox {
    fn channel(&self) -> &'static str {
        "email"
    }

    async fn deliver(&self, notice: &Notice, to: &Recipient) -> Result<(), DeliveryError> {
        let Recipient::Email(addr) = to else {
            return Err(DeliveryError::permanent("not an email address"));
        };
        let now = self.clock.now();
        let (subject, text) = notice_text(notice);
        let mut mails = lock(&self.mails);
        // Idempotent on the notice id, like a real mailer with a Message-ID.
        if mails
            .iter()
            .any(|m| m.notice_id == notice.id && m.to == *addr)
        {
            return Ok(());
        }
        mails.push(Mail {
            notice_id: notice.id,
            to: addr.clone(),
            owner: notice.owner.clone(),
            subject,
            text,
            renew: self.links.renewal_url(notice, now),
            unsubscribe: self.links.unsubscribe_url(&notice.owner, None, now),
            at: notice.created_at,
        });
        Ok(())
    }
}

// ------------------------------------------------------------------ router

/// The app's router.
pub fn app(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/login", get(login))
        .route("/logout", get(logout))
        .route("/accounts", get(accounts))
        .route("/my-token", get(my_token))
        .route("/settings", get(settings).post(save_settings))
        .route("/inbox", get(inbox))
        .route("/connect/{kind}", get(connect_start))
        .route("/access-token", get(access_token_page))
        .route("/access-token/{kind}", get(renew_start))
        .route("/renew", get(renew_link))
        .route("/invite", get(invite_page))
        .route("/invite/start", get(invite_start))
        .route("/oauth/callback", get(oauth_callback))
        .route("/unsubscribe", get(unsubscribe_page).post(unsubscribe))
        .route("/deauthorize", post(deauthorize))
        .route(
            "/data-deletion",
            post(data_deletion).get(data_deletion_status),
        )
        .with_state(state)
}

type S = State<Arc<AppState>>;
type Q = Query<HashMap<String, String>>;

// ------------------------------------------------------------------ html

const CSS: &str = "body{font-family:system-ui,sans-serif;margin:0;background:#f5f6f8;color:#222}\
header{background:#2b2d42;color:#fff;padding:.7em 1.5em;display:flex;gap:1.2em;align-items:center}\
header a{color:#dfe3ff;text-decoration:none}header .brand{font-weight:700;color:#fff;margin-right:1em}\
header .who{margin-left:auto;color:#bbb}main{max-width:62em;margin:1.5em auto;padding:0 1em}\
.card{background:#fff;border-radius:8px;padding:1em 1.3em;margin-bottom:1em;box-shadow:0 1px 3px #0002}\
table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:.45em .6em;border-bottom:1px solid #eee;vertical-align:top}\
th{font-size:.85em;color:#666}.ok{color:#0a7d32;font-weight:700}.bad{color:#c0392b;font-weight:700}\
.btn,button{display:inline-block;background:#4361ee;color:#fff;border:0;border-radius:5px;padding:.45em .9em;text-decoration:none;font-size:.95em;cursor:pointer}\
.btn.alt{background:#6c757d}.msg{padding:.8em 1em;border-radius:6px;margin-bottom:1em}\
.msg.info{background:#e7f5ea}.msg.warn{background:#fdecea}.muted{color:#777;font-size:.9em}\
input[type=text],input[type=email]{padding:.35em;width:22em}code{background:#eee;padding:0 .3em;border-radius:3px}#invite-link{width:100%;box-sizing:border-box}";

fn layout(title: &str, user: Option<&str>, body: &str) -> Html<String> {
    let who = match user {
        Some(u) => format!(
            "<span class=who>Signed in as <b>{}</b> · <a href=\"/logout\">Log out</a></span>",
            esc(u)
        ),
        None => "<span class=who><a href=\"/\">Log in</a></span>".into(),
    };
    Html(format!(
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>{t} · LightWidget</title>\
<meta name=viewport content=\"width=device-width,initial-scale=1\"><style>{CSS}</style></head><body>\
<header><span class=brand>LightWidget</span><a href=\"/accounts\">Accounts</a><a href=\"/my-token\">My access token</a>\
<a href=\"/settings\">Settings</a><a href=\"/inbox\">Inbox</a><a href=\"/access-token\">Access token page</a>{who}</header>\
<main><h1>{t}</h1>{body}</main></body></html>",
        t = esc(title)
    ))
}

fn message_page(
    status: StatusCode,
    title: &str,
    user: Option<&str>,
    class: &str,
    msg: &str,
) -> Response {
    let body = format!(
        "<div class=\"msg {class}\" id=message>{msg}</div><p><a class=btn href=\"/access-token\">Back to the access token page</a></p>"
    );
    (status, layout(title, user, &body)).into_response()
}

fn utc(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| "—".into())
}

fn status_cell(r: &StatusReport) -> String {
    let class = if r.status.is_active() { "ok" } else { "bad" };
    format!("<span class=\"status {class}\">{}</span>", r.status.label())
}

fn reason_text(r: &StatusReport) -> String {
    r.status
        .reason()
        .map(|x| esc(&x.describe()))
        .unwrap_or_else(|| "—".into())
}

fn expiry_text(r: &StatusReport) -> String {
    let mut s = match r.expires_at {
        Some(t) => utc(Some(t)),
        None => "never (Page token)".into(),
    };
    if let Some(d) = r.data_access_expires_at {
        s.push_str(&format!(
            "<br><span class=muted>data access until {}</span>",
            utc(Some(d))
        ));
    }
    s
}

// ------------------------------------------------------------------ login stand-in

fn current_user(h: &HeaderMap) -> Option<String> {
    h.get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().strip_prefix("lw_user="))
        .find(|u| valid_user(u))
        .map(str::to_owned)
}

fn valid_user(u: &str) -> bool {
    !u.is_empty()
        && u.len() <= 32
        && u.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn need_login() -> Response {
    Redirect::to("/").into_response()
}

async fn index(headers: HeaderMap) -> Html<String> {
    let user = current_user(&headers);
    let body = "<div class=card><p>This is the host app of the lightwidget example: it keeps the \
Instagram access tokens of its users alive.</p><p>Log in (a stand-in, no password): \
<a class=btn href=\"/login?user=alice\">alice (Pro plan)</a> <a class=\"btn alt\" href=\"/login?user=bob\">bob (Free plan)</a></p>\
<p>Lost access? The <a href=\"/access-token\">access token page</a> renews a connection without logging in.</p></div>";
    layout("Welcome", user.as_deref(), body)
}

async fn login(Query(q): Q) -> Response {
    let Some(u) = q.get("user").filter(|u| valid_user(u)) else {
        return (
            StatusCode::BAD_REQUEST,
            "user must be 1-32 letters, digits, - or _",
        )
            .into_response();
    };
    let mut r = Redirect::to("/accounts").into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("lw_user={u}; Path=/; HttpOnly; SameSite=Lax")) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

async fn logout() -> Response {
    let mut r = Redirect::to("/").into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("lw_user=; Path=/; Max-Age=0"),
    );
    r
}

// ------------------------------------------------------------------ pages

fn invite_sig(secret: &str, owner: &str) -> String {
    let mut m = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    m.update(b"invite:");
    m.update(owner.as_bytes());
    m.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn invite_ok(secret: &str, owner: &str, sig: &str) -> bool {
    let mut m = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    m.update(b"invite:");
    m.update(owner.as_bytes());
    let Some(bytes) = (0..sig.len())
        .step_by(2)
        .map(|i| {
            sig.get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        })
        .collect::<Option<Vec<u8>>>()
    else {
        return false;
    };
    m.verify_slice(&bytes).is_ok()
}

/// The developer invitation link of `owner`.
pub fn invitation_url(state: &AppState, owner: &str) -> Url {
    let mut u = state
        .public_url
        .join("invite")
        .unwrap_or_else(|_| state.public_url.clone());
    u.query_pairs_mut()
        .append_pair("from", owner)
        .append_pair("sig", &invite_sig(&state.invite_secret, owner));
    u
}

async fn accounts(State(s): S, headers: HeaderMap, Query(q): Q) -> Response {
    let Some(user) = current_user(&headers) else {
        return need_login();
    };
    let reports = match s.keeper.statuses(&OwnerId::new(user.as_str())).await {
        Ok(r) => r,
        Err(e) => return store_down(&e, &user),
    };
    let mut rows = String::new();
    for r in &reports {
        let kind = r.account.kind;
        rows.push_str(&format!(
            "<tr class=account data-kind=\"{k}\"><td class=username>@{u}</td><td>{kl}</td><td>{st}</td>\
<td class=reason>{re}</td><td>{lc}</td><td>{ex}</td>\
<td><a class=btn href=\"/connect/{k}\">Refresh token</a></td></tr>",
            k = kind.as_str(),
            u = esc(&r.account.username),
            kl = esc(kind.label()),
            st = status_cell(r),
            re = reason_text(r),
            lc = utc(r.last_checked_at),
            ex = expiry_text(r),
        ));
    }
    let table = if reports.is_empty() {
        "<p class=muted id=no-accounts>No Instagram account connected yet.</p>".to_owned()
    } else {
        format!(
            "<table><tr><th>Account</th><th>Connection</th><th>Access token</th><th>Reason</th>\
<th>Last successful check</th><th>Expires</th><th></th></tr>{rows}</table>"
        )
    };
    let flash = match q.get("connected") {
        Some(u) => format!(
            "<div class=\"msg info\" id=message>@{} is connected.</div>",
            esc(u)
        ),
        None => String::new(),
    };
    let queue: String = s
        .queue
        .snapshot()
        .iter()
        .enumerate()
        .map(|(i, j)| {
            format!(
                "<li>{}{}</li>",
                esc(j),
                if i == 0 { " <b>(next)</b>" } else { "" }
            )
        })
        .collect();
    let body = format!(
        "{flash}<div class=card>{table}</div>\
<div class=card><h3>Connect an Instagram account</h3>\
<a class=btn id=connect-consumer href=\"/connect/consumer\">Consumer connection</a> \
<a class=btn id=connect-business href=\"/connect/business\">Business connection</a>\
<p class=muted>Consumer = Instagram Login (personal, creator and business accounts). Business = Facebook Login through a Facebook Page.</p></div>\
<div class=card><h3>Invite a client</h3><p>Send this link to a client: they connect their own account from their own device, \
it is attached to you, and no password is shared.</p><input type=text readonly id=invite-link value=\"{inv}\"></div>\
<div class=card><h3>Widget refresh queue</h3><ol id=queue>{queue}</ol></div>",
        inv = esc(invitation_url(&s, &user).as_str()),
    );
    layout("Accounts", Some(&user), &body).into_response()
}

fn store_down(e: &Error, user: &str) -> Response {
    tracing::warn!(error = %e, "keeper call failed");
    message_page(
        StatusCode::SERVICE_UNAVAILABLE,
        "Temporarily unavailable",
        Some(user),
        "warn",
        "We could not read your accounts right now. Please try again in a minute.",
    )
}

fn history_row(e: &HistoryEntry) -> String {
    let detail = match &e.event.kind {
        TokenEventKind::Connected { expires_at }
        | TokenEventKind::Refreshed { expires_at }
        | TokenEventKind::Reconnected { expires_at } => match expires_at {
            Some(t) => format!("new token, expires {}", utc(Some(*t))),
            None => "new token (no expiry)".into(),
        },
        TokenEventKind::Expired { reason } => esc(&reason.describe()),
        TokenEventKind::Revoked => "the app was removed from the account".into(),
        TokenEventKind::NoticeSent { topic, channels } => {
            format!("“{}” notice sent by {}", topic, esc(&channels.join(", ")))
        }
        TokenEventKind::NoticeSuppressed { topic, why } => {
            format!("“{}” notice not sent: {}", topic, esc(why))
        }
        TokenEventKind::NoticeFailed { topic, error } => {
            format!("“{}” notice failed: {}", topic, esc(error))
        }
        _ => String::new(),
    };
    format!(
        "<tr class=event><td>{}</td><td class=event-name>{}</td><td>{detail}</td></tr>",
        utc(Some(e.event.at)),
        e.event.kind.name()
    )
}

async fn my_token(State(s): S, headers: HeaderMap) -> Response {
    let Some(user) = current_user(&headers) else {
        return need_login();
    };
    let reports = match s.keeper.statuses(&OwnerId::new(user.as_str())).await {
        Ok(r) => r,
        Err(e) => return store_down(&e, &user),
    };
    let mut body = String::new();
    if reports.is_empty() {
        body.push_str(
            "<div class=card><p class=muted>No Instagram account connected yet.</p></div>",
        );
    }
    for r in &reports {
        let history = s
            .keeper
            .history(r.account.id, HistoryQuery::default())
            .await
            .unwrap_or_default();
        let rows: String = history.iter().map(history_row).collect();
        body.push_str(&format!(
            "<div class=\"card token\"><h2>@{u} <span class=muted>{kl}</span></h2>\
<table><tr><th>Access token status</th><td>{st}</td></tr><tr><th>Reason</th><td class=reason>{re}</td></tr>\
<tr><th>Last successful check</th><td>{lc}</td></tr><tr><th>Expires</th><td>{ex}</td></tr></table>\
<h3>Token history</h3><table class=history><tr><th>When</th><th>Event</th><th>Details</th></tr>{rows}</table></div>",
            u = esc(&r.account.username),
            kl = esc(r.account.kind.label()),
            st = status_cell(r),
            re = reason_text(r),
            lc = utc(r.last_checked_at),
            ex = expiry_text(r),
        ));
    }
    layout("My access token", Some(&user), &body).into_response()
}

async fn entitled(s: &AppState, owner: &OwnerId) -> bool {
    s.entitled.contains(owner.as_str())
        || s.keeper
            .statuses(owner)
            .await
            .map(|v| v.iter().any(|r| r.account.entitlements.notifications))
            .unwrap_or(false)
}

async fn settings(State(s): S, headers: HeaderMap, Query(q): Q) -> Response {
    let Some(user) = current_user(&headers) else {
        return need_login();
    };
    let owner = OwnerId::new(user.as_str());
    if !entitled(&s, &owner).await {
        let body = "<div class=card id=not-entitled><p>Expired token notifications are part of the \
Pro plan. Upgrade to get an email when a connection stops working.</p></div>";
        return layout("Settings", Some(&user), body).into_response();
    }
    let prefs = match s.keeper.preferences(&owner).await {
        Ok(p) => p,
        Err(e) => return store_down(&e, &user),
    };
    let email = prefs
        .recipients
        .iter()
        .find_map(|r| match r {
            Recipient::Email(e) => Some(e.clone()),
            Recipient::Webhook(_) => None,
        })
        .unwrap_or_else(|| format!("{user}@example.com"));
    let flash = if q.contains_key("saved") {
        "<div class=\"msg info\" id=message>Preferences updated.</div>"
    } else {
        ""
    };
    let body = format!(
        "{flash}<div class=card><form method=post action=\"/settings\">\
<p><label><input type=checkbox name=expired_notifications id=expired-notifications value=on{checked}> \
<b>Expired token notifications</b></label><br><span class=muted>Email me when the connection to one of my \
Instagram accounts stops working, with a link to renew it.</span></p>\
<p><label>Email <input type=email name=email id=email value=\"{email}\"></label></p>\
<button type=submit id=update-preferences>Update preferences</button></form></div>",
        checked = if prefs.wants(NoticeTopic::Expired) {
            " checked"
        } else {
            ""
        },
        email = esc(&email),
    );
    layout("Settings", Some(&user), &body).into_response()
}

async fn save_settings(
    State(s): S,
    headers: HeaderMap,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    let Some(user) = current_user(&headers) else {
        return need_login();
    };
    let owner = OwnerId::new(user.as_str());
    if !entitled(&s, &owner).await {
        return (StatusCode::FORBIDDEN, "not on a plan with notifications").into_response();
    }
    let mut p = Preferences::new(owner);
    if f.contains_key("expired_notifications") {
        p = p.opt_in_all();
    }
    if let Some(e) = f.get("email").map(|e| e.trim()).filter(|e| e.contains('@')) {
        p = p.with_recipient(Recipient::Email(e.to_owned()));
    }
    match s.keeper.set_preferences(&p).await {
        Ok(()) => Redirect::to("/settings?saved=1").into_response(),
        Err(e) => store_down(&e, &user),
    }
}

async fn inbox(State(s): S, headers: HeaderMap) -> Response {
    let Some(user) = current_user(&headers) else {
        return need_login();
    };
    let mails = s.inbox.of(&OwnerId::new(user.as_str()));
    let mut body = String::from(
        "<p class=muted>A stand-in for the owner's mailbox: the notices the keeper delivered.</p>",
    );
    if mails.is_empty() {
        body.push_str("<div class=card><p class=muted id=empty-inbox>No messages.</p></div>");
    }
    for m in &mails {
        body.push_str(&format!(
            "<div class=\"card mail\"><p class=muted>To {to} · {at}</p><h3 class=subject>{sub}</h3><p>{text}</p>\
<p><a class=btn href=\"{renew}\">Renew the connection</a></p>\
<p class=muted><a class=unsubscribe href=\"{unsub}\">Unsubscribe</a> from these emails.</p></div>",
            to = esc(&m.to),
            at = utc(Some(m.at)),
            sub = esc(&m.subject),
            text = esc(&m.text),
            renew = esc(m.renew.as_str()),
            unsub = esc(m.unsubscribe.as_str()),
        ));
    }
    layout("Inbox", Some(&user), &body).into_response()
}

async fn access_token_page(headers: HeaderMap) -> Html<String> {
    let user = current_user(&headers);
    let body = "<div class=card><p>Renew the connection of an Instagram account without logging in to \
LightWidget. You will log in on Instagram or Facebook itself; choose how the account was connected:</p>\
<p><a class=btn id=renew-consumer href=\"/access-token/consumer\">Consumer connection</a> \
<a class=btn id=renew-business href=\"/access-token/business\">Business connection</a></p>\
<p class=muted>Consumer connection: Instagram Login. Business connection: Facebook Login through the \
Facebook Page linked to the Instagram account.</p></div>";
    layout("Access token", user.as_deref(), body)
}

// ------------------------------------------------------------------ OAuth

fn parse_kind(k: &str) -> Option<ConnectionKind> {
    match k {
        "consumer" => Some(ConnectionKind::Consumer),
        "business" => Some(ConnectionKind::Business),
        _ => None,
    }
}

fn start_oauth(s: &AppState, purpose: StatePurpose, reauthorize: bool) -> Response {
    let kind = purpose.kind();
    let st = s.oauth_state.issue(&purpose, s.clock.now());
    let url = match kind {
        ConnectionKind::Consumer => s.consumer.authorize_url(&["instagram_business_basic"], &st),
        ConnectionKind::Business => s.business.authorize_url(
            &["instagram_basic", "pages_show_list", "business_management"],
            &st,
            reauthorize,
        ),
    };
    match url {
        Ok(mut u) => {
            if let Some(id) = lock(&s.sandbox_login).get(&kind) {
                u.query_pairs_mut().append_pair("sandbox_user", id);
            }
            Redirect::to(u.as_str()).into_response()
        }
        Err(e) => message_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Not configured",
            None,
            "warn",
            &esc(&format!("This connection kind is not configured: {e}")),
        ),
    }
}

async fn connect_start(
    State(s): S,
    headers: HeaderMap,
    axum::extract::Path(k): axum::extract::Path<String>,
) -> Response {
    let Some(user) = current_user(&headers) else {
        return need_login();
    };
    let Some(kind) = parse_kind(&k) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    start_oauth(
        &s,
        StatePurpose::Connect {
            kind,
            owner: OwnerId::new(user),
        },
        false,
    )
}

async fn renew_start(State(s): S, axum::extract::Path(k): axum::extract::Path<String>) -> Response {
    let Some(kind) = parse_kind(&k) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    start_oauth(
        &s,
        StatePurpose::Reconnect { kind },
        kind == ConnectionKind::Business,
    )
}

async fn renew_link(State(s): S, Query(q): Q) -> Response {
    let token = q.get("token").map(String::as_str).unwrap_or_default();
    match s.links.verify_renewal(token, s.clock.now()) {
        Ok(l) => start_oauth(
            &s,
            StatePurpose::Reconnect { kind: l.kind },
            l.kind == ConnectionKind::Business,
        ),
        Err(e) => message_page(
            StatusCode::BAD_REQUEST,
            "Link not valid",
            None,
            "warn",
            &format!(
                "{}. Use the buttons on the access token page instead.",
                esc(&e.to_string())
            ),
        ),
    }
}

async fn invite_page(State(s): S, Query(q): Q) -> Response {
    let (Some(from), Some(sig)) = (q.get("from"), q.get("sig")) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    if !valid_user(from) || !invite_ok(&s.invite_secret, from, sig) {
        return message_page(
            StatusCode::BAD_REQUEST,
            "Invitation not valid",
            None,
            "warn",
            "This invitation link is damaged. Ask for a new one.",
        );
    }
    let q = format!("from={}&sig={}", esc(from), esc(sig));
    let body = format!(
        "<div class=card><p><b>{f}</b> invites you to connect your Instagram account to their LightWidget \
account so they can build widgets for you. You log in on Instagram or Facebook yourself, on this device: \
no password is shared with anyone.</p>\
<p><a class=btn id=invite-consumer href=\"/invite/start?{q}&amp;kind=consumer\">Consumer connection</a> \
<a class=btn id=invite-business href=\"/invite/start?{q}&amp;kind=business\">Business connection</a></p></div>",
        f = esc(from)
    );
    layout("Invitation", None, &body).into_response()
}

async fn invite_start(State(s): S, Query(q): Q) -> Response {
    let (Some(from), Some(sig), Some(kind)) = (
        q.get("from"),
        q.get("sig"),
        q.get("kind").and_then(|k| parse_kind(k)),
    ) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    if !valid_user(from) || !invite_ok(&s.invite_secret, from, sig) {
        return StatusCode::FORBIDDEN.into_response();
    }
    start_oauth(
        &s,
        StatePurpose::Invitation {
            kind,
            owner: OwnerId::new(from.as_str()),
        },
        false,
    )
}

/// What an OAuth dance yields.
struct Connected {
    ig_user_id: String,
    username: String,
    page_id: Option<String>,
    token: Token,
}

async fn exchange(s: &AppState, kind: ConnectionKind, code: &str) -> Result<Connected, String> {
    let now = s.clock.now();
    match kind {
        ConnectionKind::Consumer => {
            let short = s
                .consumer
                .exchange_code(code, now)
                .await
                .map_err(|e| e.to_string())?;
            let long = s
                .consumer
                .exchange_long_lived(&short.token, now)
                .await
                .map_err(|e| e.to_string())?;
            let me = s.consumer.me(&long).await.map_err(|e| e.to_string())?;
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
                .map_err(|e| e.to_string())?;
            let long = s
                .business
                .exchange_long_lived(&short, now)
                .await
                .map_err(|e| e.to_string())?;
            let pages = s.business.pages(&long).await.map_err(|e| e.to_string())?;
            let (page, ig) = pages
                .iter()
                .find_map(|p| p.instagram_business_account.as_ref().map(|ig| (p, ig)))
                .ok_or_else(|| {
                    "none of your Facebook Pages is linked to an Instagram business account"
                        .to_owned()
                })?;
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

async fn oauth_callback(State(s): S, headers: HeaderMap, Query(q): Q) -> Response {
    let user = current_user(&headers);
    let purpose = match q
        .get("state")
        .map(|st| s.oauth_state.verify(st, s.clock.now()))
    {
        Some(Ok(p)) => p,
        Some(Err(e)) => {
            return message_page(
                StatusCode::BAD_REQUEST,
                "Connection failed",
                user.as_deref(),
                "warn",
                &esc(&e.to_string()),
            );
        }
        None => return StatusCode::BAD_REQUEST.into_response(),
    };
    let kind = purpose.kind();
    let Some(code) = q.get("code") else {
        let why = q
            .get("error_description")
            .map(String::as_str)
            .unwrap_or("the authorization was cancelled");
        return message_page(
            StatusCode::OK,
            "Not connected",
            user.as_deref(),
            "warn",
            &format!("Nothing was changed: {}.", esc(why)),
        );
    };
    let c = match exchange(&s, kind, code).await {
        Ok(c) => c,
        Err(e) => {
            return message_page(
                StatusCode::BAD_GATEWAY,
                "Connection failed",
                user.as_deref(),
                "warn",
                &format!("Instagram did not accept the connection: {}", esc(&e)),
            );
        }
    };
    let new = |owner: &OwnerId| {
        let mut n = NewAccount::new(owner.clone(), kind, &c.ig_user_id, &c.username)
            .with_entitlements(Entitlements {
                notifications: s.entitled.contains(owner.as_str()),
            });
        if let Some(p) = &c.page_id {
            n = n.with_page_id(p.clone());
        }
        n
    };
    match purpose {
        StatePurpose::Connect { owner, .. } => match s.keeper.connect(new(&owner), c.token).await {
            Ok(_) => Redirect::to(&format!("/accounts?connected={}", urlencode(&c.username)))
                .into_response(),
            Err(e) => store_down(&e, owner.as_str()),
        },
        StatePurpose::Invitation { owner, .. } => {
            match s.keeper.connect(new(&owner), c.token).await {
                Ok(_) => message_page(
                    StatusCode::OK,
                    "Connected",
                    user.as_deref(),
                    "info",
                    &format!(
                        "@{} is now connected to the LightWidget account of <b>{}</b>. You can close this page.",
                        esc(&c.username),
                        esc(owner.as_str())
                    ),
                ),
                Err(e) => store_down(&e, owner.as_str()),
            }
        }
        StatePurpose::Reconnect { .. } => {
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
                        user.as_deref(),
                        "info",
                        &format!(
                            "The access token of @{} is <span class=\"status ok\">{label}</span> again. Its widgets are refreshed first.",
                            esc(&c.username)
                        ),
                    )
                }
                Err(Error::NotConnected { kind, hint, .. }) => {
                    let mut msg = format!(
                        "@{} has never been connected to LightWidget with a {}, so there is nothing to renew. \
Log in and connect it from the Accounts page.",
                        esc(&c.username),
                        esc(kind.label())
                    );
                    if let Some(other) = hint {
                        msg = format!(
                            "@{} was not connected with a {}, but it is connected with a <b>{}</b>: \
use the <a href=\"/access-token/{}\">{}</a> button instead.",
                            esc(&c.username),
                            esc(kind.label()),
                            esc(other.label()),
                            other.as_str(),
                            esc(other.label())
                        );
                    }
                    message_page(
                        StatusCode::NOT_FOUND,
                        "Nothing to renew",
                        user.as_deref(),
                        "warn",
                        &msg,
                    )
                }
                Err(e) => store_down(&e, user.as_deref().unwrap_or("")),
            }
        }
    }
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

// ------------------------------------------------------------------ unsubscribe

async fn unsubscribe_page(State(s): S, Query(q): Q) -> Response {
    let token = q.get("token").map(String::as_str).unwrap_or_default();
    // Verify without spending the link: mail scanners fetch GET links.
    match s.links.verify_unsubscribe(token, s.clock.now(), None) {
        Ok(l) => {
            let what = match l.topic {
                Some(t) => format!("“{t}” emails"),
                None => "all expired-token emails".into(),
            };
            let body = format!(
                "<div class=card><p>Stop {what} for <b>{o}</b>?</p>\
<form method=post action=\"/unsubscribe?token={t}\"><button type=submit id=unsubscribe>Unsubscribe</button></form></div>",
                o = esc(l.owner.as_str()),
                t = esc(&urlencode(token)),
            );
            layout("Unsubscribe", None, &body).into_response()
        }
        Err(e) => message_page(
            StatusCode::BAD_REQUEST,
            "Link not valid",
            None,
            "warn",
            &esc(&e.to_string()),
        ),
    }
}

/// One-click unsubscribe (RFC 8058 `List-Unsubscribe-Post` sends the same POST).
async fn unsubscribe(State(s): S, Query(q): Q) -> Response {
    let token = q.get("token").map(String::as_str).unwrap_or_default();
    match s
        .links
        .verify_unsubscribe(token, s.clock.now(), Some(&s.used_links))
    {
        Ok(l) => match s.keeper.opt_out(&l.owner, l.topic).await {
            Ok(_) => message_page(
                StatusCode::OK,
                "Unsubscribed",
                None,
                "info",
                &format!(
                    "<span id=unsubscribed>You are unsubscribed.</span> <b>{}</b> will get no more expired token emails. \
You can turn them on again in Settings.",
                    esc(l.owner.as_str())
                ),
            ),
            Err(e) => store_down(&e, ""),
        },
        Err(e) => message_page(
            StatusCode::BAD_REQUEST,
            "Link not valid",
            None,
            "warn",
            &esc(&e.to_string()),
        ),
    }
}

// ------------------------------------------------------------------ Meta callbacks

fn verify_signed(
    s: &AppState,
    sr: &str,
) -> Option<(signed_request::SignedRequest, ConnectionKind)> {
    let age = Some((chrono::TimeDelta::hours(24), s.clock.now()));
    if let Ok(r) = signed_request::verify(sr, &s.app_secrets.0, age) {
        return Some((r, ConnectionKind::Consumer));
    }
    signed_request::verify(sr, &s.app_secrets.1, age)
        .ok()
        .map(|r| (r, ConnectionKind::Business))
}

async fn deauthorize(State(s): S, Form(f): Form<HashMap<String, String>>) -> StatusCode {
    let Some((req, kind)) = f.get("signed_request").and_then(|sr| verify_signed(&s, sr)) else {
        return StatusCode::FORBIDDEN;
    };
    match s.keeper.deauthorize(kind, &req.user_id).await {
        Ok(_) => StatusCode::OK,
        Err(Error::NotConnected { .. }) => StatusCode::OK,
        Err(_) => StatusCode::SERVICE_UNAVAILABLE,
    }
}

async fn data_deletion(State(s): S, Form(f): Form<HashMap<String, String>>) -> Response {
    let Some((req, kind)) = f.get("signed_request").and_then(|sr| verify_signed(&s, sr)) else {
        return StatusCode::FORBIDDEN.into_response();
    };
    // Revoke first (so no keeper uses the token meanwhile), then delete the account, its
    // token, history and pending notices. The host deletes its own widget data likewise.
    match s.keeper.deauthorize(kind, &req.user_id).await {
        Ok(id) => {
            if s.keeper.delete_account(id).await.is_err() {
                return StatusCode::SERVICE_UNAVAILABLE.into_response();
            }
        }
        Err(Error::NotConnected { .. }) => {}
        Err(_) => return StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
    let code = uuid::Uuid::new_v4().simple().to_string();
    lock(&s.deletions).insert(code.clone(), req.user_id);
    let mut url = s
        .public_url
        .join("data-deletion")
        .unwrap_or_else(|_| s.public_url.clone());
    url.query_pairs_mut().append_pair("code", &code);
    axum::Json(DataDeletionResponse {
        url: url.to_string(),
        confirmation_code: code,
    })
    .into_response()
}

async fn data_deletion_status(State(s): S, Query(q): Q) -> Response {
    let code = q.get("code").cloned().unwrap_or_default();
    let known = lock(&s.deletions).contains_key(&code);
    let msg = if known {
        format!(
            "Deletion request <code>{}</code> was received: the connection is removed and its data is deleted within 30 days.",
            esc(&code)
        )
    } else {
        "We have no deletion request with this code.".into()
    };
    message_page(
        StatusCode::OK,
        "Data deletion",
        None,
        if known { "info" } else { "warn" },
        &msg,
    )
}
