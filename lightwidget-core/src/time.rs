//! Saturating date arithmetic: the lifecycle never panics on extreme dates or durations.

use chrono::{DateTime, TimeDelta, Utc};

/// The shortest delay the lifecycle schedules: a next action is always strictly after
/// the observation that scheduled it.
pub(crate) const MIN_STEP: TimeDelta = TimeDelta::seconds(1);

/// `t + d`, saturating at the ends of `DateTime<Utc>`'s range.
pub(crate) fn plus(t: DateTime<Utc>, d: TimeDelta) -> DateTime<Utc> {
    t.checked_add_signed(d).unwrap_or(if d < TimeDelta::zero() {
        DateTime::<Utc>::MIN_UTC
    } else {
        DateTime::<Utc>::MAX_UTC
    })
}

/// `t - d`, saturating at the ends of `DateTime<Utc>`'s range.
pub(crate) fn minus(t: DateTime<Utc>, d: TimeDelta) -> DateTime<Utc> {
    t.checked_sub_signed(d).unwrap_or(if d < TimeDelta::zero() {
        DateTime::<Utc>::MAX_UTC
    } else {
        DateTime::<Utc>::MIN_UTC
    })
}

/// A std duration as a `TimeDelta`, saturating at `TimeDelta::MAX`.
pub(crate) fn delta(d: std::time::Duration) -> TimeDelta {
    TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX)
}

/// `t + d` for a std duration, saturating.
pub(crate) fn plus_std(t: DateTime<Utc>, d: std::time::Duration) -> DateTime<Utc> {
    plus(t, delta(d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saturates_at_both_ends() {
        let max = DateTime::<Utc>::MAX_UTC;
        let min = DateTime::<Utc>::MIN_UTC;
        assert_eq!(plus(max, TimeDelta::MAX), max);
        assert_eq!(plus(min, TimeDelta::MIN), min);
        assert_eq!(minus(min, TimeDelta::MAX), min);
        assert_eq!(minus(max, TimeDelta::MIN), max);
        assert_eq!(plus_std(max, std::time::Duration::MAX), max);
        let t = DateTime::<Utc>::UNIX_EPOCH;
        assert_eq!(plus(t, MIN_STEP), t + TimeDelta::seconds(1));
    }
}
