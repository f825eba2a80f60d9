//! The keeper's own counters ([`KeeperStats`]): what this process refreshed, checked,
//! ended, retried and sent, and when it last swept, for `/metrics` and status pages.

use crate::sync::Locked;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};

use crate::Outcome;

/// Counters since the keeper started, and the last sweep time (alert when it stops moving).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct KeeperStats {
    /// Tokens refreshed.
    pub refreshed: u64,
    /// Tokens checked and found fine.
    pub checked: u64,
    /// Tokens found expired.
    pub expired: u64,
    /// Tokens revoked (app removed).
    pub revoked: u64,
    /// Accounts reconnected by their owners.
    pub reconnected: u64,
    /// Failed attempts that will be retried.
    pub retries: u64,
    /// Commits refused because someone else changed the account (lease lost / host update).
    pub conflicts: u64,
    /// Store errors while committing.
    pub store_errors: u64,
    /// Notices delivered.
    pub notices_sent: u64,
    /// Notices suppressed (not opted in, not entitled).
    pub notices_suppressed: u64,
    /// Notices that failed for good.
    pub notices_failed: u64,
    /// Notice deliveries to retry.
    pub notice_retries: u64,
    /// Sweeps completed.
    pub sweeps: u64,
    /// Accounts held instead of ended (an ambiguous failure awaiting its confirming
    /// re-check, an app-wide incident).
    pub held: u64,
    /// Operator alerts raised (incident opened, updated, resolved).
    pub incident_alerts: u64,
    /// When the last sweep completed.
    pub last_sweep_at: Option<DateTime<Utc>>,
}

#[derive(Default)]
pub(crate) struct Counters {
    pub refreshed: AtomicU64,
    pub checked: AtomicU64,
    pub expired: AtomicU64,
    pub revoked: AtomicU64,
    pub reconnected: AtomicU64,
    pub retries: AtomicU64,
    pub conflicts: AtomicU64,
    pub store_errors: AtomicU64,
    pub notices_sent: AtomicU64,
    pub notices_suppressed: AtomicU64,
    pub notices_failed: AtomicU64,
    pub notice_retries: AtomicU64,
    pub sweeps: AtomicU64,
    pub held: AtomicU64,
    pub incident_alerts: AtomicU64,
    pub last_sweep_at: Mutex<Option<DateTime<Utc>>>,
}

pub(crate) fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

impl Counters {
    pub fn count(&self, o: Outcome) {
        match o {
            Outcome::Refreshed => bump(&self.refreshed),
            Outcome::Checked => bump(&self.checked),
            Outcome::Expired(_) => bump(&self.expired),
            Outcome::Revoked => bump(&self.revoked),
            Outcome::Reconnected => bump(&self.reconnected),
            Outcome::Retry => bump(&self.retries),
            Outcome::Held => bump(&self.held),
            Outcome::Unchanged | Outcome::Updated => {}
        }
    }

    pub fn snapshot(&self) -> KeeperStats {
        let l = |c: &AtomicU64| c.load(Ordering::Relaxed);
        KeeperStats {
            refreshed: l(&self.refreshed),
            checked: l(&self.checked),
            expired: l(&self.expired),
            revoked: l(&self.revoked),
            reconnected: l(&self.reconnected),
            retries: l(&self.retries),
            conflicts: l(&self.conflicts),
            store_errors: l(&self.store_errors),
            notices_sent: l(&self.notices_sent),
            notices_suppressed: l(&self.notices_suppressed),
            notices_failed: l(&self.notices_failed),
            notice_retries: l(&self.notice_retries),
            sweeps: l(&self.sweeps),
            held: l(&self.held),
            incident_alerts: l(&self.incident_alerts),
            last_sweep_at: *self.last_sweep_at.locked(),
        }
    }
}
