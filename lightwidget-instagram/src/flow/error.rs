//! Why a flow did not authorize anything ([`FlowError`]), and how a Graph failure of
//! the code exchange becomes one.

use std::time::Duration;

use lightwidget_core::{ConnectionKind, ProviderError};

use crate::Error;

/// Why a flow did not authorize anything. Nothing was saved; the messages are meant
/// for the person (they never carry a token, a code or Meta's own error text).
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FlowError {
    /// The person cancelled the dialog (or did not allow access).
    #[error("you cancelled the login: nothing was changed")]
    Cancelled,
    /// The person unticked permissions the connection needs.
    #[error("these permissions were not granted: {}; allow them to connect", missing.join(", "))]
    PermissionsNotGranted {
        /// The required permissions that were not granted.
        missing: Vec<String>,
    },
    /// An Instagram account that is not professional (Business or Creator).
    #[error(
        "this is a personal Instagram account: Meta no longer supports personal accounts since the \
Basic Display API ended on 2024-12-04; switch to a professional (Business or Creator) account in \
the Instagram app, then connect again"
    )]
    PersonalAccount,
    /// The code was already used or has expired (a reload, the back button, or more
    /// than an hour).
    #[error("this login was already used or has expired; start again")]
    CodeUsed,
    /// Facebook Login went through, but none of the person's Pages has an Instagram
    /// business account.
    #[error("none of your Facebook Pages is linked to an Instagram professional account")]
    NoInstagramAccount,
    /// Meta is down or throttling: try again later.
    #[error("Instagram is not answering right now; try again in a minute")]
    Unavailable {
        /// Meta's hint for when to retry.
        retry_after: Option<Duration>,
    },
    /// The dialog came back with an error other than the person's refusal (Meta's
    /// `error=server_error`, ...).
    #[error("Instagram did not complete the login; start again")]
    DialogFailed,
    /// The callback carries no code (a damaged or hand-made link).
    #[error("this login link is incomplete; start again")]
    Incomplete,
    /// This connection kind is not configured on this site.
    #[error("{} is not configured on this site", .0.label())]
    NotConfigured(ConnectionKind),
    /// The Facebook login gives several Pages with an Instagram business account and
    /// none was chosen yet: ask the person ([`Authorized::choices`](super::Authorized::choices),
    /// [`Authorized::choose`](super::Authorized::choose)).
    #[error("this Facebook login gives several Instagram accounts: choose one")]
    ChoiceNeeded {
        /// The usernames offered.
        offered: Vec<String>,
    },
    /// The Instagram account asked for (chosen, or being renewed) is not among the Pages
    /// this login gives: nothing was chosen or renewed.
    #[error(
        "the Instagram account {ig_user_id} is not among the Pages this Facebook login gives ({}); \
log in with the Facebook account that manages its Page: nothing was changed",
        if offered.is_empty() { "none".to_owned() } else { offered.iter().map(|u| format!("@{u}")).collect::<Vec<_>>().join(", ") }
    )]
    NotAmongPages {
        /// The Instagram user id asked for.
        ig_user_id: lightwidget_core::IgUserId,
        /// The usernames this login offers.
        offered: Vec<String>,
    },
    /// Meta refused for another reason (misconfiguration: app secret, redirect URI).
    /// The detail, for the log only, never carries a token.
    #[error("Meta refused the login; the site's Instagram app may be misconfigured")]
    Refused {
        /// Meta's classified error, for the log.
        detail: String,
    },
}

impl FlowError {
    /// Whether trying again later may succeed without the person doing anything else.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable { .. })
    }

    /// For the log: the classified detail, if any (never a token).
    pub fn detail(&self) -> Option<&str> {
        match self {
            Self::Refused { detail } => Some(detail),
            _ => None,
        }
    }
}

pub(super) fn graph(e: ProviderError) -> FlowError {
    if e.is_transient() {
        FlowError::Unavailable {
            retry_after: e.retry_after(),
        }
    } else {
        FlowError::Refused {
            detail: e.to_string(),
        }
    }
}

/// A failed code exchange: the code is spent or stale unless Meta says the app itself is
/// misconfigured.
pub(super) fn code_refused(e: Error) -> FlowError {
    match e {
        Error::Graph(p) if p.is_transient() => graph(p),
        Error::Graph(p) => {
            let m = p.to_string().to_ascii_lowercase();
            if m.contains("client secret") || m.contains("redirect_uri") || m.contains("app id") {
                FlowError::Refused {
                    detail: p.to_string(),
                }
            } else {
                FlowError::CodeUsed
            }
        }
        other => FlowError::Refused {
            detail: other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_what_to_do_and_never_meta_text() {
        let e = FlowError::PermissionsNotGranted {
            missing: vec!["pages_show_list".into()],
        };
        assert!(e.to_string().contains("pages_show_list"), "{e}");
        let p = FlowError::PersonalAccount.to_string();
        assert!(
            p.contains("2024-12-04") && p.contains("professional"),
            "{p}"
        );
        let r = FlowError::Refused {
            detail: "Error validating client secret".into(),
        };
        assert!(!r.to_string().contains("client secret"));
        assert_eq!(r.detail(), Some("Error validating client secret"));
    }

    #[test]
    fn a_spent_code_is_code_used_and_a_bad_secret_is_refused() {
        let used = ProviderError::Fatal {
            message: "Matching code was not found or was already used".into(),
        };
        assert_eq!(code_refused(Error::Graph(used)), FlowError::CodeUsed);
        let secret = ProviderError::Fatal {
            message: "Error validating client secret. (code 101)".into(),
        };
        assert!(matches!(
            code_refused(Error::Graph(secret)),
            FlowError::Refused { .. }
        ));
        let down = ProviderError::Transient {
            retry_after: None,
            message: "HTTP 503".into(),
        };
        assert!(code_refused(Error::Graph(down)).is_transient());
    }
}
