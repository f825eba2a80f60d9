//! The host API for accounts: connect (create, join, renew), reconnect, disconnect,
//! delete, the deauthorize and data-deletion callbacks, a host's report of its own Graph
//! call, and a forced refresh. Every write goes through the one write path
//! ([`super::write`]); its effects (hooks, counters, gateway, wake) happen there.

use super::Keeper;
use super::write::{CONFLICT_RETRIES, Guard, Written};
use crate::lifecycle::{self, Observation};
use crate::{
    AccountId, AccountRecord, ConnectionKind, Departure, Error, Membership, NewAccount, OwnerId,
    ProviderError, Result, StatusReport, StoreError, Token,
};

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
        for _ in 0..CONFLICT_RETRIES {
            if let Some(existing) = inner.store.find(new.kind, &new.ig_user_id).await? {
                match self.join_existing(&new, &token, opts, existing).await? {
                    Some(done) => return Ok(done),
                    // Deleted meanwhile (its last owner left): connect afresh.
                    None => continue,
                }
            }
            let now = inner.clock.now();
            let account = new.clone().into_account();
            let (record, event) = self.with_rng(|rng| {
                lifecycle::connect(account, token.clone(), now, &inner.settings.policy, rng)
            });
            match inner.store.insert(&record, &[event]).await {
                Ok(()) => {
                    self.inserted(&record);
                    return Ok((record.account.id, ConnectOutcome::Created));
                }
                // Lost a race with another connect: take the renewal (join) path.
                Err(StoreError::Duplicate { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Contended {
            kind: new.kind,
            ig_user_id: new.ig_user_id,
            attempts: CONFLICT_RETRIES,
        })
    }

    /// A connect of an account someone holds: `new.owner` joins it (or has their
    /// entitlements updated), then the token is installed through the one write path
    /// unless, read again at commit time, the account holds that token already or a
    /// fresher one ([`Error::StaleToken`] unless forced): a refresh committed since the
    /// first look is never rolled back. `None`: the account was deleted meanwhile.
    pub(super) async fn join_existing(
        &self,
        new: &NewAccount,
        token: &Token,
        opts: ConnectOptions,
        existing: AccountRecord,
    ) -> Result<Option<(AccountId, ConnectOutcome)>> {
        let inner = &self.inner;
        let id = existing.account.id;
        // Refused before the owner joins: nothing saved.
        let fresh = opts.check(&existing, token)?;
        let member = Membership::new(new.owner.clone(), new.entitlements, inner.clock.now());
        match inner.store.join(id, &member).await {
            Ok(true) => tracing::info!(account_id = %id, "owner joined a shared account"),
            Ok(false) => {}
            Err(StoreError::UnknownAccount(_)) => return Ok(None),
            Err(e) => return Err(e.into()),
        }
        let mut account = new.clone().into_account();
        account.id = id;
        // The account's entitlements mirror the primary owner's; anyone else's are on
        // their membership only.
        if existing.account.owner != new.owner {
            account.entitlements = existing.account.entitlements;
        }
        account.fb_user_id = new
            .fb_user_id
            .clone()
            .or(existing.account.fb_user_id.clone());
        if fresh == lifecycle::Freshness::Same {
            // The token held already: keep it, its state and its history; only metadata
            // the caller brings (username, page, Facebook user id).
            account.owner = existing.account.owner.clone();
            if account != existing.account {
                match inner.store.update_account(&account).await {
                    Ok(()) => {}
                    Err(StoreError::UnknownAccount(_)) => return Ok(None),
                    Err(e) => return Err(e.into()),
                }
            }
            tracing::info!(account_id = %id, "connect with the token held: unchanged");
            return Ok(Some((id, ConnectOutcome::Unchanged)));
        }
        let decide = |rec: &AccountRecord| {
            if opts.check(rec, token)? == lifecycle::Freshness::Same {
                return Ok(None);
            }
            Ok(Some(Observation::Reconnected {
                token: token.clone(),
                account: Some(account.clone()),
            }))
        };
        // A newcomer's join leaves the record's version as it was, so the record read is
        // the base; the primary owner's own join moves it, and the write path reads again.
        match self
            .write(id, Some(existing), Guard::Caller, decide)
            .await?
        {
            Written::Declined(_) => Ok(Some((id, ConnectOutcome::Unchanged))),
            // The commit stored a new Facebook user id with the token.
            Written::Committed(_) | Written::Unchanged(_) => {
                tracing::info!(account_id = %id, forced = opts.force, "account renewed");
                Ok(Some((id, ConnectOutcome::Renewed)))
            }
        }
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
                self.removed(id);
                tracing::info!(account_id = %id, departure = ?d, "owner left an account");
                Ok(d)
            }
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
        let id = self.find_or_hint(kind, ig_user_id, username).await?;
        let obs = Observation::Reconnected {
            token,
            account: None,
        };
        self.apply(id, obs).await?;
        tracing::info!(account_id = %id, "account renewed");
        Ok(id)
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
            ig_user_id: ig_user_id.into(),
            hint: other.then(|| kind.other()),
        })
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
        let kind = rec.account.kind;
        let obs = self.reported(&rec, result.clone()).await;
        self.write(id, Some(rec), Guard::Caller, |_| Ok(Some(obs.clone())))
            .await?;
        crate::telemetry::reported_call(kind, &result);
        self.status(id).await
    }

    /// The deauthorize callback: the owner removed the app. Marks the account of this
    /// kind and Instagram user id revoked and raises one notice.
    pub async fn deauthorize(&self, kind: ConnectionKind, ig_user_id: &str) -> Result<AccountId> {
        let id = self.find_or_hint(kind, ig_user_id, None).await?;
        self.apply(id, Observation::Deauthorized).await?;
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
            let revoke = |_: &AccountRecord| Ok(Some(Observation::Deauthorized));
            match self.write(id, Some(rec), Guard::Caller, revoke).await {
                Ok(_) => out.push(id),
                Err(Error::UnknownAccount(_)) => continue,
                Err(e) => return Err(e),
            }
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
                self.removed(rec.account.id);
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
            self.removed(id);
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
        let requested = |_: &AccountRecord| Ok(Some(Observation::RefreshRequested));
        self.write(id, Some(rec), Guard::Caller, requested).await?;
        self.status(id).await
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
