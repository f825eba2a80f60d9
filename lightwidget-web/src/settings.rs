//! Settings: expired token notifications (every break) and the warnings, each its own
//! opt-in, for owners the host says are entitled to notifications.

use axum::extract::State;
use axum::http::StatusCode;
use axum::http::{HeaderMap, header};
use std::collections::BTreeSet;

use axum::response::{AppendHeaders, IntoResponse, Redirect, Response};
use lightwidget_core::*;
use serde::Deserialize;

use crate::Web;
use crate::accounts::{Done, clear_flash, flash, read_flash};
use crate::host::Viewer;
use crate::messages::say;
use crate::state::Inner;
use crate::viewer::{CsrfForm, CsrfProtected};
use crate::views::{csrf_field, esc, layout, store_down};

type S = State<Web>;

/// The longest address SMTP carries (RFC 5321 path limit).
const MAX_EMAIL_LEN: usize = 254;

async fn entitled(s: &Inner, owner: &OwnerId) -> bool {
    s.host
        .entitlements(owner)
        .await
        .map(|e| e.notifications)
        .unwrap_or(false)
        || s.keeper
            .statuses(owner)
            .await
            .map(|v| v.iter().any(|r| r.account.entitlements.notifications))
            .unwrap_or(false)
}

/// Parses the notification address the way the mailer will, or says what is wrong.
pub fn parse_email(raw: &str) -> Result<String, &'static str> {
    if raw.contains(['\r', '\n']) {
        return Err("The email address must be on one line.");
    }
    let raw = raw.trim();
    if raw.len() > MAX_EMAIL_LEN {
        return Err("The email address is longer than 254 characters.");
    }
    raw.parse::<lettre::Address>()
        .map(|a| a.to_string())
        .map_err(|_| "This is not an email address (it should look like name@example.com).")
}

/// The warnings, after the seeds' *Expired token notifications* checkbox (which covers
/// every break): each is its own opt-in. (topic, id, label, explanation)
const WARNINGS: [(NoticeTopic, &str, &str, &str); 2] = [
    (
        NoticeTopic::ExpiringSoon,
        "topic-expiring-soon",
        "Token expiring soon",
        "Email me when a connection is about to expire and renewing it automatically keeps failing.",
    ),
    (
        NoticeTopic::DataAccessExpiring,
        "topic-data-access-expiring",
        "Data access expiring",
        "Business connections: email me before Meta pauses data access (every 90 days).",
    ),
];

fn settings_form(
    user: &Viewer,
    topics: &BTreeSet<NoticeTopic>,
    email: &str,
    flash: &str,
) -> String {
    let checked = |t: NoticeTopic| if topics.contains(&t) { " checked" } else { "" };
    let mut more = String::new();
    for (topic, id, label, why) in WARNINGS {
        more.push_str(&format!(
            "<p><label><input type=checkbox name={name} id={id} value=on{c}> <b>{label}</b></label><br>\
<span class=muted>{why}</span></p>",
            name = topic.as_str(),
            c = checked(topic),
        ));
    }
    format!(
        "{flash}<div class=card><form method=post action=\"/settings\">{csrf}\
<h3>Notifications</h3>\
<p><label><input type=checkbox name=expired_notifications id=expired-notifications value=on{expired}> \
<b>Expired token notifications</b></label><br><span class=muted id=expired-explained>Email me when the connection to one of my \
Instagram accounts stops working, whatever broke it (it expired, the password was changed, the app was removed, \
a permission was unticked), with a link to renew it.</span></p>\
<details id=more-topics><summary>Warnings before a connection breaks (each is off until you turn it on)</summary>{more}</details>\
<p><label>Email <input type=email name=email id=email maxlength=254 value=\"{email}\"></label></p>\
<button type=submit id=update-preferences>Update preferences</button></form></div>",
        csrf = csrf_field(&user.csrf),
        expired = checked(NoticeTopic::Expired),
        email = esc(email),
    )
}

const NOT_ENTITLED: &str = "<div class=card id=not-entitled><p>Expired token notifications are part of the \
Pro plan. Upgrade to get an email when a connection stops working.</p></div>";

/// `GET /settings`.
pub async fn settings(State(s): S, user: Viewer, headers: HeaderMap) -> Response {
    if !entitled(&s, &user.owner).await {
        return layout("Settings", Some(&user), NOT_ENTITLED).into_response();
    }
    let prefs = match s.keeper.preferences(&user.owner).await {
        Ok(p) => p,
        Err(e) => return store_down(&e, Some(&user)),
    };
    let email = prefs
        .recipients
        .iter()
        .find_map(|r| match r {
            Recipient::Email(e) => Some(e.clone()),
            Recipient::Webhook(_) => None,
        })
        // A suggestion from the user name only where it is a valid address (a social
        // login's name, "@paul" or "Paul Smith", is not): the form must save unchanged.
        .or_else(|| parse_email(&format!("{}@example.com", user.name)).ok())
        .unwrap_or_default();
    // Only what the server did: the flash cookie it set after saving.
    let flash = if read_flash(&s, &headers) == Some(Done::Saved) {
        format!(
            "<div class=\"msg info\" id=message>{}</div>",
            say("preferences-saved", &[])
        )
    } else {
        String::new()
    };
    let body = settings_form(&user, &prefs.topics, &email, &flash);
    let clear = AppendHeaders([(header::SET_COOKIE, clear_flash(&s))]);
    (clear, layout("Settings", Some(&user), &body)).into_response()
}

/// The Settings form.
#[derive(Deserialize)]
pub struct SettingsForm {
    #[serde(default)]
    csrf: String,
    expired_notifications: Option<String>,
    expiring_soon: Option<String>,
    data_access_expiring: Option<String>,
    #[serde(default)]
    email: String,
}

impl SettingsForm {
    /// The topics ticked: each checkbox is one topic, nothing else is implied.
    fn topics(&self) -> BTreeSet<NoticeTopic> {
        [
            (&self.expired_notifications, NoticeTopic::Expired),
            (&self.expiring_soon, NoticeTopic::ExpiringSoon),
            (&self.data_access_expiring, NoticeTopic::DataAccessExpiring),
        ]
        .into_iter()
        .filter(|(v, _)| v.is_some())
        .map(|(_, t)| t)
        .collect()
    }
}

impl CsrfProtected for SettingsForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// `POST /settings`: a bad address is refused with the reason, and nothing is saved.
pub async fn save_settings(State(s): S, user: Viewer, f: CsrfForm<SettingsForm>) -> Response {
    let f = f.form;
    if !entitled(&s, &user.owner).await {
        return (
            StatusCode::FORBIDDEN,
            layout("Settings", Some(&user), NOT_ENTITLED),
        )
            .into_response();
    }
    let topics = f.topics();
    let mut p = Preferences::new(user.owner.clone());
    p.topics = topics.clone();
    if !f.email.trim().is_empty() {
        match parse_email(&f.email) {
            Ok(addr) => p = p.with_recipient(Recipient::Email(addr)),
            Err(why) => {
                let flash = format!("<div class=\"msg warn\" id=message>{}</div>", esc(why));
                // Show what was typed (escaped, one line) so it can be corrected.
                let typed: String = f
                    .email
                    .chars()
                    .filter(|c| !c.is_control())
                    .take(300)
                    .collect();
                let body = settings_form(&user, &topics, &typed, &flash);
                return (
                    StatusCode::BAD_REQUEST,
                    layout("Settings", Some(&user), &body),
                )
                    .into_response();
            }
        }
    }
    match s.keeper.set_preferences(&p).await {
        Ok(()) => (
            AppendHeaders([(header::SET_COOKIE, flash(&s, &Done::Saved))]),
            Redirect::to("/settings"),
        )
            .into_response(),
        Err(e) => store_down(&e, Some(&user)),
    }
}
