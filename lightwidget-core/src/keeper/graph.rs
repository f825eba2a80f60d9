//! The gateway: [`Keeper::graph`] hands out a [`GraphSession`] whose Graph API calls
//! carry the account's current token (never handed out) and are observed through the
//! same lifecycle as the keeper's own calls.
//!
//! The session knows no Graph vocabulary: each call goes through the provider port
//! ([`TokenProvider`]'s `graph_*` methods), which knows the paths, fields and JSON
//! shapes; the session guards what the host passes in (a raw path stays relative, a
//! media id is one segment, no `access_token`), waits for a refresh in flight, reuses
//! recent records ([`GatewayState`], `records.rs`) and observes the answer.

use crate::sync::Locked;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::Keeper;
pub(crate) use super::records::GatewayState;

use super::write::Guard;
use crate::gateway::{GatewayError, GraphFailure, Media, MediaList, MediaPage, Profile, earliest};
use crate::{
    Account, AccountId, AccountRecord, Error, ProviderError, Token, TokenProvider, TokenStatus,
};

/// The wait a rate limit without a retry time is given.
const DEFAULT_THROTTLE: Duration = Duration::from_secs(300);

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
            .field("urls_expire_at", &*self.urls_expire_at.locked())
            .finish_non_exhaustive()
    }
}

/// One kind of gateway call: how it goes through the provider port.
trait Call {
    /// What it answers.
    type Output;
    /// Typed calls need only the widget's own permission: a permission error ends the
    /// token. A raw `get` may ask for anything, so its permission errors do not.
    const PERMISSION_ENDS_TOKEN: bool = true;
    /// Sends it for `account` with `token`.
    fn send<'a>(
        &'a self,
        provider: &'a dyn TokenProvider,
        account: &'a Account,
        token: &'a Token,
    ) -> impl Future<Output = Result<Self::Output, GraphFailure>> + Send + 'a;
}

struct ProfileCall;

impl Call for ProfileCall {
    type Output = Profile;
    fn send<'a>(
        &'a self,
        provider: &'a dyn TokenProvider,
        account: &'a Account,
        token: &'a Token,
    ) -> impl Future<Output = Result<Profile, GraphFailure>> + Send + 'a {
        provider.graph_profile(account, token)
    }
}

struct MediaCall<'s> {
    after: Option<&'s str>,
    limit: Option<u32>,
}

impl Call for MediaCall<'_> {
    type Output = MediaPage;
    fn send<'a>(
        &'a self,
        provider: &'a dyn TokenProvider,
        account: &'a Account,
        token: &'a Token,
    ) -> impl Future<Output = Result<MediaPage, GraphFailure>> + Send + 'a {
        provider.graph_media(account, token, self.after, self.limit)
    }
}

struct ItemCall<'s>(&'s str);

impl Call for ItemCall<'_> {
    type Output = Media;
    fn send<'a>(
        &'a self,
        provider: &'a dyn TokenProvider,
        account: &'a Account,
        token: &'a Token,
    ) -> impl Future<Output = Result<Media, GraphFailure>> + Send + 'a {
        provider.graph_media_item(account, token, self.0)
    }
}

/// A raw GET: a path relative to the versioned Graph root, and its query.
struct RawCall {
    path: String,
    query: Vec<(String, String)>,
}

impl Call for RawCall {
    type Output = serde_json::Value;
    const PERMISSION_ENDS_TOKEN: bool = false;
    async fn send<'a>(
        &'a self,
        provider: &'a dyn TokenProvider,
        account: &'a Account,
        token: &'a Token,
    ) -> Result<serde_json::Value, GraphFailure> {
        let body = provider
            .graph_get(account, token, &self.path, &self.query)
            .await?;
        Ok(serde_json::from_slice(&scrub(body, token))?)
    }
}

impl GraphSession {
    /// The account this session calls for.
    pub fn account_id(&self) -> AccountId {
        self.id
    }

    /// The earliest CDN expiry (`oe`) of any media or profile picture URL this session
    /// returned: fetch again before then, or images break. A hint (for Instagram, see
    /// `lightwidget_instagram::media::media_url_expiry`).
    pub fn urls_expire_at(&self) -> Option<DateTime<Utc>> {
        *self.urls_expire_at.locked()
    }

    /// The profile: id, username, media count, profile picture, and the account type
    /// (consumer connections).
    pub async fn profile(&self) -> Result<Profile, GatewayError> {
        let p = self.call(ProfileCall).await?;
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
        let page = self.call(MediaCall { after, limit }).await?;
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
        if media_id.is_empty()
            || !media_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return Err(GatewayError::InvalidRequest(format!(
                "not a media id: {media_id:?}"
            )));
        }
        let m = self.call(ItemCall(media_id)).await?;
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
        self.call(RawCall { path, query: q }).await
    }

    fn saw_expiry(&self, at: Option<DateTime<Utc>>) {
        if at.is_some() {
            let mut g = self.urls_expire_at.locked();
            *g = earliest(*g, at);
        }
    }

    /// Reads the current token (after any refresh in flight), calls, observes. Only an
    /// answer that decodes is a success.
    async fn call<C: Call>(&self, call: C) -> Result<C::Output, GatewayError> {
        let inner = &self.keeper.inner;
        inner.gateway.wait_for_refresh(self.id).await;
        let mut rec = match inner.gateway.recent(self.id) {
            Some(r) => r,
            None => {
                let r = Arc::new(self.current().await?);
                inner.gateway.keep(r.clone());
                r
            }
        };
        let fatal = |f: &GraphFailure| match f {
            GraphFailure::Call(e) => ends_token(C::PERMISSION_ENDS_TOKEN, e),
            _ => false,
        };
        let mut result = self.send(&rec, &call).await;
        if matches!(result, Err(GraphFailure::Call(_))) {
            inner.gateway.forget(self.id);
        }
        if result.as_ref().is_err_and(fatal) {
            // The token may have been replaced since it was read: a refresh by another
            // keeper, a reconnect. Only the current token's answer counts.
            inner.gateway.wait_for_refresh(self.id).await;
            let now = self.current().await?;
            if !now.state.token.same_value(&rec.state.token) {
                rec = Arc::new(now);
                result = self.send(&rec, &call).await;
            }
        }
        let now = inner.clock.now();
        match result {
            Ok(value) => {
                if inner.gateway.claim_success(&rec, now) {
                    self.observe(&rec.state.token, Ok(())).await;
                }
                Ok(value)
            }
            Err(GraphFailure::Call(e)) if ends_token(C::PERMISSION_ENDS_TOKEN, &e) => {
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
            Err(f) => Err(GatewayError::from_failure(
                self.id,
                f,
                now,
                DEFAULT_THROTTLE,
            )),
        }
    }

    async fn send<C: Call>(
        &self,
        rec: &AccountRecord,
        call: &C,
    ) -> Result<C::Output, GraphFailure> {
        call.send(&*self.keeper.inner.provider, &rec.account, &rec.state.token)
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

/// Whether an error ends the token: an expiry, or for typed calls a permission the
/// widget needs removed.
fn ends_token(permission_is_fatal: bool, e: &ProviderError) -> bool {
    e.is_expired() || (permission_is_fatal && matches!(e, ProviderError::Permission { .. }))
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
