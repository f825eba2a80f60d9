//! The keeper's settings: one value, assembled by [`KeeperBuilder`](super::KeeperBuilder),
//! validated once by [`build`](super::KeeperBuilder::build) and held whole by the engine
//! ([`Keeper::settings`](super::Keeper::settings)), instead of one field per setting.

use std::num::NonZeroU32;
use std::time::Duration;

use crate::lifecycle::incident::IncidentPolicy;
use crate::{Backoff, Error, RefreshPolicy};

/// Every setting of a [`Keeper`](super::Keeper), as built. Read them with
/// [`Keeper::settings`](super::Keeper::settings); set them on the
/// [`KeeperBuilder`](super::KeeperBuilder), whose methods document each one and its
/// default.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct KeeperSettings {
    /// Refresh / check / retry policy.
    pub policy: RefreshPolicy,
    /// Provider calls in flight at once.
    pub concurrency: usize,
    /// Accounts claimed per batch.
    pub batch_size: usize,
    /// How long the commit stage waits to fill a batch.
    pub commit_linger: Duration,
    /// Lease length.
    pub lease: Duration,
    /// The outer bound on retrying a commit the store refused for a while (never
    /// shorter than the lease in effect: see [`KeeperSettings::commit_retry_bound`]).
    pub commit_retry_for: Duration,
    /// In-process cap on provider calls per second.
    pub rate_limit: Option<NonZeroU32>,
    /// Lease holder name.
    pub worker_id: String,
    /// Idle wait between rounds of [`Keeper::run`](super::Keeper::run).
    pub poll_interval: Duration,
    /// Outbox entries taken per round.
    pub outbox_batch: usize,
    /// Delivery attempts before a notice is recorded as failed.
    pub notice_max_attempts: u32,
    /// Waits between a notice's delivery attempts.
    pub notice_backoff: Backoff,
    /// How often a gateway success is written as the account's last check.
    pub graph_observe_interval: Duration,
    /// How app-wide incidents are told from single broken tokens.
    pub incident_policy: IncidentPolicy,
}

impl KeeperSettings {
    /// The largest `batch_size` / `outbox_batch` accepted.
    pub const MAX_BATCH: usize = 100_000;

    /// The defaults of [`KeeperBuilder`](super::KeeperBuilder), with `worker_id`.
    pub(super) fn defaults(worker_id: String) -> Self {
        Self {
            policy: RefreshPolicy::default(),
            concurrency: 16,
            batch_size: 200,
            commit_linger: Duration::from_millis(5),
            lease: Duration::from_secs(60),
            commit_retry_for: Duration::from_secs(300),
            rate_limit: None,
            worker_id,
            poll_interval: Duration::from_secs(30),
            outbox_batch: 50,
            notice_max_attempts: 20,
            notice_backoff: Backoff::new(Duration::from_secs(30), Duration::from_secs(6 * 3600)),
            graph_observe_interval: Duration::from_secs(600),
            incident_policy: IncidentPolicy::default(),
        }
    }

    /// How long a result's commit is retried at most: `commit_retry_for`, never less
    /// than the lease.
    pub fn commit_retry_bound(&self) -> Duration {
        self.commit_retry_for.max(self.lease)
    }

    /// Checks every setting; [`Error::Config`] names the first one out of range.
    pub(super) fn validate(&self) -> Result<(), Error> {
        let err = |m: String| Err(Error::Config(m));
        if self.concurrency == 0 {
            return err("concurrency must be at least 1".into());
        }
        if self.batch_size == 0 || self.outbox_batch == 0 {
            return err("batch sizes must be at least 1".into());
        }
        if self.batch_size > Self::MAX_BATCH || self.outbox_batch > Self::MAX_BATCH {
            return err(format!("batch sizes must be at most {}", Self::MAX_BATCH));
        }
        if self.lease < Duration::from_secs(1) {
            return err("lease must be at least 1 second".into());
        }
        if self.lease > Duration::from_secs(24 * 3600) {
            return err("lease must be at most 24 hours".into());
        }
        if self.commit_retry_for > Duration::from_secs(24 * 3600) {
            return err("commit_retry_for must be at most 24 hours".into());
        }
        if self.commit_linger > Duration::from_secs(60) {
            return err("commit_linger must be at most 1 minute".into());
        }
        if self.notice_max_attempts == 0 {
            return err("notice_max_attempts must be at least 1".into());
        }
        if self.worker_id.trim().is_empty() {
            return err("worker_id must not be empty".into());
        }
        self.incident_policy.validate().map_err(Error::Config)
    }
}
