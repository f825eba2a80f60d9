use std::collections::HashSet;

use futures::StreamExt;
use tokio::sync::mpsc;
use tracing::Instrument;

use super::Keeper;
use super::stats::bump;
use crate::error::with_causes;
use crate::lifecycle::{self, Observation};
use crate::{AccountRecord, Action, Error, Outcome, Result, StoreError, Transition};

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
        let (commit_tx, commit_rx) = mpsc::channel::<Transition>(inner.batch_size * 2);
        let committer = tokio::spawn({
            let k = self.clone();
            async move { k.commit_stage(commit_rx).await }
        });
        // Claims run in their own task, one batch ahead of the calls, so the call
        // pipeline never waits for the database between batches.
        let (claim_tx, mut claim_rx) = mpsc::channel::<AccountRecord>(inner.batch_size);
        let claimer = tokio::spawn({
            let k = self.clone();
            async move { k.claim_stage(claim_tx).await }
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
                    Processed::Done(t) => {
                        if commit_tx.send(t).await.is_err() {
                            break; // the commit stage died: its error is reported below
                        }
                    }
                    Processed::Released => released += 1,
                }
            }
        }
        // The calls are gone, and with them the claim receiver, so the claimer cannot
        // wait on a full channel; closing the commit channel ends the commit stage.
        drop(commit_tx);
        let claimed = claimer
            .await
            .map_err(|e| Error::internal("the claim stage of a sweep", e))?;
        let mut report = committer
            .await
            .map_err(|e| Error::internal("the commit stage of a sweep", e))?;
        report.claimed = claimed?;
        report.released = released;
        let at = inner.clock.now();
        inner
            .store
            .record_sweep(&inner.worker_id, at)
            .await
            .map_err(Error::Store)?;
        bump(&inner.counters.sweeps);
        *inner
            .counters
            .last_sweep_at
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(at);
        Ok(report)
    }

    /// The claim stage: claims batches of due accounts until none is left (or shutdown
    /// begins) and hands them to the calls one by one. Returns how many it handed over.
    async fn claim_stage(&self, to_calls: mpsc::Sender<AccountRecord>) -> Result<usize> {
        let inner = &self.inner;
        let mut seen = HashSet::new();
        let mut claimed = 0;
        while !self.is_shutting_down() {
            let now = inner.clock.now();
            let batch = inner
                .store
                .claim_due(now, inner.batch_size, inner.lease, &inner.worker_id)
                .await
                .map_err(Error::Store)?;
            let last = batch.len() < inner.batch_size;
            let mut fresh = 0;
            for r in batch {
                if !seen.insert(r.account.id) {
                    // Due again within the same sweep: leave it for the next one.
                    let _ = inner.store.release(r.account.id, r.version).await;
                    continue;
                }
                if to_calls.send(r).await.is_err() {
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

    async fn commit_stage(&self, mut rx: tokio::sync::mpsc::Receiver<Transition>) -> SweepReport {
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
            let ts = std::mem::replace(&mut chunk, Vec::with_capacity(want));
            self.record(ts, &mut report).await;
        }
        report
    }

    async fn record(&self, transitions: Vec<Transition>, report: &mut SweepReport) {
        if transitions.is_empty() {
            return;
        }
        let results = self.commit_with_retry(&transitions).await;
        self.inner
            .gateway
            .refreshes_end(transitions.iter().map(Transition::account_id));
        for (t, r) in transitions.iter().zip(results) {
            match r {
                Ok(()) => {
                    self.inner.counters.count(t.outcome);
                    match t.outcome {
                        Outcome::Refreshed => report.refreshed += 1,
                        Outcome::Checked => report.checked += 1,
                        Outcome::Expired(_) | Outcome::Revoked => {
                            report.ended += 1;
                            tracing::info!(account_id = %t.account.id, status = ?t.state.status, "token ended");
                        }
                        Outcome::Retry => report.retries += 1,
                        _ => {}
                    }
                    self.call_hook(t).await;
                }
                Err(StoreError::Conflict(id)) => {
                    report.conflicts += 1;
                    bump(&self.inner.counters.conflicts);
                    tracing::debug!(account_id = %id, "commit fenced: account changed meanwhile");
                }
                Err(e) => {
                    bump(&self.inner.counters.store_errors);
                    tracing::warn!(account_id = %t.account.id, error = %with_causes(&e), "commit failed; the lease will expire and the account is retried");
                }
            }
        }
    }

    /// Commits a batch; transitions that failed with a transient store error are retried
    /// a few times (a refreshed token must not be dropped because of a blip).
    async fn commit_with_retry(&self, ts: &[Transition]) -> Vec<Result<(), StoreError>> {
        let mut results = self.inner.store.commit_many(ts).await;
        for attempt in 0..3u32 {
            let retry: Vec<usize> = results
                .iter()
                .enumerate()
                .filter(|(_, r)| r.as_ref().is_err_and(StoreError::is_unavailable))
                .map(|(i, _)| i)
                .collect();
            if retry.is_empty() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50 << attempt)).await;
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
            return Processed::Released;
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
            let obs = match action {
                Action::Lapse => Observation::Lapsed,
                Action::Refresh => {
                    // Gateway calls for this account wait for the new token (`record`).
                    inner.gateway.refresh_begins(rec.account.id);
                    self.throttle().await;
                    match inner.provider.refresh(&rec.account, &rec.state.token).await {
                        Ok(t) => Observation::Refreshed(t),
                        Err(e) => Observation::Failed(e),
                    }
                }
                Action::Check => {
                    self.throttle().await;
                    match inner.provider.check(&rec.account, &rec.state.token).await {
                        Ok(info) => Observation::Checked(info),
                        Err(e) => Observation::Failed(e),
                    }
                }
            };
            if let Observation::Failed(e) = &obs {
                tracing::debug!(class = e.class(), error = %e, "provider call failed");
            }
            let now = inner.clock.now();
            let t = self.with_rng(|rng| lifecycle::apply_owned(rec, obs, now, &inner.policy, rng));
            Processed::Done(t)
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
    Done(Transition),
    /// Handed back unprocessed: shutdown began before its turn.
    Released,
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

    #[tokio::test]
    async fn a_whole_batch_that_failed_transiently_is_committed_again_and_keeps_its_cause() {
        let now = Utc.with_ymd_and_hms(2026, 5, 1, 0, 0, 0).unwrap();
        let mut s = MockTokenStore::new();
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

    #[tokio::test]
    async fn a_connect_that_keeps_losing_races_is_contention_not_bad_input() {
        let mut s = MockTokenStore::new();
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
