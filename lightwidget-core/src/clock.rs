//! Time source. Tests use [`ManualClock`] to run simulated months in milliseconds.

use crate::sync::Locked;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};

/// Where the keeper gets "now" from.
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that only moves when told to. Clones share the same time.
///
/// ```
/// use chrono::{Duration, TimeZone, Utc};
/// use lightwidget_core::{Clock, ManualClock};
/// let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap());
/// clock.advance(Duration::days(1));
/// assert_eq!(clock.now(), Utc.with_ymd_and_hms(2026, 1, 2, 0, 0, 0).unwrap());
/// ```
#[derive(Clone, Debug)]
pub struct ManualClock(Arc<Mutex<DateTime<Utc>>>);

impl ManualClock {
    /// A clock showing `start`.
    pub fn new(start: DateTime<Utc>) -> Self {
        Self(Arc::new(Mutex::new(start)))
    }
    /// Moves time forward (or back, for a negative `by`), saturating at the ends of
    /// `DateTime<Utc>`'s range.
    pub fn advance(&self, by: Duration) {
        let mut now = self.0.locked();
        *now = crate::time::plus(*now, by);
    }
    /// Sets the time.
    pub fn set(&self, to: DateTime<Utc>) {
        *self.0.locked() = to;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.locked()
    }
}

impl<C: Clock + ?Sized> Clock for Arc<C> {
    fn now(&self) -> DateTime<Utc> {
        (**self).now()
    }
}
