//! The keeper's health for a host's `/healthz` or `/readyz`: whether sweeps happen,
//! accounts per status, and open app-wide incidents.

use super::Keeper;
use crate::Result;

/// The keeper's health, for a host's `/healthz` or an alert rule: the scheduler that
/// silently stopped is the most common way tokens die (peers: WP-Cron, Laravel
/// scheduler, Heroku add-ons).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Health {
    /// The last sweep of any keeper sharing the store.
    pub last_sweep_at: Option<chrono::DateTime<chrono::Utc>>,
    /// No sweep within `max_age` (or never), or the last one is dated more than
    /// [`CLOCK_SKEW`](Self::CLOCK_SKEW) in the future (a keeper's clock is wrong).
    pub stale: bool,
    /// Accounts per status.
    pub counts: crate::StatusCounts,
    /// Open app-wide incidents (accounts held, owners not told): the keeper works, the
    /// platform or the app does not. A daemon's readiness reports them.
    pub incidents: Vec<crate::Incident>,
}

impl Health {
    /// How far in the future a sweep time may be (clocks of several keepers differ).
    pub const CLOCK_SKEW: chrono::TimeDelta = chrono::TimeDelta::seconds(5);
}

impl Keeper {
    /// Reports whether sweeps are happening (any keeper on the store swept within
    /// `max_age`) and how many accounts are active, expired and revoked.
    ///
    /// A good `max_age` is a few poll intervals (e.g. 10 minutes).
    pub async fn health(&self, max_age: std::time::Duration) -> Result<Health> {
        let last = self.inner.store.last_sweep().await?.map(|(_, at)| at);
        let now = self.inner.clock.now();
        let max_age = chrono::TimeDelta::from_std(max_age).unwrap_or(chrono::TimeDelta::MAX);
        let counts = self.inner.store.count_by_status().await?;
        crate::telemetry::accounts(counts.active, counts.expired, counts.revoked);
        let incidents = self.inner.store.incidents(true, usize::MAX).await?;
        Ok(Health {
            incidents,
            last_sweep_at: last,
            // A sweep dated in the future (a keeper's clock is wrong) is not a sign of life.
            stale: last.is_none_or(|at| {
                now.checked_add_signed(Health::CLOCK_SKEW)
                    .is_some_and(|limit| at > limit)
                    || now.signed_duration_since(at) > max_age
            }),
            counts,
        })
    }
}
