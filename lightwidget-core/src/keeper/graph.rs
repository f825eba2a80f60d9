//! The gateway: [`Keeper::graph`] hands out a [`GraphSession`] whose Graph API calls
//! carry the account's current token (never handed out) and are observed through the
//! same lifecycle as the keeper's own calls.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use tokio::sync::watch;

use super::Keeper;
use super::write::Guard;
use crate::gateway::{GatewayError, Media, MediaList, MediaPage, Profile, earliest};

use crate::{
    Account, AccountId, AccountRecord, ConnectionKind, Error, ProviderError, Token, TokenStatus,
};

/// Fields of a media item, and of an album's children.
const MEDIA_FIELDS: &str = "id,caption,media_type,media_url,permalink,thumbnail_url,timestamp,children{id,media_type,media_url,thumbnail_url,permalink,timestamp}";
/// How long a call waits for an in-flight refresh of its account to be committed.
const REFRESH_WAIT: Duration = Duration::from_secs(30);
/// The wait a rate limit without a retry time is given.
const DEFAULT_THROTTLE: Duration = Duration::from_secs(300);
/// How long an account's record, read for a call, serves that account's next calls.
const RECORD_TTL: Duration = Duration::from_secs(1);

/// The keeper's gateway state: refreshes in flight (so a call waits for the token that
/// ends up current), the success observations already written per account, and the
/// records recent calls read (so a busy widget reads the store about once a second, not
/// on every call).
pub(crate) struct GatewayState {
    observe_every: TimeDelta,
    refreshing: Mutex<HashMap<AccountId, watch::Sender<()>>>,
    observed: Mutex<HashMap<AccountId, DateTime<Utc>>>,
    records: Mutex<HashMap<AccountId, (Arc<AccountRecord>, Instant)>>,
}

impl GatewayState {
    pub(crate) fn new(observe_every: Duration) -> Self {
        Self {
            observe_every: TimeDelta::from_std(observe_every).unwrap_or(TimeDelta::MAX),
            refreshing: Mutex::default(),
            observed: Mutex::default(),
            records: Mutex::default(),
        }
    }

    /// A record of `id` read less than [`RECORD_TTL`] ago, if any.
    fn recent(&self, id: AccountId) -> Option<Arc<AccountRecord>> {
        let m = lock(&self.records);
        m.get(&id)
            .filter(|(_, at)| at.elapsed() < RECORD_TTL)
            .map(|(r, _)| r.clone())
    }

    /// Keeps an active account's record for the next calls (a token that does not work
    /// is never served from here: its calls read the store).
    fn keep(&self, rec: Arc<AccountRecord>) {
        if rec.state.status.is_active() {
            let mut m = lock(&self.records);
            if m.len() > 10_000 {
                m.retain(|_, (_, at)| at.elapsed() < RECORD_TTL);
            }
            m.insert(rec.account.id, (rec, Instant::now()));
        }
    }

    /// The account was written (or its token failed): its next call reads the store.
    pub(crate) fn forget(&self, id: AccountId) {
        lock(&self.records).remove(&id);
    }

    /// The sweep starts refreshing `id`: gateway calls for it wait until
    /// [`refreshes_end`](Self::refreshes_end).
    pub(crate) fn refresh_begins(&self, id: AccountId) {
        let (tx, _) = watch::channel(());
        lock(&self.refreshing).insert(id, tx);
    }

    /// The sweep committed (or gave up on) these accounts: waiting calls go on, with
    /// whatever token is current now.
    /// Their records kept for calls are dropped too: the next call reads the store.
    pub(crate) fn refreshes_end(&self, ids: impl Iterator<Item = AccountId>) {
        let mut m = lock(&self.refreshing);
        let mut r = lock(&self.records);
        if m.is_empty() && r.is_empty() {
            return;
        }
        for id in ids {
            // Dropping the sender wakes every receiver.
            m.remove(&id);
            r.remove(&id);
        }
    }

    async fn wait_for_refresh(&self, id: AccountId) {
        let rx = lock(&self.refreshing)
            .get(&id)
            .map(watch::Sender::subscribe);
        if let Some(mut rx) = rx {
            // `changed` fails once the sender is dropped: the refresh is committed. A
            // sweep that died leaves its entry behind; the wait is bounded for that.
            let _ = tokio::time::timeout(REFRESH_WAIT, rx.changed()).await;
        }
    }

    /// Whether a success at `now` is to be written: not if this process wrote one for
    /// the account within the interval, nor if it did earlier and the store shows a
    /// more recent check (a sweep, another process) within the interval. The first
    /// success this process sees for an account is written whatever the store shows, so
    /// a connect (which counts as a check) does not hide the calls of the next ten
    /// minutes. Claims the slot, so concurrent calls write once.
    fn claim_success(&self, rec: &AccountRecord, now: DateTime<Utc>) -> bool {
        let every = self.observe_every;
        let recent = |t: DateTime<Utc>| now.signed_duration_since(t) < every;
        if rec.state.last_checked_at.is_some_and(|t| t >= now) {
            return false; // nothing to move
        }
        let mut m = lock(&self.observed);
        match m.get(&rec.account.id) {
            Some(t) if recent(*t) => return false,
            Some(_) if rec.state.last_checked_at.is_some_and(recent) => return false,
            _ => {}
        }
        m.insert(rec.account.id, now);
        true
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Keeper {
    /// A Graph API session for one account: typed calls for what widgets show (the
    /// [`profile`](GraphSession::profile), the [`media`](GraphSession::media) list with
    /// cursor paging, one [`media_item`](GraphSession::media_item)) and a raw
    /// [`get`](GraphSession::get), for both connection kinds (graph.instagram.com for
    /// Instagram Login, graph.facebook.com with the Instagram business id for Facebook
    /// Login). Cheap: nothing is read until a call.
    ///
    /// The token is attached inside and never returned. Every answer is an observation,
    /// exactly as if the keeper had made the call:
    /// - a **success** moves the account's last successful check — at most once per
    ///   [`graph_observe_interval`](crate::KeeperBuilder::graph_observe_interval)
    ///   (default 10 minutes) per account, so a busy widget writes at most six times an
    ///   hour, whatever its traffic; the first success a process sees for an account
    ///   always moves it (a connect counts as a check, and the preview right after it
    ///   shows its own call);
    /// - a **token error** (190 and its subcodes, the app removed, or — for the typed
    ///   calls — a permission the widget needs removed) ends the token at once, with its
    ///   history event, one notice and the `on_expired` hook, and the call returns
    ///   [`GatewayError::NotActive`]; later calls are refused without a request;
    /// - **rate limits** return [`GatewayError::Throttled`] with the time calls may
    ///   resume, and **transient failures** [`GatewayError::Transient`]; neither is
    ///   recorded. The provider's usage-header throttle is the one the keeper's sweeps
    ///   use: above the high-water mark it spaces the calls of the app (or of one
    ///   account) in proportion to the usage, a call waiting a few seconds at most for
    ///   its slot and otherwise returning `Throttled` with the slot's time; only Meta's
    ///   own throttle stops calls, for Meta's time. A busy widget slows the sweeps too.
    ///
    /// A call made while the keeper is refreshing this account waits for the refresh to
    /// be committed and uses the token that ends up current; a call never triggers a
    /// refresh. If a token error comes back and the stored token changed meanwhile (a
    /// refresh by another keeper process, a reconnect), the call is made once more with
    /// the current token before anything is recorded.
    ///
    /// A call reuses the account's record read by a call of the last second, so a busy
    /// widget reads the store about once a second, not on every call. The keeper's own
    /// writes of the account (its sweeps, the gateway's observations) and any failed
    /// call drop it at once; a token that does not work is never reused; a token error
    /// is always checked against a fresh read. A write elsewhere (another process, the
    /// host's `reconnect` or `disconnect`) is seen within that second.
    ///
    /// ```no_run
    /// # async fn demo(keeper: lightwidget_core::Keeper, id: lightwidget_core::AccountId)
    /// # -> Result<(), lightwidget_core::gateway::GatewayError> {
    /// let graph = keeper.graph(id);
    /// let profile = graph.profile().await?;
    /// let mut page = graph.media(None, Some(12)).await?;
    /// while let Some(after) = page.after.clone() {
    ///     page = graph.media(Some(&after), Some(12)).await?;
    /// }
    /// // Fetch again before the CDN URLs expire.
    /// println!("{} — refetch before {:?}", profile.username, graph.urls_expire_at());
    /// # Ok(()) }
    /// ```
    pub fn graph(&self, id: AccountId) -> GraphSession {
        GraphSession {
            keeper: self.clone(),
            id,
            urls_expire_at: Mutex::new(None),
        }
    }
}

/// A Graph API session for one account (see [`Keeper::graph`]). Holds no token: each
/// call reads the current one. `Debug` shows the account id only.
pub struct GraphSession {
    keeper: Keeper,
    id: AccountId,
    urls_expire_at: Mutex<Option<DateTime<Utc>>>,
}

impl std::fmt::Debug for GraphSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphSession")
            .field("account_id", &self.id)
            .field("urls_expire_at", &*lock(&self.urls_expire_at))
            .finish_non_exhaustive()
    }
}

/// One GET: a path relative to the versioned Graph root, and its query.
struct Request {
    path: String,
    query: Vec<(String, String)>,
    /// Typed calls need only the widget's own permission: a permission error ends the
    /// token. A raw `get` may ask for anything, so its permission errors do not.
    permission_is_fatal: bool,
}

impl GraphSession {
    /// The account this session calls for.
    pub fn account_id(&self) -> AccountId {
        self.id
    }

    /// The earliest CDN expiry (`oe`) of any media or profile picture URL this session
    /// returned: fetch again before then, or images break. A hint (see
    /// [`media_url_expiry`](crate::gateway::media_url_expiry)).
    pub fn urls_expire_at(&self) -> Option<DateTime<Utc>> {
        *lock(&self.urls_expire_at)
    }

    /// The profile: id, username, media count, profile picture, and the account type
    /// (consumer connections).
    pub async fn profile(&self) -> Result<Profile, GatewayError> {
        let p: Profile = self
            .call(|a| {
                let (node, fields) = match a.kind {
                    ConnectionKind::Consumer => (
                        "me".to_owned(),
                        "id,username,account_type,media_count,profile_picture_url",
                    ),
                    ConnectionKind::Business => (
                        a.ig_user_id.clone(),
                        "id,username,media_count,profile_picture_url",
                    ),
                };
                Ok(typed(node, vec![("fields".into(), fields.into())]))
            })
            .await?;
        let p = p.with_expiry();
        self.saw_expiry(p.picture_expires_at);
        Ok(p)
    }

    /// One page of the account's media, newest first: `after` is the previous page's
    /// [`MediaPage::after`] (`None` for the first page), `limit` the page size (Graph's
    /// default when `None`, at most 100).
    pub async fn media(
        &self,
        after: Option<&str>,
        limit: Option<u32>,
    ) -> Result<MediaPage, GatewayError> {
        let listing: crate::gateway::types::Listing<Media> = self
            .call(|a| {
                let node = match a.kind {
                    ConnectionKind::Consumer => "me".to_owned(),
                    ConnectionKind::Business => a.ig_user_id.clone(),
                };
                let mut q = vec![("fields".to_owned(), MEDIA_FIELDS.to_owned())];
                if let Some(n) = limit {
                    q.push(("limit".into(), n.clamp(1, 100).to_string()));
                }
                if let Some(c) = after {
                    q.push(("after".into(), c.to_owned()));
                }
                Ok(typed(format!("{node}/media"), q))
            })
            .await?;
        let page = listing.into_page();
        self.saw_expiry(page.url_expires_at);
        Ok(page)
    }

    /// Every media item, walking the pages (`limit` per page) until the last, or until
    /// `max_items` are read.
    ///
    /// A page that cannot be read after the first (throttled for longer than the
    /// client waits, a temporary failure, the token ended) does not lose the pages
    /// read: the [`MediaList`] returned has them, with the cursor to continue from
    /// ([`all_media_from`](Self::all_media_from)) and the error that stopped the walk.
    /// Only a failure of the first page is an `Err`.
    ///
    /// ```no_run
    /// # async fn demo(graph: lightwidget_core::GraphSession)
    /// # -> Result<(), lightwidget_core::gateway::GatewayError> {
    /// let list = graph.all_media(Some(25), 500).await?;
    /// show(&list.items);
    /// if let (Some(after), Some(why)) = (&list.after, &list.stopped) {
    ///     // e.g. throttled: continue at `why.throttled_until()` from `after`.
    ///     let rest = graph.all_media_from(Some(after), Some(25), 500).await?;
    /// }
    /// # fn show(_: &[lightwidget_core::gateway::Media]) {}
    /// # Ok(()) }
    /// ```
    pub async fn all_media(
        &self,
        limit: Option<u32>,
        max_items: usize,
    ) -> Result<MediaList, GatewayError> {
        self.all_media_from(None, limit, max_items).await
    }

    /// [`all_media`](Self::all_media) starting at the page of cursor `after` (`None`:
    /// the first page), such as the [`MediaList::after`] of a walk that stopped early.
    pub async fn all_media_from(
        &self,
        after: Option<&str>,
        limit: Option<u32>,
        max_items: usize,
    ) -> Result<MediaList, GatewayError> {
        let mut list = MediaList {
            items: Vec::new(),
            after: None,
            stopped: None,
            url_expires_at: None,
        };
        let mut after: Option<String> = after.map(str::to_owned);
        let mut first = true;
        loop {
            let page = match self.media(after.as_deref(), limit).await {
                Ok(p) => p,
                Err(e) if first => return Err(e),
                Err(e) => {
                    tracing::info!(account_id = %self.id, items = list.items.len(), error = %e, "gateway: media walk stopped early; returning the pages read");
                    list.after = after;
                    list.stopped = Some(e);
                    break;
                }
            };
            first = false;
            list.items.extend(page.items);
            after = page.after;
            if after.is_none() || list.items.len() >= max_items {
                list.items.truncate(max_items);
                break;
            }
        }
        list.url_expires_at = list
            .items
            .iter()
            .fold(None, |acc, m| earliest(acc, m.url_expires_at));
        Ok(list)
    }

    /// One media item (with an album's children).
    pub async fn media_item(&self, media_id: &str) -> Result<Media, GatewayError> {
        let id = media_id.to_owned();
        let m: Media = self
            .call(move |_| {
                if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                    return Err(GatewayError::InvalidRequest(format!(
                        "not a media id: {id:?}"
                    )));
                }
                Ok(typed(
                    id.clone(),
                    vec![("fields".into(), MEDIA_FIELDS.into())],
                ))
            })
            .await?;
        let m = m.with_expiry();
        self.saw_expiry(m.url_expires_at);
        Ok(m)
    }

    /// Any other GET, as JSON: `path` is relative to the versioned root of the account's
    /// Graph host (`me/stories`, `17841400000000/insights`), `query` its parameters
    /// (not `access_token`). Observed like the typed calls, except that a permission
    /// error is returned as [`GatewayError::Refused`] without ending the token (the path
    /// may need a permission the widget never had). Any echo of the token in the body
    /// (such as `paging.next` URLs) reads `[REDACTED]`.
    pub async fn get(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<serde_json::Value, GatewayError> {
        let path = path.strip_prefix('/').unwrap_or(path).to_owned();
        check_path(&path)?;
        let mut q = Vec::with_capacity(query.len());
        for (k, v) in query {
            if k.eq_ignore_ascii_case("access_token") {
                return Err(GatewayError::InvalidRequest(
                    "the query must not carry access_token: the session attaches it".into(),
                ));
            }
            q.push(((*k).to_owned(), (*v).to_owned()));
        }
        self.call(move |_| {
            Ok(Request {
                path: path.clone(),
                query: q.clone(),
                permission_is_fatal: false,
            })
        })
        .await
    }

    fn saw_expiry(&self, at: Option<DateTime<Utc>>) {
        if at.is_some() {
            let mut g = lock(&self.urls_expire_at);
            *g = earliest(*g, at);
        }
    }

    /// A body that is not JSON (cut short, an HTML error page) is transient, like the
    /// keeper's malformed responses; JSON of the wrong shape is unexpected.
    fn decode<T: serde::de::DeserializeOwned>(&self, body: &[u8]) -> Result<T, GatewayError> {
        // serde's messages name the field and position, never the body's text.
        serde_json::from_slice(body).map_err(|e| match e.classify() {
            serde_json::error::Category::Data => GatewayError::Unexpected {
                account: self.id,
                message: format!("response did not parse: {e}"),
            },
            _ => GatewayError::Transient {
                account: self.id,
                source: ProviderError::Transient {
                    retry_after: None,
                    message: format!("malformed JSON in a success response: {e}"),
                },
            },
        })
    }

    /// Reads the current token (after any refresh in flight), calls, decodes, observes.
    /// Only a body that decodes is a success.
    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        request: impl Fn(&Account) -> Result<Request, GatewayError>,
    ) -> Result<T, GatewayError> {
        let k = &self.keeper;
        let inner = &k.inner;
        inner.gateway.wait_for_refresh(self.id).await;
        let mut rec = match inner.gateway.recent(self.id) {
            Some(r) => r,
            None => {
                let r = Arc::new(self.current().await?);
                inner.gateway.keep(r.clone());
                r
            }
        };
        let mut req = request(&rec.account)?;
        let mut result = self.send(&rec, &req).await;
        if result.is_err() {
            inner.gateway.forget(self.id);
        }
        if result.as_ref().is_err_and(|e| self.ends_token(e, &req)) {
            // The token may have been replaced since it was read: a refresh by another
            // keeper, a reconnect. Only the current token's answer counts.
            inner.gateway.wait_for_refresh(self.id).await;
            let now = self.current().await?;
            if !now.state.token.same_value(&rec.state.token) {
                rec = Arc::new(now);
                req = request(&rec.account)?;
                result = self.send(&rec, &req).await;
            }
        }
        let now = inner.clock.now();
        match result {
            Ok(body) => {
                let value = self.decode(&scrub(body, &rec.state.token))?;
                if inner.gateway.claim_success(&rec, now) {
                    self.observe(&rec.state.token, Ok(())).await;
                }
                Ok(value)
            }
            Err(e) if self.ends_token(&e, &req) => {
                let status = match self.observe(&rec.state.token, Err(e.clone())).await {
                    Some(s) => s,
                    None => self.current_status().await?,
                };
                if status.is_active() {
                    // Held, not ended (an ambiguous error awaiting its confirming
                    // re-check, an app-wide incident): the call failed, the token stands.
                    return Err(GatewayError::from_provider(
                        self.id,
                        e,
                        now,
                        DEFAULT_THROTTLE,
                    ));
                }
                Err(GatewayError::NotActive {
                    account: self.id,
                    status,
                })
            }
            Err(e) => Err(GatewayError::from_provider(
                self.id,
                e,
                now,
                DEFAULT_THROTTLE,
            )),
        }
    }

    fn ends_token(&self, e: &ProviderError, req: &Request) -> bool {
        e.is_expired() || (req.permission_is_fatal && matches!(e, ProviderError::Permission { .. }))
    }

    async fn send(&self, rec: &AccountRecord, req: &Request) -> Result<Vec<u8>, ProviderError> {
        self.keeper
            .inner
            .provider
            .graph_get(&rec.account, &rec.state.token, &req.path, &req.query)
            .await
    }

    /// The account's record; a token that no longer works is refused here, without a
    /// request.
    async fn current(&self) -> Result<AccountRecord, GatewayError> {
        let rec = self.read().await?;
        if !rec.state.status.is_active() {
            return Err(GatewayError::NotActive {
                account: self.id,
                status: rec.state.status,
            });
        }
        Ok(rec)
    }

    async fn read(&self) -> Result<AccountRecord, Error> {
        self.keeper
            .inner
            .store
            .get(self.id)
            .await?
            .ok_or(Error::UnknownAccount(self.id))
    }

    async fn current_status(&self) -> Result<TokenStatus, GatewayError> {
        Ok(self.read().await?.state.status)
    }

    /// Feeds a call's outcome through the lifecycle, as the host's `observe` does, but
    /// only while the token used is still the current one (an answer about a replaced
    /// token says nothing about the new one). Returns the status after it, `None` if it
    /// could not be recorded (logged; the call's own result stands).
    async fn observe(
        &self,
        used: &Token,
        result: Result<(), ProviderError>,
    ) -> Option<TokenStatus> {
        let k = &self.keeper;
        let rec = match self.read().await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(account_id = %self.id, error = %e, "gateway: could not read the account to record a call");
                return None;
            }
        };
        if !rec.state.token.same_value(used) {
            return Some(rec.state.status);
        }
        // Judged once (it counts in the app's incident window), applied to each re-read.
        let obs = k.reported(&rec, result).await;
        let still_current =
            |r: &AccountRecord| Ok(r.state.token.same_value(used).then(|| obs.clone()));
        match k
            .write(self.id, Some(rec), Guard::Caller, still_current)
            .await
        {
            Ok(w) => Some(w.status()),
            Err(e) => {
                k.inner.gateway.forget(self.id);
                tracing::warn!(account_id = %self.id, error = %e, "gateway: could not record a call");
                None
            }
        }
    }
}

fn typed(path: String, query: Vec<(String, String)>) -> Request {
    Request {
        path,
        query,
        permission_is_fatal: true,
    }
}

/// A raw path must stay on the account's Graph host, under the versioned root.
fn check_path(path: &str) -> Result<(), GatewayError> {
    let ok = !path.is_empty()
        && path.split('/').all(|seg| {
            !seg.is_empty()
                && seg != "."
                && seg != ".."
                && seg
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
        });
    if ok {
        Ok(())
    } else {
        Err(GatewayError::InvalidRequest(format!(
            "{path:?} is not a relative Graph API path (segments of letters, digits, '_', '-', '.')"
        )))
    }
}

/// Replaces any echo of the token in a response body (Graph's `paging.next` URLs
/// carry it) with `[REDACTED]`.
fn scrub(body: Vec<u8>, token: &Token) -> Vec<u8> {
    let secret = token.secret();
    if secret.is_empty() {
        return body;
    }
    match std::str::from_utf8(&body) {
        Ok(s) if s.contains(secret) => s.replace(secret, "[REDACTED]").into_bytes(),
        _ => body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_paths_stay_on_the_graph_host() {
        for ok in ["me", "me/media", "17841400000000/insights", "a.b-c_d"] {
            assert!(check_path(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "//evil.example/x",
            "../oauth/access_token",
            "me/../x",
            "me?access_token=x",
            "https://evil.example",
            "me//media",
            "me/%2e%2e",
        ] {
            assert!(check_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_echoed_token_is_redacted() {
        let t = Token::new("IGAAsecret", Utc::now());
        let body = br#"{"paging":{"next":"https://g/x?access_token=IGAAsecret&after=1"}}"#;
        let out = String::from_utf8(scrub(body.to_vec(), &t)).unwrap();
        assert!(!out.contains("IGAAsecret"));
        assert!(out.contains("access_token=[REDACTED]"));
    }
}
