//! [`InMemoryStore`]: the reference [`TokenStore`]. Every other store must behave the
//! same (see the `testkit` conformance suite). The tables and their writes are in
//! `tables.rs`; this file takes the lock and answers the port.

mod tables;

use crate::Acknowledged;
use crate::sync::Locked;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{
    Account, AccountId, AccountRecord, Departure, HistoryEntry, HistoryQuery, Incident, IncidentId,
    Lookup, Membership, Notice, NoticeState, OutboxEntry, OwnerId, Preferences, StatusCounts,
    StoreError, TokenEvent, TokenStatus, TokenStore, Transition,
};
use tables::Tables;

/// A [`TokenStore`] in memory: the reference implementation, and handy for tests and
/// single-process demos. Nothing survives a restart.
///
/// ```
/// use lightwidget_core::InMemoryStore;
/// let store = InMemoryStore::new();
/// # let _ = store;
/// ```
#[derive(Default)]
pub struct InMemoryStore {
    tables: Mutex<Tables>,
}

impl std::fmt::Debug for InMemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InMemoryStore").finish_non_exhaustive()
    }
}

impl InMemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Tables> {
        // A panic while holding the lock cannot leave a half-applied commit: every
        // mutation validates first, then writes. Recover the data.
        self.tables.locked()
    }
}

#[async_trait]
impl TokenStore for InMemoryStore {
    // ------------------------------------------------------------ accounts

    async fn insert(
        &self,
        record: &AccountRecord,
        events: &[TokenEvent],
    ) -> Result<(), StoreError> {
        self.lock().insert(record, events)
    }

    async fn delete(&self, id: AccountId) -> Result<bool, StoreError> {
        Ok(self.lock().delete(id))
    }

    async fn lookup(&self, lookup: &Lookup) -> Result<Vec<AccountRecord>, StoreError> {
        Ok(self.lock().lookup(lookup))
    }

    async fn update_account(&self, account: &Account) -> Result<(), StoreError> {
        self.lock().update_account(account)
    }

    async fn count_by_status(&self) -> Result<StatusCounts, StoreError> {
        let g = self.lock();
        let mut c = StatusCounts::default();
        for r in g.rows.values() {
            match r.record.state.status {
                TokenStatus::Active => c.active += 1,
                TokenStatus::Expired { .. } => c.expired += 1,
                TokenStatus::Revoked { .. } => c.revoked += 1,
            }
        }
        Ok(c)
    }

    // ------------------------------------------------------------ owners

    async fn owners(&self, id: AccountId) -> Result<Vec<Membership>, StoreError> {
        self.lock().owners(id)
    }

    async fn join(&self, id: AccountId, member: &Membership) -> Result<bool, StoreError> {
        self.lock().join(id, member)
    }

    async fn leave(
        &self,
        id: AccountId,
        owner: &OwnerId,
        at: DateTime<Utc>,
    ) -> Result<Departure, StoreError> {
        self.lock().leave(id, owner, at)
    }

    // ------------------------------------------------------------ claims and commits

    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        limit: usize,
        lease: Duration,
        _worker: &str,
    ) -> Result<Vec<AccountRecord>, StoreError> {
        let mut g = self.lock();
        let candidates: Vec<AccountId> = g
            .due
            .iter()
            .take_while(|(at, _)| *at <= now)
            .map(|(_, id)| *id)
            .collect();
        let until = crate::time::plus_std(now, lease);
        let mut out = Vec::with_capacity(limit.min(candidates.len()));
        for id in candidates {
            if out.len() >= limit {
                break;
            }
            let Some(row) = g.rows.get_mut(&id) else {
                continue;
            };
            if row.lease_until.is_some_and(|l| l > now) {
                continue;
            }
            row.lease_until = Some(until);
            row.record.version += 1;
            out.push(row.record.clone());
        }
        Ok(out)
    }

    async fn commit_many(&self, transitions: &[Transition]) -> Vec<Result<(), StoreError>> {
        let mut g = self.lock();
        transitions.iter().map(|t| g.commit(t)).collect()
    }

    async fn extend_leases(
        &self,
        leases: &[(AccountId, i64)],
        until: DateTime<Utc>,
    ) -> Result<Vec<bool>, StoreError> {
        let mut g = self.lock();
        Ok(leases
            .iter()
            .map(|(id, version)| match g.rows.get_mut(id) {
                Some(row) if row.record.version == *version => {
                    row.lease_until = Some(until);
                    true
                }
                _ => false,
            })
            .collect())
    }

    // ------------------------------------------------------------ history

    async fn read_history(
        &self,
        id: AccountId,
        owner: Option<OwnerId>,
        query: HistoryQuery,
    ) -> Result<Vec<HistoryEntry>, StoreError> {
        self.lock().read_history(id, owner.as_ref(), query)
    }

    // ------------------------------------------------------------ outbox

    async fn take_outbox(
        &self,
        now: DateTime<Utc>,
        limit: usize,
        lease: Duration,
        _worker: &str,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let mut guard = self.lock();
        let g = &mut *guard;
        let until = crate::time::plus_std(now, lease);
        let mut out = Vec::new();
        for id in &g.outbox_order {
            if out.len() >= limit {
                break;
            }
            let Some(row) = g.outbox.get_mut(id) else {
                continue;
            };
            if row.state != NoticeState::Pending
                || row.next_attempt_at > now
                || row.lease_until.is_some_and(|l| l > now)
            {
                continue;
            }
            row.lease_until = Some(until);
            row.entry.version += 1;
            out.push(row.entry.clone());
        }
        Ok(out)
    }

    async fn ack_outbox(
        &self,
        notice_id: Uuid,
        version: i64,
        ack: &Acknowledged,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.lock().ack(notice_id, version, ack, now)
    }

    async fn notices(&self, id: AccountId) -> Result<Vec<(Notice, NoticeState)>, StoreError> {
        let g = self.lock();
        Ok(g.outbox_order
            .iter()
            .filter_map(|n| g.outbox.get(n))
            .filter(|r| r.entry.notice.account_id == id)
            .map(|r| (r.entry.notice.clone(), r.state))
            .collect())
    }

    // ------------------------------------------------------------ preferences, sweeps

    async fn preferences(&self, owner: &OwnerId) -> Result<Preferences, StoreError> {
        Ok(self
            .lock()
            .prefs
            .get(owner)
            .cloned()
            .unwrap_or_else(|| Preferences::new(owner.clone())))
    }

    async fn set_preferences(&self, prefs: &Preferences) -> Result<(), StoreError> {
        self.lock().prefs.insert(prefs.owner.clone(), prefs.clone());
        Ok(())
    }

    async fn record_sweep(&self, worker: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        let mut g = self.lock();
        if g.sweep.as_ref().is_none_or(|(_, t)| *t <= at) {
            g.sweep = Some((worker.to_owned(), at));
        }
        Ok(())
    }

    async fn last_sweep(&self) -> Result<Option<(String, DateTime<Utc>)>, StoreError> {
        Ok(self.lock().sweep.clone())
    }

    // ------------------------------------------------------------ incidents

    async fn open_incident(&self, incident: &Incident) -> Result<(Incident, bool), StoreError> {
        let mut g = self.lock();
        if let Some(open) = g
            .incidents
            .iter()
            .find(|i| i.is_open() && i.connection == incident.connection && i.kind == incident.kind)
        {
            return Ok((open.clone(), false));
        }
        g.incidents.push(incident.clone());
        Ok((incident.clone(), true))
    }

    async fn update_incident(&self, incident: &Incident) -> Result<bool, StoreError> {
        let mut g = self.lock();
        match g
            .incidents
            .iter_mut()
            .find(|i| i.id == incident.id && i.is_open())
        {
            Some(i) if incident.resolved_at.is_some() || incident.accounts > i.accounts => {
                i.accounts = i.accounts.max(incident.accounts);
                i.updated_at = incident.updated_at;
                i.resolved_at = incident.resolved_at;
                Ok(true)
            }
            Some(_) | None => Ok(false),
        }
    }

    async fn incidents(&self, open_only: bool, limit: usize) -> Result<Vec<Incident>, StoreError> {
        let g = self.lock();
        Ok(g.incidents
            .iter()
            .rev()
            .filter(|i| !open_only || i.is_open())
            .take(if open_only { usize::MAX } else { limit })
            .cloned()
            .collect())
    }

    async fn release_held(
        &self,
        incident: IncidentId,
        at: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let mut guard = self.lock();
        let g = &mut *guard;
        let mut moved = Vec::new();
        for (id, row) in g.rows.iter_mut() {
            let st = &mut row.record.state;
            if st.status.is_active()
                && st.hold.and_then(|h| h.incident()) == Some(incident)
                && st.next_action_at.is_none_or(|t| t > at)
            {
                moved.push((*id, st.next_action_at));
                st.next_action_at = Some(at);
            }
        }
        for (id, old) in &moved {
            g.set_due(*id, *old, Some(at));
        }
        Ok(moved.len() as u64)
    }

    // ------------------------------------------------------------------ used links

    async fn mark_link_used(&self, link_id: &str, at: DateTime<Utc>) -> Result<bool, StoreError> {
        crate::check_link_id(link_id)?;
        let mut g = self.lock();
        if g.used_links.contains_key(link_id) {
            return Ok(false);
        }
        g.used_links.insert(link_id.to_owned(), at);
        Ok(true)
    }

    async fn prune_used_links(&self, used_before: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut g = self.lock();
        let n = g.used_links.len();
        g.used_links.retain(|_, at| *at >= used_before);
        Ok((n - g.used_links.len()) as u64)
    }

    async fn put_held(
        &self,
        key: &str,
        value: &secrecy::SecretString,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        crate::check_link_id(key)?;
        let mut g = self.lock();
        // Expired values are forgotten as new ones arrive (the map stays bounded).
        g.held.retain(|_, (_, u)| *u > now);
        g.held.insert(key.to_owned(), (value.clone(), until));
        Ok(())
    }

    async fn get_held(
        &self,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<secrecy::SecretString>, StoreError> {
        crate::check_link_id(key)?;
        Ok(self
            .lock()
            .held
            .get(key)
            .filter(|(_, until)| *until > now)
            .map(|(v, _)| v.clone()))
    }

    async fn take_held(
        &self,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<secrecy::SecretString>, StoreError> {
        crate::check_link_id(key)?;
        Ok(self
            .lock()
            .held
            .remove(key)
            .filter(|(_, until)| *until > now)
            .map(|(v, _)| v))
    }
}

#[cfg(all(test, feature = "testkit"))]
mod tests {
    #[tokio::test]
    async fn in_memory_store_passes_the_conformance_suite() {
        crate::testkit::run_all(|| async { super::InMemoryStore::new() }).await;
    }
}
