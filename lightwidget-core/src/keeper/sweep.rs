use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::mpsc;
use tracing::Instrument;

use super::Keeper;
use super::stats::bump;
use crate::error::with_causes;
use crate::lifecycle::{self, Observation};
use crate::{
    AccountId, AccountRecord, Action, Error, Outcome, Result, StoreError, Token, Transition,
};

/// The leases a sweep holds: claimed accounts whose result is not committed yet, with
/// the version their commit is fenced on. The heartbeat renews exactly these.
type Held = Arc<Mutex<HashMap<AccountId, i64>>>;

fn held_lock(h: &Held) -> std::sync::MutexGuard<'_, HashMap<AccountId, i64>> {
    h.lock().unwrap_or_else(|p| p.into_inner())
}

/// Longest wait between two commit attempts while the store is unavailable.
const COMMIT_RETRY_MAX_DELAY: Duration = Duration::from_secs(2);
/// How long commits are still retried once shutdown has begun.
const COMMIT_RETRY_AT_SHUTDOWN: Duration = Duration::from_secs(10);
/// How many times a result fenced out by a concurrent write is worked out again on the
/// fresh record before it is given up (each attempt is one read and one commit).
const REDO_ATTEMPTS: usize = 4;

/// What one sweep did.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct SweepReport {
    /// Accounts claimed.
    pub claimed: usize,
    /// Refreshed.
    pub refreshed: usize,
    /// Checked.
    pub checked: usize,
    /// Newly expired or revoked.
    pub ended: usize,
    /// Failures to retry later.
    pub retries: usize,
    /// Commits refused by fencing.
    pub conflicts: usize,
    /// Claimed accounts whose leases were handed back unprocessed at shutdown
    /// (`claimed` = the processed ones + `released`).
    pub released: usize,
    /// Accounts held instead of ended (an ambiguous error awaiting its confirming
    /// re-check, an app-wide incident).
    pub held: usize,
}

impl Keeper {
    /// Processes every account due now and returns what happened. Each account is
    /// handled on its own: one failure never fails the batch.
    ///
    /// Three stages overlap, so the provider calls never wait for the database: claims
    /// (batches of `batch_size`, taken as the call pipeline drains), provider calls
    /// (`concurrency` in flight across batch boundaries) and commits (a separate task
    /// writing chunks of up to `batch_size` transitions with `commit_many`).
    pub async fn sweep(&self) -> Result<SweepReport> {
        let inner = &self.inner;
        let started = crate::telemetry::start();
        self.sync_incidents().await;
        let held: Held = Arc::default();
        let heartbeat = tokio::spawn({
            let k = self.clone();
            let held = held.clone();
            async move { k.heartbeat(held).await }
        });
        let (commit_tx, commit_rx) = mpsc::channel::<Done>(inner.batch_size * 2);
        let committer = tokio::spawn({
            let k = self.clone();
            let held = held.clone();
            async move { k.commit_stage(commit_rx, held).await }
        });
        // Claims run in their own task, one batch ahead of the calls, so the call
        // pipeline never waits for the database between batches.
        let (claim_tx, mut claim_rx) = mpsc::channel::<AccountRecord>(inner.batch_size);
        let claimer = tokio::spawn({
            let k = self.clone();
            let held = held.clone();
            async move { k.claim_stage(claim_tx, held).await }
        });
        let claimed = futures::stream::poll_fn(move |cx| claim_rx.poll_recv(cx));
        let mut released = 0;
        {
            let mut calls = std::pin::pin!(
                claimed
                    .map(|rec| self.process_one(rec))
                    .buffer_unordered(inner.concurrency)
            );
            while let Some(processed) = calls.next().await {
                match processed {
                    Processed::Done(done) => {
                        if commit_tx.send(done).await.is_err() {
                            break; // the commit stage died: its error is reported below
                        }
                    }
                    Processed::Released(id) => {
                        held_lock(&held).remove(&id);
                        released += 1;
                    }
                }
            }
        }
        // The calls are gone, and with them the claim receiver, so the claimer cannot
        // wait on a full channel; closing the commit channel ends the commit stage.
        drop(commit_tx);
        let claimed = claimer
            .await
            .map_err(|e| Error::internal("the claim stage of a sweep", e))?;
        let committed = committer.await;
        heartbeat.abort();
        let mut report =
            committed.map_err(|e| Error::internal("the commit stage of a sweep", e))?;
        report.claimed = claimed?;
        report.released = released;
        self.review_incidents().await;
        let at = inner.clock.now();
        inner
            .store
            .record_sweep(&inner.worker_id, at)
            .await
            .map_err(Error::Store)?;
        bump(&inner.counters.sweeps);
        crate::telemetry::since("lightwidget_sweep_duration_seconds", started);
        crate::telemetry::sweep_done(report.claimed, at);
        *inner
            .counters
            .last_sweep_at
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(at);
        Ok(report)
    }

    /// The claim stage: claims batches of due accounts until none is left (or shutdown
    /// begins) and hands them to the calls one by one. Returns how many it handed over.
    async fn claim_stage(
        &self,
        to_calls: mpsc::Sender<AccountRecord>,
        held: Held,
    ) -> Result<usize> {
        let inner = &self.inner;
        let mut seen = HashSet::new();
        let mut claimed = 0;
        while !self.is_shutting_down() {
            let now = inner.clock.now();
            let started = crate::telemetry::start();
            let batch = inner
                .store
                .claim_due(now, inner.batch_size, inner.lease, &inner.worker_id)
                .await
                .map_err(|e| {
                    crate::telemetry::store_error("claim");
                    Error::Store(e)
                })?;
            crate::telemetry::since("lightwidget_claim_duration_seconds", started);
            let last = batch.len() < inner.batch_size;
            let mut fresh = 0;
            for r in batch {
                if !seen.insert(r.account.id) {
                    // Due again within the same sweep: leave it for the next one.
                    let _ = inner.store.release(r.account.id, r.version).await;
                    continue;
                }
                let (id, version) = (r.account.id, r.version);
                held_lock(&held).insert(id, version);
                if to_calls.send(r).await.is_err() {
                    held_lock(&held).remove(&id);
                    let _ = inner.store.release(id, version).await;
                    return Ok(claimed); // the calls stopped
                }
                fresh += 1;
                claimed += 1;
            }
            if last || fresh == 0 {
                break;
            }
        }
        Ok(claimed)
    }

    /// Renews the leases of every account the sweep still works on, every third of the
    /// lease, until the sweep ends (it is aborted then). A lease found lost is logged;
    /// its account's commit will be refused by fencing.
    async fn heartbeat(&self, held: Held) {
        let inner = &self.inner;
        let every = (inner.lease / 3).max(Duration::from_millis(100));
        loop {
            tokio::time::sleep(every).await;
            let leases: Vec<(AccountId, i64)> =
                held_lock(&held).iter().map(|(id, v)| (*id, *v)).collect();
            if leases.is_empty() {
                continue;
            }
            let until = crate::time::plus_std(inner.clock.now(), inner.lease);
            match inner.store.extend_leases(&leases, until).await {
                Ok(kept) => {
                    for ((id, _), kept) in leases.iter().zip(kept) {
                        if !kept {
                            held_lock(&held).remove(id);
                            tracing::warn!(account_id = %id, "lease lost: another keeper claimed the account meanwhile; this keeper's result for it will not be committed");
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(leases = leases.len(), error = %with_causes(&e), "could not renew leases; trying again at the next heartbeat");
                }
            }
        }
    }

    async fn commit_stage(
        &self,
        mut rx: tokio::sync::mpsc::Receiver<Done>,
        held: Held,
    ) -> SweepReport {
        let mut report = SweepReport::default();
        let want = self.inner.batch_size;
        let linger = self.inner.commit_linger;
        let mut chunk = Vec::with_capacity(want);
        while rx.recv_many(&mut chunk, want).await > 0 {
            // Group commit: wait briefly for a fuller batch (see `commit_linger`). The
            // channel closes when the last call ends, which ends the wait at once.
            if chunk.len() < want && !linger.is_zero() {
                let deadline = tokio::time::Instant::now() + linger;
                while chunk.len() < want {
                    let room = want - chunk.len();
                    match tokio::time::timeout_at(deadline, rx.recv_many(&mut chunk, room)).await {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {}
                    }
                }
            }
            let (ts, redos): (Vec<Transition>, Vec<Redo>) =
                chunk.drain(..).map(|d| (d.transition, d.redo)).unzip();
            self.record(&ts, &redos, &mut report, &held).await;
            // Committed for good or given up: no lease left to renew.
            let mut h = held_lock(&held);
            for t in &ts {
                h.remove(&t.account.id);
            }
        }
        report
    }

    async fn record(
        &self,
        transitions: &[Transition],
        redos: &[Redo],
        report: &mut SweepReport,
        held: &Held,
    ) {
        if transitions.is_empty() {
            return;
        }
        let mut results = self.commit_with_retry(transitions, held).await;
        // A commit fenced out because the account was written meanwhile (a gateway call's
        // last-check write, a host's `observe`, an expired lease taken over) is worked out
        // again on the fresh record: a result obtained from the Graph API is not dropped
        // while it can still be made durable.
        let mut redone: Vec<Option<Transition>> = Vec::new();
        for (i, r) in results.iter_mut().enumerate() {
            if matches!(r, Err(StoreError::Conflict(_)))
                && let Some(t) = self.redo(&transitions[i], &redos[i], held).await
            {
                if redone.is_empty() {
                    redone.resize_with(transitions.len(), || None);
                }
                redone[i] = Some(t);
                *r = Ok(());
            }
        }
        self.inner
            .gateway
            .refreshes_end(transitions.iter().map(Transition::account_id));
        for (i, (t, r)) in transitions.iter().zip(results).enumerate() {
            let t = redone.get(i).and_then(Option::as_ref).unwrap_or(t);
            match r {
                Ok(()) => {
                    self.inner.counters.count(t.outcome);
                    if let Outcome::Expired(reason) = &t.outcome {
                        crate::telemetry::expiry(reason);
                    } else if t.outcome == Outcome::Revoked {
                        crate::telemetry::expiry(&crate::ExpiryReason::AppRemoved);
                    }
                    match t.outcome {
                        Outcome::Refreshed => report.refreshed += 1,
                        Outcome::Checked => report.checked += 1,
                        Outcome::Expired(_) | Outcome::Revoked => {
                            report.ended += 1;
                            tracing::info!(account_id = %t.account.id, status = ?t.state.status, "token ended");
                        }
                        Outcome::Retry => report.retries += 1,
                        Outcome::Held => report.held += 1,
                        _ => {}
                    }
                    self.call_hook(t).await;
                }
                Err(StoreError::Conflict(id)) => {
                    report.conflicts += 1;
                    bump(&self.inner.counters.conflicts);
                    crate::telemetry::conflict();
                    tracing::debug!(account_id = %id, "commit fenced: account changed meanwhile");
                }
                Err(e) => {
                    bump(&self.inner.counters.store_errors);
                    crate::telemetry::store_error("commit");
                    let why = self.given_up_because(&e, t.account.id, held);
                    tracing::error!(account_id = %t.account.id, outcome = ?t.outcome, error = %with_causes(&e), why, "commit failed for good; this result is dropped and the account is worked again when its lease ends");
                }
            }
        }
    }

    /// Applies a fenced-out result's observation again to the account's fresh record and
    /// commits that, fenced on the fresh version (a few times, if the account keeps
    /// changing). Not when the token the provider call was made with is no longer the
    /// stored one (a reconnect, another keeper's refresh committed first): the answer is
    /// about a token that is gone. The lifecycle decides the rest (an account that ended
    /// meanwhile is not revived by a late refresh). Returns the committed transition.
    async fn redo(&self, stale: &Transition, redo: &Redo, held: &Held) -> Option<Transition> {
        let inner = &self.inner;
        let id = stale.account.id;
        for _ in 0..REDO_ATTEMPTS {
            let fresh = match self.get_with_retry(id, held).await {
                Ok(Some(r)) => r,
                Ok(None) => return None,
                Err(e) => {
                    let why = self.given_up_because(&e, id, held);
                    tracing::error!(account_id = %id, error = %with_causes(&e), why, "could not re-read an account whose commit was fenced; this result is dropped and the account is worked again when due");
                    return None;
                }
            };
            if !fresh.state.token.same_value(&redo.used) {
                tracing::debug!(account_id = %id, "commit fenced: the token was replaced meanwhile; this result is about the old one");
                return None;
            }
            let now = inner.clock.now();
            let t = self.with_rng(|rng| {
                lifecycle::apply(&fresh, redo.obs.clone(), now, &inner.policy, rng)
            });
            if t.is_noop() {
                return None;
            }
            match self
                .commit_with_retry(std::slice::from_ref(&t), held)
                .await
                .pop()
            {
                Some(Ok(())) => {
                    tracing::debug!(account_id = %id, outcome = ?t.outcome, "commit fenced: applied again to the account's fresh record");
                    return Some(t);
                }
                Some(Err(StoreError::Conflict(_))) => continue,
                Some(Err(e)) => {
                    let why = self.given_up_because(&e, id, held);
                    tracing::error!(account_id = %id, outcome = ?t.outcome, error = %with_causes(&e), why, "commit failed for good; this result is dropped and the account is worked again when due");
                    return None;
                }
                None => return None,
            }
        }
        None
    }

    /// How long a result's commit is retried at most: `commit_retry_for`, never less than
    /// the lease (see [`KeeperBuilder::commit_retry_for`](crate::KeeperBuilder::commit_retry_for)).
    fn retry_bound(&self) -> Duration {
        self.inner.commit_retry_for.max(self.inner.lease)
    }

    /// Why a result whose commit (or re-read) failed with `e` is given up, for the log.
    fn given_up_because(&self, e: &StoreError, id: AccountId, held: &Held) -> &'static str {
        if e.is_permanent() {
            "the store refused it for good"
        } else if !held_lock(held).contains_key(&id) {
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
            && held_lock(held).contains_key(&id)
    }

    /// [`TokenStore::get`](crate::TokenStore::get) of an account whose commit was fenced,
    /// retried like a commit (see [`Keeper::commit_with_retry`]).
    async fn get_with_retry(
        &self,
        id: AccountId,
        held: &Held,
    ) -> std::result::Result<Option<AccountRecord>, StoreError> {
        let mut retry = Backoff::new(self.retry_bound());
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
    async fn commit_with_retry(
        &self,
        ts: &[Transition],
        held: &Held,
    ) -> Vec<Result<(), StoreError>> {
        let timer = crate::telemetry::start();
        let mut results = self.inner.store.commit_many(ts).await;
        crate::telemetry::since("lightwidget_commit_duration_seconds", timer);
        let mut backoff = Backoff::new(self.retry_bound());
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
            let again = self.inner.store.commit_many(&subset).await;
            for (i, r) in retry.into_iter().zip(again) {
                results[i] = r;
            }
        }
        results
    }

    /// One claimed account: the provider call its due action needs, then the lifecycle.
    async fn process_one(&self, rec: AccountRecord) -> Processed {
        let inner = &self.inner;
        if self.is_shutting_down() {
            let _ = inner.store.release(rec.account.id, rec.version).await;
            return Processed::Released(rec.account.id);
        }
        let now = inner.clock.now();
        let action = inner.policy.due_action(&rec.state, now);
        let span = tracing::debug_span!(
            "lightwidget.account",
            account_id = %rec.account.id,
            kind = %rec.account.kind,
            action = ?action,
        );
        async move {
            // A held account without a probe permit is looked at again later, no call.
            let parked = match action {
                Action::Lapse => None,
                _ => self.without_probe(&rec, action),
            };
            let obs = match (parked, action) {
                (Some(obs), _) => obs,
                (None, Action::Lapse) => Observation::Lapsed,
                (None, Action::Refresh) => {
                    // Gateway calls for this account wait for the new token (`record`).
                    inner.gateway.refresh_begins(rec.account.id);
                    self.throttle().await;
                    let started = crate::telemetry::start();
                    let r = inner.provider.refresh(&rec.account, &rec.state.token).await;
                    if let Some(s) = started {
                        crate::telemetry::provider_call(
                            rec.account.kind,
                            "refresh",
                            &r,
                            s.elapsed(),
                        );
                    }
                    match r {
                        Ok(t) => {
                            self.note_success(&rec).await;
                            Observation::Refreshed(t)
                        }
                        Err(e) => self.judge_failure(&rec, e).await,
                    }
                }
                (None, Action::Check) => {
                    self.throttle().await;
                    let started = crate::telemetry::start();
                    let r = inner.provider.check(&rec.account, &rec.state.token).await;
                    if let Some(s) = started {
                        crate::telemetry::provider_call(rec.account.kind, "check", &r, s.elapsed());
                    }
                    match r {
                        Ok(info) => {
                            self.note_success(&rec).await;
                            Observation::Checked(info)
                        }
                        Err(e) => self.judge_failure(&rec, e).await,
                    }
                }
            };
            if let Observation::Failed(e) = &obs {
                tracing::debug!(class = e.class(), error = %e, "provider call failed");
            }
            let now = inner.clock.now();
            // Kept in case the commit is fenced out by a concurrent write (`redo`).
            let redo = Redo {
                used: rec.state.token.clone(),
                obs: obs.clone(),
            };
            let t = self.with_rng(|rng| lifecycle::apply_owned(rec, obs, now, &inner.policy, rng));
            Processed::Done(Done {
                transition: t,
                redo,
            })
        }
        .instrument(span)
        .await
    }

    async fn throttle(&self) {
        if let Some(l) = &self.inner.limiter {
            l.until_ready().await;
        }
    }
}

/// The waits between attempts of a write the store refused for a while: 50 ms doubling
/// to [`COMMIT_RETRY_MAX_DELAY`], for up to `bound` (and at most
/// [`COMMIT_RETRY_AT_SHUTDOWN`] once shutdown began).
struct Backoff {
    started: tokio::time::Instant,
    bound: Duration,
    shutdown_deadline: Option<tokio::time::Instant>,
    delay: Duration,
    attempt: u32,
}

impl Backoff {
    fn new(bound: Duration) -> Self {
        Self {
            started: tokio::time::Instant::now(),
            bound,
            shutdown_deadline: None,
            delay: Duration::from_millis(50),
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
        tokio::time::sleep(self.delay).await;
        self.delay = (self.delay * 2).min(COMMIT_RETRY_MAX_DELAY);
        self.attempt += 1;
        true
    }
}

/// What became of one claimed account.
#[allow(
    clippy::large_enum_variant,
    reason = "moved once per account; boxing would allocate per account on the hot path"
)]
enum Processed {
    /// Worked on: the transition to commit.
    Done(Done),
    /// Handed back unprocessed: shutdown began before its turn.
    Released(AccountId),
}

/// A worked account on its way to the commit stage.
struct Done {
    transition: Transition,
    redo: Redo,
}

/// What it takes to work a result out again if its commit is fenced out: the token the
/// provider call was made with, and what the call observed.
struct Redo {
    used: Token,
    obs: Observation,
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::{DateTime, TimeDelta, TimeZone, Utc};

    use crate::ports::{MockTokenProvider, MockTokenStore};
    use crate::*;

    fn keeper(store: Arc<dyn TokenStore>, provider: MockTokenProvider) -> Keeper {
        let now = Utc.with_ymd_and_hms(2026, 5, 1, 0, 0, 0).unwrap();
        Keeper::builder(store, Arc::new(provider))
            .clock(Arc::new(ManualClock::new(now)))
            .rng_seed(1)
            .build()
            .unwrap()
    }

    #[tokio::test]
    async fn a_young_token_is_checked_not_refreshed() {
        let now = Utc.with_ymd_and_hms(2026, 5, 1, 0, 0, 0).unwrap();
        let store = Arc::new(InMemoryStore::new());
        let account = NewAccount::new("o", ConnectionKind::Consumer, "1", "u").into_account();
        let token = Token::new("t", now - TimeDelta::days(3)).expiring_in(60 * 86_400);
        let mut state = TokenState::connected(token, now);
        state.next_action_at = Some(now);
        let rec = AccountRecord {
            account,
            state,
            version: 0,
        };
        store.insert(&rec, &[]).await.unwrap();
        let mut p = MockTokenProvider::new();
        p.expect_refresh().never();
        p.expect_check()
            .times(1)
            .returning(|_, _| Ok(CheckInfo::default()));
        let k = keeper(store.clone(), p);
        let r = k.sweep().await.unwrap();
        assert_eq!((r.claimed, r.checked, r.refreshed), (1, 1, 0));
    }

    /// Account `i`, due `now`, its 40-day-old token in the refresh window.
    fn due_record(i: usize, now: DateTime<Utc>, version: i64) -> AccountRecord {
        let account =
            NewAccount::new("o", ConnectionKind::Consumer, format!("{i}"), "u").into_account();
        let token = Token::new(format!("t{i}"), now - TimeDelta::days(40))
            .expiring_at(now + TimeDelta::days(20));
        let mut state = TokenState::connected(token, now - TimeDelta::days(40));
        state.next_action_at = Some(now);
        AccountRecord {
            account,
            state,
            version,
        }
    }

    /// Shuts the keeper down from inside its first provider call.
    struct StopOnFirstCall(Arc<std::sync::OnceLock<Keeper>>, DateTime<Utc>);

    #[async_trait::async_trait]
    impl TokenProvider for StopOnFirstCall {
        async fn refresh(&self, _: &Account, _: &Token) -> Result<Token, ProviderError> {
            if let Some(k) = self.0.get() {
                k.shutdown();
            }
            Ok(Token::new("renewed", self.1).expiring_in(60 * 86_400))
        }
        async fn check(&self, _: &Account, _: &Token) -> Result<CheckInfo, ProviderError> {
            if let Some(k) = self.0.get() {
                k.shutdown();
            }
            Ok(CheckInfo::default())
        }
    }

    #[tokio::test]
    async fn a_shutdown_mid_sweep_releases_the_unstarted_leases_and_counts_them() {
        let now = Utc.with_ymd_and_hms(2026, 5, 1, 0, 0, 0).unwrap();
        let store = Arc::new(InMemoryStore::new());
        for i in 0..10 {
            store.insert(&due_record(i, now, 0), &[]).await.unwrap();
        }
        let cell = Arc::new(std::sync::OnceLock::new());
        let k = Keeper::builder(store.clone(), Arc::new(StopOnFirstCall(cell.clone(), now)))
            .clock(Arc::new(ManualClock::new(now)))
            .concurrency(1)
            .batch_size(20)
            .rng_seed(1)
            .build()
            .unwrap();
        cell.set(k.clone()).ok();
        let r = k.sweep().await.unwrap();
        assert_eq!(r.claimed, 10, "{r:?}");
        assert_eq!(
            r.refreshed + r.checked,
            1,
            "only the call in flight ran: {r:?}"
        );
        assert_eq!(r.released, 9, "the rest were handed back: {r:?}");
        let again = store
            .claim_due(now, 100, std::time::Duration::from_secs(60), "other")
            .await
            .unwrap();
        assert_eq!(
            again.len(),
            9,
            "and are claimable at once by another keeper"
        );
    }

    /// Answers account `i` after `i` ms (of tokio's clock).
    struct Staggered(DateTime<Utc>);

    #[async_trait::async_trait]
    impl TokenProvider for Staggered {
        async fn refresh(&self, a: &Account, _: &Token) -> Result<Token, ProviderError> {
            let ms = a.ig_user_id.parse::<u64>().unwrap_or(0);
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
            Ok(Token::new("renewed", self.0).expiring_in(60 * 86_400))
        }
        async fn check(&self, _: &Account, _: &Token) -> Result<CheckInfo, ProviderError> {
            Ok(CheckInfo::default())
        }
    }

    /// One sweep of 100 accounts whose refreshes end 1 ms apart: the sizes of the
    /// `commit_many` calls and the (tokio) time the sweep took.
    async fn commit_sizes(
        linger: std::time::Duration,
        batch: usize,
    ) -> (Vec<usize>, std::time::Duration) {
        let now = Utc.with_ymd_and_hms(2026, 5, 1, 0, 0, 0).unwrap();
        let recs: Vec<AccountRecord> = (1..=100).map(|i| due_record(i, now, 1)).collect();
        let sizes = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut s = MockTokenStore::new();
        s.expect_incidents().returning(|_, _| Ok(vec![]));
        let mut first = Some(recs);
        s.expect_claim_due()
            .returning(move |_, _, _, _| Ok(first.take().unwrap_or_default()));
        let seen = sizes.clone();
        s.expect_commit_many().returning(move |ts| {
            seen.lock().unwrap().push(ts.len());
            ts.iter().map(|_| Ok(())).collect()
        });
        s.expect_record_sweep().returning(|_, _| Ok(()));
        let k = Keeper::builder(Arc::new(s), Arc::new(Staggered(now)))
            .clock(Arc::new(ManualClock::new(now)))
            .concurrency(100)
            .batch_size(batch)
            .commit_linger(linger)
            .rng_seed(1)
            .build()
            .unwrap();
        let t = tokio::time::Instant::now();
        let r = k.sweep().await.unwrap();
        assert_eq!(r.refreshed, 100, "{r:?}");
        let sizes = sizes.lock().unwrap().clone();
        assert_eq!(sizes.iter().sum::<usize>(), 100, "{sizes:?}");
        (sizes, t.elapsed())
    }

    #[tokio::test(start_paused = true)]
    async fn the_commit_stage_waits_briefly_to_fill_a_batch() {
        use std::time::Duration;
        // No wait: a commit per result or two.
        let (eager, _) = commit_sizes(Duration::ZERO, 100).await;
        assert!(eager.len() >= 50, "{} commits: {eager:?}", eager.len());
        // 40 ms: results of ~40 ms per commit.
        let (grouped, _) = commit_sizes(Duration::from_millis(40), 100).await;
        assert!(
            (2..=4).contains(&grouped.len()),
            "{} commits: {grouped:?}",
            grouped.len()
        );
        // A full batch is written without waiting out the linger, and the last results
        // as soon as the last call ends: a 10 s linger costs nothing here.
        let (full, took) = commit_sizes(Duration::from_secs(10), 50).await;
        assert_eq!(full, vec![50, 50]);
        assert!(took < Duration::from_millis(500), "{took:?}");
        let (tail, took) = commit_sizes(Duration::from_secs(10), 1000).await;
        assert_eq!(tail, vec![100]);
        assert!(took < Duration::from_millis(500), "{took:?}");
    }

    #[tokio::test]
    async fn a_store_outage_is_a_typed_transient_error() {
        let mut s = MockTokenStore::new();
        s.expect_incidents().returning(|_, _| Ok(vec![]));
        s.expect_claim_due().returning(|_, _, _, _| {
            Err(StoreError::Unavailable {
                message: "connection refused".into(),
                source: None,
            })
        });
        let mut p = MockTokenProvider::new();
        p.expect_refresh().never();
        p.expect_check().never();
        let err = keeper(Arc::new(s), p).sweep().await.unwrap_err();
        assert!(err.is_transient(), "{err:?}");
        assert!(err.to_string().contains("connection refused"));
    }

    #[tokio::test]
    async fn a_panic_in_the_commit_stage_is_an_internal_error() {
        let now = Utc.with_ymd_and_hms(2026, 5, 1, 0, 0, 0).unwrap();
        let mut s = MockTokenStore::new();
        s.expect_incidents().returning(|_, _| Ok(vec![]));
        let mut first = Some(vec![due_record(1, now, 1)]);
        s.expect_claim_due()
            .returning(move |_, _, _, _| Ok(first.take().unwrap_or_default()));
        s.expect_commit_many().returning(|_| panic!("a store bug"));
        s.expect_record_sweep().never();
        let k = Keeper::builder(Arc::new(s), Arc::new(Staggered(now)))
            .clock(Arc::new(ManualClock::new(now)))
            .rng_seed(1)
            .build()
            .unwrap();
        let err = k.sweep().await.unwrap_err();
        assert!(matches!(err, Error::Internal { .. }), "{err:?}");
        assert!(!err.is_transient());
        assert!(err.to_string().contains("commit stage"), "{err}");
    }

    /// A database outage of 10 s (longer than the old three retries, shorter than
    /// `commit_retry_for`): every refreshed token is kept and committed when the store
    /// is back, and the heartbeat renews the leases meanwhile.
    #[tokio::test(start_paused = true)]
    async fn a_ten_second_outage_drops_no_refreshed_token_and_the_leases_are_renewed() {
        let now = Utc.with_ymd_and_hms(2026, 5, 1, 0, 0, 0).unwrap();
        let mut s = MockTokenStore::new();
        s.expect_incidents().returning(|_, _| Ok(vec![]));
        let mut first = Some((1..=20).map(|i| due_record(i, now, 1)).collect::<Vec<_>>());
        s.expect_claim_due()
            .returning(move |_, _, _, _| Ok(first.take().unwrap_or_default()));
        let outage_ends = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        let attempts = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let a = attempts.clone();
        s.expect_commit_many().returning(move |ts| {
            a.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if tokio::time::Instant::now() < outage_ends {
                StoreError::Unavailable {
                    message: "connection refused".into(),
                    source: None,
                }
                .for_batch(ts.len())
            } else {
                ts.iter().map(|_| Ok(())).collect()
            }
        });
        let renewed = Arc::new(std::sync::Mutex::new(Vec::new()));
        let r2 = renewed.clone();
        s.expect_extend_leases().returning(move |leases, _| {
            r2.lock().unwrap().push(leases.len());
            Ok(leases.iter().map(|_| true).collect())
        });
        s.expect_record_sweep().returning(|_, _| Ok(()));
        let k = Keeper::builder(Arc::new(s), Arc::new(Staggered(now)))
            .clock(Arc::new(ManualClock::new(now)))
            .batch_size(20)
            .lease(std::time::Duration::from_secs(3))
            .rng_seed(1)
            .build()
            .unwrap();
        let r = k.sweep().await.unwrap();
        assert_eq!(r.refreshed, 20, "no result dropped: {r:?}");
        assert_eq!(k.stats().store_errors, 0, "{r:?}");
        assert!(attempts.load(std::sync::atomic::Ordering::Relaxed) > 3);
        let renewed = renewed.lock().unwrap();
        assert!(
            renewed.len() >= 3 && renewed.iter().all(|n| *n == 20),
            "the 20 leases were renewed every second of the outage: {renewed:?}"
        );
    }

    /// When the outage outlasts `commit_retry_for` (here longer than the 60 s lease), the
    /// results are given up (logged with the account id) instead of retrying forever.
    #[tokio::test(start_paused = true)]
    async fn an_outage_longer_than_commit_retry_for_gives_up() {
        let now = Utc.with_ymd_and_hms(2026, 5, 1, 0, 0, 0).unwrap();
        let mut s = MockTokenStore::new();
        s.expect_incidents().returning(|_, _| Ok(vec![]));
        let mut first = Some((1..=3).map(|i| due_record(i, now, 1)).collect::<Vec<_>>());
        s.expect_claim_due()
            .returning(move |_, _, _, _| Ok(first.take().unwrap_or_default()));
        s.expect_commit_many().returning(|ts| {
            StoreError::Unavailable {
                message: "connection refused".into(),
                source: None,
            }
            .for_batch(ts.len())
        });
        s.expect_extend_leases()
            .returning(|leases, _| Ok(leases.iter().map(|_| true).collect()));
        s.expect_record_sweep().returning(|_, _| Ok(()));
        let k = Keeper::builder(Arc::new(s), Arc::new(Staggered(now)))
            .clock(Arc::new(ManualClock::new(now)))
            .commit_retry_for(std::time::Duration::from_secs(90))
            .rng_seed(1)
            .build()
            .unwrap();
        let started = tokio::time::Instant::now();
        let r = k.sweep().await.unwrap();
        assert_eq!(r.refreshed, 0);
        assert_eq!(k.stats().store_errors, 3);
        let took = started.elapsed();
        assert!(
            took >= std::time::Duration::from_secs(90) && took < std::time::Duration::from_secs(95),
            "{took:?}"
        );
    }

    /// What one sweep of `n` due accounts did when `commit_many` fails with `fail(i)` on
    /// its attempts before `until` (tokio time from the start) and the heartbeat answers
    /// `heartbeat(attempt)`: the report, the keeper's store error count, the commit
    /// attempts and the (tokio) time the sweep took.
    async fn sweep_through_failing_commits(
        n: usize,
        until: std::time::Duration,
        fail: fn() -> StoreError,
        heartbeat: fn(usize) -> Result<bool, StoreError>,
        settings: impl FnOnce(crate::KeeperBuilder) -> crate::KeeperBuilder,
    ) -> (SweepReport, u64, usize, std::time::Duration) {
        let now = Utc.with_ymd_and_hms(2026, 5, 1, 0, 0, 0).unwrap();
        let mut s = MockTokenStore::new();
        s.expect_incidents().returning(|_, _| Ok(vec![]));
        let mut first = Some((1..=n).map(|i| due_record(i, now, 1)).collect::<Vec<_>>());
        s.expect_claim_due()
            .returning(move |_, _, _, _| Ok(first.take().unwrap_or_default()));
        let started = tokio::time::Instant::now();
        let attempts = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let a = attempts.clone();
        s.expect_commit_many().returning(move |ts| {
            a.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if started.elapsed() < until {
                fail().for_batch(ts.len())
            } else {
                ts.iter().map(|_| Ok(())).collect()
            }
        });
        let beats = std::sync::atomic::AtomicUsize::new(0);
        s.expect_extend_leases().returning(move |leases, _| {
            let b = beats.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let kept = heartbeat(b)?;
            Ok(leases.iter().map(|_| kept).collect())
        });
        s.expect_record_sweep().returning(|_, _| Ok(()));
        let b = Keeper::builder(Arc::new(s), Arc::new(Staggered(now)))
            .clock(Arc::new(ManualClock::new(now)))
            .batch_size(n)
            .rng_seed(1);
        let k = settings(b).build().unwrap();
        let r = k.sweep().await.unwrap();
        let attempts = attempts.load(std::sync::atomic::Ordering::Relaxed);
        (r, k.stats().store_errors, attempts, started.elapsed())
    }

    fn unknown_class() -> StoreError {
        StoreError::Backend {
            message: "encountered unexpected or invalid data".into(),
            source: None,
        }
    }

    fn down() -> StoreError {
        StoreError::Unavailable {
            message: "database \"lw\" is not currently accepting connections".into(),
            source: None,
        }
    }

    /// A result fenced out by a concurrent write is worked out again on the fresh record;
    /// when re-reading that record fails for a while (the store went down meanwhile), the
    /// re-read is retried like a commit instead of dropping the result.
    #[tokio::test(start_paused = true)]
    async fn a_fenced_result_survives_a_re_read_that_fails_for_a_while() {
        let now = Utc.with_ymd_and_hms(2026, 5, 1, 0, 0, 0).unwrap();
        let rec = due_record(1, now, 1);
        let id = rec.account.id;
        let mut fresh = rec.clone();
        fresh.version = 2;
        let mut s = MockTokenStore::new();
        s.expect_incidents().returning(|_, _| Ok(vec![]));
        let mut first = Some(vec![rec]);
        s.expect_claim_due()
            .returning(move |_, _, _, _| Ok(first.take().unwrap_or_default()));
        let commits = std::sync::atomic::AtomicUsize::new(0);
        s.expect_commit_many().returning(move |ts| {
            if commits.fetch_add(1, std::sync::atomic::Ordering::Relaxed) == 0 {
                vec![Err(StoreError::Conflict(id))]
            } else {
                assert_eq!(ts[0].expected_version, 2, "fenced on the fresh version");
                vec![Ok(())]
            }
        });
        let started = tokio::time::Instant::now();
        s.expect_get().returning(move |_| {
            if started.elapsed() < std::time::Duration::from_secs(5) {
                Err(down())
            } else {
                Ok(Some(fresh.clone()))
            }
        });
        s.expect_extend_leases()
            .returning(|leases, _| Ok(leases.iter().map(|_| true).collect()));
        s.expect_record_sweep().returning(|_, _| Ok(()));
        let k = Keeper::builder(Arc::new(s), Arc::new(Staggered(now)))
            .clock(Arc::new(ManualClock::new(now)))
            .rng_seed(1)
            .build()
            .unwrap();
        let r = k.sweep().await.unwrap();
        assert_eq!(r.refreshed, 1, "{r:?}");
        assert_eq!(k.stats().store_errors, 0);
    }

    /// A commit error whose class is not known (neither unavailable nor permanent) is
    /// retried while the lease is held, not dropped.
    #[tokio::test(start_paused = true)]
    async fn a_commit_error_of_unknown_class_is_retried_while_the_lease_is_held() {
        let secs = std::time::Duration::from_secs;
        let (r, errors, attempts, _) =
            sweep_through_failing_commits(10, secs(10), unknown_class, |_| Ok(true), |b| b).await;
        assert_eq!(r.refreshed, 10, "no result dropped: {r:?}");
        assert_eq!(errors, 0);
        assert!(attempts > 3, "{attempts}");
    }

    /// `commit_retry_for` shorter than the lease does not shorten the retries: while the
    /// lease may still be held, the result is kept. The heartbeat fails throughout the
    /// outage (it cannot confirm the lease), which is not a lost lease.
    #[tokio::test(start_paused = true)]
    async fn the_retries_last_as_long_as_the_lease_even_when_the_heartbeat_fails_too() {
        let secs = std::time::Duration::from_secs;
        let (r, errors, _, took) = sweep_through_failing_commits(
            10,
            secs(20),
            down,
            |_| Err(down()),
            |b| b.lease(secs(30)).commit_retry_for(secs(1)),
        )
        .await;
        assert_eq!(r.refreshed, 10, "no result dropped: {r:?}");
        assert_eq!(errors, 0);
        assert!(took >= secs(20) && took < secs(23), "{took:?}");
    }

    /// A permanent error gives the result up at once: nothing to gain from retrying.
    #[tokio::test(start_paused = true)]
    async fn a_permanent_commit_error_is_given_up_at_once() {
        let secs = std::time::Duration::from_secs;
        let rejected = || StoreError::Rejected {
            message: "value too long for type character varying(191)".into(),
            source: None,
        };
        let (r, errors, attempts, took) =
            sweep_through_failing_commits(4, secs(3600), rejected, |_| Ok(true), |b| b).await;
        assert_eq!((r.refreshed, errors, attempts), (0, 4, 1), "{r:?}");
        assert!(took < secs(1), "{took:?}");
    }

    /// Once the heartbeat finds the lease held by another keeper, the retries end: the
    /// result is the other keeper's to make now.
    #[tokio::test(start_paused = true)]
    async fn a_lost_lease_ends_the_retries() {
        let secs = std::time::Duration::from_secs;
        let (r, errors, _, took) = sweep_through_failing_commits(
            4,
            secs(3600),
            down,
            |beat| Ok(beat < 2),
            |b| b.lease(secs(3)),
        )
        .await;
        assert_eq!((r.refreshed, errors), (0, 4), "{r:?}");
        // Beats every second; the third one finds the leases gone.
        assert!(took < secs(6), "{took:?}");
    }

    #[tokio::test]
    async fn a_whole_batch_that_failed_transiently_is_committed_again_and_keeps_its_cause() {
        let now = Utc.with_ymd_and_hms(2026, 5, 1, 0, 0, 0).unwrap();
        let mut s = MockTokenStore::new();
        s.expect_incidents().returning(|_, _| Ok(vec![]));
        let mut first = Some((1..=5).map(|i| due_record(i, now, 1)).collect::<Vec<_>>());
        s.expect_claim_due()
            .returning(move |_, _, _, _| Ok(first.take().unwrap_or_default()));
        let mut failed_once = false;
        let causes = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = causes.clone();
        s.expect_commit_many().returning(move |ts| {
            if failed_once {
                return ts.iter().map(|_| Ok(())).collect();
            }
            failed_once = true;
            let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset by peer");
            let results = StoreError::Unavailable {
                message: "commit".into(),
                source: Some(Box::new(io)),
            }
            .for_batch(ts.len());
            for r in &results {
                let e = r.as_ref().unwrap_err();
                seen.lock().unwrap().push(crate::error::with_causes(e));
            }
            results
        });
        s.expect_record_sweep().returning(|_, _| Ok(()));
        let k = Keeper::builder(Arc::new(s), Arc::new(Staggered(now)))
            .clock(Arc::new(ManualClock::new(now)))
            .batch_size(5)
            .rng_seed(1)
            .build()
            .unwrap();
        let r = k.sweep().await.unwrap();
        assert_eq!(r.refreshed, 5, "retried after the batch failed: {r:?}");
        let causes = causes.lock().unwrap();
        assert_eq!(causes.len(), 5);
        assert!(
            causes.iter().all(|c| c.contains("reset by peer")),
            "{causes:?}"
        );
    }

    /// Holds its refresh and its gateway GET until the test lets each go, so a gateway
    /// call can be made to land between a sweep's claim and its commit.
    struct Held {
        now: DateTime<Utc>,
        refresh_started: tokio::sync::Notify,
        release_refresh: tokio::sync::Notify,
        get_started: tokio::sync::Notify,
        release_get: tokio::sync::Notify,
    }

    #[async_trait::async_trait]
    impl TokenProvider for Held {
        async fn refresh(&self, _: &Account, _: &Token) -> Result<Token, ProviderError> {
            self.refresh_started.notify_one();
            self.release_refresh.notified().await;
            Ok(Token::new("renewed", self.now).expiring_in(60 * 86_400))
        }
        async fn check(&self, _: &Account, _: &Token) -> Result<CheckInfo, ProviderError> {
            Ok(CheckInfo::default())
        }
        async fn graph_get(
            &self,
            _: &Account,
            _: &Token,
            _: &str,
            _: &[(String, String)],
        ) -> Result<Vec<u8>, ProviderError> {
            self.get_started.notify_one();
            self.release_get.notified().await;
            Ok(br#"{"id":"1","username":"u"}"#.to_vec())
        }
    }

    /// The race of issue #18: a gateway success (its last-check write commits a new
    /// version) lands between the sweep's claim and its commit. The sweep's commit is
    /// fenced out; the refreshed token must still be stored, not dropped.
    #[tokio::test]
    async fn a_gateway_write_between_claim_and_commit_does_not_drop_the_refreshed_token() {
        let now = Utc.with_ymd_and_hms(2026, 5, 1, 0, 0, 0).unwrap();
        let store = Arc::new(InMemoryStore::new());
        let rec = due_record(1, now, 0);
        let id = rec.account.id;
        store.insert(&rec, &[]).await.unwrap();
        let p = Arc::new(Held {
            now,
            refresh_started: Default::default(),
            release_refresh: Default::default(),
            get_started: Default::default(),
            release_get: Default::default(),
        });
        let k = Keeper::builder(store.clone(), p.clone())
            .clock(Arc::new(ManualClock::new(now)))
            .rng_seed(1)
            .build()
            .unwrap();
        // The widget's call is on the wire (it read the record before the claim)...
        let call = tokio::spawn({
            let k = k.clone();
            async move { k.graph(id).get("me", &[]).await }
        });
        p.get_started.notified().await;
        // ...the sweep claims the account and its refresh is on the wire...
        let sweep = tokio::spawn({
            let k = k.clone();
            async move { k.sweep().await }
        });
        p.refresh_started.notified().await;
        let claimed = store.get(id).await.unwrap().unwrap().version;
        // ...the call's success lands and is written (the last check is 40 days old)...
        p.release_get.notify_one();
        assert_eq!(call.await.unwrap().unwrap()["username"], "u");
        let between = store.get(id).await.unwrap().unwrap();
        assert!(between.version > claimed, "the gateway wrote meanwhile");
        assert_eq!(between.state.last_checked_at, Some(now));
        // ...and then the refresh answers.
        p.release_refresh.notify_one();
        let r = sweep.await.unwrap().unwrap();
        assert_eq!((r.refreshed, r.conflicts), (1, 0), "{r:?}");
        let after = store.get(id).await.unwrap().unwrap();
        assert_eq!(
            after.state.token.secret(),
            "renewed",
            "the refreshed token is stored"
        );
        assert!(after.state.status.is_active());
        let history = store.history(id, HistoryQuery::default()).await.unwrap();
        assert!(
            history
                .iter()
                .any(|e| matches!(e.event.kind, TokenEventKind::Refreshed { .. })),
            "{history:?}"
        );
    }

    /// A fenced-out result about a token that was replaced meanwhile (a reconnect) is
    /// not applied to the new token.
    #[tokio::test]
    async fn a_fenced_result_about_a_replaced_token_is_not_applied() {
        let now = Utc.with_ymd_and_hms(2026, 5, 1, 0, 0, 0).unwrap();
        let store = Arc::new(InMemoryStore::new());
        let rec = due_record(1, now, 0);
        let id = rec.account.id;
        store.insert(&rec, &[]).await.unwrap();
        let p = Arc::new(Held {
            now,
            refresh_started: Default::default(),
            release_refresh: Default::default(),
            get_started: Default::default(),
            release_get: Default::default(),
        });
        let k = Keeper::builder(store.clone(), p.clone())
            .clock(Arc::new(ManualClock::new(now)))
            .rng_seed(1)
            .build()
            .unwrap();
        let sweep = tokio::spawn({
            let k = k.clone();
            async move { k.sweep().await }
        });
        p.refresh_started.notified().await;
        // The owner reconnects while the refresh of the old token is on the wire.
        let fresh = store.get(id).await.unwrap().unwrap();
        let mut rng = <rand::rngs::SmallRng as rand::SeedableRng>::seed_from_u64(1);
        let t = lifecycle::apply(
            &fresh,
            lifecycle::Observation::Reconnected {
                token: Token::new("reconnected", now).expiring_in(60 * 86_400),
                account: None,
            },
            now,
            &RefreshPolicy::default(),
            &mut rng,
        );
        store.commit(&t).await.unwrap();
        p.release_refresh.notify_one();
        let r = sweep.await.unwrap().unwrap();
        assert_eq!((r.refreshed, r.conflicts), (0, 1), "{r:?}");
        let after = store.get(id).await.unwrap().unwrap();
        assert_eq!(after.state.token.secret(), "reconnected");
    }

    #[tokio::test]
    async fn a_connect_that_keeps_losing_races_is_contention_not_bad_input() {
        let mut s = MockTokenStore::new();
        s.expect_incidents().returning(|_, _| Ok(vec![]));
        s.expect_find().returning(|_, _| Ok(None));
        s.expect_insert().returning(|r, _| {
            Err(StoreError::Duplicate {
                kind: r.account.kind,
                ig_user_id: r.account.ig_user_id.clone(),
            })
        });
        let now = Utc.with_ymd_and_hms(2026, 5, 1, 0, 0, 0).unwrap();
        let k = keeper(Arc::new(s), MockTokenProvider::new());
        let err = k
            .connect(
                NewAccount::new("o", ConnectionKind::Consumer, "17", "u"),
                Token::new("IGAAx", now).expiring_in(86_400),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::Contended { attempts: 8, .. }),
            "{err:?}"
        );
        assert!(err.is_transient());
    }
}
