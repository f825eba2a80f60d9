//! The keeper's view of the whole: every call's outcome goes into a window per app, the
//! pure [`judge`] says what a failure means for its account, and app-wide incidents are
//! opened, probed, resolved and announced to the operator (once per change) from here.

use crate::sync::Locked;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use super::Keeper;
use super::stats::bump;
use crate::error::with_causes;
use crate::lifecycle::Observation;
use crate::lifecycle::incident::{
    FailureScope, IncidentPolicy, ProbeBudget, Verdict, Window, judge, needs_update, scope_of,
};
use crate::{
    AccountId, AccountRecord, ConnectionKind, Incident, IncidentAlert, IncidentChange, IncidentId,
    IncidentKind, OperatorAlerts, ProviderError, Result,
};

/// An open incident as this keeper tracks it.
struct Open {
    incident: Incident,
    /// Accounts this keeper saw affected.
    accounts: HashSet<AccountId>,
    /// The count the last alert announced.
    alerted: u64,
    budget: ProbeBudget,
    /// Consecutive successful probes of held accounts.
    successes: u32,
    /// Successes of any account of the app since the last failure this keeper saw.
    quiet_successes: u32,
    /// The last failure of the incident this keeper saw (`None`: none since it loaded
    /// the incident from the store).
    last_failure: Option<chrono::DateTime<chrono::Utc>>,
}

impl Open {
    fn new(incident: Incident) -> Self {
        Self {
            alerted: incident.accounts,
            incident,
            accounts: HashSet::new(),
            budget: ProbeBudget::default(),
            successes: 0,
            quiet_successes: 0,
            last_failure: None,
        }
    }
}

#[derive(Default)]
struct State {
    windows: HashMap<ConnectionKind, Window>,
    open: HashMap<(ConnectionKind, IncidentKind), Open>,
    /// When the open incidents were last read from the store.
    synced_at: Option<chrono::DateTime<chrono::Utc>>,
    /// App-wide incidents this keeper resolved lately: their held accounts are released
    /// again after the sweep's commits (a parked account's commit may have pushed one
    /// back), once.
    released: Vec<IncidentId>,
}

/// How often a keeper that does not sweep (host reports, gateway calls only) re-reads the
/// open incidents.
const RESYNC: chrono::TimeDelta = chrono::TimeDelta::minutes(1);

/// Incident detection and alerting, held whole by the keeper.
pub(crate) struct Monitor {
    policy: IncidentPolicy,
    alerts: Option<Arc<dyn OperatorAlerts>>,
    state: Mutex<State>,
}

impl Monitor {
    pub(crate) fn new(policy: IncidentPolicy, alerts: Option<Arc<dyn OperatorAlerts>>) -> Self {
        Self {
            policy,
            alerts,
            state: Mutex::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.locked()
    }

    pub(crate) fn policy(&self) -> &IncidentPolicy {
        &self.policy
    }
}

impl Keeper {
    /// App-wide incidents, newest first: the open ones (`open_only`), or the last
    /// `limit` of all. Open incidents hold their app's failing accounts in their last
    /// known state (see [`Hold`](crate::Hold)); operators get one alert per change
    /// ([`KeeperBuilder::operator_alerts`](crate::KeeperBuilder::operator_alerts)).
    pub async fn incidents(&self, open_only: bool, limit: usize) -> Result<Vec<Incident>> {
        Ok(self.inner.store.incidents(open_only, limit).await?)
    }

    /// Loads the open incidents from the store (every sweep; a restart during an
    /// incident keeps it, and an incident another keeper opened or resolved is seen).
    pub(super) async fn sync_incidents(&self) {
        let open = match self.inner.store.incidents(true, usize::MAX).await {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %with_causes(&e), "could not read open incidents; keeping what this keeper knows");
                return;
            }
        };
        let mut st = self.inner.incidents.lock();
        let mut next = HashMap::new();
        for i in open {
            let key = (i.connection, i.kind);
            let entry = match st.open.remove(&key) {
                Some(mut o) if o.incident.id == i.id => {
                    o.incident.accounts = o.incident.accounts.max(i.accounts);
                    // Another keeper announced this count already.
                    o.alerted = o.alerted.max(i.accounts);
                    o
                }
                _ => Open::new(i),
            };
            next.insert(key, entry);
        }
        st.open = next;
        st.synced_at = Some(self.inner.clock.now());
        crate::telemetry::incidents_open(
            st.open
                .keys()
                .filter(|(_, k)| *k == IncidentKind::AppWide)
                .count(),
        );
    }

    /// The app-wide incident holding `rec`, if it is still open.
    fn holding(&self, rec: &AccountRecord) -> Option<IncidentId> {
        let id = rec.state.hold.and_then(|h| h.incident())?;
        let st = self.inner.incidents.lock();
        st.open
            .get(&(rec.account.kind, IncidentKind::AppWide))
            .filter(|o| o.incident.id == id)
            .map(|o| o.incident.id)
    }

    /// Before a call for a held account: `Some(observation)` when the incident has no
    /// probe permit left in this period (no call is made; the account is looked at again
    /// later), `None` when the call goes ahead (a probe, or the incident is over).
    pub(super) fn without_probe(
        &self,
        rec: &AccountRecord,
        action: crate::Action,
    ) -> Option<Observation> {
        let id = self.holding(rec)?;
        let now = self.inner.clock.now();
        let policy = *self.inner.incidents.policy();
        // A refresh the token's life depends on is never rationed: a held token must not
        // lapse for want of a probe permit.
        if action == crate::Action::Refresh
            && rec.state.token.expires_at.is_some_and(|exp| {
                exp.signed_duration_since(now) <= self.inner.settings.policy.expiry_warning_lead()
            })
        {
            return None;
        }
        let mut st = self.inner.incidents.lock();
        let o = st
            .open
            .get_mut(&(rec.account.kind, IncidentKind::AppWide))?;
        if o.budget.take(now, &policy) {
            return None;
        }
        Some(Observation::Held {
            error: None,
            incident: id,
            until: crate::time::plus_std(now, policy.held_recheck),
        })
    }

    /// A call for `rec` failed with `err`: records it and returns the observation to
    /// apply (see [`judge`]). Opens an incident (and alerts) when the app fails as a whole.
    pub(super) async fn judge_failure(
        &self,
        rec: &AccountRecord,
        err: ProviderError,
    ) -> Observation {
        let kind = rec.account.kind;
        let id = rec.account.id;
        let scope = scope_of(&err);
        let now = self.inner.clock.now();
        let policy = *self.inner.incidents.policy();
        if scope != FailureScope::Transient {
            let stale = self
                .inner
                .incidents
                .lock()
                .synced_at
                .is_none_or(|at| now.signed_duration_since(at) > RESYNC);
            if stale {
                self.sync_incidents().await;
            }
        }
        let (verdict, assessment) = {
            let mut st = self.inner.incidents.lock();
            let w = st.windows.entry(kind).or_default();
            w.record(now, id, Some(scope));
            let a = w.assess(now, &policy);
            let open = st
                .open
                .get(&(kind, IncidentKind::AppWide))
                .map(|o| o.incident.id);
            (
                judge(scope, &a, open, rec.state.hold.as_ref(), now, &policy),
                a,
            )
        };
        if scope == FailureScope::Account && assessment.wave(&policy) {
            self.affected(
                kind,
                IncidentKind::AccountWave,
                id,
                assessment.account_failing,
                &err,
            )
            .await;
        }
        let until = crate::time::plus_std(now, policy.held_recheck);
        match verdict {
            Verdict::Apply => Observation::Failed(err),
            Verdict::Suspect { since, recheck_at } => {
                tracing::info!(account_id = %id, error = %err, "ambiguous Graph error: holding the account until a confirming re-check tells it from the app's");
                Observation::Suspected {
                    error: err,
                    since,
                    recheck_at,
                }
            }
            Verdict::Hold(_) | Verdict::Open => {
                match self
                    .affected(
                        kind,
                        IncidentKind::AppWide,
                        id,
                        assessment.app_failing,
                        &err,
                    )
                    .await
                {
                    Some(incident) => Observation::Held {
                        error: Some(err),
                        incident,
                        until,
                    },
                    // The incident could not be recorded (store down): hold as a suspicion.
                    None => Observation::Suspected {
                        error: err,
                        since: rec.state.hold.map_or(now, |h| h.since()),
                        recheck_at: crate::time::plus_std(now, policy.confirm_after),
                    },
                }
            }
        }
    }

    /// The observation for a Graph call the host (or the gateway) made with `rec`'s
    /// token: successes and failures are counted in the app's window like the keeper's
    /// own calls, and an ambiguous failure is held exactly as in a sweep.
    pub(super) async fn reported(
        &self,
        rec: &AccountRecord,
        result: std::result::Result<(), ProviderError>,
    ) -> Observation {
        match result {
            Ok(()) => {
                self.note_success(rec).await;
                Observation::HostReported(Ok(()))
            }
            Err(e) if scope_of(&e) == FailureScope::Transient => Observation::HostReported(Err(e)),
            Err(e) => match self.judge_failure(rec, e).await {
                Observation::Failed(e) => Observation::HostReported(Err(e)),
                held => held,
            },
        }
    }

    /// Counts `account` into the open incident of (`kind`, `ik`), opening it if needed.
    /// Returns its id.
    async fn affected(
        &self,
        kind: ConnectionKind,
        ik: IncidentKind,
        account: AccountId,
        failing: usize,
        err: &ProviderError,
    ) -> Option<IncidentId> {
        let now = self.inner.clock.now();
        let change = {
            let mut st = self.inner.incidents.lock();
            match st.open.get_mut(&(kind, ik)) {
                Some(o) => {
                    o.successes = 0;
                    o.quiet_successes = 0;
                    o.last_failure = Some(now);
                    o.accounts.insert(account);
                    let n = (o.accounts.len() as u64).max(o.incident.accounts);
                    if n > o.incident.accounts {
                        o.incident.accounts = n;
                        o.incident.updated_at = now;
                    }
                    if needs_update(o.alerted, n) {
                        o.alerted = n;
                        Some(o.incident.clone())
                    } else {
                        return Some(o.incident.id);
                    }
                }
                None => None,
            }
        };
        if let Some(i) = change {
            match self.inner.store.update_incident(&i).await {
                // This keeper raised the stored count: it announces the change.
                Ok(true) => self.announce(IncidentChange::Updated, &i).await,
                // Resolved meanwhile (by another keeper), or another keeper announced
                // as high a count already.
                Ok(false) => {
                    if !self
                        .inner
                        .store
                        .incidents(true, usize::MAX)
                        .await
                        .is_ok_and(|v| v.iter().any(|o| o.id == i.id))
                    {
                        self.inner.incidents.lock().open.remove(&(kind, ik));
                    }
                }
                Err(e) => {
                    tracing::warn!(incident = %i.id, error = %with_causes(&e), "could not record the incident's count");
                }
            }
            return Some(i.id);
        }
        // Nothing open: open one (another keeper may have just done so: then it alerted).
        let fresh = Incident::open(kind, ik, now, failing as u64, err.to_string());
        match self.inner.store.open_incident(&fresh).await {
            Ok((incident, opened)) => {
                let id = incident.id;
                {
                    let mut st = self.inner.incidents.lock();
                    let o = st
                        .open
                        .entry((kind, ik))
                        .or_insert_with(|| Open::new(incident.clone()));
                    o.accounts.insert(account);
                    o.last_failure = Some(now);
                }
                if opened {
                    self.announce(IncidentChange::Opened, &incident).await;
                }
                Some(id)
            }
            Err(e) => {
                tracing::error!(error = %with_causes(&e), "could not record an app-wide incident; its accounts are held as suspicions meanwhile");
                None
            }
        }
    }

    /// A call for `rec` succeeded: records it; a successful probe of a held account
    /// counts towards resolving its incident.
    pub(super) async fn note_success(&self, rec: &AccountRecord) {
        let now = self.inner.clock.now();
        let held_by = rec.state.hold.and_then(|h| h.incident());
        let policy = *self.inner.incidents.policy();
        let resolve = {
            let mut st = self.inner.incidents.lock();
            st.windows
                .entry(rec.account.kind)
                .or_default()
                .record(now, rec.account.id, None);
            for ik in [IncidentKind::AppWide, IncidentKind::AccountWave] {
                if let Some(o) = st.open.get_mut(&(rec.account.kind, ik)) {
                    o.quiet_successes = o.quiet_successes.saturating_add(1);
                }
            }
            match st.open.get_mut(&(rec.account.kind, IncidentKind::AppWide)) {
                Some(o) if Some(o.incident.id) == held_by => {
                    o.successes += 1;
                    (o.successes >= policy.resolve_after).then(|| o.incident.clone())
                }
                _ => None,
            }
        };
        if let Some(i) = resolve {
            self.resolve(i).await;
        }
    }

    /// End of a sweep: waves that passed and app-wide incidents that went quiet resolve —
    /// on evidence only: no failure of theirs in this keeper's window, the last failure
    /// it saw (or, when it saw none since loading the incident, its last stored change) a
    /// whole window ago, and for an app-wide incident at least `resolve_after` successes
    /// of the app since. A keeper that merely saw nothing resolves nothing. Accounts released
    /// by a resolution during the sweep are released again now that its commits are done.
    pub(super) async fn review_incidents(&self) {
        let now = self.inner.clock.now();
        let policy = *self.inner.incidents.policy();
        let window = crate::time::delta(policy.window);
        let (done, again): (Vec<Incident>, Vec<IncidentId>) = {
            let mut st = self.inner.incidents.lock();
            let st = &mut *st;
            let done = st
                .open
                .iter()
                .filter_map(|((kind, ik), o)| {
                    let a = st.windows.entry(*kind).or_default().assess(now, &policy);
                    let quiet = match ik {
                        IncidentKind::AccountWave => a.account_failing == 0,
                        IncidentKind::AppWide => a.app_failing == 0,
                    };
                    let since = o.last_failure.unwrap_or(o.incident.updated_at);
                    let long_ago = now.signed_duration_since(since) >= window;
                    // A wave holds nothing (its tokens ended): a window without a new
                    // failure ends it. An app-wide incident needs successes too.
                    let evidence = *ik == IncidentKind::AccountWave
                        || o.quiet_successes >= policy.resolve_after;
                    (quiet && long_ago && evidence).then(|| o.incident.clone())
                })
                .collect();
            (done, std::mem::take(&mut st.released))
        };
        for id in again {
            if let Err(e) = self.inner.store.release_held(id, now).await {
                tracing::warn!(incident = %id, error = %with_causes(&e), "could not make the held accounts due again");
            }
        }
        for i in done {
            self.resolve(i).await;
        }
    }

    async fn resolve(&self, mut i: Incident) {
        let now = self.inner.clock.now();
        i.resolved_at = Some(now);
        i.updated_at = now;
        self.inner
            .incidents
            .lock()
            .open
            .remove(&(i.connection, i.kind));
        match self.inner.store.update_incident(&i).await {
            Ok(true) => {}
            // Another keeper resolved it first and announced it.
            Ok(false) => return,
            Err(e) => {
                tracing::warn!(incident = %i.id, error = %with_causes(&e), "could not record the incident's resolution; the next sweep tries again");
                return;
            }
        }
        if i.kind == IncidentKind::AppWide {
            self.inner.incidents.lock().released.push(i.id);
            match self.inner.store.release_held(i.id, now).await {
                Ok(n) => {
                    tracing::info!(incident = %i.id, accounts = n, "incident resolved: every held account is re-verified now");
                    self.wake();
                }
                Err(e) => {
                    tracing::warn!(incident = %i.id, error = %with_causes(&e), "could not make the held accounts due; they are re-verified when their hold ends");
                }
            }
        }
        self.announce(IncidentChange::Resolved, &i).await;
    }

    /// One operator alert: a log line, a metric, and the operator's channel (retried a
    /// few times).
    async fn announce(&self, change: IncidentChange, i: &Incident) {
        let alert = IncidentAlert {
            change,
            incident: i.clone(),
        };
        let summary = alert.summary();
        match change {
            IncidentChange::Opened => {
                tracing::error!(incident = %i.id, connection = %i.connection, kind = i.kind.as_str(), accounts = i.accounts, error = %i.error, "{summary}")
            }
            IncidentChange::Updated => {
                tracing::warn!(incident = %i.id, connection = %i.connection, kind = i.kind.as_str(), accounts = i.accounts, "{summary}")
            }
            IncidentChange::Resolved => {
                tracing::info!(incident = %i.id, connection = %i.connection, kind = i.kind.as_str(), accounts = i.accounts, "{summary}")
            }
        }
        bump(&self.inner.counters.incident_alerts);
        crate::telemetry::incident_alert(i.connection, i.kind.as_str(), change.as_str());
        let Some(alerts) = self.inner.incidents.alerts.clone() else {
            return;
        };
        let mut delay = Duration::from_millis(200);
        for attempt in 1..=3 {
            match alerts.alert(&alert).await {
                Ok(()) => return,
                Err(e) if attempt < 3 && e.is_transient() => {
                    tracing::warn!(incident = %i.id, attempt, error = %e, "operator alert not delivered; retrying");
                    tokio::time::sleep(delay).await;
                    delay *= 4;
                }
                Err(e) => {
                    tracing::error!(incident = %i.id, error = %e, "operator alert not delivered; given up (the log line above is the record)");
                }
            }
        }
    }
}
