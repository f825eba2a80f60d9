//! The rules that decide whether a queued notice goes out, and to whom.

use std::fmt;

use crate::{AccountRecord, Notice, NoticeKind, NoticeTopic, Preferences, Recipient};

/// Why a queued notice is not sent. `Display` is the sentence recorded in history.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum Suppression {
    /// The account was deleted after the notice was queued.
    AccountGone,
    /// The account's entitlements do not include notifications (free plan).
    NotEntitled,
    /// An "expired" or "revoked" notice whose account is active again: the owner
    /// renewed before the notice went out.
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
/// account (`None` if it is gone) and the owner's preferences, and passes the channels
/// it has notifiers for.
///
/// A notice goes out only if the account still exists, its entitlements include
/// notifications, it is not an end-of-token notice for an account renewed meanwhile,
/// the owner opted in to its topic, and one of the owner's recipients is on a
/// configured channel. The recipients returned are exactly those.
///
/// ```
/// use chrono::Utc;
/// use lightwidget_core::lifecycle::{self, Observation, Suppression, notice_recipients};
/// use lightwidget_core::*;
/// let now = Utc::now();
/// let account = NewAccount::new("owner", ConnectionKind::Consumer, "1789", "paul")
///     .with_entitlements(Entitlements { notifications: true })
///     .into_account();
/// let token = Token::new("IGAA", now).expiring_in(60 * 86_400);
/// let mut rng = <rand::rngs::SmallRng as rand::SeedableRng>::seed_from_u64(7);
/// let (record, _) = lifecycle::connect(account, token, now, &RefreshPolicy::default(), &mut rng);
/// let t = lifecycle::apply(&record, Observation::Deauthorized, now, &RefreshPolicy::default(), &mut rng);
/// let ended = AccountRecord { account: t.account.clone(), state: t.state.clone(), version: 1 };
/// let prefs = Preferences::new("owner").with_recipient(Recipient::Email("o@example.com".into()));
/// assert_eq!(
///     notice_recipients(&t.notices[0], Some(&ended), &prefs, &["email"]),
///     Err(Suppression::NotOptedIn(NoticeTopic::Revoked)),
/// );
/// let prefs = prefs.opt_in(NoticeTopic::Revoked);
/// assert_eq!(notice_recipients(&t.notices[0], Some(&ended), &prefs, &["email"]).unwrap().len(), 1);
/// // Renewed meanwhile: the "revoked" notice is not sent.
/// assert_eq!(
///     notice_recipients(&t.notices[0], Some(&record), &prefs, &["email"]),
///     Err(Suppression::RenewedBeforeSending),
/// );
/// ```
pub fn notice_recipients<'p>(
    notice: &Notice,
    account: Option<&AccountRecord>,
    prefs: &'p Preferences,
    channels: &[&str],
) -> Result<Vec<&'p Recipient>, Suppression> {
    let record = account.ok_or(Suppression::AccountGone)?;
    if !record.account.entitlements.notifications {
        return Err(Suppression::NotEntitled);
    }
    if matches!(
        notice.kind,
        NoticeKind::Expired { .. } | NoticeKind::Revoked
    ) && record.state.status.is_active()
    {
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
