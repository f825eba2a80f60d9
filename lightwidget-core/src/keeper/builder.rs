//! [`KeeperBuilder`]: the ports a keeper works with and every setting, each with a
//! production default; [`KeeperBuilder::build`] validates them into one
//! [`KeeperSettings`](super::KeeperSettings) and starts the engine.

use std::num::NonZeroU32;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::SmallRng;
use tokio::sync::Notify;

use super::{Inner, Keeper, KeeperSettings, config_err, make_limiter, stats::Counters};
use crate::{
    Backoff, Clock, LifecycleHooks, NoHooks, Notifier, RefreshPolicy, Result, SystemClock,
    TokenProvider, TokenStore,
};

/// Builder for [`Keeper`]. Every setting has a production default;
/// [`build`](KeeperBuilder::build) validates.
pub struct KeeperBuilder {
    store: Arc<dyn TokenStore>,
    provider: Arc<dyn TokenProvider>,
    notifiers: Vec<Arc<dyn Notifier>>,
    hooks: Arc<dyn LifecycleHooks>,
    clock: Arc<dyn Clock>,
    operator_alerts: Option<Arc<dyn crate::OperatorAlerts>>,
    /// Every setting; `worker_id` empty until [`build`](Self::build) names the worker.
    settings: KeeperSettings,
    worker_id: Option<String>,
    rng_seed: Option<u64>,
    /// The notice backoff as given (validated at build).
    notice_backoff: (Duration, Duration),
}

impl std::fmt::Debug for KeeperBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeeperBuilder")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl KeeperBuilder {
    /// The default lease: a crashed keeper's accounts are claimable again within a
    /// minute; a live keeper renews its leases every third of it (heartbeat).
    pub const DEFAULT_LEASE: Duration = Duration::from_secs(60);

    /// The largest `batch_size` / `outbox_batch` accepted.
    pub const MAX_BATCH: usize = KeeperSettings::MAX_BATCH;

    pub(super) fn new(store: Arc<dyn TokenStore>, provider: Arc<dyn TokenProvider>) -> Self {
        let settings = KeeperSettings::defaults(String::new());
        Self {
            store,
            provider,
            notifiers: Vec::new(),
            hooks: Arc::new(NoHooks),
            clock: Arc::new(SystemClock),
            operator_alerts: None,
            notice_backoff: (
                settings.notice_backoff.initial(),
                settings.notice_backoff.max(),
            ),
            settings,
            worker_id: None,
            rng_seed: None,
        }
    }

    /// How app-wide incidents are told from single broken tokens: window, share, count,
    /// confirming re-check, probes (defaults in
    /// [`IncidentPolicy`](crate::lifecycle::incident::IncidentPolicy)).
    pub fn incident_policy(mut self, p: crate::lifecycle::incident::IncidentPolicy) -> Self {
        self.settings.incident_policy = p;
        self
    }

    /// Where operator alerts go: one per incident change (opened, updated, resolved).
    /// Without it, alerts are log lines (ERROR on open) and metrics only.
    pub fn operator_alerts(mut self, a: Arc<dyn crate::OperatorAlerts>) -> Self {
        self.operator_alerts = Some(a);
        self
    }

    /// Adds a notice channel (one per channel name: `email`, `webhook`).
    pub fn notifier(mut self, n: Arc<dyn Notifier>) -> Self {
        self.notifiers.push(n);
        self
    }
    /// Host callbacks (default: none).
    pub fn hooks(mut self, h: Arc<dyn LifecycleHooks>) -> Self {
        self.hooks = h;
        self
    }
    /// Time source (default: the system clock).
    pub fn clock(mut self, c: Arc<dyn Clock>) -> Self {
        self.clock = c;
        self
    }
    /// Refresh / check / retry policy.
    pub fn policy(mut self, p: RefreshPolicy) -> Self {
        self.settings.policy = p;
        self
    }
    /// Provider calls in flight at once (default 16).
    pub fn concurrency(mut self, n: usize) -> Self {
        self.settings.concurrency = n;
        self
    }
    /// Accounts claimed per batch (default 200).
    pub fn batch_size(mut self, n: usize) -> Self {
        self.settings.batch_size = n;
        self
    }
    /// How long the commit stage of a sweep waits for more results to fill a batch of
    /// `batch_size` before writing what it has (default 5 ms; zero writes whatever is
    /// ready at once). Each commit is one transaction: without a short wait, a fast store
    /// commits a few rows at a time and pays the transaction cost per handful (measured
    /// on SQLite: about 60 rows per commit and 10 % more CPU per refresh with no wait,
    /// 300–500 rows with 3–10 ms). A sweep's last results are written as soon as the
    /// last call ends, never after a wait.
    pub fn commit_linger(mut self, d: Duration) -> Self {
        self.settings.commit_linger = d;
        self
    }
    /// Lease length: how long a claimed account is reserved for this keeper (default
    /// [`DEFAULT_LEASE`](Self::DEFAULT_LEASE), 60 s). While a sweep works on an account
    /// it renews the lease every third of this (a heartbeat, [`TokenStore::extend_leases`]),
    /// so slow calls and slow commits keep it; when a keeper dies, its accounts are
    /// claimable again after at most one lease. Fencing on the record version still
    /// guarantees that two keepers never both commit one account.
    pub fn lease(mut self, d: Duration) -> Self {
        self.settings.lease = d;
        self
    }
    /// The outer bound on retrying a commit that fails for a reason not known to be
    /// permanent (default 5 min; never shorter than the [`lease`](Self::lease), whatever
    /// is set here; during shutdown at most 10 s more).
    ///
    /// While a sweep holds an account's lease, a result obtained from the provider is
    /// kept in memory and its commit retried with backoff (50 ms doubling to 2 s) for
    /// every error that is not known to be permanent: connections refused, reset or
    /// terminated, a database not accepting connections, too many connections, a
    /// read-only failover target, lock and statement timeouts, and errors of unknown
    /// class ([`StoreError::Backend`](crate::StoreError::Backend)). The heartbeat renews
    /// the lease meanwhile; when it cannot reach the store either, the lease is not
    /// confirmed but not lost, and the commit goes on being tried: its version fence
    /// refuses it if another keeper took the account over and committed first. A result
    /// is given up, and logged with the account id and why, only when its error is
    /// permanent ([`StoreError::is_permanent`](crate::StoreError::is_permanent)), when the
    /// heartbeat found the lease held by another keeper, or after this bound.
    pub fn commit_retry_for(mut self, d: Duration) -> Self {
        self.settings.commit_retry_for = d;
        self
    }
    /// In-process cap on provider calls per second (default: none).
    pub fn rate_limit_per_second(mut self, n: u32) -> Self {
        self.settings.rate_limit = NonZeroU32::new(n);
        self
    }
    /// Lease holder name (default: `host-pid-random`).
    pub fn worker_id(mut self, id: impl Into<String>) -> Self {
        self.worker_id = Some(id.into());
        self
    }
    /// Idle wait between rounds of [`Keeper::run`] (default 30 s).
    pub fn poll_interval(mut self, d: Duration) -> Self {
        self.settings.poll_interval = d;
        self
    }
    /// Seeds the jitter RNG (tests; default: from the OS).
    pub fn rng_seed(mut self, seed: u64) -> Self {
        self.rng_seed = Some(seed);
        self
    }
    /// Outbox entries taken per round (default 50).
    pub fn outbox_batch(mut self, n: usize) -> Self {
        self.settings.outbox_batch = n;
        self
    }
    /// Delivery attempts before a notice is recorded as failed (default 20).
    pub fn notice_max_attempts(mut self, n: u32) -> Self {
        self.settings.notice_max_attempts = n;
        self
    }
    /// Notice retry backoff: first delay and cap (default 30 s, 6 h).
    pub fn notice_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.notice_backoff = (initial, max);
        self
    }
    /// How often a gateway success ([`Keeper::graph`]) is written as the account's last
    /// successful check: at most once per this interval per account (default 10 min).
    /// Token errors are recorded at once whatever this says.
    pub fn graph_observe_interval(mut self, d: Duration) -> Self {
        self.settings.graph_observe_interval = d;
        self
    }

    /// Validates and builds the keeper. Refused with [`Error::Config`](crate::Error::Config):
    /// a zero concurrency, batch size or attempt count; batch sizes above
    /// [`MAX_BATCH`](Self::MAX_BATCH); a lease under 1 second or over 24 hours; a commit
    /// linger over 1 minute; a notice backoff whose first delay is zero or exceeds its
    /// cap. Longer durations elsewhere (poll interval, backoff cap) saturate.
    pub fn build(self) -> Result<Keeper> {
        let (initial, max) = self.notice_backoff;
        if initial.is_zero() || initial > max {
            return Err(config_err(
                "notice backoff: initial must be > 0 and not exceed the cap",
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for n in &self.notifiers {
            if !seen.insert(n.channel()) {
                return Err(config_err(format!(
                    "two notifiers for channel {:?}: configure one per channel",
                    n.channel()
                )));
            }
        }
        let worker_id = self.worker_id.unwrap_or_else(|| {
            let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "keeper".into());
            format!(
                "{host}-{}-{}",
                std::process::id(),
                &uuid::Uuid::new_v4().simple().to_string()[..8]
            )
        });
        let settings = KeeperSettings {
            worker_id,
            notice_backoff: Backoff::new(initial, max),
            ..self.settings
        };
        settings.validate()?;
        let rng = match self.rng_seed {
            Some(s) => SmallRng::seed_from_u64(s),
            None => SmallRng::from_os_rng(),
        };
        Ok(Keeper {
            inner: Arc::new(Inner {
                store: self.store,
                provider: self.provider,
                notifiers: self.notifiers,
                hooks: self.hooks,
                clock: self.clock,
                limiter: make_limiter(settings.rate_limit),
                rng: Mutex::new(rng),
                counters: Counters::default(),
                shutting_down: AtomicBool::new(false),
                wake: Notify::new(),
                gateway: super::graph::GatewayState::new(settings.graph_observe_interval),
                incidents: super::incidents::Monitor::new(
                    settings.incident_policy,
                    self.operator_alerts,
                ),
                settings,
            }),
        })
    }
}
