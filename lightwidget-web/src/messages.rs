//! Every text a host may want to reword, in one place: [`Messages`], keyed by name, each
//! an HTML template with `{placeholders}` the web layer fills with escaped values.
//!
//! ```
//! use lightwidget_web::Messages;
//! let mut m = Messages::default();
//! m.set("renewed", "@{username} works again: <b>{status}</b>.").unwrap();
//! assert!(m.get("renewed").contains("works again"));
//! assert!(m.set("no-such-message", "x").is_err());
//! ```

use std::borrow::Cow;
use std::collections::BTreeMap;

/// The default texts: (key, HTML template). Placeholders are listed with each.
pub const DEFAULTS: &[(&str, &str)] = &[
    // Renewal (seed 002's words after a renewal).
    (
        "renewed",
        "The access token of @{username} is <span class=\"status ok\">{status}</span> again.",
    ),
    (
        "renewed-flash",
        "The access token of @{username} is renewed.",
    ),
    (
        "renewed-several",
        "Renewed (the access token is <span class=\"status ok\">ACTIVE</span> again):<ul id=renewed>{renewed}</ul>{rest}",
    ),
    (
        "renewed-left-alone",
        "<p>Not connected to LightWidget, so left alone:</p><ul id=not-connected>{skipped}</ul>",
    ),
    (
        "after-renewal-queue",
        "All the widgets of this Instagram account are added to the refresh queue with high priority. It usually takes a minute or two before they pull the new posts from Instagram.",
    ),
    (
        "after-renewal-cache",
        "Your browser may still show the old feed from its cache: {cached}. You will see the new posts once the cache expires, or at once if you clear your browser's cache.",
    ),
    (
        "cache-by-plan",
        "We cache free widgets for {free} and the ones with the upgrade add-on for {upgraded}",
    ),
    ("cache-one", "We cache widgets for {free}"),
    // The seeds' error 1075.
    (
        "never-connected",
        "@{username} has never been connected to LightWidget with a {kind}, so there is nothing to renew. Log in and connect it from the Accounts page. <span class=muted id=error-code>Error code: 1075</span>",
    ),
    (
        "connected-with-other-kind",
        "@{username} was not connected with a {kind}, but it is connected with a <b>{other}</b>: use the {other_button} button instead. <span class=muted id=error-code>Error code: 1075</span>",
    ),
    (
        "none-of-the-pages-connected",
        "None of the Instagram accounts of your Pages is connected to LightWidget with a {kind}, so nothing was renewed:<ul id=not-connected>{skipped}</ul>Log in and connect one from the Accounts page.",
    ),
    // The Accounts page.
    ("connected-flash", "@{username} is connected."),
    ("disconnected-flash", "@{username} is disconnected."),
    (
        "invited-connected",
        "@{username} is now connected to the LightWidget account of <b>{owner}</b>. You can close this page.",
    ),
    // The access token page.
    (
        "access-token-intro",
        "Renew the connection of an Instagram account without logging in to LightWidget. You will log in on Instagram or Facebook itself; choose how the account was connected:",
    ),
    (
        "access-token-kinds",
        "Consumer connection: Instagram Login. Business connection: Facebook Login through the Facebook Page linked to the Instagram account.",
    ),
    // What the OAuth dialog answered (Meta's own text goes to the log only).
    (
        "flow-cancelled",
        "Nothing was changed: you chose not to allow access.",
    ),
    (
        "flow-dialog-failed",
        "Nothing was changed: Instagram did not complete the sign-in.",
    ),
    (
        "flow-permissions",
        "Nothing was changed: you did not allow {missing}. LightWidget needs {them} to show your posts; start again and leave {them} ticked.",
    ),
    (
        "flow-personal-account",
        "This is a personal Instagram account. Meta no longer supports personal accounts since the Basic Display API ended on 2024-12-04: switch to a professional (Business or Creator) account in the Instagram app (Settings → Account type and tools), then connect again.",
    ),
    (
        "flow-code-used",
        "Instagram did not accept this sign-in: the link was already used or has expired. Please start again.",
    ),
    (
        "flow-no-instagram-account",
        "None of your Facebook Pages is linked to an Instagram business account.",
    ),
    (
        "flow-unavailable",
        "Instagram is not answering right now. Please try again in a minute.",
    ),
    (
        "flow-not-among-pages",
        "Nothing was changed: that Instagram account is not among the Pages of your Facebook login ({offered}). Start again and choose one of them.",
    ),
    (
        "flow-choice-needed",
        "Nothing was changed: your Facebook login gives several Instagram accounts and none was chosen. Please start again and choose one.",
    ),
    (
        "flow-incomplete",
        "This sign-in link is incomplete. Nothing was connected.",
    ),
    (
        "flow-refused",
        "Instagram refused this sign-in. Nothing was connected; please try again later.",
    ),
    // The OAuth state.
    (
        "state-wrong-browser",
        "This sign-in was started in another browser, or this browser's cookies were cleared. For your safety nothing was connected: start again from this browser.",
    ),
    (
        "state-expired",
        "This sign-in took too long. Nothing was connected: please start again.",
    ),
    (
        "state-replayed",
        "This sign-in was already completed. Start again to connect another account.",
    ),
    (
        "state-not-ours",
        "This sign-in link is not one of ours. Nothing was connected.",
    ),
    (
        "started-elsewhere",
        "For your safety, sign-ins start from this site's own pages: open the access token page or the invitation link again and use its buttons.",
    ),
    // Several Pages.
    (
        "choice-expired",
        "This choice was already made, took longer than 10 minutes, or was started in another browser. Nothing was connected: please start again.",
    ),
    (
        "not-covered-business",
        "You logged in with a Facebook account whose Pages give {offered}, not @{username}. Nothing was renewed: log in with the Facebook account that manages the Page of @{username}.",
    ),
    (
        "not-covered-consumer",
        "You logged in on Instagram as {offered}, not @{username}. Nothing was renewed: log in as @{username}.",
    ),
    // Links.
    (
        "link-not-valid",
        "{reason}. Use the buttons on the access token page instead.",
    ),
    (
        "link-account-gone",
        "The account of this link is no longer connected. Log in and connect it from the Accounts page.",
    ),
    (
        "invitation-not-valid",
        "This invitation link is damaged or has expired. Ask for a new one.",
    ),
    // Unsubscribe (RFC 8058 one-click).
    (
        "unsubscribed",
        "<span id=unsubscribed>You will no longer get {topics} for <b>{owner}</b>.</span> You can turn them on again in Settings.",
    ),
    (
        "already-unsubscribed",
        "<span id=already-unsubscribed>You were already unsubscribed from {topics}.</span> Nothing changed.",
    ),
    (
        "link-used-unsubscribed",
        "<span id=already-unsubscribed>This link was already used: you are unsubscribed from {topics}.</span> Nothing changed.",
    ),
    (
        "link-used-turned-on",
        "<span id=link-used>This link was already used, and you turned {topics} back on since. Nothing changed: you still get them.</span> To stop them, untick them in Settings or use the link in a newer email.",
    ),
    ("request-handled", "Your request was handled."),
    // Data deletion status page.
    (
        "deletion-nothing-held",
        "Deletion request <code>{code}</code> was received. We held no data for this {kind}: nothing needed deleting.",
    ),
    (
        "deletion-done",
        "Deletion request <code>{code}</code> was received and carried out. Deleted: the {kind} of {accounts}, with its access token, history and pending notices.",
    ),
    (
        "deletion-unknown",
        "We have no deletion request with this code.",
    ),
    // Invitations.
    (
        "invitation",
        "<b>{inviter}</b> invites you to connect your Instagram account to their LightWidget account so they can build widgets for you. You log in on Instagram or Facebook yourself, on this device: no password is shared with anyone.",
    ),
    // My access token.
    (
        "logged-in-as",
        "You are logged in with {network} as @{username}.",
    ),
    ("token-renewed", "Your access token is renewed."),
    (
        "also-connected",
        "@{username} is also connected with a {other}. That is a different connection with a token of its own: log in with {network} to see it.",
    ),
    (
        "connection-removed",
        "This connection was removed. Log out and log in again with Instagram or Facebook to connect it again.",
    ),
    ("no-accounts", "No Instagram account connected yet."),
    (
        "history-empty",
        "No entries yet: when your access token expires or is updated, an entry appears here.",
    ),
    ("preferences-saved", "Preferences updated."),
    // Several Pages.
    (
        "choose-intro",
        "Your Facebook login gives several Pages with an Instagram business account. Choose the Instagram account to connect:",
    ),
    // Errors.
    (
        "forbidden",
        "This form was not sent from this site, or your session ended. Nothing was changed: reload the page and try again.",
    ),
    (
        "store-down",
        "We could not read your accounts right now. Please try again in a minute.",
    ),
    (
        "host-unavailable",
        "This site could not complete the sign-in right now. Nothing was changed: please try again in a minute.",
    ),
    (
        "not-configured",
        "This connection kind is not configured on this site.",
    ),
    ("no-such-account", "You have no account with this id."),
];

/// The texts of the web layer's pages, each replaceable (see the [module docs](self)).
#[derive(Clone, Debug)]
pub struct Messages {
    texts: BTreeMap<&'static str, Cow<'static, str>>,
}

impl Default for Messages {
    fn default() -> Self {
        Self {
            texts: DEFAULTS
                .iter()
                .map(|(k, v)| (*k, Cow::Borrowed(*v)))
                .collect(),
        }
    }
}

/// [`Messages::set`] was given a key that names no message.
#[derive(Debug, thiserror::Error)]
#[error("no message is called {0:?} (see lightwidget_web::messages::DEFAULTS)")]
pub struct UnknownMessage(pub String);

impl Messages {
    /// Rewords the message `key` (an HTML template; keep its `{placeholders}`).
    pub fn set(&mut self, key: &str, text: impl Into<String>) -> Result<(), UnknownMessage> {
        let Some((k, _)) = DEFAULTS.iter().find(|(k, _)| *k == key) else {
            return Err(UnknownMessage(key.to_owned()));
        };
        self.texts.insert(k, Cow::Owned(text.into()));
        Ok(())
    }

    /// The template of `key` (empty for a key that names no message).
    pub fn get(&self, key: &str) -> &str {
        self.texts.get(key).map(|c| c.as_ref()).unwrap_or_default()
    }

    /// `key`'s template with its placeholders filled. The values are HTML already:
    /// escape what comes from elsewhere before passing it.
    pub fn fill(&self, key: &str, vars: &[(&str, &str)]) -> String {
        fill(self.get(key), vars)
    }
}

/// Replaces each `{name}` of `template` by its value (in one pass: a value that contains
/// braces is not expanded again).
pub(crate) fn fill(template: &str, vars: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) => {
                let name = &after[..close];
                match vars.iter().find(|(k, _)| *k == name) {
                    Some((_, v)) => out.push_str(v),
                    None => {
                        out.push('{');
                        out.push_str(name);
                        out.push('}');
                    }
                }
                rest = &after[close + 1..];
            }
            None => {
                out.push_str(&rest[open..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// A message named by key, filled at render time with the host's [`Messages`]: handlers
/// put its [`Msg::mark`] in the page, the router's page layer ([`expand`]) replaces it.
#[derive(Clone, Debug)]
pub(crate) struct Msg {
    pub key: &'static str,
    pub vars: Vec<(&'static str, String)>,
}

impl Msg {
    pub fn new(key: &'static str) -> Self {
        Self {
            key,
            vars: Vec::new(),
        }
    }

    /// A placeholder's value, HTML already (escape what comes from elsewhere).
    pub fn var(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.vars.push((name, value.into()));
        self
    }

    /// The placeholder for this message in a page body: an HTML comment holding the key
    /// and values as JSON, with every `-` escaped so the comment cannot end early.
    pub fn mark(&self) -> String {
        let json = serde_json::to_string(&(self.key, &self.vars)).unwrap_or_default();
        format!("{OPEN}{}{CLOSE}", json.replace('-', "\\u002d"))
    }
}

const OPEN: &str = "<!--lw:";
const CLOSE: &str = "-->";

/// Replaces every [`Msg::mark`] in `body` by its message in `m`'s words (a message's
/// values may hold marks themselves: expanded too, a few levels deep).
pub(crate) fn expand(body: &str, m: &Messages) -> String {
    expand_at(body, m, 0)
}

fn expand_at(body: &str, m: &Messages, depth: u8) -> String {
    if depth > 3 {
        return body.to_owned();
    }
    let mut out = String::with_capacity(body.len() + 256);
    let mut rest = body;
    while let Some(at) = rest.find(OPEN) {
        out.push_str(&rest[..at]);
        let after = &rest[at + OPEN.len()..];
        let Some(end) = after.find(CLOSE) else {
            out.push_str(&rest[at..]);
            rest = "";
            break;
        };
        if let Ok((key, vars)) =
            serde_json::from_str::<(String, Vec<(String, String)>)>(&after[..end])
        {
            let vars: Vec<(&str, &str)> =
                vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            out.push_str(&expand_at(&m.fill(&key, &vars), m, depth + 1));
        }
        rest = &after[end + CLOSE.len()..];
    }
    out.push_str(rest);
    out
}

/// The marks of message `key` with `vars` (HTML already).
pub(crate) fn say(key: &'static str, vars: &[(&'static str, &str)]) -> String {
    vars.iter()
        .fold(Msg::new(key), |m, (k, v)| m.var(k, *v))
        .mark()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_survive_any_value_and_expand_in_the_hosts_words() {
        let mut m = Messages::default();
        m.set("renewed-flash", "{username} OK").unwrap();
        let body = format!(
            "<p>{}</p>",
            say("renewed-flash", &[("username", "a-->b--c\"\u{e9}")])
        );
        assert!(!body[4..body.len() - 4].contains("-->b"), "{body}");
        assert_eq!(expand(&body, &m), "<p>a-->b--c\"\u{e9} OK</p>");
        assert_eq!(expand("<!--lw:garbage-->x<!--lw:", &m), "x<!--lw:");
    }

    #[test]
    fn placeholders_are_filled_once_and_unknown_ones_stay() {
        assert_eq!(
            fill("@{u} and {v}", &[("u", "{v}"), ("v", "x")]),
            "@{v} and x"
        );
        assert_eq!(fill("{missing} {", &[]), "{missing} {");
        let keys: std::collections::BTreeSet<_> = DEFAULTS.iter().map(|(k, _)| k).collect();
        assert_eq!(keys.len(), DEFAULTS.len(), "keys are unique");
    }
}
