//! The host API for owners: memberships of shared accounts, each owner's entitlements,
//! notice preferences, opt-outs and single-use unsubscribe links.

use super::Keeper;
use crate::lifecycle;
use crate::{
    AccountId, Entitlements, Error, Membership, NoticeTopic, OwnerId, Preferences, Result,
    StoreError,
};

impl Keeper {
    /// The owners of an account, in the order they joined (operators; a host shows an
    /// owner only their own membership).
    pub async fn owners(&self, id: AccountId) -> Result<Vec<Membership>> {
        Ok(self.inner.store.owners(id).await?)
    }

    pub(super) async fn membership(&self, owner: &OwnerId, id: AccountId) -> Result<Membership> {
        match self.inner.store.owners(id).await {
            Ok(ms) => ms
                .into_iter()
                .find(|m| &m.owner == owner)
                .ok_or(Error::UnknownAccount(id)),
            Err(StoreError::UnknownAccount(_)) => Err(Error::UnknownAccount(id)),
            Err(e) => Err(e.into()),
        }
    }

    /// An owner's notice preferences.
    pub async fn preferences(&self, owner: &OwnerId) -> Result<Preferences> {
        Ok(self.inner.store.preferences(owner).await?)
    }

    /// Replaces an owner's notice preferences.
    pub async fn set_preferences(&self, prefs: &Preferences) -> Result<()> {
        Ok(self.inner.store.set_preferences(prefs).await?)
    }

    /// Opts an owner out of one topic, or of everything (`None`), unconditionally. A
    /// one-click unsubscribe link goes through [`Keeper::unsubscribe`] instead, which
    /// makes it single-use.
    pub async fn opt_out(
        &self,
        owner: &OwnerId,
        topic: Option<NoticeTopic>,
    ) -> Result<Preferences> {
        let mut p = self.inner.store.preferences(owner).await?;
        match topic {
            Some(t) => {
                p.topics.remove(&t);
            }
            None => p.topics.clear(),
        }
        self.inner.store.set_preferences(&p).await?;
        Ok(p)
    }

    /// Uses the single-use unsubscribe link `link_id` of `owner` naming `topic` (the
    /// topic of the email it came in; `None`: every topic), after the host verified its
    /// signature. Its first use turns off what it names; a used link changes nothing —
    /// an old link never undoes a later opt-in — and the result says which happened
    /// ([`lifecycle::unsubscribe`]). The use is recorded in the store
    /// ([`TokenStore::mark_link_used`](crate::TokenStore::mark_link_used)), so it
    /// survives restarts and holds across keepers; records older than
    /// [`lifecycle::USED_LINK_RETENTION`] are pruned here.
    ///
    /// A link id that is empty or over [`MAX_LINK_ID_LEN`](crate::MAX_LINK_ID_LEN)
    /// bytes is [`Error::InvalidInput`].
    pub async fn unsubscribe(
        &self,
        link_id: &str,
        owner: &OwnerId,
        topic: Option<NoticeTopic>,
    ) -> Result<lifecycle::Unsubscribed> {
        if link_id.is_empty() || link_id.len() > crate::MAX_LINK_ID_LEN {
            return Err(Error::InvalidInput(format!(
                "a link id has 1 to {} bytes",
                crate::MAX_LINK_ID_LEN
            )));
        }
        let store = &self.inner.store;
        let now = self.inner.clock.now();
        // Marked first: of two concurrent uses, only one may change anything.
        let first_use = store.mark_link_used(link_id, now).await?;
        let prefs = store.preferences(owner).await?;
        let (changed, did) = lifecycle::unsubscribe(&prefs, topic, first_use);
        if let Some(p) = changed {
            store.set_preferences(&p).await?;
        }
        if first_use
            && let Some(before) = now.checked_sub_signed(lifecycle::USED_LINK_RETENTION)
            && let Err(e) = store.prune_used_links(before).await
        {
            tracing::warn!(error = %e, "pruning used links failed; retried on the next use");
        }
        Ok(did)
    }

    /// Sets the host's entitlement flags of an account's primary owner (the member who
    /// joined first). On shared accounts use [`Keeper::set_owner_entitlements`].
    pub async fn set_entitlements(&self, id: AccountId, e: Entitlements) -> Result<()> {
        let mut account = self.get(id).await?.account;
        account.entitlements = e;
        Ok(self.inner.store.update_account(&account).await?)
    }

    /// Sets one owner's entitlement flags on an account (their plan: whether their copy
    /// of a notice is sent). Non-members get [`Error::UnknownAccount`].
    pub async fn set_owner_entitlements(
        &self,
        owner: &OwnerId,
        id: AccountId,
        e: Entitlements,
    ) -> Result<()> {
        let mut m = self.membership(owner, id).await?;
        m.entitlements = e;
        // The primary owner's are the account's too: `join` writes both at once.
        self.inner.store.join(id, &m).await?;
        Ok(())
    }
}
