//! Which host callback an outcome calls: one mapping for the sweep and the host API.

use super::Outcome;
use crate::{Account, Membership};

/// The account as each of its owners sees it, in the order they joined: `owner` and
/// `entitlements` are the member's. The keeper calls the per-owner hooks
/// (`on_renewed`, `on_expired`) once per view, so a renewal by any owner bumps the
/// widgets of every owner.
///
/// ```
/// use chrono::Utc;
/// use lightwidget_core::{lifecycle::owner_views, *};
/// let a = NewAccount::new("agency", ConnectionKind::Consumer, "1789", "paul").into_account();
/// let ms = [
///     Membership::new("agency", Entitlements::default(), Utc::now()),
///     Membership::new("client", Entitlements { notifications: true }, Utc::now()),
/// ];
/// let v = owner_views(&a, &ms);
/// assert_eq!(v.len(), 2);
/// assert_eq!(v[1].owner.as_str(), "client");
/// assert!(v[1].entitlements.notifications);
/// assert!(v.iter().all(|x| x.id == a.id));
/// ```
pub fn owner_views(account: &Account, members: &[Membership]) -> Vec<Account> {
    members
        .iter()
        .map(|m| Account {
            owner: m.owner.clone(),
            entitlements: m.entitlements,
            ..account.clone()
        })
        .collect()
}

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
            Outcome::Checked
            | Outcome::Retry
            | Outcome::Unchanged
            | Outcome::Updated
            | Outcome::Held => None,
        }
    }
}
