//! The keeper's one write path, and the one place where the effects of a write happen.
//!
//! [`Keeper::write`] reads an account, asks the caller what was observed about it,
//! applies that through the pure lifecycle, commits the [`Transition`] fenced on the
//! version read, and on a fencing conflict starts again from a fresh read, under one
//! policy ([`CONFLICT_RETRIES`]; while a sweep holds the account's lease, store errors not
//! known to be permanent are retried too, see [`Guard`]). The sweep (results fenced out
//! of its batch commit), the host API (connect's renewal, reconnect, observe,
//! deauthorize, force refresh), the gateway (a call's outcome) and social login all
//! write through it.
//!
//! [`Keeper::committed`] performs every effect of a committed transition, whoever
//! committed it: the gateway's record is dropped, counters and telemetry move, the host's
//! hooks are called once per owner, and a running keeper is woken when there is work
//! for it (notices to send, an account due now). [`Keeper::inserted`] and
//! [`Keeper::removed`] are the same for a new account and a deleted or left one.

use super::Keeper;
use super::sweep::Held;
use crate::lifecycle::{self, Hook, Observation};
use crate::{AccountId, AccountRecord, Error, Outcome, Result, StoreError, Transition};

/// How many times a write fenced out by a concurrent one is worked out again on the
/// fresh record before [`Error::Conflict`]: every writer of the keeper uses this bound.
pub(super) const CONFLICT_RETRIES: usize = 8;

/// What guards a write besides its version fence.
#[derive(Clone, Copy)]
pub(super) enum Guard<'a> {
    /// A host call: a store error goes back to the caller at once.
    Caller,
    /// A sweep holding the account's lease: reads and commits that fail for a reason
    /// not known to be permanent are retried while the lease is held (a result obtained
    /// from the Graph API is not dropped while it can still be made durable).
    Lease(&'a Held),
}

/// What [`Keeper::write`] did.
pub(super) enum Written {
    /// The transition was committed (and its effects performed).
    Committed(Transition),
    /// The lifecycle found nothing to write.
    Unchanged(Transition),
    /// The caller declined to write anything on the record read (the token it
    /// observed was replaced meanwhile, the token offered is the one held).
    Declined(Box<AccountRecord>),
}

impl Written {
    /// The transition committed or found unchanged; `None` if declined.
    pub(super) fn transition(self) -> Option<Transition> {
        match self {
            Written::Committed(t) | Written::Unchanged(t) => Some(t),
            Written::Declined(_) => None,
        }
    }

    /// The account's status after the write.
    pub(super) fn status(&self) -> crate::TokenStatus {
        match self {
            Written::Committed(t) | Written::Unchanged(t) => t.state.status,
            Written::Declined(r) => r.state.status,
        }
    }
}

impl Keeper {
    /// The one write path: read `id` (or start from `first`, a record just read), ask
    /// `decide` what to apply to it (`None`: nothing), apply it through the lifecycle,
    /// commit fenced on the version read, and start again from a fresh read when the
    /// commit is fenced out, up to [`CONFLICT_RETRIES`] times. A committed transition's
    /// effects are performed ([`Keeper::committed`]) before it is returned.
    ///
    /// Errors: [`Error::UnknownAccount`] (gone), [`Error::Conflict`] (kept changing),
    /// a store error, or what `decide` returns.
    pub(super) async fn write(
        &self,
        id: AccountId,
        first: Option<AccountRecord>,
        guard: Guard<'_>,
        mut decide: impl FnMut(&AccountRecord) -> Result<Option<Observation>>,
    ) -> Result<Written> {
        let inner = &self.inner;
        let mut first = first;
        for _ in 0..CONFLICT_RETRIES {
            let rec = match first.take() {
                Some(r) => r,
                None => self.read(id, guard).await?,
            };
            let Some(obs) = decide(&rec)? else {
                return Ok(Written::Declined(Box::new(rec)));
            };
            let now = inner.clock.now();
            let t = self
                .with_rng(|rng| lifecycle::apply_owned(rec, obs, now, &inner.settings.policy, rng));
            if t.is_noop() {
                return Ok(Written::Unchanged(t));
            }
            match self.commit_guarded(&t, guard).await {
                Ok(()) => {
                    self.committed(&t).await;
                    return Ok(Written::Committed(t));
                }
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Conflict(id))
    }

    /// [`Keeper::write`] of one observation that does not depend on the record read,
    /// returning the transition (committed or unchanged).
    pub(super) async fn apply(&self, id: AccountId, obs: Observation) -> Result<Transition> {
        let w = self
            .write(id, None, Guard::Caller, |_| Ok(Some(obs.clone())))
            .await?;
        w.transition().ok_or(Error::Conflict(id))
    }

    async fn read(&self, id: AccountId, guard: Guard<'_>) -> Result<AccountRecord> {
        let found = match guard {
            Guard::Caller => self.inner.store.get(id).await,
            Guard::Lease(held) => self.get_with_retry(id, held).await,
        };
        found?.ok_or(Error::UnknownAccount(id))
    }

    async fn commit_guarded(
        &self,
        t: &Transition,
        guard: Guard<'_>,
    ) -> std::result::Result<(), StoreError> {
        match guard {
            Guard::Caller => self.commit_fanned(t).await,
            Guard::Lease(held) => self
                .commit_with_retry(std::slice::from_ref(t), held)
                .await
                .pop()
                .unwrap_or_else(|| Err(super::fanout::missing())),
        }
    }

    /// Every effect of a committed transition, for every writer: the gateway's kept
    /// record is dropped (its next call reads the new state), counters and telemetry
    /// move, an ended token is logged, the host's hook is called
    /// ([`Keeper::call_hook`]), and a running keeper is woken if there is work for it
    /// now (notices raised, the account due).
    pub(super) async fn committed(&self, t: &Transition) {
        let inner = &self.inner;
        inner.gateway.forget(t.account.id);
        inner.counters.count(t.outcome);
        match &t.outcome {
            Outcome::Expired(reason) => crate::telemetry::expiry(reason),
            Outcome::Revoked => crate::telemetry::expiry(&crate::ExpiryReason::AppRemoved),
            _ => {}
        }
        if matches!(t.outcome, Outcome::Expired(_) | Outcome::Revoked) {
            tracing::info!(account_id = %t.account.id, status = ?t.state.status, "token ended");
        }
        self.call_hook(t).await;
        let now = inner.clock.now();
        if !t.notices.is_empty() || t.state.next_action_at.is_some_and(|at| at <= now) {
            self.wake();
        }
    }

    /// The effects of a new account: a running keeper is woken (its first check).
    pub(super) fn inserted(&self, rec: &AccountRecord) {
        tracing::info!(account_id = %rec.account.id, kind = %rec.account.kind, "account connected");
        self.wake();
    }

    /// The effects of an account deleted, or left by an owner: the gateway forgets it.
    pub(super) fn removed(&self, id: AccountId) {
        self.inner.gateway.forget(id);
    }

    /// Calls the host callback of a committed transition: the one mapping from
    /// outcomes to hooks ([`Outcome::hook`](crate::Outcome::hook)).
    ///
    /// `on_renewed`, `on_expired` and `on_recovered` fire once per owner of the account, with the
    /// account viewed as that owner (`account.owner`, their entitlements), so each
    /// owner's widgets are bumped or marked; `on_refreshed` (every refresh, the token's
    /// business) fires once, with the primary owner, and reads no memberships.
    async fn call_hook(&self, t: &Transition) {
        let hooks = &self.inner.hooks;
        let hook = t.outcome.hook();
        if hook == Some(Hook::Refreshed) {
            hooks.on_refreshed(&t.account).await;
        }
        let per_owner = matches!(hook, Some(Hook::Renewed | Hook::Ended));
        if !per_owner && !t.recovered {
            return;
        }
        let views = match self.inner.store.owners(t.account.id).await {
            Ok(ms) if !ms.is_empty() => lifecycle::owner_views(&t.account, &ms),
            Ok(_) => vec![t.account.clone()],
            Err(e) => {
                tracing::warn!(account_id = %t.account.id, error = %e, "could not read the owners; hook called for the primary owner only");
                vec![t.account.clone()]
            }
        };
        for a in &views {
            match hook {
                Some(Hook::Renewed) => hooks.on_renewed(a).await,
                Some(Hook::Ended) => hooks.on_expired(a, &t.state.status).await,
                _ => {}
            }
            if t.recovered {
                hooks.on_recovered(a).await;
            }
        }
    }
}
