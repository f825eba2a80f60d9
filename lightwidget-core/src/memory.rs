//! [`InMemoryStore`]: the reference [`TokenStore`]. Every other store must behave the
//! same (see the `testkit` conformance suite).

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{
    Account, AccountId, AccountRecord, ConnectionKind, Departure, HistoryEntry, HistoryQuery,
    Membership, Notice, NoticeState, OutboxEntry, OutboxOutcome, OwnerId, Preferences,
    StatusCounts, StoreError, TokenEvent, TokenEventKind, TokenStatus, TokenStore, Transition,
};

struct Row {
    record: AccountRecord,
    lease_until: Option<DateTime<Utc>>,
}

struct OutRow {
    entry: OutboxEntry,
    state: NoticeState,
    next_attempt_at: DateTime<Utc>,
    lease_until: Option<DateTime<Utc>>,
}

#[derive(Default)]
struct Inner {
    rows: HashMap<AccountId, Row>,
    by_provider: HashMap<(ConnectionKind, String), AccountId>,
    /// (next_action_at, id) of accounts with a next action: the claim index.
    due: BTreeSet<(DateTime<Utc>, AccountId)>,
    history: HashMap<AccountId, Vec<HistoryEntry>>,
    /// Owners of each account, in the order they joined.
    members: HashMap<AccountId, Vec<Membership>>,
    /// The history position each member joined at (they see token events after it; the
    /// first owner 0: all of them).
    joined_seq: HashMap<(AccountId, OwnerId), i64>,
    seq: i64,
    outbox: HashMap<Uuid, OutRow>,
    outbox_order: Vec<Uuid>,
    dedupe: HashMap<String, Uuid>,
    prefs: HashMap<OwnerId, Preferences>,
    sweep: Option<(String, DateTime<Utc>)>,
    /// App-wide incidents, in the order they were opened.
    incidents: Vec<crate::Incident>,
    /// Used single-use links: link id → first use.
    used_links: HashMap<String, DateTime<Utc>>,
}

impl Inner {
    fn push_history(&mut self, id: AccountId, events: &[TokenEvent]) {
        self.push_owned_history(id, None, events);
    }

    fn push_owned_history(
        &mut self,
        id: AccountId,
        owner: Option<&OwnerId>,
        events: &[TokenEvent],
    ) {
        for e in events {
            self.seq += 1;
            let seq = self.seq;
            self.history.entry(id).or_default().push(HistoryEntry {
                seq,
                event: e.clone(),
                owner: owner.cloned(),
            });
        }
    }

    /// Enqueues one copy of each notice per member of its account.
    fn enqueue(&mut self, notices: &[Notice]) {
        let copies: Vec<Notice> = notices
            .iter()
            .flat_map(|n| {
                let owners: Vec<OwnerId> = self
                    .members
                    .get(&n.account_id)
                    .map(|m| m.iter().map(|m| m.owner.clone()).collect())
                    .unwrap_or_default();
                crate::lifecycle::fan_out(std::slice::from_ref(n), &owners)
            })
            .collect();
        for n in &copies {
            if self.dedupe.contains_key(&n.dedupe_key) {
                continue;
            }
            self.dedupe.insert(n.dedupe_key.clone(), n.id);
            self.outbox_order.push(n.id);
            self.outbox.insert(
                n.id,
                OutRow {
                    entry: OutboxEntry {
                        notice: n.clone(),
                        attempts: 0,
                        delivered: Vec::new(),
                        version: 0,
                    },
                    state: NoticeState::Pending,
                    next_attempt_at: n.created_at,
                    lease_until: None,
                },
            );
        }
    }

    fn delete(&mut self, id: AccountId) -> bool {
        let Some(row) = self.rows.remove(&id) else {
            return false;
        };
        let a = &row.record.account;
        self.by_provider.remove(&(a.kind, a.ig_user_id.clone()));
        if let Some(t) = row.record.state.next_action_at {
            self.due.remove(&(t, id));
        }
        self.history.remove(&id);
        self.members.remove(&id);
        self.joined_seq.retain(|(a, _), _| *a != id);
        let gone: Vec<Uuid> = self
            .outbox
            .iter()
            .filter(|(_, r)| r.entry.notice.account_id == id)
            .map(|(k, _)| *k)
            .collect();
        for k in &gone {
            if let Some(r) = self.outbox.remove(k) {
                self.dedupe.remove(&r.entry.notice.dedupe_key);
            }
        }
        self.outbox_order.retain(|k| !gone.contains(k));
        true
    }

    fn set_due(&mut self, id: AccountId, old: Option<DateTime<Utc>>, new: Option<DateTime<Utc>>) {
        if let Some(o) = old {
            self.due.remove(&(o, id));
        }
        if let Some(n) = new {
            self.due.insert((n, id));
        }
    }

    fn commit(&mut self, t: &Transition) -> Result<(), StoreError> {
        let id = t.account.id;
        let row = self
            .rows
            .get_mut(&id)
            .ok_or(StoreError::UnknownAccount(id))?;
        if row.record.version != t.expected_version {
            return Err(StoreError::Conflict(id));
        }
        let old_due = row.record.state.next_action_at;
        let old_key = (
            row.record.account.kind,
            row.record.account.ig_user_id.clone(),
        );
        // Commits never write the Facebook user id (as the SQL stores): it changes
        // through `insert` and `update_account` only.
        let keep_fb = row.record.account.fb_user_id.clone();
        row.record.account = t.account.clone();
        row.record.account.fb_user_id = keep_fb;
        row.record.state = t.state.clone();
        row.record.version += 1;
        row.lease_until = None;
        let new_key = (t.account.kind, t.account.ig_user_id.clone());
        if old_key != new_key {
            self.by_provider.remove(&old_key);
            self.by_provider.insert(new_key, id);
        }
        self.set_due(id, old_due, t.state.next_action_at);
        self.push_history(id, &t.events);
        self.enqueue(&t.notices);
        Ok(())
    }
}

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
    inner: Mutex<Inner>,
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

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave a half-applied commit: every
        // mutation validates first, then writes. Recover the data.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn lease_end(now: DateTime<Utc>, lease: Duration) -> DateTime<Utc> {
    crate::time::plus_std(now, lease)
}

#[async_trait]
impl TokenStore for InMemoryStore {
    async fn insert(
        &self,
        record: &AccountRecord,
        events: &[TokenEvent],
    ) -> Result<(), StoreError> {
        let mut g = self.lock();
        let key = (record.account.kind, record.account.ig_user_id.clone());
        if g.by_provider.contains_key(&key) {
            return Err(StoreError::Duplicate {
                kind: key.0,
                ig_user_id: key.1,
            });
        }
        let id = record.account.id;
        g.by_provider.insert(key, id);
        g.set_due(id, None, record.state.next_action_at);
        g.rows.insert(
            id,
            Row {
                record: record.clone(),
                lease_until: None,
            },
        );
        let joined_at = events
            .first()
            .map(|e| e.at)
            .or(record.state.last_checked_at)
            .unwrap_or(record.state.token.issued_at);
        g.members.insert(
            id,
            vec![Membership::new(
                record.account.owner.clone(),
                record.account.entitlements,
                joined_at,
            )],
        );
        g.joined_seq.insert((id, record.account.owner.clone()), 0);
        g.push_history(id, events);
        Ok(())
    }

    async fn get(&self, id: AccountId) -> Result<Option<AccountRecord>, StoreError> {
        Ok(self.lock().rows.get(&id).map(|r| r.record.clone()))
    }

    async fn delete(&self, id: AccountId) -> Result<bool, StoreError> {
        Ok(self.lock().delete(id))
    }

    async fn find(
        &self,
        kind: ConnectionKind,
        ig_user_id: &str,
    ) -> Result<Option<AccountRecord>, StoreError> {
        let g = self.lock();
        Ok(g.by_provider
            .get(&(kind, ig_user_id.to_owned()))
            .and_then(|id| g.rows.get(id))
            .map(|r| r.record.clone()))
    }

    async fn list_by_owner(&self, owner: &OwnerId) -> Result<Vec<AccountRecord>, StoreError> {
        let g = self.lock();
        let mut v: Vec<_> = g
            .members
            .iter()
            .filter_map(|(id, ms)| {
                let m = ms.iter().find(|m| &m.owner == owner)?;
                let mut r = g.rows.get(id)?.record.clone();
                r.account.owner = m.owner.clone();
                r.account.entitlements = m.entitlements;
                Some(r)
            })
            .collect();
        v.sort_by_key(|r| r.account.id);
        Ok(v)
    }

    async fn find_by_fb_user(&self, fb_user_id: &str) -> Result<Vec<AccountRecord>, StoreError> {
        let g = self.lock();
        let mut v: Vec<_> = g
            .rows
            .values()
            .filter(|r| r.record.account.fb_user_id.as_deref() == Some(fb_user_id))
            .map(|r| r.record.clone())
            .collect();
        v.sort_by_key(|r| r.account.id);
        Ok(v)
    }

    // ---- Lookup by username (#29.4) ----

    async fn find_by_username(
        &self,
        kind: ConnectionKind,
        username: &str,
    ) -> Result<Vec<AccountRecord>, StoreError> {
        let g = self.lock();
        let mut v: Vec<_> = g
            .rows
            .values()
            .filter(|r| {
                r.record.account.kind == kind
                    && r.record.account.username.eq_ignore_ascii_case(username)
            })
            .map(|r| r.record.clone())
            .collect();
        v.sort_by_key(|r| r.account.id);
        Ok(v)
    }

    async fn owners(&self, id: AccountId) -> Result<Vec<Membership>, StoreError> {
        let g = self.lock();
        if !g.rows.contains_key(&id) {
            return Err(StoreError::UnknownAccount(id));
        }
        Ok(g.members.get(&id).cloned().unwrap_or_default())
    }

    async fn join(&self, id: AccountId, member: &Membership) -> Result<bool, StoreError> {
        let mut guard = self.lock();
        let g = &mut *guard;
        if !g.rows.contains_key(&id) {
            return Err(StoreError::UnknownAccount(id));
        }
        let ms = g.members.entry(id).or_default();
        if let Some(m) = ms.iter_mut().find(|m| m.owner == member.owner) {
            m.entitlements = member.entitlements;
            let first = ms[0].clone();
            if let Some(row) = g.rows.get_mut(&id)
                && row.record.account.owner == first.owner
            {
                row.record.account.entitlements = first.entitlements;
            }
            return Ok(false);
        }
        ms.push(member.clone());
        let event = TokenEvent::new(
            member.joined_at,
            TokenEventKind::Joined {
                owner: member.owner.clone(),
            },
        );
        g.push_owned_history(id, Some(&member.owner), &[event]);
        let seq = g.seq;
        g.joined_seq.insert((id, member.owner.clone()), seq);
        Ok(true)
    }

    async fn leave(
        &self,
        id: AccountId,
        owner: &OwnerId,
        at: DateTime<Utc>,
    ) -> Result<Departure, StoreError> {
        let mut guard = self.lock();
        let g = &mut *guard;
        if !g.rows.contains_key(&id) {
            return Err(StoreError::UnknownAccount(id));
        }
        let ms = g.members.entry(id).or_default();
        let Some(i) = ms.iter().position(|m| &m.owner == owner) else {
            return Ok(Departure::NotAMember);
        };
        ms.remove(i);
        g.joined_seq.remove(&(id, owner.clone()));
        let Some(first) = ms.first().cloned() else {
            g.delete(id);
            return Ok(Departure::Deleted);
        };
        if let Some(row) = g.rows.get_mut(&id) {
            row.record.account.owner = first.owner;
            row.record.account.entitlements = first.entitlements;
        }
        let event = TokenEvent::new(
            at,
            TokenEventKind::Left {
                owner: owner.clone(),
            },
        );
        g.push_owned_history(id, Some(owner), &[event]);
        Ok(Departure::Left)
    }

    async fn update_account(&self, account: &Account) -> Result<(), StoreError> {
        let mut guard = self.lock();
        let g = &mut *guard;
        let row = g
            .rows
            .get_mut(&account.id)
            .ok_or(StoreError::UnknownAccount(account.id))?;
        let old_key = (
            row.record.account.kind,
            row.record.account.ig_user_id.clone(),
        );
        row.record.account = account.clone();
        let new_key = (account.kind, account.ig_user_id.clone());
        if old_key != new_key {
            g.by_provider.remove(&old_key);
            g.by_provider.insert(new_key, account.id);
        }
        if let Some(m) = g
            .members
            .get_mut(&account.id)
            .and_then(|ms| ms.iter_mut().find(|m| m.owner == account.owner))
        {
            m.entitlements = account.entitlements;
        }
        Ok(())
    }

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
        let until = lease_end(now, lease);
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

    async fn commit(&self, t: &Transition) -> Result<(), StoreError> {
        self.lock().commit(t)
    }

    async fn release(&self, id: AccountId, version: i64) -> Result<(), StoreError> {
        let mut g = self.lock();
        if let Some(row) = g.rows.get_mut(&id)
            && row.record.version == version
        {
            row.lease_until = None;
        }
        Ok(())
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

    async fn history(
        &self,
        id: AccountId,
        query: HistoryQuery,
    ) -> Result<Vec<HistoryEntry>, StoreError> {
        let g = self.lock();
        if !g.rows.contains_key(&id) {
            return Err(StoreError::UnknownAccount(id));
        }
        Ok(g.history
            .get(&id)
            .map(|h| {
                h.iter()
                    .rev()
                    .filter(|e| query.before.is_none_or(|b| e.seq < b))
                    .take(query.limit as usize)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn history_for(
        &self,
        id: AccountId,
        owner: &OwnerId,
        query: HistoryQuery,
    ) -> Result<Vec<HistoryEntry>, StoreError> {
        let g = self.lock();
        let since = *g
            .joined_seq
            .get(&(id, owner.clone()))
            .ok_or(StoreError::UnknownAccount(id))?;
        Ok(g.history
            .get(&id)
            .map(|h| {
                h.iter()
                    .rev()
                    .filter(|e| query.before.is_none_or(|b| e.seq < b))
                    .filter(|e| match &e.owner {
                        None => e.seq > since,
                        Some(o) => o == owner,
                    })
                    .take(query.limit as usize)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn take_outbox(
        &self,
        now: DateTime<Utc>,
        limit: usize,
        lease: Duration,
        _worker: &str,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let mut g = self.lock();
        let until = lease_end(now, lease);
        let order = g.outbox_order.clone();
        let mut out = Vec::new();
        for id in order {
            if out.len() >= limit {
                break;
            }
            let Some(row) = g.outbox.get_mut(&id) else {
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
        outcome: &OutboxOutcome,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut g = self.lock();
        let row = g
            .outbox
            .get_mut(&notice_id)
            .ok_or_else(|| StoreError::Backend {
                message: format!("unknown notice {notice_id}"),
                source: None,
            })?;
        let account = row.entry.notice.account_id;
        if row.entry.version != version || row.state != NoticeState::Pending {
            return Err(StoreError::Conflict(account));
        }
        row.entry.version += 1;
        row.lease_until = None;
        let topic = row.entry.notice.kind.topic();
        let event = match outcome {
            OutboxOutcome::Delivered { channels } => {
                row.state = NoticeState::Delivered;
                Some(TokenEventKind::NoticeSent {
                    topic,
                    channels: channels.clone(),
                })
            }
            OutboxOutcome::Suppressed { why } => {
                row.state = NoticeState::Suppressed;
                Some(TokenEventKind::NoticeSuppressed {
                    topic,
                    why: why.clone(),
                })
            }
            OutboxOutcome::Failed { error } => {
                row.state = NoticeState::Failed;
                Some(TokenEventKind::NoticeFailed {
                    topic,
                    error: error.clone(),
                })
            }
            OutboxOutcome::Retry { at, delivered, .. } => {
                row.entry.attempts += 1;
                row.entry.delivered = delivered.clone();
                row.next_attempt_at = *at;
                None
            }
        };
        if let Some(kind) = event {
            row.entry.attempts += 1;
            let owner = row.entry.notice.owner.clone();
            g.push_owned_history(account, Some(&owner), &[TokenEvent::new(now, kind)]);
        }
        Ok(())
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

    // ------------------------------------------------------------ incidents

    async fn open_incident(
        &self,
        incident: &crate::Incident,
    ) -> Result<(crate::Incident, bool), StoreError> {
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

    async fn update_incident(&self, incident: &crate::Incident) -> Result<bool, StoreError> {
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
            Some(_) => Ok(false),
            None => Ok(false),
        }
    }

    async fn incidents(
        &self,
        open_only: bool,
        limit: usize,
    ) -> Result<Vec<crate::Incident>, StoreError> {
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
        incident: crate::IncidentId,
        at: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let mut g = self.lock();
        let g = &mut *g;
        let mut n = 0;
        for (id, row) in g.rows.iter_mut() {
            let st = &mut row.record.state;
            if st.status.is_active()
                && st.hold.and_then(|h| h.incident()) == Some(incident)
                && st.next_action_at.is_none_or(|t| t > at)
            {
                if let Some(old) = st.next_action_at {
                    g.due.remove(&(old, *id));
                }
                st.next_action_at = Some(at);
                g.due.insert((at, *id));
                n += 1;
            }
        }
        Ok(n)
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
}

#[cfg(all(test, feature = "testkit"))]
mod tests {
    #[tokio::test]
    async fn in_memory_store_passes_the_conformance_suite() {
        crate::testkit::run_all(|| async { super::InMemoryStore::new() }).await;
    }
}
