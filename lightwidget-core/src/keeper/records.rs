//! The gateway's record cache and refresh wait ([`GatewayState`]): what the keeper
//! remembers between [`Keeper::graph`](crate::Keeper::graph) calls, so that a busy
//! widget reads the store about once a second and a call made during a refresh uses the
//! token that ends up current.
//!
//! The interface, by caller:
//! - the sweep: [`refresh_begins`](GatewayState::refresh_begins) when it starts
//!   refreshing an account, [`refreshes_end`](GatewayState::refreshes_end) once the
//!   batch is committed (or given up);
//! - the host API and every write of an account: [`forget`](GatewayState::forget);
//! - the gateway's calls: [`wait_for_refresh`](GatewayState::wait_for_refresh),
//!   [`recent`](GatewayState::recent) / [`keep`](GatewayState::keep) and
//!   [`claim_success`](GatewayState::claim_success).

use crate::sync::Locked;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use tokio::sync::watch;

use crate::{AccountId, AccountRecord};

/// How long a call waits for an in-flight refresh of its account to be committed.
const REFRESH_WAIT: Duration = Duration::from_secs(30);
/// How long an account's record, read for a call, serves that account's next calls.
const RECORD_TTL: Duration = Duration::from_secs(1);
/// Records kept before the expired ones are swept out.
const RECORDS_MAX: usize = 10_000;

/// The keeper's gateway state: refreshes in flight (so a call waits for the token that
/// ends up current), the success observations already written per account, and the
/// records recent calls read (so a busy widget reads the store about once a second, not
/// on every call).
pub(crate) struct GatewayState {
    observe_every: TimeDelta,
    refreshing: Mutex<HashMap<AccountId, watch::Sender<()>>>,
    observed: Mutex<HashMap<AccountId, DateTime<Utc>>>,
    records: Mutex<HashMap<AccountId, (Arc<AccountRecord>, Instant)>>,
}

impl GatewayState {
    /// Writes a gateway success as the account's last check at most once per
    /// `observe_every` (see [`claim_success`](Self::claim_success)).
    pub(crate) fn new(observe_every: Duration) -> Self {
        Self {
            observe_every: TimeDelta::from_std(observe_every).unwrap_or(TimeDelta::MAX),
            refreshing: Mutex::default(),
            observed: Mutex::default(),
            records: Mutex::default(),
        }
    }

    /// A record of `id` read less than [`RECORD_TTL`] ago, if any.
    pub(crate) fn recent(&self, id: AccountId) -> Option<Arc<AccountRecord>> {
        let m = self.records.locked();
        m.get(&id)
            .filter(|(_, at)| at.elapsed() < RECORD_TTL)
            .map(|(r, _)| r.clone())
    }

    /// Keeps an active account's record for the next calls (a token that does not work
    /// is never served from here: its calls read the store).
    pub(crate) fn keep(&self, rec: Arc<AccountRecord>) {
        if rec.state.status.is_active() {
            let mut m = self.records.locked();
            if m.len() > RECORDS_MAX {
                m.retain(|_, (_, at)| at.elapsed() < RECORD_TTL);
            }
            m.insert(rec.account.id, (rec, Instant::now()));
        }
    }

    /// The account was written (or its token failed): its next call reads the store.
    pub(crate) fn forget(&self, id: AccountId) {
        self.records.locked().remove(&id);
    }

    /// The sweep starts refreshing `id`: gateway calls for it wait until
    /// [`refreshes_end`](Self::refreshes_end).
    pub(crate) fn refresh_begins(&self, id: AccountId) {
        let (tx, _) = watch::channel(());
        self.refreshing.locked().insert(id, tx);
    }

    /// The sweep committed (or gave up on) these accounts: waiting calls go on, with
    /// whatever token is current now.
    /// Their records kept for calls are dropped too: the next call reads the store.
    pub(crate) fn refreshes_end(&self, ids: impl Iterator<Item = AccountId>) {
        let mut m = self.refreshing.locked();
        let mut r = self.records.locked();
        if m.is_empty() && r.is_empty() {
            return;
        }
        for id in ids {
            // Dropping the sender wakes every receiver.
            m.remove(&id);
            r.remove(&id);
        }
    }

    /// Waits while the sweep refreshes `id` (at most [`REFRESH_WAIT`]).
    pub(crate) async fn wait_for_refresh(&self, id: AccountId) {
        let rx = self
            .refreshing
            .locked()
            .get(&id)
            .map(watch::Sender::subscribe);
        if let Some(mut rx) = rx {
            // `changed` fails once the sender is dropped: the refresh is committed. A
            // sweep that died leaves its entry behind; the wait is bounded for that.
            let _ = tokio::time::timeout(REFRESH_WAIT, rx.changed()).await;
        }
    }

    /// Whether a success at `now` is to be written: not if this process wrote one for
    /// the account within the interval, nor if it did earlier and the store shows a
    /// more recent check (a sweep, another process) within the interval. The first
    /// success this process sees for an account is written whatever the store shows, so
    /// a connect (which counts as a check) does not hide the calls of the next ten
    /// minutes. Claims the slot, so concurrent calls write once.
    pub(crate) fn claim_success(&self, rec: &AccountRecord, now: DateTime<Utc>) -> bool {
        let every = self.observe_every;
        let recent = |t: DateTime<Utc>| now.signed_duration_since(t) < every;
        if rec.state.last_checked_at.is_some_and(|t| t >= now) {
            return false; // nothing to move
        }
        let mut m = self.observed.locked();
        match m.get(&rec.account.id) {
            Some(t) if recent(*t) => return false,
            Some(_) if rec.state.last_checked_at.is_some_and(recent) => return false,
            _ => {}
        }
        m.insert(rec.account.id, now);
        true
    }
}
