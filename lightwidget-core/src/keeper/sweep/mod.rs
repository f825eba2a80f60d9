//! The sweep: claims due accounts, makes the provider call each one needs, and commits
//! the results in batches, with three overlapping stages (claims, calls, commits) and a
//! heartbeat that renews the leases of the accounts still worked on. Commits retried
//! under the lease are in [`retry`]; tests beside it in `tests.rs`.

mod retry;

use crate::sync::Locked;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::mpsc;
use tracing::Instrument;

use super::Keeper;
use super::stats::bump;
use super::write::{Guard, Written};
use crate::error::with_causes;
use crate::lifecycle::{self, Observation};
use crate::{
    AccountId, AccountRecord, Action, Error, Outcome, Result, StoreError, Token, Transition,
};
pub(super) use retry::Held;

impl SweepReport {
    /// Counts one committed result.
    fn count(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Refreshed => self.refreshed += 1,
            Outcome::Checked => self.checked += 1,
            Outcome::Expired(_) | Outcome::Revoked => self.ended += 1,
            Outcome::Retry => self.retries += 1,
            Outcome::Held => self.held += 1,
            _ => {}
        }
    }
}

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
        let (commit_tx, commit_rx) = mpsc::channel::<Done>(inner.settings.batch_size * 2);
        let committer = tokio::spawn({
            let k = self.clone();
            let held = held.clone();
            async move { k.commit_stage(commit_rx, held).await }
        });
        // Claims run in their own task, one batch ahead of the calls, so the call
        // pipeline never waits for the database between batches.
        let (claim_tx, mut claim_rx) = mpsc::channel::<AccountRecord>(inner.settings.batch_size);
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
                    .buffer_unordered(inner.settings.concurrency)
            );
            while let Some(processed) = calls.next().await {
                match processed {
                    Processed::Done(done) => {
                        if commit_tx.send(done).await.is_err() {
                            break; // the commit stage died: its error is reported below
                        }
                    }
                    Processed::Released(id) => {
                        held.locked().remove(&id);
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
            .record_sweep(&inner.settings.worker_id, at)
            .await
            .map_err(Error::Store)?;
        bump(&inner.counters.sweeps);
        crate::telemetry::since("lightwidget_sweep_duration_seconds", started);
        crate::telemetry::sweep_done(report.claimed, at);
        *inner.counters.last_sweep_at.locked() = Some(at);
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
                .claim_due(
                    now,
                    inner.settings.batch_size,
                    inner.settings.lease,
                    &inner.settings.worker_id,
                )
                .await
                .map_err(|e| {
                    crate::telemetry::store_error("claim");
                    Error::Store(e)
                })?;
            crate::telemetry::since("lightwidget_claim_duration_seconds", started);
            let last = batch.len() < inner.settings.batch_size;
            let mut fresh = 0;
            for r in batch {
                if !seen.insert(r.account.id) {
                    // Due again within the same sweep: leave it for the next one.
                    let _ = inner.store.release(r.account.id, r.version).await;
                    continue;
                }
                let (id, version) = (r.account.id, r.version);
                held.locked().insert(id, version);
                if to_calls.send(r).await.is_err() {
                    held.locked().remove(&id);
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
        let every = (inner.settings.lease / 3).max(Duration::from_millis(100));
        loop {
            tokio::time::sleep(every).await;
            let leases: Vec<(AccountId, i64)> =
                held.locked().iter().map(|(id, v)| (*id, *v)).collect();
            if leases.is_empty() {
                continue;
            }
            let until = crate::time::plus_std(inner.clock.now(), inner.settings.lease);
            match inner.store.extend_leases(&leases, until).await {
                Ok(kept) => {
                    for ((id, _), kept) in leases.iter().zip(kept) {
                        if !kept {
                            held.locked().remove(id);
                            tracing::warn!(account_id = %id, "lease lost: another keeper claimed the account, or it was written meanwhile; this keeper's result for it is committed only if it still applies to the fresh record");
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
        let want = self.inner.settings.batch_size;
        let linger = self.inner.settings.commit_linger;
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
            let mut h = held.locked();
            for t in &ts {
                h.remove(&t.account.id);
            }
        }
        report
    }

    /// Commits a chunk of results (retried under their leases), works out again on the
    /// fresh record each one fenced out by a concurrent write (through the one write
    /// path), performs the effects of each committed one, and counts them in `report`.
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
        let results = self.commit_with_retry(transitions, held).await;
        // Each result's final state first (redone ones are committed, with their effects,
        // by the write path); gateway calls waiting for these refreshes go on only then,
        // so they read the token that ends up current, never one a redo replaces.
        let mut fresh = Vec::with_capacity(transitions.len());
        for ((t, redo), r) in transitions.iter().zip(redos).zip(results) {
            match r {
                Ok(()) => fresh.push(t),
                // Fenced out because the account was written meanwhile (a gateway call's
                // last-check write, a host's `observe`, an expired lease taken over):
                // worked out again on the fresh record, so a result obtained from the
                // Graph API is not dropped while it can still be made durable.
                Err(StoreError::Conflict(id)) => match self.redo(id, redo, held).await {
                    Some(t) => report.count(t.outcome),
                    None => {
                        report.conflicts += 1;
                        bump(&self.inner.counters.conflicts);
                        crate::telemetry::conflict();
                    }
                },
                Err(e) => {
                    bump(&self.inner.counters.store_errors);
                    crate::telemetry::store_error("commit");
                    let why = self.given_up_because(&e, t.account.id, held);
                    tracing::error!(account_id = %t.account.id, outcome = ?t.outcome, error = %with_causes(&e), why, "commit failed for good; this result is dropped and the account is worked again when its lease ends");
                }
            }
        }
        self.inner
            .gateway
            .refreshes_end(transitions.iter().map(Transition::account_id));
        for t in fresh {
            self.committed(t).await;
            report.count(t.outcome);
        }
    }

    /// A fenced-out result, through the one write path on the account's fresh record
    /// (under its lease): not when the token the provider call was made with is no
    /// longer the stored one (a reconnect, another keeper's refresh committed first),
    /// since the answer is about a token that is gone. The lifecycle decides the rest
    /// (an account that ended meanwhile is not revived by a late refresh). Returns the
    /// committed transition.
    async fn redo(&self, id: AccountId, redo: &Redo, held: &Held) -> Option<Transition> {
        let decide = |fresh: &AccountRecord| {
            Ok(fresh
                .state
                .token
                .same_value(&redo.used)
                .then(|| redo.obs.clone()))
        };
        match self.write(id, None, Guard::Lease(held), decide).await {
            Ok(Written::Committed(t)) => {
                tracing::debug!(account_id = %id, outcome = ?t.outcome, "commit fenced: applied again to the account's fresh record");
                Some(t)
            }
            Ok(Written::Declined(_)) => {
                tracing::debug!(account_id = %id, "commit fenced: the token was replaced meanwhile; this result is about the old one");
                None
            }
            Ok(Written::Unchanged(_)) | Err(Error::UnknownAccount(_)) => None,
            Err(Error::Conflict(_)) => {
                tracing::debug!(account_id = %id, "commit fenced: the account kept changing");
                None
            }
            Err(e) => {
                let why = match &e {
                    Error::Store(se) => self.given_up_because(se, id, held),
                    _ => "unexpected",
                };
                tracing::error!(account_id = %id, error = %with_causes(&e), why, "could not record a result whose commit was fenced; it is dropped and the account is worked again when due");
                None
            }
        }
    }

    /// One claimed account: the provider call its due action needs, then the lifecycle.
    async fn process_one(&self, rec: AccountRecord) -> Processed {
        let inner = &self.inner;
        if self.is_shutting_down() {
            let _ = inner.store.release(rec.account.id, rec.version).await;
            return Processed::Released(rec.account.id);
        }
        let now = inner.clock.now();
        let action = inner.settings.policy.due_action(&rec.state, now);
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
            let t = self
                .with_rng(|rng| lifecycle::apply_owned(rec, obs, now, &inner.settings.policy, rng));
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
mod tests;
