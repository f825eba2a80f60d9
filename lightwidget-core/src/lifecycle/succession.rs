//! Who holds a shared account after an owner leaves: whether it is deleted, and who
//! becomes its primary owner (whose entitlements the account carries). Stores apply the
//! result as it is ([`TokenStore::leave`](crate::TokenStore::leave)).

use crate::{Membership, OwnerId};

/// What an owner's leave does to the account.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Succession {
    /// Nobody is left: the account is deleted with its token, history and notices.
    Delete,
    /// Others remain. `primary` is the new primary owner when the one who left was it:
    /// the account's owner becomes `primary.owner` and its entitlements
    /// `primary.entitlements`. `None`: the primary owner stays.
    Remain {
        /// The new primary owner, if it changes.
        primary: Option<Membership>,
    },
}

impl Succession {
    /// The succession after `leaving` left an account whose primary owner is `primary`;
    /// `remaining` are the members left, in the order they joined. The earliest remaining
    /// member succeeds a primary owner who leaves. Pure.
    ///
    /// ```
    /// use chrono::Utc;
    /// use lightwidget_core::Succession;
    /// use lightwidget_core::{Entitlements, Membership, OwnerId};
    /// let client = Membership::new("client", Entitlements { notifications: true }, Utc::now());
    /// let agency = OwnerId::new("agency");
    /// assert_eq!(
    ///     Succession::after_leave(&agency, &agency, &[client.clone()]),
    ///     Succession::Remain { primary: Some(client) },
    /// );
    /// assert_eq!(Succession::after_leave(&agency, &agency, &[]), Succession::Delete);
    /// ```
    pub fn after_leave(primary: &OwnerId, leaving: &OwnerId, remaining: &[Membership]) -> Self {
        let Some(first) = remaining.first() else {
            return Self::Delete;
        };
        Self::Remain {
            primary: (primary == leaving).then(|| first.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Entitlements;

    fn m(owner: &str, notifications: bool) -> Membership {
        Membership::new(owner, Entitlements { notifications }, chrono::Utc::now())
    }

    #[test]
    fn the_last_owner_leaving_deletes_the_account() {
        let a = OwnerId::new("a");
        assert_eq!(Succession::after_leave(&a, &a, &[]), Succession::Delete);
        // Even if the store's primary label named someone else.
        assert_eq!(
            Succession::after_leave(&OwnerId::new("b"), &a, &[]),
            Succession::Delete
        );
    }

    #[test]
    fn the_earliest_remaining_member_succeeds_the_primary_owner() {
        let a = OwnerId::new("a");
        let rest = [m("b", false), m("c", true)];
        assert_eq!(
            Succession::after_leave(&a, &a, &rest),
            Succession::Remain {
                primary: Some(rest[0].clone())
            }
        );
    }

    #[test]
    fn another_owner_leaving_keeps_the_primary_owner() {
        let rest = [m("a", true), m("c", true)];
        assert_eq!(
            Succession::after_leave(&OwnerId::new("a"), &OwnerId::new("b"), &rest),
            Succession::Remain { primary: None }
        );
    }
}
