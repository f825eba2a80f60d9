//! The outbox dispatcher: takes due notices, decides each one's recipients and outcome
//! through the pure rules ([`lifecycle::notice_recipients`], [`lifecycle::settle_delivery`]),
//! calls the notifiers and acknowledges each entry (deliver-then-ack).

use crate::Acknowledged;
use chrono::{DateTime, Utc};
use futures::StreamExt;

use super::Keeper;
use super::stats::bump;
use crate::error::with_causes;
use crate::lifecycle::{self, DeliveryAttempt};
use crate::{Error, OutboxEntry, OutboxOutcome, Result};

/// What one outbox dispatch round did.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct DispatchReport {
    /// Delivered.
    pub sent: usize,
    /// Suppressed (not opted in, not entitled, renewed meanwhile).
    pub suppressed: usize,
    /// Failed for good.
    pub failed: usize,
    /// To retry later.
    pub retried: usize,
}

impl Keeper {
    /// Delivers due notices: gate on the owner's membership, entitlement and
    /// preferences, deliver per recipient, then ack. Each owner of a shared account has
    /// their own copy of a notice (the keeper fans out before the commit), decided on its
    /// own. Deliver-then-ack: if the process dies between the two, the notice is
    /// delivered again after its lease ends; channels carry the notice id so receivers
    /// can drop the duplicate.
    pub async fn dispatch_outbox(&self) -> Result<DispatchReport> {
        let inner = &self.inner;
        let mut report = DispatchReport::default();
        loop {
            let now = inner.clock.now();
            let entries = inner
                .store
                .take_outbox(
                    now,
                    inner.settings.outbox_batch,
                    inner.settings.lease,
                    &inner.settings.worker_id,
                )
                .await
                .map_err(Error::Store)?;
            let n = entries.len();
            if n == 0 {
                break;
            }
            let outcomes: Vec<(OutboxEntry, OutboxOutcome)> = futures::stream::iter(entries)
                .map(|e| async move {
                    let o = self.deliver(&e, now).await;
                    (e, o)
                })
                .buffer_unordered(inner.settings.concurrency)
                .collect()
                .await;
            for (e, o) in outcomes {
                match &o {
                    OutboxOutcome::Delivered { .. } => {
                        crate::telemetry::notice(e.notice.kind.topic().as_str(), "sent");
                        report.sent += 1;
                        bump(&inner.counters.notices_sent);
                    }
                    OutboxOutcome::Suppressed { why } => {
                        crate::telemetry::notice(e.notice.kind.topic().as_str(), "suppressed");
                        report.suppressed += 1;
                        bump(&inner.counters.notices_suppressed);
                        tracing::info!(account_id = %e.notice.account_id, topic = %e.notice.kind.topic(), why, "notice suppressed");
                    }
                    OutboxOutcome::Failed { error } => {
                        crate::telemetry::notice(e.notice.kind.topic().as_str(), "failed");
                        report.failed += 1;
                        bump(&inner.counters.notices_failed);
                        tracing::warn!(account_id = %e.notice.account_id, topic = %e.notice.kind.topic(), error, "notice failed for good");
                    }
                    OutboxOutcome::Retry { error, .. } => {
                        crate::telemetry::notice(e.notice.kind.topic().as_str(), "retried");
                        report.retried += 1;
                        bump(&inner.counters.notice_retries);
                        tracing::info!(account_id = %e.notice.account_id, error, "notice delivery will be retried");
                    }
                }
                if let Err(err) = inner
                    .store
                    .ack_outbox(
                        e.notice.id,
                        e.version,
                        &Acknowledged::of(&e.notice, &o),
                        inner.clock.now(),
                    )
                    .await
                {
                    tracing::warn!(notice_id = %e.notice.id, error = %err, "ack failed; the notice will be retried after its lease");
                }
            }
            if n < inner.settings.outbox_batch {
                break;
            }
        }
        Ok(report)
    }

    /// One delivery attempt of one outbox entry: the recipients the pure
    /// [`lifecycle::notice_recipients`] allows, a call per recipient not served yet, and
    /// the outcome the pure [`lifecycle::settle_delivery`] makes of the answers.
    async fn deliver(&self, e: &OutboxEntry, now: DateTime<Utc>) -> OutboxOutcome {
        let inner = &self.inner;
        let n = &e.notice;
        let attempt = e.attempts.saturating_add(1);
        let max_attempts = inner.settings.notice_max_attempts;
        let retry_at = self.notice_retry_at(attempt, now);
        let unable = |err: crate::StoreError| {
            let why = format!("store: {}", with_causes(&err));
            let a = DeliveryAttempt::unable(attempt, max_attempts, e.delivered.clone(), why);
            lifecycle::settle_delivery(a, retry_at)
        };
        let record = match inner.store.get(n.account_id).await {
            Ok(r) => r,
            Err(err) => return unable(err),
        };
        // The notice's owner's membership: their entitlements decide their copy.
        let member = match &record {
            None => None,
            Some(_) => match inner.store.owners(n.account_id).await {
                Ok(ms) => ms.into_iter().find(|m| m.owner == n.owner),
                Err(crate::StoreError::UnknownAccount(_)) => None,
                Err(err) => return unable(err),
            },
        };
        let prefs = match inner.store.preferences(&n.owner).await {
            Ok(p) => p,
            Err(err) => return unable(err),
        };
        let channels: Vec<&str> = inner.notifiers.iter().map(|x| x.channel()).collect();
        let to = match lifecycle::notice_recipients(
            n,
            record.as_ref(),
            member.as_ref(),
            &prefs,
            &channels,
        ) {
            Ok(to) => to,
            Err(why) => {
                return OutboxOutcome::Suppressed {
                    why: why.to_string(),
                };
            }
        };
        let mut a = DeliveryAttempt {
            attempt,
            max_attempts,
            delivered: e.delivered.clone(),
            ..Default::default()
        };
        for r in to {
            let Some(notifier) = inner.notifiers.iter().find(|x| x.channel() == r.channel()) else {
                continue;
            };
            let key = r.key();
            if a.delivered.contains(&key) {
                continue;
            }
            match notifier.deliver(n, r).await {
                Ok(()) => a.delivered.push(key),
                Err(err) => {
                    let text = format!("{}: {}", r.channel(), with_causes(&err));
                    if err.is_transient() {
                        a.transient.push(text);
                    } else {
                        a.permanent.push(text);
                    }
                }
            }
        }
        if !a.permanent.is_empty() && !a.delivered.is_empty() && a.transient.is_empty() {
            tracing::warn!(notice_id = %n.id, errors = %a.permanent.join("; "), "notice delivered on some channels only");
        }
        lifecycle::settle_delivery(a, retry_at)
    }

    fn notice_retry_at(&self, attempt: u32, now: DateTime<Utc>) -> DateTime<Utc> {
        let backoff = self.inner.settings.notice_backoff;
        crate::time::plus_std(now, self.with_rng(|r| backoff.delay(attempt, r)))
    }
}
