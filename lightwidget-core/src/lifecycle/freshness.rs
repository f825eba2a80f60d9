//! Whether a token given to connect may replace the one an account holds (#29.5): a
//! re-run import or a late connect must never roll a fresher token back.

use chrono::{DateTime, Utc};

use crate::Token;

/// How a token given to `Keeper::connect` compares with the token held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Freshness {
    /// The same secret value: there is nothing to install (no `reconnected` row).
    Same,
    /// Not older than the token held: it replaces it.
    Newer,
    /// Older than the token held (or, its issue time unknown, not provably newer): it is
    /// refused unless the caller forces it.
    Older,
}

/// When the given token was issued, as far as the caller knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IssuedAt {
    /// `Token::issued_at` is the real issue (or last refresh) time: every OAuth flow,
    /// an import row with `issued_at`.
    Known,
    /// `Token::issued_at` is a stand-in (an import row without `issued_at`): compare by
    /// expiry instead.
    Unknown,
}

/// Compares the token `given` with the token `held`. "Older" is defined as:
///
/// 1. The same secret value is [`Freshness::Same`], whatever the dates say.
/// 2. With the issue time [`Known`](IssuedAt::Known): older means issued strictly
///    before the held token (`given.issued_at < held.issued_at`; a refresh moves the
///    held token's `issued_at` to the refresh). Issued at the same instant or later is
///    [`Freshness::Newer`].
/// 3. With the issue time [`Unknown`](IssuedAt::Unknown): newer only when both expire
///    and the given one expires strictly later than the held one; anything else
///    (earlier or equal expiry, a token that never expires on either side) cannot be
///    shown to be newer and counts as [`Freshness::Older`].
///
/// ```
/// use chrono::{TimeDelta, TimeZone, Utc};
/// use lightwidget_core::Token;
/// use lightwidget_core::lifecycle::{Freshness, IssuedAt, freshness};
/// let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
/// let held = Token::new("IGAAnew", t0).expiring_in(60 * 86_400);
/// let old = Token::new("IGAAold", t0 - TimeDelta::days(10)).expiring_in(60 * 86_400);
/// assert_eq!(freshness(&held, &old, IssuedAt::Known), Freshness::Older);
/// assert_eq!(freshness(&old, &held, IssuedAt::Known), Freshness::Newer);
/// assert_eq!(freshness(&held, &held.clone(), IssuedAt::Known), Freshness::Same);
/// // Issue time unknown: only a later expiry shows it is newer.
/// let undated = Token::new("IGAAx", t0 + TimeDelta::days(1)).expiring_at(t0 + TimeDelta::days(59));
/// assert_eq!(freshness(&held, &undated, IssuedAt::Unknown), Freshness::Older);
/// ```
pub fn freshness(held: &Token, given: &Token, issued: IssuedAt) -> Freshness {
    if held.same_value(given) {
        return Freshness::Same;
    }
    let newer = match issued {
        IssuedAt::Known => given.issued_at >= held.issued_at,
        IssuedAt::Unknown => later(given.expires_at, held.expires_at),
    };
    if newer {
        Freshness::Newer
    } else {
        Freshness::Older
    }
}

fn later(given: Option<DateTime<Utc>>, held: Option<DateTime<Utc>>) -> bool {
    matches!((given, held), (Some(g), Some(h)) if g > h)
}

#[cfg(test)]
mod tests {
    use chrono::{TimeDelta, TimeZone};

    use super::*;

    fn t(days: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap() + TimeDelta::days(days)
    }

    #[test]
    fn known_issue_times_decide_and_equal_is_not_older() {
        let held = Token::new("a", t(0)).expiring_at(t(60));
        let same_instant = Token::new("b", t(0)).expiring_at(t(1));
        assert_eq!(
            freshness(&held, &same_instant, IssuedAt::Known),
            Freshness::Newer
        );
        let earlier = Token::new("b", t(-1)).expiring_at(t(90));
        assert_eq!(
            freshness(&held, &earlier, IssuedAt::Known),
            Freshness::Older,
            "a later expiry does not make an earlier issue newer"
        );
        // Never-expiring Page tokens compare by issue time too.
        let page_held = Token::new("p1", t(5));
        assert_eq!(
            freshness(&page_held, &Token::new("p2", t(4)), IssuedAt::Known),
            Freshness::Older
        );
        assert_eq!(
            freshness(&page_held, &Token::new("p2", t(6)), IssuedAt::Known),
            Freshness::Newer
        );
    }

    #[test]
    fn unknown_issue_times_need_a_strictly_later_expiry() {
        let held = Token::new("a", t(0)).expiring_at(t(60));
        let u = |exp: Option<i64>| {
            let t = Token::new("b", t(100));
            match exp {
                Some(d) => t.expiring_at(super::tests::t(d)),
                None => t,
            }
        };
        assert_eq!(
            freshness(&held, &u(Some(61)), IssuedAt::Unknown),
            Freshness::Newer
        );
        assert_eq!(
            freshness(&held, &u(Some(60)), IssuedAt::Unknown),
            Freshness::Older
        );
        assert_eq!(
            freshness(&held, &u(None), IssuedAt::Unknown),
            Freshness::Older
        );
        assert_eq!(
            freshness(&Token::new("p", t(0)), &u(Some(61)), IssuedAt::Unknown),
            Freshness::Older,
            "nothing expires later than a token that never expires"
        );
        assert_eq!(
            freshness(&held, &held.clone(), IssuedAt::Unknown),
            Freshness::Same
        );
    }
}
