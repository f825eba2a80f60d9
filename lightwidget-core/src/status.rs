//! Token status and the reasons a token stops working.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Whether a token works, as the host shows it (ACTIVE / NOT ACTIVE).
#[derive(Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Debug)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum TokenStatus {
    /// The token works (as of the last check).
    Active,
    /// The token stopped working; only the owner can renew it by connecting again.
    Expired {
        /// Why.
        reason: ExpiryReason,
        /// When lightwidget found out.
        at: DateTime<Utc>,
    },
    /// The owner removed the app (deauthorize callback).
    Revoked {
        /// When.
        at: DateTime<Utc>,
    },
}

impl TokenStatus {
    /// `true` for [`TokenStatus::Active`].
    pub fn is_active(&self) -> bool {
        matches!(self, Self::Active)
    }
    /// The label a host shows: `ACTIVE` or `NOT ACTIVE`.
    pub fn label(&self) -> &'static str {
        if self.is_active() {
            "ACTIVE"
        } else {
            "NOT ACTIVE"
        }
    }
    /// The reason, for expired or revoked tokens.
    pub fn reason(&self) -> Option<ExpiryReason> {
        match self {
            Self::Active => None,
            Self::Expired { reason, .. } => Some(*reason),
            Self::Revoked { .. } => Some(ExpiryReason::AppRemoved),
        }
    }
    /// Stable lowercase name: `active`, `expired`, `revoked`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Expired { .. } => "expired",
            Self::Revoked { .. } => "revoked",
        }
    }
}

/// Why a token stopped working.
///
/// [`ExpiryReason::code`] / [`ExpiryReason::from_code`] give a stable string for storage.
///
/// ```
/// use lightwidget_core::ExpiryReason;
/// let r = ExpiryReason::Unknown { code: 190, subcode: Some(999) };
/// assert_eq!(ExpiryReason::from_code(&r.code()), Some(r));
/// assert_eq!(ExpiryReason::from_code("password_changed"), Some(ExpiryReason::PasswordChanged));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Debug)]
#[serde(tag = "reason", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ExpiryReason {
    /// The ~60-day lifetime ended without a refresh.
    LifetimeEnded,
    /// The user changed their password (190/460).
    PasswordChanged,
    /// Meta put the account through a security checkpoint (190/459, 190/464).
    SecurityCheckpoint,
    /// The session was invalidated: logout, API change, or an invalid token (190/467, 466, 492, 102).
    SessionInvalidated,
    /// The user removed the app (190/458, deauthorize).
    AppRemoved,
    /// Data access (90 days since the user was last active) lapsed.
    DataAccessExpired,
    /// A permission the widget needs was removed (Graph codes 10, 200-299 on a feed call).
    PermissionRemoved,
    /// A code lightwidget does not know.
    Unknown {
        /// Graph error code.
        code: i64,
        /// Graph error subcode, if any.
        subcode: Option<i64>,
    },
}

impl ExpiryReason {
    /// A stable string for storage: `password_changed`, `unknown:190:999`, ...
    pub fn code(&self) -> String {
        match self {
            Self::LifetimeEnded => "lifetime_ended".into(),
            Self::PasswordChanged => "password_changed".into(),
            Self::SecurityCheckpoint => "security_checkpoint".into(),
            Self::SessionInvalidated => "session_invalidated".into(),
            Self::AppRemoved => "app_removed".into(),
            Self::DataAccessExpired => "data_access_expired".into(),
            Self::PermissionRemoved => "permission_removed".into(),
            Self::Unknown { code, subcode } => match subcode {
                Some(s) => format!("unknown:{code}:{s}"),
                None => format!("unknown:{code}"),
            },
        }
    }

    /// Parses [`ExpiryReason::code`].
    pub fn from_code(s: &str) -> Option<Self> {
        Some(match s {
            "lifetime_ended" => Self::LifetimeEnded,
            "password_changed" => Self::PasswordChanged,
            "security_checkpoint" => Self::SecurityCheckpoint,
            "session_invalidated" => Self::SessionInvalidated,
            "app_removed" => Self::AppRemoved,
            "data_access_expired" => Self::DataAccessExpired,
            "permission_removed" => Self::PermissionRemoved,
            other => {
                let rest = other.strip_prefix("unknown:")?;
                let mut parts = rest.splitn(2, ':');
                let code = parts.next()?.parse().ok()?;
                let subcode = match parts.next() {
                    Some(s) => Some(s.parse().ok()?),
                    None => None,
                };
                Self::Unknown { code, subcode }
            }
        })
    }

    /// A plain-words explanation for the account owner.
    pub fn describe(&self) -> String {
        match self {
            Self::LifetimeEnded => {
                "the connection reached the end of its lifetime without being renewed".into()
            }
            Self::PasswordChanged => {
                "Instagram ended the connection because the account's password was changed".into()
            }
            Self::SecurityCheckpoint => {
                "Instagram ended the connection after a security check on the account (for example a suspicious login)".into()
            }
            Self::SessionInvalidated => {
                "Instagram ended the session (the account logged out, or Meta reset sessions)".into()
            }
            Self::AppRemoved => "the app was removed from the account's settings".into(),
            Self::DataAccessExpired => {
                "Meta paused data access because the account owner has not confirmed access in 90 days".into()
            }
            Self::PermissionRemoved => {
                "a permission the feed needs was removed from the app in the account's settings".into()
            }
            Self::Unknown { code, subcode } => match subcode {
                Some(s) => format!("Instagram rejected the connection (error {code}/{s})"),
                None => format!("Instagram rejected the connection (error {code})"),
            },
        }
    }
}

impl fmt::Display for ExpiryReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}
