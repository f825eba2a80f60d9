//! Retries under a lease: while a sweep holds an account's lease, a result obtained from
//! the provider is kept in memory and its commit (or the re-read of a fenced-out result)
//! is tried again with [`COMMIT_BACKOFF`] for every store error not known to be
//! permanent, until the lease is lost or [`KeeperSettings::commit_retry_bound`](crate::KeeperSettings::commit_retry_bound)
//! has passed. The sweep's batch commits and the one write path ([`super::super::write`],
//! [`Guard::Lease`](super::super::write::Guard::Lease)) both use it.

use crate::sync::Locked;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::error::with_causes;
use crate::keeper::Keeper;
use crate::{AccountId, AccountRecord, Backoff, StoreError, Transition};

/// The leases a sweep holds: claimed accounts whose result is not committed yet, with
/// the version their commit is fenced on. The heartbeat renews exactly these.
pub(in crate::keeper) type Held = Arc<Mutex<HashMap<AccountId, i64>>>;

/// The waits between two attempts of a read or commit while the store is unavailable:
/// 50 ms doubling to 2 s, jittered (replicas that lost the database together do not
/// hammer it together when it comes back).
const COMMIT_BACKOFF: Backoff = Backoff::new(Duration::from_millis(50), Duration::from_secs(2));
/// How long commits are still retried once shutdown has begun.
const COMMIT_RETRY_AT_SHUTDOWN: Duration = Duration::from_secs(10);

impl Keeper {
    /// How long a result's commit is retried at most: `commit_retry_for`, never less than
    /// the lease (see [`KeeperBuilder::commit_retry_for`](crate::KeeperBuilder::commit_retry_for)).
    fn retry_bound(&self) -> Duration {
        self.inner.settings.commit_retry_bound()
    }

    /// Why a result whose commit (or re-read) failed with `e` is given up, for the log.
    pub(super) fn given_up_because(
        &self,
        e: &StoreError,
        id: AccountId,
        held: &Held,
    ) -> &'static str {
        if e.is_permanent() {
            "the store refused it for good"
        } else if !held.locked().contains_key(&id) {
            "the lease was lost: another keeper claimed the account"
        } else if self.is_shutting_down() {
            "the keeper is shutting down and the store stayed unavailable"
        } else {
            "the store stayed unavailable for longer than commit_retry_for"
        }
    }

    /// Whether a failed commit or re-read of `id` is tried again: its error is not known
    /// to be permanent (nor a fencing conflict, which `redo` handles) and the sweep still
    /// holds the account's lease.
    fn retriable(e: &StoreError, id: AccountId, held: &Held) -> bool {
        !e.is_permanent()
            && !matches!(e, StoreError::Conflict(_))
            && held.locked().contains_key(&id)
    }

    /// [`TokenStore::get`](crate::TokenStore::get) of an account whose commit was fenced,
    /// retried like a commit (see [`Keeper::commit_with_retry`]).
    pub(in crate::keeper) async fn get_with_retry(
        &self,
        id: AccountId,
        held: &Held,
    ) -> std::result::Result<Option<AccountRecord>, StoreError> {
        let mut retry = LeaseRetry::new(self.retry_bound());
        loop {
            let e = match self.inner.store.get(id).await {
                Err(e) if Self::retriable(&e, id, held) => e,
                other => return other,
            };
            tracing::warn!(account_id = %id, error = %with_causes(&e), "store unavailable; re-reading the account again");
            if !retry.again(self).await {
                return Err(e);
            }
        }
    }

    /// Commits a batch, keeping every result whose commit fails for a reason not known to
    /// be permanent and trying it again with backoff (50 ms doubling to 2 s) for as long
    /// as the sweep holds the account's lease: a result obtained from the Graph API is not
    /// given up while it can still be made durable.
    ///
    /// A result is given up only when its error is permanent
    /// ([`StoreError::is_permanent`]: the statement is refused and will be again), when
    /// its lease is lost (the heartbeat found another keeper holding the account), or
    /// after the outer bound ([`Keeper::retry_bound`]: `commit_retry_for`, never shorter
    /// than the lease; 10 s more once shutdown began). A heartbeat that fails during the
    /// outage cannot confirm the lease, which is not the same as losing it: the commit is
    /// still tried, and its version fence refuses it ([`StoreError::Conflict`]) if
    /// another keeper took the account over and committed meanwhile.
    pub(in crate::keeper) async fn commit_with_retry(
        &self,
        ts: &[Transition],
        held: &Held,
    ) -> Vec<std::result::Result<(), StoreError>> {
        let timer = crate::telemetry::start();
        let mut results = self.commit_many_fanned(ts).await;
        crate::telemetry::since("lightwidget_commit_duration_seconds", timer);
        let mut backoff = LeaseRetry::new(self.retry_bound());
        loop {
            let retry: Vec<usize> = results
                .iter()
                .enumerate()
                .filter(|(i, r)| {
                    r.as_ref()
                        .is_err_and(|e| Self::retriable(e, ts[*i].account.id, held))
                })
                .map(|(i, _)| i)
                .collect();
            if retry.is_empty() {
                break;
            }
            let attempt = backoff.attempt;
            if attempt == 1 || attempt.is_power_of_two() {
                let e = results[retry[0]]
                    .as_ref()
                    .err()
                    .map(|e| with_causes(e))
                    .unwrap_or_default();
                tracing::warn!(pending = retry.len(), attempt, error = %e, "store unavailable; keeping the results and retrying the commit");
            }
            if !backoff.again(self).await {
                break;
            }
            let subset: Vec<Transition> = retry.iter().map(|&i| ts[i].clone()).collect();
            let again = self.commit_many_fanned(&subset).await;
            for (i, r) in retry.into_iter().zip(again) {
                results[i] = r;
            }
        }
        results
    }
}

/// The waits between attempts of a write the store refused for a while: [`COMMIT_BACKOFF`], for up to `bound` (and at most
/// [`COMMIT_RETRY_AT_SHUTDOWN`] once shutdown began).
struct LeaseRetry {
    started: tokio::time::Instant,
    bound: Duration,
    shutdown_deadline: Option<tokio::time::Instant>,
    attempt: u32,
}

impl LeaseRetry {
    fn new(bound: Duration) -> Self {
        Self {
            started: tokio::time::Instant::now(),
            bound,
            shutdown_deadline: None,
            attempt: 1,
        }
    }

    /// Waits before the next attempt; `false` (at once) when the time is up.
    async fn again(&mut self, k: &Keeper) -> bool {
        let now = tokio::time::Instant::now();
        if now.duration_since(self.started) >= self.bound {
            return false;
        }
        if k.is_shutting_down() {
            let d = *self
                .shutdown_deadline
                .get_or_insert(now + COMMIT_RETRY_AT_SHUTDOWN);
            if now >= d {
                return false;
            }
        }
        let delay = k.with_rng(|rng| COMMIT_BACKOFF.delay(self.attempt, rng));
        tokio::time::sleep(delay).await;
        self.attempt += 1;
        true
    }
}
