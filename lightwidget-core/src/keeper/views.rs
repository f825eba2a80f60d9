//! The host API's reads: status reports (as an operator or as one owner), history,
//! notices, the current token for the host's own calls, and this keeper's counters.

use super::Keeper;
use crate::{
    AccountId, AccountRecord, Error, HistoryEntry, HistoryQuery, KeeperStats, OwnerId, Result,
    StatusReport, StoreError, Token,
};

impl Keeper {
    /// Status, reason, last successful check, expiry, data-access expiry, next action,
    /// viewed as the primary owner (operators; a host page uses [`Keeper::status_for`]).
    pub async fn status(&self, id: AccountId) -> Result<StatusReport> {
        Ok(self.report(&self.get(id).await?))
    }

    /// The status report of a record, judged against the clock: `unverified` when Graph
    /// has not confirmed the token for [`RefreshPolicy::unverified_after`](crate::RefreshPolicy::unverified_after).
    fn report(&self, rec: &AccountRecord) -> StatusReport {
        StatusReport::from(rec).judged(
            self.inner.clock.now(),
            self.inner.settings.policy.unverified_after(),
        )
    }

    /// [`Keeper::status`] as `owner` sees it: their entitlements, `account.owner` set to
    /// them. An owner who is not a member gets [`Error::UnknownAccount`], so a host can
    /// use it to check an account id taken from a request belongs to the signed-in user.
    pub async fn status_for(&self, owner: &OwnerId, id: AccountId) -> Result<StatusReport> {
        let m = self.membership(owner, id).await?;
        let mut r = self.report(&self.get(id).await?);
        r.account.owner = m.owner;
        r.account.entitlements = m.entitlements;
        Ok(r)
    }

    /// Statuses of all accounts `owner` is a member of, each viewed as them.
    pub async fn statuses(&self, owner: &OwnerId) -> Result<Vec<StatusReport>> {
        Ok(self
            .inner
            .store
            .list_by_owner(owner)
            .await?
            .iter()
            .map(|r| self.report(r))
            .collect())
    }

    /// The whole history of an account, newest first: token events and every owner's
    /// own events (notices, joins, leaves). For operators; what an owner is shown is
    /// [`Keeper::history_for`].
    pub async fn history(&self, id: AccountId, query: HistoryQuery) -> Result<Vec<HistoryEntry>> {
        Ok(self.inner.store.history(id, query).await?)
    }

    /// History of a (possibly shared) account as `owner` sees it, newest first: the
    /// token's events from when they joined, and their own events (the notices sent to
    /// them, their joining); never another owner's. An owner who is not a member gets
    /// [`Error::UnknownAccount`]. Use this for every page an owner sees.
    pub async fn history_for(
        &self,
        owner: &OwnerId,
        id: AccountId,
        query: HistoryQuery,
    ) -> Result<Vec<HistoryEntry>> {
        match self.inner.store.history_for(id, owner, query).await {
            Err(StoreError::UnknownAccount(_)) => Err(Error::UnknownAccount(id)),
            r => Ok(r?),
        }
    }

    /// The notices raised for `owner` on an account (their copies only), oldest first,
    /// with their delivery state. Non-members get [`Error::UnknownAccount`].
    pub async fn notices_for(
        &self,
        owner: &OwnerId,
        id: AccountId,
    ) -> Result<Vec<(crate::Notice, crate::NoticeState)>> {
        self.membership(owner, id).await?;
        Ok(self
            .inner
            .store
            .notices(id)
            .await?
            .into_iter()
            .filter(|(n, _)| &n.owner == owner)
            .collect())
    }

    /// The current token, for the host's own Graph calls (widget feeds).
    pub async fn access_token(&self, id: AccountId) -> Result<Token> {
        Ok(self.get(id).await?.state.token)
    }

    /// Counters and the last sweep time of this keeper.
    pub fn stats(&self) -> KeeperStats {
        self.inner.counters.snapshot()
    }

    /// The last sweep of any keeper sharing the store (worker id, time).
    pub async fn last_sweep(&self) -> Result<Option<(String, chrono::DateTime<chrono::Utc>)>> {
        Ok(self.inner.store.last_sweep().await?)
    }

    /// The account's record, [`Error::UnknownAccount`] if there is none.
    pub(super) async fn get(&self, id: AccountId) -> Result<AccountRecord> {
        self.inner
            .store
            .get(id)
            .await?
            .ok_or(Error::UnknownAccount(id))
    }
}
