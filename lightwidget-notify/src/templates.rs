//! Message texts. Hosts replace them by implementing [`Templates`].

use lightwidget_core::{ExpiryReason, Notice, NoticeKind};
use url::Url;

/// The links a message carries.
#[derive(Clone, Debug)]
pub struct Links {
    /// Renew the connection (OAuth flow of the account's kind).
    pub renew: Url,
    /// One-click unsubscribe.
    pub unsubscribe: Url,
}

/// Subject, plain text and HTML of a notice.
pub trait Templates: Send + Sync {
    /// The subject line.
    fn subject(&self, n: &Notice) -> String;
    /// The plain-text body.
    fn text(&self, n: &Notice, links: &Links) -> String;
    /// The HTML body (escape everything you interpolate: see [`escape_html`]).
    fn html(&self, n: &Notice, links: &Links) -> String;
}

/// Escapes text for HTML.
pub fn escape_html(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// The default English texts: what happened in the words of the break (a password change,
/// the app removed, a permission removed, the lifetime ended, …) or of the warning, which
/// account, when, and the button.
#[derive(Clone, Copy, Debug, Default)]
pub struct DefaultTemplates;

fn what(n: &Notice) -> (String, String) {
    let who = format!("@{}", n.username);
    match n.kind {
        NoticeKind::Expired {
            reason: ExpiryReason::PermissionRemoved,
        } => (
            format!("Your Instagram connection for {who} lost a permission"),
            format!(
                "A permission your widget needs was removed from the connection with the Instagram account {who}, \
so its widgets can no longer be updated. Renew the connection and leave every permission ticked."
            ),
        ),
        NoticeKind::Revoked
        | NoticeKind::Expired {
            reason: ExpiryReason::AppRemoved,
        } => (
            format!("Your Instagram connection for {who} was removed"),
            format!(
                "The app was removed from the Instagram account {who}, so its widgets can no longer be updated."
            ),
        ),
        NoticeKind::Expired { reason } => (
            format!("Your Instagram connection for {who} has expired"),
            format!(
                "The connection between your widget and the Instagram account {who} stopped working: {}.",
                reason.describe()
            ),
        ),
        NoticeKind::DataAccessExpiring { at } => (
            format!("Confirm access for {who} before {}", at.format("%Y-%m-%d")),
            format!(
                "Meta will pause data access for {who} on {} UTC unless the account owner confirms access again.",
                at.format("%Y-%m-%d %H:%M")
            ),
        ),
        NoticeKind::ExpiringSoon { at } => (
            format!("Your Instagram connection for {who} expires soon"),
            format!(
                "We could not renew the connection for {who} automatically; it expires on {} UTC.",
                at.format("%Y-%m-%d %H:%M")
            ),
        ),
    }
}

impl Templates for DefaultTemplates {
    fn subject(&self, n: &Notice) -> String {
        what(n).0
    }

    fn text(&self, n: &Notice, l: &Links) -> String {
        let (_, body) = what(n);
        format!(
            "{body}\n\nWhen: {} UTC\nAccount: @{} — {}\n\nRenew the connection (no login needed):\n{}\n\n--\nYou receive this because you turned on {} notifications.\nUnsubscribe with one click: {}\n",
            n.created_at.format("%Y-%m-%d %H:%M"),
            n.username,
            n.connection.label(),
            l.renew,
            n.kind.topic().label(),
            l.unsubscribe
        )
    }

    fn html(&self, n: &Notice, l: &Links) -> String {
        let (title, body) = what(n);
        format!(
            "<!doctype html><html><body style=\"font-family:sans-serif;max-width:560px;margin:auto\">\
             <h2>{}</h2><p>{}</p>\
             <p><b>When:</b> {} UTC<br><b>Account:</b> @{} — {}</p>\
             <p><a href=\"{}\" style=\"display:inline-block;background:#2563eb;color:#fff;padding:10px 18px;border-radius:6px;text-decoration:none\">Renew the connection</a></p>\
             <hr><p style=\"color:#666;font-size:12px\">You receive this because you turned on {} notifications. \
             <a href=\"{}\">Unsubscribe</a></p></body></html>",
            escape_html(&title),
            escape_html(&body),
            n.created_at.format("%Y-%m-%d %H:%M"),
            escape_html(&n.username),
            escape_html(n.connection.label()),
            escape_html(l.renew.as_str()),
            n.kind.topic().label(),
            escape_html(l.unsubscribe.as_str())
        )
    }
}
