//! What a web layer keeps between two requests, through the store so every instance of
//! the host sees it: held values (a pending Page choice, a renewal's target) and
//! single-use ids (an OAuth `state` spent once).

use chrono::{DateTime, Utc};
use secrecy::SecretString;

use super::Keeper;
use crate::{Result, lifecycle};

impl Keeper {
    /// Keeps the secret `value` under `key` (1–128 bytes) until `until`, replacing what
    /// the key held. SQL stores seal it like a token.
    pub async fn hold(&self, key: &str, value: &SecretString, until: DateTime<Utc>) -> Result<()> {
        let now = self.inner.clock.now();
        Ok(self.inner.store.put_held(key, value, now, until).await?)
    }

    /// The value held under `key`, if it has not expired; left in place.
    pub async fn held(&self, key: &str) -> Result<Option<SecretString>> {
        let now = self.inner.clock.now();
        Ok(self.inner.store.get_held(key, now).await?)
    }

    /// The value held under `key`, taken: of concurrent takes, exactly one gets it.
    pub async fn take_held(&self, key: &str) -> Result<Option<SecretString>> {
        let now = self.inner.clock.now();
        Ok(self.inner.store.take_held(key, now).await?)
    }

    /// Spends the single-use id `id` (1–128 bytes): `true` the first time, `false` ever
    /// after (durably, across instances and restarts, for
    /// [`lifecycle::USED_LINK_RETENTION`]). Of concurrent spends, exactly one is first.
    pub async fn spend_once(&self, id: &str) -> Result<bool> {
        let store = &self.inner.store;
        let now = self.inner.clock.now();
        let first = store.mark_link_used(id, now).await?;
        if first
            && let Some(before) = now.checked_sub_signed(lifecycle::USED_LINK_RETENTION)
            && let Err(e) = store.prune_used_links(before).await
        {
            tracing::warn!(error = %e, "pruning used links failed; retried on the next use");
        }
        Ok(first)
    }
}
