//! Ports: the traits adapters implement (store, provider, notifier, host hooks).

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::gateway::{GraphFailure, Media, MediaPage, Profile};

use crate::{
    Account, AccountId, AccountRecord, ConnectionKind, DeliveryError, Departure, HistoryEntry,
    HistoryQuery, Incident, IncidentAlert, IncidentId, Membership, Notice, OutboxEntry, OwnerId,
    Preferences, ProviderError, Recipient, StoreError, Token, TokenEvent, TokenStatus, Transition,
};

/// Counts of accounts per status.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct StatusCounts {
    /// Active tokens.
    pub active: u64,
    /// Expired tokens.
    pub expired: u64,
    /// Revoked tokens.
    pub revoked: u64,
}

/// Which accounts [`TokenStore::lookup`] returns. Every lookup lists accounts oldest
/// first (by [`AccountId`], which grows with time).
#[derive(Clone, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum Lookup {
    /// The account with this id (at most one).
    Id(AccountId),
    /// The account of this connection kind and Instagram user id (at most one).
    Key {
        /// How it was connected.
        kind: ConnectionKind,
        /// Its Instagram user id.
        ig_user_id: crate::IgUserId,
    },
    /// Every account this owner is a member of, each viewed as that owner
    /// (`account.owner` is them, `account.entitlements` theirs).
    Owner(OwnerId),
    /// Accounts connected by this app-scoped Facebook user id (business connections).
    FbUser(crate::FbUserId),
    /// Accounts of `kind` whose username is `username`, compared ignoring ASCII case
    /// (Instagram usernames are ASCII and case-insensitive). Used on the renewal error
    /// path only (no index needed).
    Username {
        /// How they were connected.
        kind: ConnectionKind,
        /// The username.
        username: String,
    },
}

/// Durable storage of accounts, token state, history, outbox and preferences.
///
/// # Writing a backend
/// The trait holds the primitives a backend must implement and, as provided methods
/// built on them, the conveniences the keeper calls ([`find`](TokenStore::find),
/// [`list_by_owner`](TokenStore::list_by_owner),
/// [`find_by_fb_user`](TokenStore::find_by_fb_user),
/// [`find_by_username`](TokenStore::find_by_username) and [`get`](TokenStore::get) on
/// [`lookup`](TokenStore::lookup); [`history`](TokenStore::history) and
/// [`history_for`](TokenStore::history_for) on [`read_history`](TokenStore::read_history);
/// [`commit`](TokenStore::commit) on [`commit_many`](TokenStore::commit_many);
/// [`release`](TokenStore::release) on [`extend_leases`](TokenStore::extend_leases)). A
/// backend may override any of them with a faster path that behaves the same.
///
/// Stores only persist: every decision is made by a pure function of
/// [`lifecycle`](crate::lifecycle), and the store writes its result. The notices of a
/// commit are fanned out by the keeper; a leave applies
/// [`Succession::after_leave`](crate::Succession::after_leave) and an acknowledgement
/// [`Acknowledged::of`](crate::Acknowledged::of) inside the store's transaction.
///
/// # Shared accounts
/// An account has one or more owners ([`Membership`]s). [`insert`](TokenStore::insert)
/// makes `record.account.owner` its first member (with `record.account.entitlements`);
/// [`join`](TokenStore::join) and [`leave`](TokenStore::leave) change the set, and the
/// last leave deletes the account. Commits enqueue a transition's notices exactly as
/// given: the keeper has already made one copy per member ([`Notice::for_owner`],
/// [`lifecycle::fan_out`](crate::lifecycle::fan_out)). Owner-specific history (notice
/// outcomes, joins, leaves) is stored with its owner ([`HistoryEntry::owner`]).
///
/// Implementations must pass the conformance suite in `lightwidget_core::testkit`
/// (feature `testkit`). [`InMemoryStore`](crate::InMemoryStore) is the reference.
///
/// # Fencing
/// Every record has a `version`. [`claim_due`](TokenStore::claim_due) and every
/// successful [`commit`](TokenStore::commit) increment it; a commit whose
/// `expected_version` is not current is refused with [`StoreError::Conflict`]. So a worker
/// whose lease expired and was taken over cannot overwrite the newer state, and a host
/// call (reconnect) racing a keeper's refresh wins cleanly.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait TokenStore: Send + Sync + 'static {
    // ------------------------------------------------------------ accounts

    /// Inserts a newly connected account with its first history events.
    /// Fails with [`StoreError::Duplicate`] if (kind, Instagram user id) exists.
    async fn insert(&self, record: &AccountRecord, events: &[TokenEvent])
    -> Result<(), StoreError>;

    /// Deletes an account with its token, history and notices (data-deletion requests).
    /// Returns whether it existed.
    async fn delete(&self, id: AccountId) -> Result<bool, StoreError>;

    /// The accounts `lookup` names, oldest first.
    async fn lookup(&self, lookup: &Lookup) -> Result<Vec<AccountRecord>, StoreError>;

    /// Reads one account.
    async fn get(&self, id: AccountId) -> Result<Option<AccountRecord>, StoreError> {
        Ok(self.lookup(&Lookup::Id(id)).await?.into_iter().next())
    }

    /// Finds an account by connection kind and Instagram user id.
    async fn find(
        &self,
        kind: ConnectionKind,
        ig_user_id: &str,
    ) -> Result<Option<AccountRecord>, StoreError> {
        let key = Lookup::Key {
            kind,
            ig_user_id: ig_user_id.into(),
        };
        Ok(self.lookup(&key).await?.into_iter().next())
    }

    /// All accounts `owner` is a member of, oldest first, each viewed as that owner
    /// (`account.owner` is `owner`, `account.entitlements` theirs).
    async fn list_by_owner(&self, owner: &OwnerId) -> Result<Vec<AccountRecord>, StoreError> {
        self.lookup(&Lookup::Owner(owner.clone())).await
    }

    /// Accounts connected by this app-scoped Facebook user id (business connections),
    /// oldest first.
    async fn find_by_fb_user(&self, fb_user_id: &str) -> Result<Vec<AccountRecord>, StoreError> {
        self.lookup(&Lookup::FbUser(fb_user_id.into())).await
    }

    /// Accounts of `kind` whose username is `username`, compared ignoring ASCII case,
    /// oldest first ([`Lookup::Username`]). The one thing both flows report for the same
    /// Instagram account is its username: Instagram Login names the Instagram-scoped
    /// user id, Facebook Login the Instagram business account id, and Meta does not
    /// promise they are equal.
    async fn find_by_username(
        &self,
        kind: ConnectionKind,
        username: &str,
    ) -> Result<Vec<AccountRecord>, StoreError> {
        let by = Lookup::Username {
            kind,
            username: username.to_owned(),
        };
        self.lookup(&by).await
    }

    /// Updates an account's metadata (primary owner, username, page, Facebook user id,
    /// entitlements), not its token state. The entitlements are also those of the
    /// membership of `account.owner`, if it is a member.
    async fn update_account(&self, account: &Account) -> Result<(), StoreError>;

    /// Counts accounts per status.
    async fn count_by_status(&self) -> Result<StatusCounts, StoreError>;

    // ------------------------------------------------------------ owners

    /// The owners of an account, in the order they joined. Unknown accounts give
    /// [`StoreError::UnknownAccount`].
    async fn owners(&self, id: AccountId) -> Result<Vec<Membership>, StoreError>;

    /// Adds `member` to the account's owners and appends a `Joined` event for them,
    /// returning `true`; if they already are one, only updates their entitlements and
    /// returns `false`. Either way, when `member` is the account's primary owner the
    /// account's entitlements become theirs, in the same transaction. Unknown accounts
    /// give [`StoreError::UnknownAccount`].
    async fn join(&self, id: AccountId, member: &Membership) -> Result<bool, StoreError>;

    /// Removes `owner` from the account's owners, in one transaction, and applies the
    /// pure [`Succession::after_leave`](crate::Succession::after_leave): if nobody is left
    /// the account is deleted with its token, history and notices; otherwise a `Left`
    /// event is appended for them (at `at`) and, if they were the primary owner, the
    /// earliest remaining member becomes it.
    async fn leave(
        &self,
        id: AccountId,
        owner: &OwnerId,
        at: DateTime<Utc>,
    ) -> Result<Departure, StoreError>;

    // ------------------------------------------------------------ claims and commits

    /// Leases up to `limit` accounts whose `next_action_at <= now` and whose lease is free
    /// or ended, earliest first. Each is handed to exactly one claimer until `now + lease`.
    /// The returned records carry the incremented version.
    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        limit: usize,
        lease: Duration,
        worker: &str,
    ) -> Result<Vec<AccountRecord>, StoreError>;

    /// Commits several transitions; each succeeds or fails on its own, as
    /// [`commit`](TokenStore::commit) describes. One round trip / transaction where the
    /// backend allows.
    async fn commit_many(&self, transitions: &[Transition]) -> Vec<Result<(), StoreError>>;

    /// Atomically writes the new state and the account's metadata (with its Facebook user
    /// id when the transition carries one: a reconnect's; `None` keeps the stored one),
    /// appends the history events and enqueues the notices as given (ignoring notices
    /// whose dedupe key already exists), and clears the lease. Refused with
    /// [`StoreError::Conflict`] if the record's version is not
    /// `transition.expected_version`.
    async fn commit(&self, transition: &Transition) -> Result<(), StoreError> {
        self.commit_many(std::slice::from_ref(transition))
            .await
            .pop()
            .unwrap_or_else(|| {
                Err(StoreError::Backend {
                    message: "commit_many returned no result for one transition".into(),
                    source: None,
                })
            })
    }

    /// Heartbeat: for each `(id, version)` a keeper is still working on, moves the lease
    /// end to `until` if the record is still at `version` (nobody claimed or committed it
    /// since, even if the lease ran out meanwhile). Returns, per entry and in order,
    /// whether it is still this keeper's; `false` means the lease is truly lost and the
    /// commit will be refused. One round trip per call where the backend allows.
    async fn extend_leases(
        &self,
        leases: &[(AccountId, i64)],
        until: DateTime<Utc>,
    ) -> Result<Vec<bool>, StoreError>;

    /// Gives a lease back without changing the state (graceful shutdown). A no-op if the
    /// version moved on. By default, ends the lease at the Unix epoch.
    async fn release(&self, id: AccountId, version: i64) -> Result<(), StoreError> {
        self.extend_leases(&[(id, version)], DateTime::UNIX_EPOCH)
            .await
            .map(|_| ())
    }

    // ------------------------------------------------------------ history

    /// A page of an account's history, newest first: every event, of every owner, when
    /// `owner` is `None` (operators); as `owner` sees it otherwise (token events from
    /// when they joined, and their own owner-specific events). Unknown accounts, and
    /// owners who are not members, give [`StoreError::UnknownAccount`].
    async fn read_history(
        &self,
        id: AccountId,
        owner: Option<OwnerId>,
        query: HistoryQuery,
    ) -> Result<Vec<HistoryEntry>, StoreError>;

    /// History of an account, newest first: every event, of every owner (operators).
    async fn history(
        &self,
        id: AccountId,
        query: HistoryQuery,
    ) -> Result<Vec<HistoryEntry>, StoreError> {
        self.read_history(id, None, query).await
    }

    /// History of an account as `owner` sees it, newest first: token events from when
    /// they joined, and their own owner-specific events. Unknown accounts and owners who
    /// are not members give [`StoreError::UnknownAccount`].
    async fn history_for(
        &self,
        id: AccountId,
        owner: &OwnerId,
        query: HistoryQuery,
    ) -> Result<Vec<HistoryEntry>, StoreError> {
        self.read_history(id, Some(owner.clone()), query).await
    }

    // ------------------------------------------------------------ outbox

    /// Leases up to `limit` pending notices due at `now`, oldest first.
    async fn take_outbox(
        &self,
        now: DateTime<Utc>,
        limit: usize,
        lease: Duration,
        worker: &str,
    ) -> Result<Vec<OutboxEntry>, StoreError>;

    /// Records what a dispatch attempt comes to, fenced on the entry's version: the
    /// keeper decides it with the pure [`Acknowledged::of`](crate::Acknowledged::of) and
    /// the store writes it as given. A final acknowledgement sets the notice's state and
    /// appends its history event in the same transaction, as an owner-specific event of
    /// the notice's owner; a retry sets when and who already has it. Acking an entry
    /// twice with the same version is refused with [`StoreError::Conflict`].
    async fn ack_outbox(
        &self,
        notice_id: Uuid,
        version: i64,
        ack: &crate::Acknowledged,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// All notices of an account ever enqueued, with their state (for status pages and tests).
    async fn notices(&self, id: AccountId) -> Result<Vec<(Notice, NoticeState)>, StoreError>;

    // ------------------------------------------------------------ preferences, sweeps

    /// An owner's preferences (empty = nothing opted in).
    async fn preferences(&self, owner: &OwnerId) -> Result<Preferences, StoreError>;

    /// Replaces an owner's preferences.
    async fn set_preferences(&self, prefs: &Preferences) -> Result<(), StoreError>;

    /// Records that `worker` finished a sweep at `at` (the heartbeat hosts alert on).
    async fn record_sweep(&self, worker: &str, at: DateTime<Utc>) -> Result<(), StoreError>;

    /// The most recent sweep of any worker.
    async fn last_sweep(&self) -> Result<Option<(String, DateTime<Utc>)>, StoreError>;

    // ------------------------------------------------------------ incidents
    // App-wide incidents (`crate::incident`): durable, so a restart during one keeps it,
    // and shared by every keeper on the store.

    /// Opens `incident` unless an incident of the same app and kind is open already.
    /// Returns the open one (this or the existing) and whether this call opened it (only
    /// the opener alerts, so several keepers opening at once raise one alert).
    async fn open_incident(&self, incident: &Incident) -> Result<(Incident, bool), StoreError>;

    /// Writes an incident's count, `updated_at` and `resolved_at`; the stored count never
    /// goes down. Returns `false` (writing nothing) when it is already resolved or
    /// unknown — a resolution is written once, by one keeper — and, for an update that
    /// does not resolve, when the stored count is not lower than this one (another keeper
    /// announced as much already).
    async fn update_incident(&self, incident: &Incident) -> Result<bool, StoreError>;

    /// Incidents, newest first: only the open ones, or up to `limit` of all.
    async fn incidents(&self, open_only: bool, limit: usize) -> Result<Vec<Incident>, StoreError>;

    /// Makes every active account held by `incident` due at `at` (it resolved: they are
    /// re-verified at once). Returns how many. Does not bump versions or touch leases.
    async fn release_held(
        &self,
        incident: IncidentId,
        at: DateTime<Utc>,
    ) -> Result<u64, StoreError>;

    // ------------------------------------------------------------------ used links
    // Single-use links (one-click unsubscribe), remembered durably so a used link stays
    // used across restarts and keepers. No default: remembering in memory only would
    // break the promise silently.

    /// Records the first use of the single-use link `link_id` (at most
    /// [`MAX_LINK_ID_LEN`] bytes) at `at`: `true` if this is its first use, `false` if it
    /// was used before (the first use's record is kept). Atomic: of concurrent calls with
    /// one id, exactly one gets `true`.
    async fn mark_link_used(&self, link_id: &str, at: DateTime<Utc>) -> Result<bool, StoreError>;

    /// Forgets the links used before `used_before`; returns how many were forgotten.
    async fn prune_used_links(&self, used_before: DateTime<Utc>) -> Result<u64, StoreError>;

    // ------------------------------------------------------------------ held values
    // Short-lived values a web layer keeps between two requests of one person (a pending
    // choice among Facebook Pages with its Page tokens, the account a renewal is for),
    // shared by every instance of the host. They are secrets: SQL stores seal them like
    // tokens. The defaults refuse loudly (a store that cannot share them must not pretend
    // to).

    /// Keeps `value` under `key` (at most [`MAX_LINK_ID_LEN`] bytes) until `until`,
    /// replacing what the key held. Values expired at `now` may be forgotten then.
    async fn put_held(
        &self,
        key: &str,
        value: &secrecy::SecretString,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let _ = (key, value, now, until);
        Err(held_unsupported())
    }

    /// The value under `key` if it has not expired at `now`, left in place.
    async fn get_held(
        &self,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<secrecy::SecretString>, StoreError> {
        let _ = (key, now);
        Err(held_unsupported())
    }

    /// The value under `key`, taken: of concurrent takes of one key, exactly one gets it.
    /// An expired value is gone (`None`).
    async fn take_held(
        &self,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<secrecy::SecretString>, StoreError> {
        let _ = (key, now);
        Err(held_unsupported())
    }
}

fn held_unsupported() -> StoreError {
    StoreError::Rejected {
        message: "this store does not keep held values (put_held / get_held / take_held)".into(),
        source: None,
    }
}

/// The longest link id [`TokenStore::mark_link_used`] accepts, in bytes.
pub const MAX_LINK_ID_LEN: usize = 128;

/// A link id a store accepts: 1 to [`MAX_LINK_ID_LEN`](crate::MAX_LINK_ID_LEN) bytes.
/// Stores refuse others rather than truncate them (two ids must never merge).
pub fn check_link_id(link_id: &str) -> Result<(), StoreError> {
    if link_id.is_empty() || link_id.len() > crate::MAX_LINK_ID_LEN {
        return Err(StoreError::Backend {
            message: format!(
                "a link id has 1 to {} bytes, not {}",
                crate::MAX_LINK_ID_LEN,
                link_id.len()
            ),
            source: None,
        });
    }
    Ok(())
}

/// Where a notice is in its delivery.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum NoticeState {
    /// Waiting for (another) delivery attempt.
    Pending,
    /// Delivered.
    Delivered,
    /// Not sent: not opted in / not entitled.
    Suppressed,
    /// Permanently failed.
    Failed,
}

impl NoticeState {
    /// Stable lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Suppressed => "suppressed",
            Self::Failed => "failed",
        }
    }
}

/// What a validity check learned.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct CheckInfo {
    /// Expiry as reported, if the check reports it.
    pub expires_at: ReportedExpiry,
    /// Data-access expiry, if reported.
    pub data_access_expires_at: Option<DateTime<Utc>>,
    /// Scopes, if reported.
    pub scopes: Option<Vec<String>>,
}

/// An expiry as a provider reports it.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum ReportedExpiry {
    /// The check does not say (e.g. `/me`): keep what is known.
    #[default]
    Unknown,
    /// Never expires (`debug_token` `expires_at: 0`).
    Never,
    /// Expires at this time.
    At(DateTime<Utc>),
}

/// Talks to Meta: refresh and check tokens, with failures classified; and the gateway's
/// calls ([`Keeper::graph`](crate::Keeper::graph)).
///
/// The gateway's methods are the seam between core and the provider's Graph vocabulary:
/// core says *what* a widget reads (a profile, a page of media, one item) in neutral
/// types, the provider knows the paths, field lists and JSON shapes that read it
/// (`lightwidget-instagram`'s `GraphProvider`). Each gets the account and its current
/// token; the keeper observes the answer. Their defaults serve no Graph calls (a
/// `Fatal` error).
///
/// Implementations must never put a token value in a [`ProviderError`] or an answer.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait TokenProvider: Send + Sync + 'static {
    /// Obtains a new token with a fresh lifetime. For connections whose tokens cannot be
    /// refreshed (Page tokens) implementations may check instead and return the same token.
    async fn refresh(&self, account: &Account, token: &Token) -> Result<Token, ProviderError>;

    /// Checks the token still works, without refreshing it.
    async fn check(&self, account: &Account, token: &Token) -> Result<CheckInfo, ProviderError>;

    /// The gateway's raw call ([`GraphSession::get`](crate::GraphSession::get)): an
    /// authenticated GET of `path` (relative to the versioned root of the account's
    /// Graph host) with `query` and `token` attached, returning the body of a success.
    /// Failures are classified like `refresh` and `check`, through the same throttle,
    /// so usage the gateway's calls report slows the keeper's calls too.
    async fn graph_get(
        &self,
        account: &Account,
        token: &Token,
        path: &str,
        query: &[(String, String)],
    ) -> Result<Vec<u8>, ProviderError> {
        let _ = (account, token, path, query);
        Err(no_graph_calls())
    }

    /// The account's profile ([`GraphSession::profile`](crate::GraphSession::profile)),
    /// its `picture_expires_at` filled in. Through the same throttle as `graph_get`.
    async fn graph_profile(
        &self,
        account: &Account,
        token: &Token,
    ) -> Result<Profile, GraphFailure> {
        let _ = (account, token);
        Err(no_graph_calls().into())
    }

    /// One page of the account's media, newest first
    /// ([`GraphSession::media`](crate::GraphSession::media)): `after` is a cursor of a
    /// previous page, `limit` the page size (the provider's default when `None`); the
    /// items' `url_expires_at` filled in.
    async fn graph_media<'a>(
        &self,
        account: &Account,
        token: &Token,
        after: Option<&'a str>,
        limit: Option<u32>,
    ) -> Result<MediaPage, GraphFailure> {
        let _ = (account, token, after, limit);
        Err(no_graph_calls().into())
    }

    /// One media item with an album's children
    /// ([`GraphSession::media_item`](crate::GraphSession::media_item)); `media_id` is
    /// letters, digits and `_` (the session checks it).
    async fn graph_media_item(
        &self,
        account: &Account,
        token: &Token,
        media_id: &str,
    ) -> Result<Media, GraphFailure> {
        let _ = (account, token, media_id);
        Err(no_graph_calls().into())
    }
}

/// What the gateway's calls answer by default.
fn no_graph_calls() -> ProviderError {
    ProviderError::Fatal {
        message: "this TokenProvider does not serve Graph API calls (Keeper::graph)".into(),
    }
}

/// Delivers notices on one channel (email, webhook, ...).
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait Notifier: Send + Sync + 'static {
    /// The channel this notifier serves: must equal [`Recipient::channel`] of the
    /// recipients it is given (`"email"`, `"webhook"`).
    fn channel(&self) -> &'static str;

    /// Delivers one notice to one recipient. Should be idempotent on `notice.id` where the
    /// channel allows (a retry after a crash may deliver again).
    async fn deliver(&self, notice: &Notice, to: &Recipient) -> Result<(), DeliveryError>;
}

/// Delivers operator alerts: one per change of an app-wide incident (opened, updated,
/// resolved). Owners are never told about incidents; operators are, here, besides the
/// log line (ERROR on open) and the metrics.
#[async_trait]
pub trait OperatorAlerts: Send + Sync + 'static {
    /// Delivers one alert. The keeper retries a failed delivery a few times, then logs it.
    async fn alert(&self, alert: &IncidentAlert) -> Result<(), DeliveryError>;
}

/// Callbacks into the host. All have empty defaults.
///
/// ```
/// use async_trait::async_trait;
/// use lightwidget_core::{Account, LifecycleHooks};
/// struct BumpWidgets;
/// #[async_trait]
/// impl LifecycleHooks for BumpWidgets {
///     async fn on_renewed(&self, account: &Account) {
///         // put this account's widgets at the front of the refresh queue
///         let _ = &account.id;
///     }
/// }
/// ```
#[async_trait]
pub trait LifecycleHooks: Send + Sync + 'static {
    /// The owner reconnected (renewed) the account: refresh its widgets first.
    async fn on_renewed(&self, _account: &Account) {}
    /// The keeper refreshed the token.
    async fn on_refreshed(&self, _account: &Account) {}
    /// The token stopped working.
    async fn on_expired(&self, _account: &Account, _status: &TokenStatus) {}
    /// The account was held by a problem on the platform's side (an app-wide incident,
    /// an ambiguous error under suspicion) and Graph confirmed its token again: it works,
    /// and nothing was asked of the owner. Once per owner, like `on_renewed`.
    async fn on_recovered(&self, _account: &Account) {}
}

/// Hooks that do nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoHooks;

#[async_trait]
impl LifecycleHooks for NoHooks {}
