use super::Keeper;
use crate::lifecycle::{self, Observation};
use crate::{
    AccountId, ConnectionKind, Departure, Entitlements, Error, HistoryEntry, HistoryQuery,
    KeeperStats, Membership, NewAccount, NoticeTopic, OwnerId, Preferences, ProviderError, Result,
    StatusReport, StoreError, Token, Transition,
};

const MAX_CONFLICT_RETRIES: usize = 8;

/// The host API: what a web app calls from its request handlers.
impl Keeper {
    /// Connects an account, for `new.owner`. Accounts are shared: one token per (kind,
    /// Instagram user id), any number of owners.
    ///
    /// - Nobody holds it yet: it is created with `new.owner` as its first member.
    /// - Someone holds it (this owner or others): this is a renewal. `new.owner` **joins**
    ///   (or, already a member, has their entitlements updated), the new token is
    ///   installed for everyone, the username, page and Facebook user id are updated,
    ///   and [`LifecycleHooks::on_renewed`](crate::LifecycleHooks::on_renewed) fires for
    ///   every owner. The account never moves: the owners it had keep it, with their own
    ///   entitlements, preferences and notices; nothing about them is revealed to the
    ///   newcomer.
    /// - The token given is the one held (a re-run import): the owner joins and the
    ///   account's metadata is updated, but no token is installed, no history row is
    ///   added and no hook fires.
    /// - The token given is **older** than the one held
    ///   ([`lifecycle::freshness`], by issue time): [`Error::StaleToken`], nothing
    ///   saved. [`Keeper::connect_with`] with [`ConnectOptions::force`] installs it
    ///   anyway.
    ///
    /// A connect counts as a successful check: the account's last successful check is
    /// the time of the connect (a renewal's likewise).
    ///
    /// Refused before anything is saved: an incomplete account
    /// ([`Error::InvalidAccount`]) or an unusable token ([`Error::InvalidToken`]: empty,
    /// over [`Token::MAX_LEN`], whitespace, control or non-ASCII characters, already
    /// expired).
    pub async fn connect(&self, new: NewAccount, token: Token) -> Result<AccountId> {
        self.connect_with(new, token, ConnectOptions::default())
            .await
            .map(|(id, _)| id)
    }

    /// [`Keeper::connect`] with options (a forced install, an issue time the caller does
    /// not know), saying what it did.
    pub async fn connect_with(
        &self,
        new: NewAccount,
        token: Token,
        opts: ConnectOptions,
    ) -> Result<(AccountId, ConnectOutcome)> {
        let inner = &self.inner;
        new.validate()?;
        token.validate(inner.clock.now())?;
        for _ in 0..MAX_CONFLICT_RETRIES {
            if let Some(existing) = inner.store.find(new.kind, &new.ig_user_id).await? {
                let id = existing.account.id;
                // Refused before the owner joins: nothing saved.
                let fresh = opts.check(&existing, &token)?;
                let member =
                    Membership::new(new.owner.clone(), new.entitlements, inner.clock.now());
                match inner.store.join(id, &member).await {
                    Ok(true) => {
                        tracing::info!(account_id = %id, "owner joined a shared account");
                    }
                    Ok(false) => {}
                    // Deleted meanwhile (its last owner left): connect afresh.
                    Err(StoreError::UnknownAccount(_)) => continue,
                    Err(e) => return Err(e.into()),
                }
                let mut account = new.clone().into_account();
                account.id = id;
                // The account's entitlements mirror the primary owner's; anyone else's
                // are on their membership only.
                if existing.account.owner != new.owner {
                    account.entitlements = existing.account.entitlements;
                }
                account.fb_user_id = new
                    .fb_user_id
                    .clone()
                    .or(existing.account.fb_user_id.clone());
                if fresh == lifecycle::Freshness::Same {
                    // The token held already: keep it, its state and its history; only
                    // metadata the caller brings (username, page, Facebook user id).
                    account.owner = existing.account.owner.clone();
                    if account != existing.account {
                        match inner.store.update_account(&account).await {
                            Ok(()) => {}
                            Err(StoreError::UnknownAccount(_)) => continue,
                            Err(e) => return Err(e.into()),
                        }
                    }
                    tracing::info!(account_id = %id, "connect with the token held: unchanged");
                    return Ok((id, ConnectOutcome::Unchanged));
                }
                let Some(_) = self.renew_fresh(id, &token, account, opts).await? else {
                    return Ok((id, ConnectOutcome::Unchanged));
                };
                return Ok((id, ConnectOutcome::Renewed));
            }
            let now = inner.clock.now();
            let account = new.clone().into_account();
            let id = account.id;
            let (record, event) = self.with_rng(|rng| {
                lifecycle::connect(account, token.clone(), now, &inner.policy, rng)
            });
            match inner.store.insert(&record, &[event]).await {
                Ok(()) => {
                    tracing::info!(account_id = %id, kind = %new.kind, "account connected");
                    self.wake();
                    return Ok((id, ConnectOutcome::Created));
                }
                // Lost a race with another connect: take the renewal (join) path.
                Err(StoreError::Duplicate { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Contended {
            kind: new.kind,
            ig_user_id: new.ig_user_id,
            attempts: MAX_CONFLICT_RETRIES,
        })
    }

    /// Installs `token` on account `id` (a connect's renewal) unless, read again at
    /// commit time, the account holds that token already (`None`) or a fresher one
    /// ([`Error::StaleToken`] unless forced): a refresh committed since the first look
    /// is never rolled back.
    async fn renew_fresh(
        &self,
        id: AccountId,
        token: &Token,
        account: crate::Account,
        opts: ConnectOptions,
    ) -> Result<Option<Transition>> {
        let inner = &self.inner;
        for _ in 0..MAX_CONFLICT_RETRIES {
            let rec = self.get(id).await?;
            if opts.check(&rec, token)? == lifecycle::Freshness::Same {
                return Ok(None);
            }
            let now = inner.clock.now();
            let obs = Observation::Reconnected {
                token: token.clone(),
                account: Some(account.clone()),
            };
            let t = self.with_rng(|rng| lifecycle::apply(&rec, obs, now, &inner.policy, rng));
            if t.is_noop() {
                return Ok(Some(t));
            }
            match self.commit_fanned(&t).await {
                Ok(()) => {
                    inner.gateway.forget(id);
                    inner.counters.count(t.outcome);
                    tracing::info!(account_id = %id, forced = opts.force, "account renewed");
                    self.call_hook(&t).await;
                    self.wake();
                    return Ok(Some(t));
                }
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Conflict(id))
    }
    /// `owner` disconnects the account: they leave it. The others keep it (and its
    /// token); when the last owner leaves, the token is wiped and the account deleted
    /// with its history and notices ([`Departure::Deleted`]). An owner who is not a
    /// member gets [`Error::UnknownAccount`] (nothing about the account is revealed).
    pub async fn disconnect(&self, owner: &OwnerId, id: AccountId) -> Result<Departure> {
        match self
            .inner
            .store
            .leave(id, owner, self.inner.clock.now())
            .await?
        {
            Departure::NotAMember => Err(Error::UnknownAccount(id)),
            d => {
                self.inner.gateway.forget(id);
                tracing::info!(account_id = %id, departure = ?d, "owner left an account");
                Ok(d)
            }
        }
    }

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

    /// Renewal by the owner: finds the account by connection kind and Instagram user id
    /// and installs the new token. An account never connected with this kind gets
    /// [`Error::NotConnected`], with a hint when an account with this *id* was connected
    /// with the other kind. The two flows name one Instagram account with different ids
    /// (Instagram-scoped vs Instagram business account id), so a host that has the
    /// username (every flow does) calls [`Keeper::reconnect_as`], whose hint also finds
    /// the other kind by username. The token is validated as by [`Keeper::connect`]
    /// before anything is saved.
    pub async fn reconnect(
        &self,
        kind: ConnectionKind,
        ig_user_id: &str,
        token: Token,
    ) -> Result<AccountId> {
        self.reconnect_inner(kind, ig_user_id, None, token).await
    }

    /// [`Keeper::reconnect`] for the Instagram account `username` (what the flow
    /// reported): when no `kind` account has this id, [`Error::NotConnected`] hints at
    /// the other kind if an account of that kind has this id **or this username**
    /// (ASCII case ignored) — the person pressed the other renewal button (LightWidget's
    /// error 1075: a Business connection renewed with the Consumer button). The username
    /// only finds the hint; it never selects an account to renew.
    pub async fn reconnect_as(
        &self,
        kind: ConnectionKind,
        ig_user_id: &str,
        username: &str,
        token: Token,
    ) -> Result<AccountId> {
        self.reconnect_inner(kind, ig_user_id, Some(username), token)
            .await
    }

    async fn reconnect_inner(
        &self,
        kind: ConnectionKind,
        ig_user_id: &str,
        username: Option<&str>,
        token: Token,
    ) -> Result<AccountId> {
        crate::account::validate_ig_user_id(ig_user_id)?;
        token.validate(self.inner.clock.now())?;
        let rec = self.find_or_hint(kind, ig_user_id, username).await?;
        self.renew(rec, token, None).await.map(|t| t.account.id)
    }

    /// The `kind` account with this id, or [`Error::NotConnected`] hinting at the other
    /// kind when it holds this Instagram account: by the same id, or by `username`.
    async fn find_or_hint(
        &self,
        kind: ConnectionKind,
        ig_user_id: &str,
        username: Option<&str>,
    ) -> Result<AccountId> {
        let store = &self.inner.store;
        if let Some(r) = store.find(kind, ig_user_id).await? {
            return Ok(r.account.id);
        }
        let mut other = store.find(kind.other(), ig_user_id).await?.is_some();
        if !other && let Some(u) = username.map(str::trim).filter(|u| !u.is_empty()) {
            other = !store.find_by_username(kind.other(), u).await?.is_empty();
        }
        Err(Error::NotConnected {
            kind,
            ig_user_id: ig_user_id.to_owned(),
            hint: other.then(|| kind.other()),
        })
    }

    async fn renew(
        &self,
        id: AccountId,
        token: Token,
        account: Option<crate::Account>,
    ) -> Result<Transition> {
        let t = self
            .mutate(id, || Observation::Reconnected {
                token: token.clone(),
                account: account.clone(),
            })
            .await?;
        tracing::info!(account_id = %id, "account renewed");
        self.call_hook(&t).await;
        self.wake();
        Ok(t)
    }

    /// The host reports the result of its own feed call with this account's token:
    /// success records a successful check; an expiry error expires the token at once. A
    /// permission error (codes 3, 10, 200-299) is ambiguous — the owner's removed
    /// permission or the app's lost capability — so it holds the account until a
    /// confirming re-check, and ends it
    /// ([`ExpiryReason::PermissionRemoved`](crate::ExpiryReason::PermissionRemoved)) only
    /// if the app is not failing as a whole (see
    /// [`lifecycle::incident`](crate::lifecycle::incident)).
    /// Transient errors are ignored (they are the host's to retry). Report only calls the
    /// widget needs: a permission error from an optional call (insights, say) is not the
    /// token's end. [`Keeper::graph`] does all of this for you.
    pub async fn observe(
        &self,
        id: AccountId,
        result: std::result::Result<(), ProviderError>,
    ) -> Result<StatusReport> {
        let rec = self.get(id).await?;
        let obs = self.reported(&rec, result.clone()).await;
        let t = self.mutate(id, || obs.clone()).await?;
        crate::telemetry::reported_call(t.account.kind, &result);
        self.call_hook(&t).await;
        self.status(id).await
    }

    /// The deauthorize callback: the owner removed the app. Marks the account of this
    /// kind and Instagram user id revoked and raises one notice.
    pub async fn deauthorize(&self, kind: ConnectionKind, ig_user_id: &str) -> Result<AccountId> {
        let id = self.find_or_hint(kind, ig_user_id, None).await?;
        let t = self.mutate(id, || Observation::Deauthorized).await?;
        self.call_hook(&t).await;
        Ok(id)
    }

    /// Facebook Login's deauthorize callback, whose `signed_request` names the
    /// app-scoped Facebook user id (not the Instagram id): every account connected with
    /// it ([`NewAccount::with_fb_user_id`]) is marked revoked, for all its owners, with
    /// one notice per owner. Returns their ids (empty when none matches: the callback
    /// answers the same either way).
    pub async fn deauthorize_facebook_user(&self, fb_user_id: &str) -> Result<Vec<AccountId>> {
        let mut out = Vec::new();
        for rec in self.inner.store.find_by_fb_user(fb_user_id).await? {
            let id = rec.account.id;
            let t = match self.mutate(id, || Observation::Deauthorized).await {
                Ok(t) => t,
                Err(Error::UnknownAccount(_)) => continue,
                Err(e) => return Err(e),
            };
            self.call_hook(&t).await;
            out.push(id);
        }
        Ok(out)
    }

    /// Facebook Login's data-deletion callback: deletes, for everyone, every account
    /// connected with this app-scoped Facebook user id, with its token, history and
    /// notices. Returns the ids deleted (for the status page the callback links to).
    pub async fn delete_facebook_user(&self, fb_user_id: &str) -> Result<Vec<AccountId>> {
        let mut out = Vec::new();
        for rec in self.inner.store.find_by_fb_user(fb_user_id).await? {
            if self.inner.store.delete(rec.account.id).await? {
                self.inner.gateway.forget(rec.account.id);
                tracing::info!(account_id = %rec.account.id, "account deleted (data deletion request)");
                out.push(rec.account.id);
            }
        }
        Ok(out)
    }

    /// Deletes an account for all its owners, with its token, history and pending
    /// notices (the data-deletion callback, operators). An owner removing it from their
    /// own list calls [`Keeper::disconnect`] instead. Unknown accounts give
    /// [`Error::UnknownAccount`].
    pub async fn delete_account(&self, id: AccountId) -> Result<()> {
        if self.inner.store.delete(id).await? {
            self.inner.gateway.forget(id);
            tracing::info!(account_id = %id, "account deleted");
            Ok(())
        } else {
            Err(Error::UnknownAccount(id))
        }
    }

    /// Asks for a refresh as soon as the token is old enough (24 h by default), instead
    /// of waiting for the refresh window.
    pub async fn force_refresh(&self, id: AccountId) -> Result<StatusReport> {
        let rec = self.get(id).await?;
        if !rec.state.status.is_active() {
            return Err(Error::InvalidInput(format!(
                "account {id} is {}: a dead token cannot be refreshed; the owner must reconnect",
                rec.state.status.as_str()
            )));
        }
        self.mutate(id, || Observation::RefreshRequested).await?;
        self.wake();
        self.status(id).await
    }

    /// Status, reason, last successful check, expiry, data-access expiry, next action,
    /// viewed as the primary owner (operators; a host page uses [`Keeper::status_for`]).
    pub async fn status(&self, id: AccountId) -> Result<StatusReport> {
        Ok(self.report(&self.get(id).await?))
    }

    /// The status report of a record, judged against the clock: `unverified` when Graph
    /// has not confirmed the token for [`RefreshPolicy::unverified_after`](crate::RefreshPolicy::unverified_after).
    fn report(&self, rec: &crate::AccountRecord) -> StatusReport {
        StatusReport::from(rec).judged(self.inner.clock.now(), self.inner.policy.unverified_after())
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

    /// Counters and the last sweep time of this keeper.
    pub fn stats(&self) -> KeeperStats {
        self.inner.counters.snapshot()
    }

    /// The last sweep of any keeper sharing the store (worker id, time).
    pub async fn last_sweep(&self) -> Result<Option<(String, chrono::DateTime<chrono::Utc>)>> {
        Ok(self.inner.store.last_sweep().await?)
    }

    async fn get(&self, id: AccountId) -> Result<crate::AccountRecord> {
        self.inner
            .store
            .get(id)
            .await?
            .ok_or(Error::UnknownAccount(id))
    }

    /// Read-apply-commit with optimistic retries.
    pub(super) async fn mutate(
        &self,
        id: AccountId,
        obs: impl Fn() -> Observation,
    ) -> Result<Transition> {
        let inner = &self.inner;
        for _ in 0..MAX_CONFLICT_RETRIES {
            let rec = self.get(id).await?;
            let now = inner.clock.now();
            let t = self.with_rng(|rng| lifecycle::apply(&rec, obs(), now, &inner.policy, rng));
            if t.is_noop() {
                return Ok(t);
            }
            match self.commit_fanned(&t).await {
                Ok(()) => {
                    // Gateway calls read the new state (a reconnect's token, a revocation).
                    inner.gateway.forget(id);
                    inner.counters.count(t.outcome);
                    return Ok(t);
                }
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Conflict(id))
    }
}

/// Options of [`Keeper::connect_with`]. The default is what [`Keeper::connect`] does:
/// the token's `issued_at` is its real issue time and an older token than the one held
/// is refused ([`Error::StaleToken`]).
///
/// ```
/// use lightwidget_core::ConnectOptions;
/// let o = ConnectOptions::default().force(true).issued_at_unknown(true);
/// assert!(o.force && o.issued_at_unknown);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectOptions {
    /// Install the token even when it is older than the one held (rolling back on
    /// purpose, e.g. the held token is known to be broken). A token equal to the held
    /// one is still not re-installed.
    pub force: bool,
    /// The token's `issued_at` is a stand-in, not its real issue time (an import row
    /// without one): it is compared by expiry instead ([`lifecycle::freshness`] with
    /// [`IssuedAt::Unknown`](lifecycle::IssuedAt::Unknown)).
    pub issued_at_unknown: bool,
}

impl ConnectOptions {
    /// Sets [`force`](Self::force).
    pub fn force(mut self, force: bool) -> Self {
        self.force = force;
        self
    }

    /// Sets [`issued_at_unknown`](Self::issued_at_unknown).
    pub fn issued_at_unknown(mut self, unknown: bool) -> Self {
        self.issued_at_unknown = unknown;
        self
    }

    /// How `token` compares with the token `rec` holds; [`Error::StaleToken`] when it is
    /// older and not forced.
    fn check(&self, rec: &crate::AccountRecord, token: &Token) -> Result<lifecycle::Freshness> {
        let issued = if self.issued_at_unknown {
            lifecycle::IssuedAt::Unknown
        } else {
            lifecycle::IssuedAt::Known
        };
        let held = &rec.state.token;
        match lifecycle::freshness(held, token, issued) {
            lifecycle::Freshness::Older if !self.force => Err(Error::StaleToken {
                kind: rec.account.kind,
                ig_user_id: rec.account.ig_user_id.clone(),
                account: rec.account.id,
                issued_at: (!self.issued_at_unknown).then_some(token.issued_at),
                expires_at: token.expires_at,
                held_issued_at: held.issued_at,
                held_expires_at: held.expires_at,
            }),
            f => Ok(f),
        }
    }
}

/// What [`Keeper::connect_with`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectOutcome {
    /// A new account.
    Created,
    /// The account existed: the token given was installed (a `reconnected` row).
    Renewed,
    /// The account holds this very token: nothing installed, no history row (the owner
    /// joined and metadata was updated if needed).
    Unchanged,
}

/// The keeper's health, for a host's `/healthz` or an alert rule: the scheduler that
/// silently stopped is the most common way tokens die (peers: WP-Cron, Laravel
/// scheduler, Heroku add-ons).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Health {
    /// The last sweep of any keeper sharing the store.
    pub last_sweep_at: Option<chrono::DateTime<chrono::Utc>>,
    /// No sweep within `max_age` (or never), or the last one is dated more than
    /// [`CLOCK_SKEW`](Self::CLOCK_SKEW) in the future (a keeper's clock is wrong).
    pub stale: bool,
    /// Accounts per status.
    pub counts: crate::StatusCounts,
    /// Open app-wide incidents (accounts held, owners not told): the keeper works, the
    /// platform or the app does not. A daemon's readiness reports them.
    pub incidents: Vec<crate::Incident>,
}

impl Health {
    /// How far in the future a sweep time may be (clocks of several keepers differ).
    pub const CLOCK_SKEW: chrono::TimeDelta = chrono::TimeDelta::seconds(5);
}

impl Keeper {
    /// Reports whether sweeps are happening (any keeper on the store swept within
    /// `max_age`) and how many accounts are active, expired and revoked.
    ///
    /// A good `max_age` is a few poll intervals (e.g. 10 minutes).
    pub async fn health(&self, max_age: std::time::Duration) -> Result<Health> {
        let last = self.inner.store.last_sweep().await?.map(|(_, at)| at);
        let now = self.inner.clock.now();
        let max_age = chrono::TimeDelta::from_std(max_age).unwrap_or(chrono::TimeDelta::MAX);
        let counts = self.inner.store.count_by_status().await?;
        crate::telemetry::accounts(counts.active, counts.expired, counts.revoked);
        let incidents = self.inner.store.incidents(true, usize::MAX).await?;
        Ok(Health {
            incidents,
            last_sweep_at: last,
            // A sweep dated in the future (a keeper's clock is wrong) is not a sign of life.
            stale: last.is_none_or(|at| {
                now.checked_add_signed(Health::CLOCK_SKEW)
                    .is_some_and(|limit| at > limit)
                    || now.signed_duration_since(at) > max_age
            }),
            counts,
        })
    }
}
