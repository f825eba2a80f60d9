//! Notices per owner: before a commit, each notice of a transition becomes one copy per
//! member of its account (the pure [`lifecycle::fan_out`]); stores enqueue the copies as
//! given. Only transitions that carry notices read the members, so refresh commits cost
//! nothing more.
//!
//! The members are read just before the commit, not in its transaction: an owner who
//! joins in between gets no copy of this notice, exactly like an owner who joins later
//! (they were not a member when it happened); an owner who leaves in between keeps a
//! copy that dispatch suppresses, as it re-checks membership before sending.

use super::Keeper;
use crate::{StoreError, Transition, lifecycle};

impl Keeper {
    /// Replaces the notices of each transition that carries any by their per-owner
    /// copies. Per transition, in order: `Ok`, or why its members could not be read (an
    /// unknown account, the store unavailable); such a transition is left as it was.
    pub(super) async fn fan_out(&self, ts: &mut [Transition]) -> Vec<Result<(), StoreError>> {
        // The members of every account concerned, read concurrently (a mass expiry's
        // batch does not wait for one read after another).
        let store = &self.inner.store;
        let reads = ts.iter().map(|t| async move {
            if t.notices.is_empty() {
                None
            } else {
                Some(store.owners(t.account.id).await)
            }
        });
        let members = futures::future::join_all(reads).await;
        ts.iter_mut()
            .zip(members)
            .map(|(t, read)| match read {
                None => Ok(()),
                Some(read) => read.map(|ms| {
                    let owners: Vec<_> = ms.into_iter().map(|m| m.owner).collect();
                    t.notices = lifecycle::fan_out(&t.notices, &owners);
                }),
            })
            .collect()
    }

    /// [`TokenStore::commit`](crate::TokenStore::commit) of `t` with its notices fanned
    /// out per owner.
    pub(super) async fn commit_fanned(&self, t: &Transition) -> Result<(), StoreError> {
        if t.notices.is_empty() {
            return self.inner.store.commit(t).await;
        }
        let mut t = t.clone();
        self.fan_out(std::slice::from_mut(&mut t))
            .await
            .pop()
            .unwrap_or_else(|| Err(missing()))?;
        self.inner.store.commit(&t).await
    }

    /// [`TokenStore::commit_many`](crate::TokenStore::commit_many) of `ts` with their
    /// notices fanned out per owner. A transition whose members could not be read gets
    /// that error and is not committed; the others are.
    pub(super) async fn commit_many_fanned(
        &self,
        ts: &[Transition],
    ) -> Vec<Result<(), StoreError>> {
        if ts.iter().all(|t| t.notices.is_empty()) {
            let mut results = self.inner.store.commit_many(ts).await;
            // One result per transition: a missing one is an error, never a success.
            results.resize_with(ts.len(), || Err(missing()));
            return results;
        }
        let mut ts = ts.to_vec();
        let fanned = self.fan_out(&mut ts).await;
        let ready: Vec<Transition> = ts
            .into_iter()
            .zip(&fanned)
            .filter_map(|(t, f)| f.is_ok().then_some(t))
            .collect();
        let mut committed = self.inner.store.commit_many(&ready).await.into_iter();
        fanned
            .into_iter()
            .map(|f| f.and_then(|()| committed.next().unwrap_or_else(|| Err(missing()))))
            .collect()
    }
}

/// What a transition gets when the store returned fewer results than it was given: an
/// error, never a success (its effects would follow a write that may not have happened).
pub(super) fn missing() -> StoreError {
    StoreError::Backend {
        message: "the store returned no result for a commit".into(),
        source: None,
    }
}

#[cfg(all(test, feature = "testkit"))]
mod tests {
    use std::sync::Arc;

    use crate::testkit::{FakeProvider, record, t0, transition};
    use crate::{
        Entitlements, InMemoryStore, Keeper, ManualClock, Membership, StoreError, TokenStore,
    };

    #[tokio::test]
    async fn notices_are_copied_per_member_and_unknown_accounts_are_reported() {
        let store = Arc::new(InMemoryStore::new());
        let clock = ManualClock::new(t0());
        let keeper = Keeper::builder(store.clone(), Arc::new(FakeProvider::new(clock.clone())))
            .clock(Arc::new(clock))
            .build()
            .unwrap();
        let r = record("agency", "1", Some(t0()));
        store.insert(&r, &[]).await.unwrap();
        let m = Membership::new("client", Entitlements::default(), t0());
        store.join(r.account.id, &m).await.unwrap();
        let mut t = transition(&r, Some(t0()));
        t.notices.push(crate::testkit::expired_notice(&r));
        let gone = record("nobody", "2", Some(t0()));
        let mut lost = transition(&gone, Some(t0()));
        lost.notices = t.notices.clone();
        let quiet = transition(&r, Some(t0()));
        let got = keeper.commit_many_fanned(&[quiet, lost, t.clone()]).await;
        assert!(matches!(got[1], Err(StoreError::UnknownAccount(_))));
        let mut ts = [t];
        assert!(keeper.fan_out(&mut ts).await[0].is_ok());
        let owners: Vec<_> = ts[0].notices.iter().map(|n| n.owner.as_str()).collect();
        assert_eq!(owners, ["agency", "client"]);
    }
}
