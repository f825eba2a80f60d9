//! The rules that decide whether a queued notice goes out, and to whom.

use std::collections::BTreeSet;
use std::fmt;

use chrono::TimeDelta;

use crate::{AccountRecord, Membership, Notice, NoticeTopic, Preferences, Recipient};

/// Why a queued notice is not sent. `Display` is the sentence recorded in history.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum Suppression {
    /// The account was deleted after the notice was queued.
    AccountGone,
    /// The notice's owner left the (shared) account after it was queued.
    NotAMember,
    /// The owner's entitlements on this account do not include notifications (free plan).
    NotEntitled,
    /// A notice of a break (expired for any reason, app removed, permission removed)
    /// whose account is active again: the owner renewed before the notice went out.
    RenewedBeforeSending,
    /// The owner has not opted in to this topic.
    NotOptedIn(NoticeTopic),
    /// None of the owner's recipients is on a channel the keeper has a notifier for.
    NoRecipient,
}

impl fmt::Display for Suppression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AccountGone => f.write_str("the account no longer exists"),
            Self::NotAMember => f.write_str("the owner no longer holds the account"),
            Self::NotEntitled => f.write_str("the owner's plan does not include notifications"),
            Self::RenewedBeforeSending => {
                f.write_str("the account was renewed before the notice went out")
            }
            Self::NotOptedIn(topic) => {
                write!(f, "the owner has not opted in to {topic} notices")
            }
            Self::NoRecipient => f.write_str("no recipient on a configured channel"),
        }
    }
}

/// Who a queued notice goes to, or why it is not sent. Pure: the dispatcher reads the
/// account (`None` if it is gone), the membership of the notice's owner (`None` if they
/// left) and that owner's preferences, and passes the channels it has notifiers for.
///
/// On a shared account every owner has their own copy of a notice
/// ([`Notice::for_owner`]); this decides one copy, by that owner's entitlements and
/// preferences only. A notice goes out only if the account still exists, its owner is
/// still a member, *their* entitlements include notifications, it is not an end-of-token notice for an account renewed meanwhile,
/// the owner opted in to its topic, and one of the owner's recipients is on a
/// configured channel. The recipients returned are exactly those.
///
/// ```
/// use chrono::Utc;
/// use lightwidget_core::lifecycle::{self, Observation, Suppression, notice_recipients};
/// use lightwidget_core::*;
/// let now = Utc::now();
/// let account = NewAccount::new("owner", ConnectionKind::Consumer, "1789", "paul")
///     .into_account();
/// let member = Membership::new("owner", Entitlements { notifications: true }, now);
/// let token = Token::new("IGAA", now).expiring_in(60 * 86_400);
/// let mut rng = <rand::rngs::SmallRng as rand::SeedableRng>::seed_from_u64(7);
/// let (record, _) = lifecycle::connect(account, token, now, &RefreshPolicy::default(), &mut rng);
/// let t = lifecycle::apply(&record, Observation::Deauthorized, now, &RefreshPolicy::default(), &mut rng);
/// let ended = AccountRecord { account: t.account.clone(), state: t.state.clone(), version: 1 };
/// let notice = t.notices[0].for_owner(&member.owner);
/// let prefs = Preferences::new("owner").with_recipient(Recipient::Email("o@example.com".into()));
/// assert_eq!(
///     notice_recipients(&notice, Some(&ended), Some(&member), &prefs, &["email"]),
///     Err(Suppression::NotOptedIn(NoticeTopic::Expired)),
/// );
/// // The app removed is a break: the *Expired token notifications* topic covers it.
/// let prefs = prefs.opt_in(NoticeTopic::Expired);
/// assert_eq!(notice_recipients(&notice, Some(&ended), Some(&member), &prefs, &["email"]).unwrap().len(), 1);
/// // The owner left the account meanwhile: their copy is not sent.
/// assert_eq!(
///     notice_recipients(&notice, Some(&ended), None, &prefs, &["email"]),
///     Err(Suppression::NotAMember),
/// );
/// // Another owner on a free plan: their copy is not sent, this one's is.
/// let free = Membership::new("client", Entitlements::default(), now);
/// assert_eq!(
///     notice_recipients(&t.notices[0].for_owner(&free.owner), Some(&ended), Some(&free), &prefs, &["email"]),
///     Err(Suppression::NotEntitled),
/// );
/// // Renewed meanwhile: the "revoked" notice is not sent.
/// assert_eq!(
///     notice_recipients(&notice, Some(&record), Some(&member), &prefs, &["email"]),
///     Err(Suppression::RenewedBeforeSending),
/// );
/// ```
pub fn notice_recipients<'p>(
    notice: &Notice,
    account: Option<&AccountRecord>,
    member: Option<&Membership>,
    prefs: &'p Preferences,
    channels: &[&str],
) -> Result<Vec<&'p Recipient>, Suppression> {
    let record = account.ok_or(Suppression::AccountGone)?;
    let member = member
        .filter(|m| m.owner == notice.owner)
        .ok_or(Suppression::NotAMember)?;
    if !member.entitlements.notifications {
        return Err(Suppression::NotEntitled);
    }
    if notice.kind.is_break() && record.state.status.is_active() {
        return Err(Suppression::RenewedBeforeSending);
    }
    let topic = notice.kind.topic();
    if !prefs.wants(topic) {
        return Err(Suppression::NotOptedIn(topic));
    }
    let to: Vec<&Recipient> = prefs
        .recipients
        .iter()
        .filter(|r| channels.contains(&r.channel()))
        .collect();
    if to.is_empty() {
        return Err(Suppression::NoRecipient);
    }
    Ok(to)
}

/// The copies of a transition's notices for the owners of its account, one per notice and
/// member, in order ([`Notice::for_owner`]): what the keeper gives the store to enqueue on
/// commit (`keeper/fanout.rs`).
///
/// ```
/// # use lightwidget_core::*;
/// # let now = chrono::Utc::now();
/// # let n = Notice { id: uuid::Uuid::now_v7(), dedupe_key: "k".into(), account_id: AccountId::new(),
/// #     owner: OwnerId::new("a"), username: "u".into(), connection: ConnectionKind::Consumer,
/// #     kind: NoticeKind::Revoked, created_at: now };
/// let owners = [OwnerId::new("a"), OwnerId::new("b")];
/// let copies = lightwidget_core::lifecycle::fan_out(&[n], &owners);
/// assert_eq!(copies.iter().map(|c| c.owner.as_str()).collect::<Vec<_>>(), ["a", "b"]);
/// ```
pub fn fan_out(notices: &[Notice], owners: &[crate::OwnerId]) -> Vec<Notice> {
    notices
        .iter()
        .flat_map(|n| owners.iter().map(move |o| n.for_owner(o)))
        .collect()
}

/// How long a used single-use link is remembered after its use
/// ([`TokenStore::prune_used_links`](crate::TokenStore::prune_used_links) forgets older
/// ones): two years, far beyond the days in which mail clients and people click an
/// email's links.
pub const USED_LINK_RETENTION: TimeDelta = TimeDelta::days(730);

/// What using a one-click unsubscribe link did: what the page tells the person.
#[derive(Clone, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum Unsubscribed {
    /// The link's first use: these topics were on and are off now.
    TurnedOff(BTreeSet<NoticeTopic>),
    /// The link's first use, but what it names was already off: nothing changed.
    AlreadyOff,
    /// The link was used before: nothing changed. `on_now` lists the topics it names
    /// that are on now (the owner turned them back on after using it); empty if they
    /// are still off.
    LinkUsed {
        /// The link's topics the owner receives now.
        on_now: BTreeSet<NoticeTopic>,
    },
}

/// The rule of a one-click unsubscribe link naming `scope` (one topic, or every topic
/// with `None`): its first use turns off what it names; a used link changes nothing,
/// so an old link never undoes an owner's later opt-in. Returns the preferences to
/// save (`None`: nothing to save) and what happened.
///
/// ```
/// use lightwidget_core::lifecycle::{Unsubscribed, unsubscribe};
/// use lightwidget_core::{NoticeTopic, Preferences};
/// let p = Preferences::new("o").opt_in(NoticeTopic::Expired).opt_in(NoticeTopic::ExpiringSoon);
/// let (saved, did) = unsubscribe(&p, Some(NoticeTopic::Expired), true);
/// let saved = saved.unwrap();
/// assert!(!saved.wants(NoticeTopic::Expired) && saved.wants(NoticeTopic::ExpiringSoon));
/// assert_eq!(did, Unsubscribed::TurnedOff([NoticeTopic::Expired].into()));
/// // The same link again, after the owner opted back in: nothing changes, and it says so.
/// assert_eq!(
///     unsubscribe(&p, Some(NoticeTopic::Expired), false),
///     (None, Unsubscribed::LinkUsed { on_now: [NoticeTopic::Expired].into() }),
/// );
/// ```
pub fn unsubscribe(
    prefs: &Preferences,
    scope: Option<NoticeTopic>,
    first_use: bool,
) -> (Option<Preferences>, Unsubscribed) {
    let named: BTreeSet<NoticeTopic> = match scope {
        Some(t) => [t].into(),
        None => NoticeTopic::ALL.into(),
    };
    let on: BTreeSet<NoticeTopic> = prefs.topics.intersection(&named).copied().collect();
    if !first_use {
        return (None, Unsubscribed::LinkUsed { on_now: on });
    }
    if on.is_empty() {
        return (None, Unsubscribed::AlreadyOff);
    }
    let mut p = prefs.clone();
    p.topics.retain(|t| !on.contains(t));
    (Some(p), Unsubscribed::TurnedOff(on))
}
