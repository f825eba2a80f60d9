//! The [`Keeper`]: the engine a host spawns on its tokio runtime to keep every token alive.
//!
//! ```no_run
//! # use std::sync::Arc;
//! # use lightwidget_core::*;
//! # async fn demo(store: Arc<dyn TokenStore>, provider: Arc<dyn TokenProvider>) -> Result<()> {
//! let keeper = Keeper::builder(store, provider).concurrency(32).build()?;
//! let id = keeper
//!     .connect(NewAccount::new("user-1", ConnectionKind::Consumer, "1789", "paul"),
//!              Token::new("IGAA...", chrono::Utc::now()).expiring_in(60 * 86_400))
//!     .await?;
//! let bg = keeper.clone();
//! tokio::spawn(async move { bg.run(async { let _ = tokio::signal::ctrl_c().await; }).await });
//! println!("{}", keeper.status(id).await?.status.label());
//! # Ok(()) }
//! ```

mod accounts;
mod builder;
mod dispatch;
mod fanout;
mod graph;
mod health;
mod held;
mod incidents;
mod login;
mod owners;
mod records;
mod settings;
mod stats;
mod sweep;
mod views;
mod write;

use crate::sync::Locked;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use rand::rngs::SmallRng;
use tokio::sync::Notify;

pub use accounts::{ConnectOptions, ConnectOutcome};
pub use builder::KeeperBuilder;
pub use dispatch::DispatchReport;
pub use graph::GraphSession;
pub use health::Health;
pub use login::{LoginEffect, LoginOutcome, SocialLogin};
pub use settings::KeeperSettings;
pub use stats::KeeperStats;
pub use sweep::SweepReport;

use crate::{
    Clock, Error, LifecycleHooks, Notifier, RefreshPolicy, Result, TokenProvider, TokenStore,
};
use stats::Counters;

/// The wait after a failed keeper round (a store outage, say): 2 s doubling to about a
/// minute, jittered so replicas that failed together do not retry together; never
/// longer than the poll interval.
const ROUND_BACKOFF: crate::Backoff =
    crate::Backoff::new(Duration::from_secs(2), Duration::from_secs(64));

/// The token keeper. Cheap to clone: clones share one engine.
#[derive(Clone)]
pub struct Keeper {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Keeper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keeper")
            .field("worker_id", &self.inner.settings.worker_id)
            .field("concurrency", &self.inner.settings.concurrency)
            .field("batch_size", &self.inner.settings.batch_size)
            .finish_non_exhaustive()
    }
}

/// The engine behind every clone of a [`Keeper`]: its ports, its settings (held whole,
/// validated once) and its in-process state.
pub(crate) struct Inner {
    store: Arc<dyn TokenStore>,
    provider: Arc<dyn TokenProvider>,
    notifiers: Vec<Arc<dyn Notifier>>,
    hooks: Arc<dyn LifecycleHooks>,
    clock: Arc<dyn Clock>,
    settings: KeeperSettings,
    limiter: Option<DefaultDirectRateLimiter>,
    rng: Mutex<SmallRng>,
    counters: Counters,
    shutting_down: AtomicBool,
    wake: Notify,
    gateway: graph::GatewayState,
    incidents: incidents::Monitor,
}

impl Keeper {
    /// Starts building a keeper over a store and a provider.
    pub fn builder(store: Arc<dyn TokenStore>, provider: Arc<dyn TokenProvider>) -> KeeperBuilder {
        KeeperBuilder::new(store, provider)
    }

    /// This keeper's worker id (lease holder name).
    pub fn worker_id(&self) -> &str {
        &self.inner.settings.worker_id
    }

    /// The policy in force.
    pub fn policy(&self) -> &RefreshPolicy {
        &self.inner.settings.policy
    }

    /// Every setting in force, as built.
    pub fn settings(&self) -> &KeeperSettings {
        &self.inner.settings
    }

    /// Runs until `shutdown` completes or [`Keeper::shutdown`] is called: sweeps due
    /// accounts, dispatches the outbox, then waits `poll_interval`. On shutdown it stops
    /// claiming, finishes calls already in flight, releases leases it has not started,
    /// and returns.
    ///
    /// Store outages do not end the loop: they are logged and retried next round.
    pub async fn run<F>(&self, shutdown: F) -> Result<()>
    where
        F: std::future::Future<Output = ()> + Send,
    {
        tokio::pin!(shutdown);
        let mut failures = 0u32;
        loop {
            if self.is_shutting_down() {
                break;
            }
            let work = async {
                let s = self.sweep().await;
                let d = self.dispatch_outbox().await;
                s.and(d.map(|_| ()))
            };
            tokio::pin!(work);
            let result = tokio::select! {
                r = &mut work => r,
                _ = &mut shutdown => {
                    self.begin_shutdown();
                    let _ = work.await;
                    break;
                }
            };
            let idle = match result {
                Ok(()) => {
                    failures = 0;
                    self.inner.settings.poll_interval
                }
                Err(e) => {
                    failures = failures.saturating_add(1);
                    tracing::warn!(error = %e, failures, "keeper round failed; retrying");
                    let wait = self.with_rng(|rng| ROUND_BACKOFF.delay(failures, rng));
                    self.inner.settings.poll_interval.min(wait)
                }
            };
            tokio::select! {
                _ = &mut shutdown => { self.begin_shutdown(); break; }
                _ = self.inner.wake.notified() => {}
                _ = tokio::time::sleep(idle) => {}
            }
        }
        tracing::info!(worker = %self.inner.settings.worker_id, "keeper stopped");
        Ok(())
    }

    /// Asks a running [`Keeper::run`] to stop (finishing in-flight work).
    pub fn shutdown(&self) {
        self.begin_shutdown();
        self.inner.wake.notify_waiters();
    }

    /// Wakes a running keeper before its poll interval ends (e.g. after a force refresh).
    pub fn wake(&self) {
        self.inner.wake.notify_waiters();
    }

    fn begin_shutdown(&self) {
        self.inner.shutting_down.store(true, Ordering::SeqCst);
    }

    /// Whether shutdown has begun.
    pub fn is_shutting_down(&self) -> bool {
        self.inner.shutting_down.load(Ordering::SeqCst)
    }

    fn with_rng<T>(&self, f: impl FnOnce(&mut SmallRng) -> T) -> T {
        let mut g = self.inner.rng.locked();
        f(&mut g)
    }
}

pub(crate) fn make_limiter(
    per_second: Option<std::num::NonZeroU32>,
) -> Option<DefaultDirectRateLimiter> {
    per_second.map(|n| RateLimiter::direct(Quota::per_second(n)))
}

pub(crate) fn config_err(msg: impl Into<String>) -> Error {
    Error::Config(msg.into())
}
