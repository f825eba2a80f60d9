//! The tables of [`InMemoryStore`](super::InMemoryStore) and the writes on them, each
//! all-or-nothing under the store's lock: validate first, then write.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{
    Account, AccountId, AccountRecord, Acknowledged, ConnectionKind, Departure, HistoryEntry,
    HistoryQuery, Incident, Lookup, Membership, Notice, NoticeState, OutboxEntry, OwnerId,
    Preferences, StoreError, Succession, TokenEvent, TokenEventKind, Transition,
};

pub(super) struct Row {
    pub record: AccountRecord,
    pub lease_until: Option<DateTime<Utc>>,
}

pub(super) struct OutRow {
    pub entry: OutboxEntry,
    pub state: NoticeState,
    pub next_attempt_at: DateTime<Utc>,
    pub lease_until: Option<DateTime<Utc>>,
}

#[derive(Default)]
pub(super) struct Tables {
    pub rows: HashMap<AccountId, Row>,
    by_provider: HashMap<(ConnectionKind, crate::IgUserId), AccountId>,
    /// (next_action_at, id) of accounts with a next action: the claim index.
    pub due: BTreeSet<(DateTime<Utc>, AccountId)>,
    history: HashMap<AccountId, Vec<HistoryEntry>>,
    /// Owners of each account, in the order they joined.
    members: HashMap<AccountId, Vec<Membership>>,
    /// The history position each member joined at (they see token events after it; the
    /// first owner 0: all of them).
    joined_seq: HashMap<(AccountId, OwnerId), i64>,
    seq: i64,
    pub outbox: HashMap<Uuid, OutRow>,
    pub outbox_order: Vec<Uuid>,
    dedupe: HashMap<String, Uuid>,
    pub prefs: HashMap<OwnerId, Preferences>,
    pub sweep: Option<(String, DateTime<Utc>)>,
    /// App-wide incidents, in the order they were opened.
    pub incidents: Vec<Incident>,
    /// Used single-use links: link id → first use.
    pub used_links: HashMap<String, DateTime<Utc>>,
    /// Held values and until when.
    pub held: HashMap<String, (secrecy::SecretString, DateTime<Utc>)>,
}

/// The (kind, Instagram user id) key of an account.
fn key(a: &Account) -> (ConnectionKind, crate::IgUserId) {
    (a.kind, a.ig_user_id.clone())
}

impl Tables {
    fn push_history(&mut self, id: AccountId, owner: Option<&OwnerId>, events: &[TokenEvent]) {
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

    /// Enqueues the notices as given (the keeper made one copy per owner); a repeated
    /// dedupe key is ignored.
    fn enqueue(&mut self, notices: &[Notice]) {
        for n in notices {
            if self.dedupe.contains_key(&n.dedupe_key) {
                continue;
            }
            self.dedupe.insert(n.dedupe_key.clone(), n.id);
            self.outbox_order.push(n.id);
            let entry = OutboxEntry {
                notice: n.clone(),
                attempts: 0,
                delivered: Vec::new(),
                version: 0,
            };
            let row = OutRow {
                entry,
                state: NoticeState::Pending,
                next_attempt_at: n.created_at,
                lease_until: None,
            };
            self.outbox.insert(n.id, row);
        }
    }

    /// The row of `id`, or [`StoreError::UnknownAccount`].
    fn row(&mut self, id: AccountId) -> Result<&mut Row, StoreError> {
        self.rows.get_mut(&id).ok_or(StoreError::UnknownAccount(id))
    }

    /// Moves the (kind, user id) index of `id` from `old` to `new`.
    fn rekey(
        &mut self,
        id: AccountId,
        old: (ConnectionKind, crate::IgUserId),
        new: (ConnectionKind, crate::IgUserId),
    ) {
        if old != new {
            self.by_provider.remove(&old);
            self.by_provider.insert(new, id);
        }
    }

    pub fn set_due(
        &mut self,
        id: AccountId,
        old: Option<DateTime<Utc>>,
        new: Option<DateTime<Utc>>,
    ) {
        if let Some(o) = old {
            self.due.remove(&(o, id));
        }
        if let Some(n) = new {
            self.due.insert((n, id));
        }
    }

    pub fn insert(
        &mut self,
        record: &AccountRecord,
        events: &[TokenEvent],
    ) -> Result<(), StoreError> {
        let k = key(&record.account);
        if self.by_provider.contains_key(&k) {
            return Err(StoreError::Duplicate {
                kind: k.0,
                ig_user_id: k.1,
            });
        }
        let (id, owner) = (record.account.id, record.account.owner.clone());
        self.by_provider.insert(k, id);
        self.set_due(id, None, record.state.next_action_at);
        let row = Row {
            record: record.clone(),
            lease_until: None,
        };
        self.rows.insert(id, row);
        let joined_at = events
            .first()
            .map(|e| e.at)
            .or(record.state.last_checked_at)
            .unwrap_or(record.state.token.issued_at);
        let first = Membership::new(owner.clone(), record.account.entitlements, joined_at);
        self.members.insert(id, vec![first]);
        self.joined_seq.insert((id, owner), 0);
        self.push_history(id, None, events);
        Ok(())
    }

    pub fn delete(&mut self, id: AccountId) -> bool {
        let Some(row) = self.rows.remove(&id) else {
            return false;
        };
        self.by_provider.remove(&key(&row.record.account));
        self.set_due(id, row.record.state.next_action_at, None);
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

    pub fn lookup(&self, lookup: &Lookup) -> Vec<AccountRecord> {
        let records = |f: &dyn Fn(&Account) -> bool| -> Vec<AccountRecord> {
            let mut v: Vec<_> = self
                .rows
                .values()
                .filter(|r| f(&r.record.account))
                .map(|r| r.record.clone())
                .collect();
            v.sort_by_key(|r| r.account.id);
            v
        };
        match lookup {
            Lookup::Id(id) => self
                .rows
                .get(id)
                .map(|r| r.record.clone())
                .into_iter()
                .collect(),
            Lookup::Key { kind, ig_user_id } => self
                .by_provider
                .get(&(*kind, ig_user_id.clone()))
                .and_then(|id| self.rows.get(id))
                .map(|r| r.record.clone())
                .into_iter()
                .collect(),
            Lookup::Owner(owner) => {
                let mut v: Vec<_> = self
                    .members
                    .iter()
                    .filter_map(|(id, ms)| {
                        let m = ms.iter().find(|m| &m.owner == owner)?;
                        let mut r = self.rows.get(id)?.record.clone();
                        r.account.owner = m.owner.clone();
                        r.account.entitlements = m.entitlements;
                        Some(r)
                    })
                    .collect();
                v.sort_by_key(|r| r.account.id);
                v
            }
            Lookup::FbUser(fb) => records(&|a| a.fb_user_id.as_deref() == Some(fb.as_str())),
            Lookup::Username { kind, username } => {
                records(&|a| a.kind == *kind && a.username.eq_ignore_ascii_case(username))
            }
        }
    }

    pub fn update_account(&mut self, account: &Account) -> Result<(), StoreError> {
        let row = self.row(account.id)?;
        let old = key(&row.record.account);
        row.record.account = account.clone();
        // A commit computed from the record before this write is fenced out.
        row.record.version += 1;
        self.rekey(account.id, old, key(account));
        if let Some(m) = self
            .members
            .get_mut(&account.id)
            .and_then(|ms| ms.iter_mut().find(|m| m.owner == account.owner))
        {
            m.entitlements = account.entitlements;
        }
        Ok(())
    }

    pub fn owners(&self, id: AccountId) -> Result<Vec<Membership>, StoreError> {
        if !self.rows.contains_key(&id) {
            return Err(StoreError::UnknownAccount(id));
        }
        Ok(self.members.get(&id).cloned().unwrap_or_default())
    }

    pub fn join(&mut self, id: AccountId, member: &Membership) -> Result<bool, StoreError> {
        let record = &mut self.row(id)?.record;
        // The account carries its primary owner's entitlements (a commit computed from
        // the record before this write is fenced out).
        if record.account.owner == member.owner {
            record.account.entitlements = member.entitlements;
            record.version += 1;
        }
        let ms = self.members.entry(id).or_default();
        if let Some(m) = ms.iter_mut().find(|m| m.owner == member.owner) {
            m.entitlements = member.entitlements;
            return Ok(false);
        }
        ms.push(member.clone());
        let owner = member.owner.clone();
        let event = TokenEvent::new(
            member.joined_at,
            TokenEventKind::Joined {
                owner: owner.clone(),
            },
        );
        self.push_history(id, Some(&owner), &[event]);
        self.joined_seq.insert((id, owner), self.seq);
        Ok(true)
    }

    pub fn leave(
        &mut self,
        id: AccountId,
        owner: &OwnerId,
        at: DateTime<Utc>,
    ) -> Result<Departure, StoreError> {
        let primary = self.row(id)?.record.account.owner.clone();
        let ms = self.members.entry(id).or_default();
        let Some(i) = ms.iter().position(|m| &m.owner == owner) else {
            return Ok(Departure::NotAMember);
        };
        ms.remove(i);
        let succession = Succession::after_leave(&primary, owner, ms);
        self.joined_seq.remove(&(id, owner.clone()));
        match succession {
            Succession::Delete => {
                self.delete(id);
                return Ok(Departure::Deleted);
            }
            Succession::Remain {
                primary: Some(next),
            } => {
                let record = &mut self.row(id)?.record;
                record.account.owner = next.owner;
                record.account.entitlements = next.entitlements;
                record.version += 1;
            }
            Succession::Remain { primary: None } => {}
        }
        let left = TokenEventKind::Left {
            owner: owner.clone(),
        };
        self.push_history(id, Some(owner), &[TokenEvent::new(at, left)]);
        Ok(Departure::Left)
    }

    pub fn commit(&mut self, t: &Transition) -> Result<(), StoreError> {
        let id = t.account.id;
        let row = self.row(id)?;
        if row.record.version != t.expected_version {
            return Err(StoreError::Conflict(id));
        }
        let old_due = row.record.state.next_action_at;
        let old_key = key(&row.record.account);
        // A transition without a Facebook user id keeps the stored one.
        let fb = t
            .account
            .fb_user_id
            .clone()
            .or_else(|| row.record.account.fb_user_id.take());
        row.record.account = t.account.clone();
        row.record.account.fb_user_id = fb;
        row.record.state = t.state.clone();
        row.record.version += 1;
        row.lease_until = None;
        self.rekey(id, old_key, key(&t.account));
        self.set_due(id, old_due, t.state.next_action_at);
        self.push_history(id, None, &t.events);
        self.enqueue(&t.notices);
        Ok(())
    }

    pub fn read_history(
        &self,
        id: AccountId,
        owner: Option<&OwnerId>,
        query: HistoryQuery,
    ) -> Result<Vec<HistoryEntry>, StoreError> {
        // Token events after `since`, and the owner-specific events of `owner` (all of
        // them for operators).
        let since = match owner {
            None if self.rows.contains_key(&id) => 0,
            None => return Err(StoreError::UnknownAccount(id)),
            Some(o) => *self
                .joined_seq
                .get(&(id, o.clone()))
                .ok_or(StoreError::UnknownAccount(id))?,
        };
        let seen = |e: &HistoryEntry| match (&e.owner, owner) {
            (None, _) => e.seq > since,
            (Some(_), None) => true,
            (Some(mine), Some(o)) => mine == o,
        };
        let entries = self.history.get(&id).map(Vec::as_slice).unwrap_or_default();
        Ok(entries
            .iter()
            .rev()
            .filter(|e| query.before.is_none_or(|b| e.seq < b))
            .filter(|e| seen(e))
            .take(query.limit as usize)
            .cloned()
            .collect())
    }

    pub fn ack(
        &mut self,
        notice_id: Uuid,
        version: i64,
        ack: &Acknowledged,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let row = self
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
        row.entry.attempts += 1;
        row.lease_until = None;
        match ack.clone() {
            Acknowledged::Retry { at, delivered } => {
                row.entry.delivered = delivered;
                row.next_attempt_at = at;
            }
            Acknowledged::Final { state, event } => {
                row.state = state;
                let owner = row.entry.notice.owner.clone();
                self.push_history(account, Some(&owner), &[TokenEvent::new(now, event)]);
            }
        }
        Ok(())
    }
}
