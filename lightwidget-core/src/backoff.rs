//! One backoff for every retry the library makes: a refresh or check that failed
//! ([`RefreshPolicy::retry_at`](crate::RefreshPolicy::retry_at)), a notice delivery that
//! failed, a commit the store refused for a while, a keeper round that failed.
//!
//! A [`Backoff`] is a value (initial delay, cap, jitter); the delay of an attempt is a
//! pure function of the attempt number and an injected random source, so it is tested
//! without a clock and reproducible with a seeded RNG.
//!
//! ```
//! use std::time::Duration;
//! use lightwidget_core::Backoff;
//! use rand::SeedableRng;
//!
//! let b = Backoff::new(Duration::from_millis(50), Duration::from_secs(2)).without_jitter();
//! let mut rng = rand::rngs::SmallRng::seed_from_u64(1);
//! assert_eq!(b.delay(1, &mut rng), Duration::from_millis(50));
//! assert_eq!(b.delay(3, &mut rng), Duration::from_millis(200));
//! assert_eq!(b.delay(40, &mut rng), Duration::from_secs(2));
//! ```

use std::time::Duration;

use rand::RngCore;

/// Exponential backoff: attempt 1 waits `initial`, each further attempt twice as long,
/// never more than `max`; with jitter (the default) each wait is scaled by a random
/// factor in `[0.5, 1)` so that many clients failing together do not retry together.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    jitter: bool,
}

impl Backoff {
    /// A backoff from `initial` doubling to `max` (a `max` below `initial` is raised to
    /// it), with jitter.
    pub const fn new(initial: Duration, max: Duration) -> Self {
        let max = if max.as_nanos() < initial.as_nanos() {
            initial
        } else {
            max
        };
        Self {
            initial,
            max,
            jitter: true,
        }
    }

    /// The same backoff without jitter: every wait is exactly the doubled delay.
    pub const fn without_jitter(mut self) -> Self {
        self.jitter = false;
        self
    }

    /// The first delay.
    pub const fn initial(&self) -> Duration {
        self.initial
    }

    /// The longest delay.
    pub const fn max(&self) -> Duration {
        self.max
    }

    /// The delay before attempt `attempt` (1-based; 0 counts as 1): `initial × 2^(attempt-1)`,
    /// capped at `max`, scaled by a factor in `[0.5, 1)` drawn from `rng` when jittered.
    /// Saturates instead of overflowing.
    pub fn delay(&self, attempt: u32, rng: &mut dyn RngCore) -> Duration {
        let exp = attempt.saturating_sub(1).min(31);
        let base = self
            .initial
            .checked_mul(1u32 << exp)
            .unwrap_or(self.max)
            .min(self.max);
        if self.jitter {
            base.mul_f64(0.5 + 0.5 * unit(rng))
        } else {
            base
        }
    }
}

/// A uniform number in `[0, 1)` from `rng`.
pub(crate) fn unit(rng: &mut dyn RngCore) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::SmallRng;

    #[test]
    fn doubles_to_the_cap_and_saturates() {
        let b =
            Backoff::new(Duration::from_secs(30), Duration::from_secs(6 * 3600)).without_jitter();
        let mut rng = SmallRng::seed_from_u64(7);
        assert_eq!(b.delay(0, &mut rng), Duration::from_secs(30));
        assert_eq!(b.delay(1, &mut rng), Duration::from_secs(30));
        assert_eq!(b.delay(2, &mut rng), Duration::from_secs(60));
        assert_eq!(b.delay(u32::MAX, &mut rng), Duration::from_secs(6 * 3600));
        let huge = Backoff::new(Duration::MAX, Duration::MAX).without_jitter();
        assert_eq!(huge.delay(9, &mut rng), Duration::MAX);
    }

    #[test]
    fn jitter_stays_within_half_and_whole() {
        let b = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        let mut rng = SmallRng::seed_from_u64(42);
        for attempt in 1..12 {
            let full = b.without_jitter().delay(attempt, &mut rng);
            let d = b.delay(attempt, &mut rng);
            assert!(d >= full / 2 && d < full, "{attempt}: {d:?} vs {full:?}");
        }
    }

    #[test]
    fn a_cap_below_the_start_is_raised_to_it() {
        let b = Backoff::new(Duration::from_secs(5), Duration::from_secs(1)).without_jitter();
        let mut rng = SmallRng::seed_from_u64(1);
        assert_eq!(b.max(), Duration::from_secs(5));
        assert_eq!(b.delay(3, &mut rng), Duration::from_secs(5));
    }

    #[test]
    fn the_same_seed_gives_the_same_delays() {
        let b = Backoff::new(Duration::from_millis(10), Duration::from_secs(10));
        let run = |seed| {
            let mut rng = SmallRng::seed_from_u64(seed);
            (1..10).map(|a| b.delay(a, &mut rng)).collect::<Vec<_>>()
        };
        assert_eq!(run(3), run(3));
    }
}
