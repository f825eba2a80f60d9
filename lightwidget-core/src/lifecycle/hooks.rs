//! Which host callback an outcome calls: one mapping for the sweep and the host API.

use super::Outcome;

/// The [`LifecycleHooks`](crate::LifecycleHooks) callback an [`Outcome`] calls, once its
/// transition is committed.
///
/// ```
/// use lightwidget_core::{ExpiryReason, Outcome, lifecycle::Hook};
/// assert_eq!(Outcome::Reconnected.hook(), Some(Hook::Renewed));
/// assert_eq!(Outcome::Expired(ExpiryReason::PasswordChanged).hook(), Some(Hook::Ended));
/// assert_eq!(Outcome::Retry.hook(), None);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Hook {
    /// [`on_renewed`](crate::LifecycleHooks::on_renewed): the owner reconnected.
    Renewed,
    /// [`on_refreshed`](crate::LifecycleHooks::on_refreshed): the keeper refreshed.
    Refreshed,
    /// [`on_expired`](crate::LifecycleHooks::on_expired): the token stopped working
    /// (expired or revoked).
    Ended,
}

impl Outcome {
    /// The host callback this outcome calls, if any.
    pub fn hook(self) -> Option<Hook> {
        match self {
            Outcome::Reconnected => Some(Hook::Renewed),
            Outcome::Refreshed => Some(Hook::Refreshed),
            Outcome::Expired(_) | Outcome::Revoked => Some(Hook::Ended),
            Outcome::Checked | Outcome::Retry | Outcome::Unchanged | Outcome::Updated => None,
        }
    }
}
