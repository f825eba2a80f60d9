//! The gateway (`Keeper::graph`) over real HTTP against the sandbox: every call for both
//! connection kinds, and every observation rule (success throttled, token errors at
//! once with one notice, rate limits shared with the keeper, calls during a refresh,
//! paging, CDN expiry, no token in any `Debug`).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{TimeDelta, TimeZone, Utc};
use lightwidget_core::gateway::{GatewayError, GraphFailure, Media, MediaPage, MediaType, Profile};
use lightwidget_core::testkit::RecordingHooks;
use lightwidget_core::*;
use lightwidget_instagram::sandbox::{Fault, Sandbox, SandboxConfig, UserHandle};
use lightwidget_instagram::*;

/// The real provider, recording the token of every gateway call.
struct Recording {
    inner: GraphProvider,
    used: Mutex<Vec<String>>,
    /// The next gateway call: another process renews the account with this token as
    /// the call fails with 190.
    renew_next: Mutex<Option<(Arc<InMemoryStore>, Token)>>,
}

#[async_trait]
impl TokenProvider for Recording {
    async fn refresh(&self, a: &Account, t: &Token) -> Result<Token, ProviderError> {
        self.inner.refresh(a, t).await
    }
    async fn check(&self, a: &Account, t: &Token) -> Result<CheckInfo, ProviderError> {
        self.inner.check(a, t).await
    }
    async fn graph_get(
        &self,
        a: &Account,
        t: &Token,
        path: &str,
        query: &[(String, String)],
    ) -> Result<Vec<u8>, ProviderError> {
        self.before(a, t).await?;
        self.inner.graph_get(a, t, path, query).await
    }
    async fn graph_profile(&self, a: &Account, t: &Token) -> Result<Profile, GraphFailure> {
        self.before(a, t).await?;
        self.inner.graph_profile(a, t).await
    }
    async fn graph_media<'a>(
        &self,
        a: &Account,
        t: &Token,
        after: Option<&'a str>,
        limit: Option<u32>,
    ) -> Result<MediaPage, GraphFailure> {
        self.before(a, t).await?;
        self.inner.graph_media(a, t, after, limit).await
    }
    async fn graph_media_item(
        &self,
        a: &Account,
        t: &Token,
        id: &str,
    ) -> Result<Media, GraphFailure> {
        self.before(a, t).await?;
        self.inner.graph_media_item(a, t, id).await
    }
}

impl Recording {
    /// Records the token of a gateway call, and plays the renewal of `renew_next`.
    async fn before(&self, a: &Account, t: &Token) -> Result<(), ProviderError> {
        self.used.lock().unwrap().push(t.secret().to_owned());
        let renew = self.renew_next.lock().unwrap().take();
        if let Some((store, token)) = renew {
            let rec = store.get(a.id).await.unwrap().unwrap();
            let mut rng = <rand::rngs::SmallRng as rand::SeedableRng>::seed_from_u64(1);
            let obs = Observation::Reconnected {
                token,
                account: None,
            };
            let t = lifecycle::apply(&rec, obs, Utc::now(), &RefreshPolicy::default(), &mut rng);
            store.commit(&t).await.unwrap();
            return Err(ProviderError::Expired {
                reason: ExpiryReason::SessionInvalidated,
                message: "190/467".into(),
            });
        }
        Ok(())
    }
}

struct Setup {
    clock: ManualClock,
    sandbox: Sandbox,
    keeper: Keeper,
    store: Arc<InMemoryStore>,
    hooks: Arc<RecordingHooks>,
    provider: Arc<Recording>,
}

async fn setup() -> Setup {
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 3, 1, 8, 0, 0).unwrap());
    let sandbox = Sandbox::start(SandboxConfig {
        clock: Arc::new(clock.clone()),
        ..Default::default()
    })
    .await
    .unwrap();
    let consumer = InstagramLogin::new(
        sandbox
            .consumer_config()
            .clock(Arc::new(clock.clone()))
            .build()
            .unwrap(),
    )
    .unwrap();
    let business = FacebookLogin::new(
        sandbox
            .business_config()
            .clock(Arc::new(clock.clone()))
            .build()
            .unwrap(),
    )
    .unwrap();
    let provider = Arc::new(Recording {
        inner: GraphProvider::new(Some(Arc::new(consumer)), Some(Arc::new(business)))
            .with_clock(Arc::new(clock.clone())),
        used: Mutex::default(),
        renew_next: Mutex::default(),
    });
    let store = Arc::new(InMemoryStore::new());
    let hooks = Arc::new(RecordingHooks::default());
    let keeper = Keeper::builder(store.clone(), provider.clone())
        .clock(Arc::new(clock.clone()))
        .hooks(hooks.clone())
        .rng_seed(3)
        .build()
        .unwrap();
    Setup {
        clock,
        sandbox,
        keeper,
        store,
        hooks,
        provider,
    }
}

impl Setup {
    async fn consumer(&self, name: &str, age_days: i64) -> (UserHandle, AccountId) {
        let u = self.sandbox.create_consumer_user(name);
        let t = self
            .sandbox
            .issue_consumer_token(&u, TimeDelta::days(age_days));
        let id = self
            .keeper
            .connect(
                NewAccount::new("owner", ConnectionKind::Consumer, &u.id, &u.username),
                t,
            )
            .await
            .unwrap();
        (u, id)
    }

    async fn business(&self, name: &str) -> (UserHandle, AccountId) {
        let u = self.sandbox.create_business_user(name);
        let t = self.sandbox.issue_page_token(&u);
        let id = self
            .keeper
            .connect(
                NewAccount::new("owner", ConnectionKind::Business, &u.id, &u.username)
                    .with_page_id(u.page_id.clone().unwrap()),
                t,
            )
            .await
            .unwrap();
        (u, id)
    }

    async fn last_checked(&self, id: AccountId) -> Option<chrono::DateTime<Utc>> {
        self.keeper.status(id).await.unwrap().last_checked_at
    }
}

#[tokio::test]
async fn profile_media_paging_albums_and_items_for_both_kinds() {
    let s = setup().await;
    let (cu, cid) = s.consumer("paul", 3).await;
    let (bu, bid) = s.business("shop").await;
    for (u, id, consumer) in [(&cu, cid, true), (&bu, bid, false)] {
        let g = s.keeper.graph(id);
        let p = g.profile().await.unwrap();
        assert_eq!(
            (p.id.as_str(), p.username.as_str()),
            (u.id.as_str(), u.username.as_str())
        );
        assert_eq!(p.media_count, Some(30));
        assert_eq!(p.account_type.is_some(), consumer, "{p:?}");
        assert!(p.picture_expires_at.unwrap() > s.clock.now());

        // Paging walks every page, newest first, no item twice.
        let mut seen = Vec::new();
        let mut page = g.media(None, Some(12)).await.unwrap();
        let mut pages = 1;
        seen.extend(page.items.iter().map(|m| m.id.clone()));
        while let Some(after) = page.after.clone() {
            page = g.media(Some(&after), Some(12)).await.unwrap();
            pages += 1;
            seen.extend(page.items.iter().map(|m| m.id.clone()));
        }
        assert_eq!((pages, seen.len()), (3, 30));
        let mut dedup = seen.clone();
        dedup.dedup();
        assert_eq!(dedup.len(), 30);
        let all = g.all_media(Some(7), 1000).await.unwrap();
        assert!(all.is_complete() && all.after.is_none(), "{all:?}");
        let all = all.items;
        assert_eq!(
            all.iter().map(|m| &m.id).collect::<Vec<_>>(),
            seen.iter().collect::<Vec<_>>()
        );
        assert_eq!(g.all_media(Some(7), 10).await.unwrap().items.len(), 10);

        // Albums carry their children; every item its CDN expiry.
        let album = all
            .iter()
            .find(|m| m.media_type == Some(MediaType::CarouselAlbum))
            .unwrap();
        assert_eq!(album.children.len(), 3);
        assert!(album.children.iter().all(|c| c.media_url.is_some()));
        let video = all
            .iter()
            .find(|m| m.media_type == Some(MediaType::Video))
            .unwrap();
        assert!(video.thumbnail_url.is_some());
        assert!(
            all.iter()
                .all(|m| m.url_expires_at.is_some() && m.timestamp.is_some())
        );
        assert!(
            all.iter()
                .all(|m| m.caption.is_some() && m.permalink.is_some())
        );
        let earliest = all.iter().filter_map(|m| m.url_expires_at).min().unwrap();
        assert_eq!(
            g.urls_expire_at(),
            Some(earliest.min(p.picture_expires_at.unwrap()))
        );

        // One item, and an album child on its own.
        let one = g.media_item(&album.id).await.unwrap();
        assert_eq!(one.children, album.children);
        let child = g.media_item(&album.children[0].id).await.unwrap();
        assert_eq!(child.media_url, album.children[0].media_url);
        let missing = g.media_item("18999").await.unwrap_err();
        assert!(
            matches!(missing, GatewayError::Refused { .. }),
            "{missing:?}"
        );
        assert!(s.keeper.status(id).await.unwrap().status.is_active());

        // The raw call: JSON for anything else, with the token in `paging.next` redacted.
        let node = if consumer {
            "me".to_owned()
        } else {
            u.id.clone()
        };
        let raw = g
            .get(
                &format!("{node}/media"),
                &[("fields", "id,media_url"), ("limit", "2")],
            )
            .await
            .unwrap();
        assert_eq!(raw["data"].as_array().unwrap().len(), 2);
        let next = raw["paging"]["next"].as_str().unwrap();
        assert!(
            next.contains("access_token=[REDACTED]")
                || next.contains("access_token=%5BREDACTED%5D"),
            "{next}"
        );
        let token = s.keeper.access_token(id).await.unwrap();
        assert!(!raw.to_string().contains(token.secret()));
    }
}

#[tokio::test]
async fn raw_requests_cannot_leave_the_graph_host_or_carry_a_token() {
    let s = setup().await;
    let (_, id) = s.consumer("paul", 3).await;
    let g = s.keeper.graph(id);
    for bad in [
        "//evil.example/x",
        "../oauth/access_token",
        "me?x=1",
        "https://evil.example/",
    ] {
        let e = g.get(bad, &[]).await.unwrap_err();
        assert!(matches!(e, GatewayError::InvalidRequest(_)), "{bad}: {e:?}");
    }
    let e = g.get("me", &[("access_token", "other")]).await.unwrap_err();
    assert!(matches!(e, GatewayError::InvalidRequest(_)), "{e:?}");
    assert!(matches!(
        g.media_item("../me").await.unwrap_err(),
        GatewayError::InvalidRequest(_)
    ));
    assert!(
        s.provider.used.lock().unwrap().is_empty(),
        "nothing was sent"
    );
}

#[tokio::test]
async fn a_success_moves_the_last_check_once_per_window() {
    let s = setup().await;
    let (_, id) = s.consumer("paul", 3).await;
    let t0 = s.clock.now();
    let g = s.keeper.graph(id);
    g.profile().await.unwrap();
    assert_eq!(
        s.last_checked(id).await,
        Some(t0),
        "connected just now: nothing to write"
    );
    s.clock.advance(TimeDelta::minutes(11));
    let t1 = s.clock.now();
    g.profile().await.unwrap();
    assert_eq!(s.last_checked(id).await, Some(t1), "moved");
    let version = s.store.get(id).await.unwrap().unwrap().version;
    for _ in 0..5 {
        s.clock.advance(TimeDelta::minutes(1));
        g.media(None, Some(5)).await.unwrap();
    }
    // Many calls at once inside a new window write once.
    s.clock.advance(TimeDelta::minutes(10));
    let t2 = s.clock.now();
    let calls: Vec<_> = (0..8).map(|_| g.profile()).collect();
    for r in futures::future::join_all(calls).await {
        r.unwrap();
    }
    let rec = s.store.get(id).await.unwrap().unwrap();
    assert_eq!(rec.state.last_checked_at, Some(t2));
    assert_eq!(
        rec.version,
        version + 1,
        "one write for a window, whatever the traffic"
    );
    let history = s.keeper.history(id, HistoryQuery::default()).await.unwrap();
    assert_eq!(history.len(), 1, "successes are not history: {history:?}");
}

/// A connect counts as a check; the first gateway call after it (a preview three minutes
/// later) moves the last check to its own time instead of waiting out the interval.
#[tokio::test]
async fn the_first_call_after_a_connect_moves_the_last_check() {
    let s = setup().await;
    let (_, id) = s.consumer("paul", 3).await;
    assert_eq!(s.last_checked(id).await, Some(s.clock.now()), "the connect");
    s.clock.advance(TimeDelta::minutes(3));
    let t1 = s.clock.now();
    s.keeper.graph(id).profile().await.unwrap();
    assert_eq!(s.last_checked(id).await, Some(t1), "the call's own time");
    s.clock.advance(TimeDelta::minutes(3));
    s.keeper.graph(id).profile().await.unwrap();
    assert_eq!(s.last_checked(id).await, Some(t1), "then once per interval");
}

#[tokio::test]
async fn a_password_change_expires_at_once_with_one_notice_and_one_hook() {
    let s = setup().await;
    let (u, id) = s.consumer("paul", 3).await;
    let g = s.keeper.graph(id);
    g.profile().await.unwrap();
    s.sandbox.password_changed(&u);
    let calls: Vec<_> = (0..6).map(|_| g.media(None, Some(3))).collect();
    for r in futures::future::join_all(calls).await {
        let e = r.unwrap_err();
        assert!(e.is_token_dead(), "{e:?}");
    }
    let st = s.keeper.status(id).await.unwrap();
    assert_eq!(st.status.reason(), Some(ExpiryReason::PasswordChanged));
    assert_eq!(st.next_action_at, None);
    assert_eq!(s.store.notices(id).await.unwrap().len(), 1, "one notice");
    assert_eq!(s.hooks.expired(), vec![id], "one hook");
    let history = s.keeper.history(id, HistoryQuery::default()).await.unwrap();
    let expired: Vec<_> = history
        .iter()
        .filter(|h| matches!(h.event.kind, TokenEventKind::Expired { .. }))
        .collect();
    assert_eq!(expired.len(), 1, "{history:?}");
    // Later calls are refused without a request.
    let sent = s.provider.used.lock().unwrap().len();
    let e = g.profile().await.unwrap_err();
    assert!(matches!(e, GatewayError::NotActive { .. }), "{e:?}");
    assert_eq!(s.provider.used.lock().unwrap().len(), sent);
}

#[tokio::test]
async fn a_removed_permission_ends_the_token_after_its_confirming_recheck_never_for_raw_calls() {
    let s = setup().await;
    let (u, id) = s.business("shop").await;
    let g = s.keeper.graph(id);
    s.sandbox.remove_permission(&u);
    let e = g.get(&format!("{}/insights", u.id), &[]).await.unwrap_err();
    assert!(matches!(e, GatewayError::Refused { .. }), "{e:?}");
    assert!(s.keeper.status(id).await.unwrap().status.is_active());
    // A permission error is ambiguous (the owner's permission or the app's capability):
    // the feed call fails, the account is held for a confirming re-check, nobody is told.
    let e = g.profile().await.unwrap_err();
    assert!(!e.is_token_dead(), "{e:?}");
    let st = s.keeper.status(id).await.unwrap();
    assert!(st.status.is_active());
    assert!(
        matches!(st.hold, Some(lightwidget_core::Hold::Suspect { .. })),
        "{st:?}"
    );
    assert_eq!(s.store.notices(id).await.unwrap().len(), 0);
    // The keeper's re-check confirms it is this account's own: it ends, one notice.
    s.clock.advance(TimeDelta::minutes(61));
    s.keeper.sweep().await.unwrap();
    let st = s.keeper.status(id).await.unwrap();
    assert_eq!(
        st.status.reason(),
        Some(ExpiryReason::PermissionRemoved),
        "{st:?}"
    );
    assert_eq!(s.store.notices(id).await.unwrap().len(), 1);
    let e = g.profile().await.unwrap_err();
    assert!(e.is_token_dead(), "{e:?}");
}

#[tokio::test]
async fn transient_errors_and_account_rate_limits_record_nothing() {
    let s = setup().await;
    let (u, id) = s.consumer("paul", 3).await;
    let g = s.keeper.graph(id);
    s.clock.advance(TimeDelta::minutes(30));
    let before = s.store.get(id).await.unwrap().unwrap();
    s.sandbox.inject(Fault::Status(503), 1);
    let e = g.profile().await.unwrap_err();
    assert!(
        matches!(e, GatewayError::Transient { .. }) && e.is_transient(),
        "{e:?}"
    );
    s.sandbox.inject(Fault::Malformed, 1);
    assert!(g.profile().await.unwrap_err().is_transient());
    s.sandbox.rate_limit(&u, 20);
    let e = g.media(None, None).await.unwrap_err();
    let until = e.throttled_until().expect("throttled");
    assert!(until >= s.clock.now() + TimeDelta::minutes(19), "{until}");
    let after = s.store.get(id).await.unwrap().unwrap();
    assert_eq!(after.version, before.version, "nothing written");
    assert!(after.state.status.is_active());
    assert_eq!(s.store.notices(id).await.unwrap().len(), 0);
}

/// `X-App-Usage` at 95 % (above the 90 % mark, under Meta's 100 %): the widget's calls
/// and the keeper's sweep still go out, spaced 3.6 s apart (the default pace, see
/// `usage::spacing`); a call whose slot is more than 5 s away is refused with the time of
/// its slot — seconds, never the hour it used to be.
#[tokio::test]
async fn usage_above_the_high_water_mark_paces_the_widget_and_the_sweep_without_stopping_them() {
    let s = setup().await;
    // 40 days old: due for a refresh now.
    let (_, id) = s.consumer("paul", 40).await;
    let me0 = s.sandbox.requests("me");
    // Under the high-water mark (90 %) nothing holds back.
    s.sandbox.set_app_usage(Some(89));
    let t0 = std::time::Instant::now();
    s.keeper.graph(id).profile().await.unwrap();
    s.keeper.graph(id).profile().await.unwrap();
    assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
    assert_eq!(s.sandbox.requests("me") - me0, 2);
    s.sandbox.set_app_usage(Some(95));
    // The widget's call succeeds and brings the usage header back...
    s.keeper.graph(id).profile().await.unwrap();
    // ...so the keeper's sweep on the same app waits for its slot, and refreshes.
    let t1 = std::time::Instant::now();
    s.clock.advance(TimeDelta::minutes(1));
    let r = s.keeper.sweep().await.unwrap();
    assert_eq!((r.refreshed, r.retries), (1, 0), "{r:?}");
    assert_eq!(s.sandbox.requests("refresh"), 1);
    let waited = t1.elapsed();
    assert!(
        waited >= Duration::from_millis(3400) && waited < Duration::from_millis(5500),
        "the sweep waited {waited:?}"
    );
    // Two widget calls at once: the first waits 3.6 s for the next slot and goes; the
    // second's slot is 7.2 s away, more than a caller is held (5 s): it is refused
    // without a request, until that slot.
    let me1 = s.sandbox.requests("me");
    let g = s.keeper.graph(id);
    let g2 = s.keeper.graph(id);
    let t2 = std::time::Instant::now();
    let (a, b) = tokio::join!(g.profile(), async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        g2.profile().await
    });
    a.unwrap();
    assert!(
        t2.elapsed() >= Duration::from_millis(3400),
        "{:?}",
        t2.elapsed()
    );
    let e = b.unwrap_err();
    let left = e.throttled_until().expect("throttled") - s.clock.now();
    assert!(
        left > TimeDelta::seconds(5) && left <= TimeDelta::milliseconds(7200),
        "refused for {left} ({e})"
    );
    assert!(e.to_string().contains("usage at 95 %"), "{e}");
    assert_eq!(
        s.sandbox.requests("me") - me1,
        1,
        "the refused call sent nothing"
    );
    // At 99 % a call goes every 18 s: the next one is refused for under 18 s.
    s.sandbox.set_app_usage(Some(99));
    tokio::time::sleep(Duration::from_millis(3700)).await;
    s.keeper.graph(id).profile().await.unwrap();
    let e = s.keeper.graph(id).profile().await.unwrap_err();
    let left = e.throttled_until().expect("throttled") - s.clock.now();
    assert!(
        left > TimeDelta::seconds(17) && left <= TimeDelta::seconds(18),
        "{left} {e}"
    );
    let st = s.keeper.status(id).await.unwrap();
    assert!(st.status.is_active());
    assert_eq!(s.store.notices(id).await.unwrap().len(), 0);
}

/// A walk of the feed whose third page is throttled (80002, regain in 20 minutes)
/// returns the two pages read, the cursor of the third, and the throttle with its time;
/// continuing from the cursor after that time reads the rest, nothing lost or twice.
#[tokio::test]
async fn all_media_returns_the_pages_read_and_the_continuation_when_a_later_page_is_throttled() {
    let s = setup().await;
    let (_, id) = s.consumer("paul", 3).await;
    let g = s.keeper.graph(id);
    let full = g.all_media(Some(7), 1000).await.unwrap();
    assert!(full.is_complete(), "{full:?}");
    assert_eq!(full.items.len(), 30);
    let before = s.sandbox.requests("media_requests");
    // Pages 1 and 2 answer; page 3 is throttled.
    s.sandbox.inject(Fault::Delay(Duration::ZERO), 2);
    s.sandbox.inject(
        Fault::RateLimit {
            code: 80002,
            regain_minutes: 20,
        },
        1,
    );
    let part = g.all_media(Some(7), 1000).await.unwrap();
    assert!(!part.is_complete());
    assert_eq!(s.sandbox.requests("media_requests") - before, 3);
    assert_eq!(part.items.len(), 14, "two pages of 7 kept");
    assert_eq!(
        part.items.iter().map(|m| &m.id).collect::<Vec<_>>(),
        full.items[..14].iter().map(|m| &m.id).collect::<Vec<_>>()
    );
    let until = part
        .stopped
        .as_ref()
        .and_then(|e| e.throttled_until())
        .expect("stopped by the throttle");
    assert_eq!(until, s.clock.now() + TimeDelta::minutes(20));
    let after = part.after.clone().expect("a continuation");
    assert!(part.url_expires_at.is_some());
    // Before that time the continuation is refused without a request (an Err: it read
    // nothing)...
    let e = g
        .all_media_from(Some(&after), Some(7), 1000)
        .await
        .unwrap_err();
    assert_eq!(e.throttled_until(), Some(until));
    assert_eq!(s.sandbox.requests("media_requests") - before, 3);
    // ...after it, the continuation reads exactly the rest.
    s.clock.set(until + TimeDelta::seconds(1));
    let rest = g.all_media_from(Some(&after), Some(7), 1000).await.unwrap();
    assert!(rest.is_complete(), "{rest:?}");
    let ids: Vec<_> = part
        .items
        .iter()
        .chain(&rest.items)
        .map(|m| &m.id)
        .collect();
    assert_eq!(ids, full.items.iter().map(|m| &m.id).collect::<Vec<_>>());
    // The first page failing is an error (nothing was read).
    s.sandbox.inject(
        Fault::RateLimit {
            code: 80002,
            regain_minutes: 1,
        },
        1,
    );
    let (_, other) = s.consumer("anna", 3).await;
    assert!(
        s.keeper
            .graph(other)
            .all_media(Some(7), 1000)
            .await
            .unwrap_err()
            .throttled_until()
            .is_some()
    );
}

#[tokio::test]
async fn while_an_account_is_throttled_calls_return_throttled_until_t_without_a_request() {
    let s = setup().await;
    let (u, id) = s.consumer("paul", 3).await;
    let (_, other) = s.consumer("anna", 3).await;
    let g = s.keeper.graph(id);
    // Meta throttles the account (80002, BUC: regain in 20 minutes).
    s.sandbox.rate_limit(&u, 20);
    let t = s.clock.now() + TimeDelta::minutes(20);
    let e = g.media(None, None).await.unwrap_err();
    assert_eq!(e.throttled_until(), Some(t), "{e:?}");
    assert!(e.is_transient() && !e.is_token_dead());
    assert_eq!(s.sandbox.requests("media_requests"), 1);
    // Meta would answer again, but the pause holds until T: every call made meanwhile
    // is refused without a request (each would extend Meta's block).
    s.sandbox.heal(&u);
    s.clock.advance(TimeDelta::minutes(5));
    for _ in 0..3 {
        let e = g.media(None, None).await.unwrap_err();
        assert_eq!(e.throttled_until(), Some(t), "{e:?}");
        assert!(e.to_string().contains("throttled until"), "{e}");
    }
    assert_eq!(
        s.sandbox.requests("media_requests"),
        1,
        "no request while throttled"
    );
    // Another account of the same app is not held back.
    s.keeper.graph(other).media(None, None).await.unwrap();
    assert_eq!(s.sandbox.requests("media_requests"), 2);
    // The keeper's own calls wait too: a throttled account due for a refresh is not
    // refreshed, and its retry honours the pause.
    let (carl, due) = s.consumer("carl", 40).await;
    s.sandbox.rate_limit(&carl, 45);
    let e = s.keeper.graph(due).profile().await.unwrap_err();
    let t2 = e.throttled_until().unwrap();
    assert_eq!(t2, s.clock.now() + TimeDelta::minutes(45));
    s.sandbox.heal(&carl);
    s.clock.advance(TimeDelta::minutes(1));
    let r = s.keeper.sweep().await.unwrap();
    assert_eq!((r.refreshed, r.retries), (0, 1), "{r:?}");
    assert_eq!(s.sandbox.requests("refresh"), 0);
    let st = s.keeper.status(due).await.unwrap();
    assert!(st.status.is_active(), "{st:?}");
    assert!(st.next_action_at.unwrap() >= t2, "{st:?} vs {t2}");
    // After T, calls go through again.
    s.clock.set(t + TimeDelta::seconds(1));
    assert!(!g.media(None, None).await.unwrap().items.is_empty());
    let after = s.store.get(id).await.unwrap().unwrap();
    assert!(after.state.status.is_active());
    assert_eq!(s.store.notices(id).await.unwrap().len(), 0);
}

/// Per-business usage (`X-Business-Use-Case-Usage`) over real HTTP: an entry at the
/// high-water mark on a gateway response pauses that account — its gateway calls and
/// the keeper's next refresh — for `estimated_time_to_regain_access`, and no other.
#[tokio::test]
async fn business_use_case_usage_from_a_gateway_call_slows_that_accounts_next_sweep_only() {
    use wiremock::matchers::{method, path, query_param};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let server = MockServer::start().await;
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 3, 1, 8, 0, 0).unwrap());
    let now = clock.now();
    let buc = r#"{"17841400000001":[{"type":"instagram","call_count":93,"total_cputime":10,"total_time":12,"estimated_time_to_regain_access":7}]}"#;
    Mock::given(method("GET"))
        .and(path("/v25.0/me/media"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("x-business-use-case-usage", buc)
                .set_body_string(r#"{"data":[{"id":"1","media_type":"IMAGE"}]}"#),
        )
        .mount(&server)
        .await;
    for who in ["a", "b"] {
        Mock::given(method("GET"))
            .and(path("/refresh_access_token"))
            .and(query_param("access_token", format!("IGAA-{who}")))
            .respond_with(ResponseTemplate::new(200).set_body_string(format!(
                r#"{{"access_token":"IGAA-{who}-2","token_type":"bearer","expires_in":5184000}}"#
            )))
            .mount(&server)
            .await;
    }
    let base = url::Url::parse(&server.uri()).unwrap();
    let ig = InstagramLogin::new(
        GraphConfig::builder("app", "app-secret")
            .base_urls(BaseUrls::all(&base))
            .clock(Arc::new(clock.clone()))
            .build()
            .unwrap(),
    )
    .unwrap();
    let store = Arc::new(InMemoryStore::new());
    let keeper = Keeper::builder(
        store.clone(),
        Arc::new(GraphProvider::new(Some(Arc::new(ig)), None).with_clock(Arc::new(clock.clone()))),
    )
    .clock(Arc::new(clock.clone()))
    .rng_seed(3)
    .build()
    .unwrap();
    let mut ids = Vec::new();
    for (who, ig_id) in [("a", "17841400000001"), ("b", "17841400000002")] {
        // 40 days old: both due for a refresh.
        let t = Token::new(format!("IGAA-{who}"), now - TimeDelta::days(40))
            .expiring_at(now + TimeDelta::days(20));
        ids.push(
            keeper
                .connect(
                    NewAccount::new("owner", ConnectionKind::Consumer, ig_id, who),
                    t,
                )
                .await
                .unwrap(),
        );
    }
    let (a, b) = (ids[0], ids[1]);
    // A widget reads account a's feed; the answer says a's usage is at 93 %.
    assert_eq!(
        keeper.graph(a).media(None, None).await.unwrap().items.len(),
        1
    );
    let until = now + TimeDelta::minutes(7);
    let e = keeper.graph(a).media(None, None).await.unwrap_err();
    assert_eq!(e.throttled_until(), Some(until), "{e:?}");
    // b's feed is not held back.
    keeper.graph(b).media(None, None).await.unwrap();
    // The keeper's next sweep refreshes b, and holds a back until its regain time.
    clock.advance(TimeDelta::minutes(1));
    let r = keeper.sweep().await.unwrap();
    assert_eq!((r.refreshed, r.retries), (1, 1), "{r:?}");
    let refreshes = |who: &str| {
        let token = format!("access_token=IGAA-{who}");
        let server = &server;
        async move {
            server
                .received_requests()
                .await
                .unwrap()
                .iter()
                .filter(|q| q.url.path() == "/refresh_access_token")
                .filter(|q| q.url.query().unwrap_or("").contains(&token))
                .count()
        }
    };
    assert_eq!((refreshes("a").await, refreshes("b").await), (0, 1));
    let sa = keeper.status(a).await.unwrap();
    assert!(sa.status.is_active());
    assert!(sa.next_action_at.unwrap() >= until, "{sa:?}");
    assert_eq!(keeper.access_token(b).await.unwrap().secret(), "IGAA-b-2");
    // Once the regain time has passed, a is refreshed.
    clock.set(sa.next_action_at.unwrap());
    let r = keeper.sweep().await.unwrap();
    assert_eq!(r.refreshed, 1, "{r:?}");
    assert_eq!(refreshes("a").await, 1);
    assert_eq!(keeper.access_token(a).await.unwrap().secret(), "IGAA-a-2");
}

#[tokio::test]
async fn a_call_during_a_refresh_uses_the_new_token() {
    let s = setup().await;
    let (_, id) = s.consumer("paul", 40).await;
    let old = s.keeper.access_token(id).await.unwrap().secret().to_owned();
    s.clock.advance(TimeDelta::days(1));
    s.sandbox
        .inject(Fault::Delay(Duration::from_millis(400)), 1);
    let sweep = tokio::spawn({
        let k = s.keeper.clone();
        async move { k.sweep().await.unwrap() }
    });
    while s.sandbox.requests("refresh") == 0 {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    // The refresh is in flight (held by the sandbox): the call waits for it.
    let p = s.keeper.graph(id).profile().await.unwrap();
    assert_eq!(p.username, "paul");
    assert_eq!(sweep.await.unwrap().refreshed, 1);
    let new = s.keeper.access_token(id).await.unwrap().secret().to_owned();
    assert_ne!(new, old);
    assert_eq!(
        *s.provider.used.lock().unwrap(),
        vec![new],
        "only the new token was used"
    );
    assert_eq!(
        s.sandbox.requests("refresh"),
        1,
        "the call triggered no refresh"
    );
}

#[tokio::test]
async fn a_token_replaced_elsewhere_is_retried_with_the_current_one() {
    let s = setup().await;
    let (u, id) = s.consumer("paul", 3).await;
    let old = s.keeper.access_token(id).await.unwrap().secret().to_owned();
    // Another process renews the account while this call is on the wire, and the old
    // token's answer is 190: the call is made again with the current token, and
    // nothing expires.
    let renewed = s.sandbox.issue_consumer_token(&u, TimeDelta::zero());
    *s.provider.renew_next.lock().unwrap() = Some((s.store.clone(), renewed.clone()));
    let p = s.keeper.graph(id).profile().await.unwrap();
    assert_eq!(p.id, u.id);
    assert_eq!(
        *s.provider.used.lock().unwrap(),
        vec![old, renewed.secret().to_owned()]
    );
    let st = s.keeper.status(id).await.unwrap();
    assert!(st.status.is_active(), "{st:?}");
    assert_eq!(s.store.notices(id).await.unwrap().len(), 0);
}

#[tokio::test]
async fn the_sandbox_breaks_an_account_over_http() {
    let s = setup().await;
    let (u, id) = s.consumer("paul", 3).await;
    let http = reqwest::Client::new();
    let url = |what: &str| format!("{}_sandbox/accounts/{}/{what}", s.sandbox.base_url(), u.id);
    let r = http
        .post(url("break"))
        .json(&serde_json::json!({"reason": "nonsense"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(body["reasons"].as_array().unwrap().len() >= 6);
    // rate_limited, then healed: the account stays ACTIVE.
    let r = http
        .post(url("break"))
        .form(&[("reason", "rate_limited"), ("regain_minutes", "5")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        s.keeper
            .graph(id)
            .profile()
            .await
            .unwrap_err()
            .throttled_until()
            .is_some()
    );
    assert_eq!(http.post(url("heal")).send().await.unwrap().status(), 200);
    // Meta's regain time is honoured (the client pauses until then), then calls work.
    s.clock.advance(TimeDelta::minutes(6));
    s.keeper.graph(id).profile().await.unwrap();
    // checkpoint: NOT ACTIVE with the reason.
    let r = http
        .post(url("break"))
        .json(&serde_json::json!({"reason": "checkpoint"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let e = s.keeper.graph(id).media(None, None).await.unwrap_err();
    assert!(e.is_token_dead(), "{e:?}");
    assert_eq!(
        s.keeper.status(id).await.unwrap().status.reason(),
        Some(ExpiryReason::SecurityCheckpoint)
    );
    let r = http
        .post(format!(
            "{}_sandbox/accounts/404/break",
            s.sandbox.base_url()
        ))
        .json(&serde_json::json!({"reason": "checkpoint"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn cdn_urls_work_until_their_oe() {
    let s = setup().await;
    let (_, id) = s.consumer("paul", 3).await;
    let g = s.keeper.graph(id);
    let page = g.media(None, Some(1)).await.unwrap();
    let url = page.items[0].media_url.clone().unwrap();
    let r = reqwest::get(&url).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "image/png");
    let expires = page.items[0].url_expires_at.unwrap();
    assert!(expires > s.clock.now() + TimeDelta::hours(48));
    s.clock.set(expires + TimeDelta::seconds(1));
    let r = reqwest::get(&url).await.unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(r.text().await.unwrap(), "URL signature expired");
}

#[tokio::test]
async fn no_token_in_the_debug_of_any_session_response_or_error() {
    let s = setup().await;
    let (cu, cid) = s.consumer("paul", 3).await;
    let (bu, bid) = s.business("shop").await;
    let mut out = String::new();
    for (u, id) in [(&cu, cid), (&bu, bid)] {
        let g = s.keeper.graph(id);
        out += &format!("{g:?}");
        out += &format!("{:?}", g.profile().await.unwrap());
        let page = g.media(None, Some(4)).await.unwrap();
        out += &format!("{page:?}");
        out += &format!("{:?}", g.media_item(&page.items[0].id).await.unwrap());
        let node = if id == cid {
            "me".to_owned()
        } else {
            u.id.clone()
        };
        out += &format!(
            "{:?}",
            g.get(&format!("{node}/media"), &[("limit", "1")])
                .await
                .unwrap()
        );
        out += &format!("{g:?}");
        s.sandbox.inject(Fault::Status(500), 1);
        let e = g.profile().await.unwrap_err();
        out += &format!("{e:?} {e}");
        s.sandbox.rate_limit(u, 3);
        let e = g.profile().await.unwrap_err();
        out += &format!("{e:?} {e}");
        s.sandbox.password_changed(u);
        let e = g.profile().await.unwrap_err();
        out += &format!("{e:?} {e}");
    }
    for id in [cid, bid] {
        let t = s.keeper.access_token(id).await.unwrap();
        assert!(
            !out.contains(t.secret()),
            "a token leaked into Debug output"
        );
    }
    assert!(!out.contains("IGAA") && !out.contains("EAAG"), "{out}");
}

#[tokio::test]
async fn the_hosts_own_writes_reach_the_next_call_at_once() {
    let s = setup().await;
    let (u, id) = s.consumer("paul", 3).await;
    s.keeper.graph(id).profile().await.unwrap();
    // The owner renews: the very next call (well inside the record reuse window) uses
    // the new token, not the record the last call read.
    let renewed = s.sandbox.issue_consumer_token(&u, TimeDelta::zero());
    s.keeper
        .reconnect(ConnectionKind::Consumer, &u.id, renewed.clone())
        .await
        .unwrap();
    s.keeper.graph(id).profile().await.unwrap();
    assert!(
        s.provider.used.lock().unwrap().last().map(String::as_str) == Some(renewed.secret()),
        "the call after a reconnect used the new token"
    );
    // The owner removes the app: the next call is refused without a request.
    s.keeper
        .deauthorize(ConnectionKind::Consumer, &u.id)
        .await
        .unwrap();
    let calls = s.provider.used.lock().unwrap().len();
    let e = s.keeper.graph(id).profile().await.unwrap_err();
    assert!(matches!(e, GatewayError::NotActive { .. }), "{e:?}");
    assert_eq!(s.provider.used.lock().unwrap().len(), calls, "no request");
    // Deleted: unknown at once.
    s.keeper.delete_account(id).await.unwrap();
    assert!(s.keeper.graph(id).profile().await.is_err());
    assert_eq!(s.provider.used.lock().unwrap().len(), calls, "no request");
}
