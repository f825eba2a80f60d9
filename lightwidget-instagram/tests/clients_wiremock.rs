//! Every client call against scripted loopback responses: exact method, path, query and
//! form; both response shapes; failures classified; no secret in Debug.

use chrono::{TimeZone, Utc};
use lightwidget_core::ManualClock;
use lightwidget_core::{
    Account, ConnectionKind, ExpiryReason, NewAccount, ProviderError, ReportedExpiry, Token,
    TokenProvider,
};
use lightwidget_instagram::*;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wiremock::matchers::{body_string, body_string_contains, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn cfg(server: &MockServer) -> GraphConfig {
    let base = url::Url::parse(&server.uri()).unwrap();
    GraphConfig::builder("app-1", "shh-app-secret")
        .redirect_uri("https://host.example/cb")
        .base_urls(BaseUrls::all(&base))
        .build()
        .unwrap()
}

fn now() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap()
}

/// Old enough for Meta to refresh a token issued at [`now`].
fn later() -> chrono::DateTime<Utc> {
    now() + chrono::TimeDelta::hours(25)
}

fn tok(v: &str) -> Token {
    Token::new(v, now()).expiring_in(60 * 86_400)
}

#[tokio::test]
async fn consumer_code_exchange_wrapped_flat_and_reused() {
    let s = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/access_token"))
        .and(body_string(
            "client_id=app-1&client_secret=shh-app-secret&grant_type=authorization_code&redirect_uri=https%3A%2F%2Fhost.example%2Fcb&code=AQB-code1",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_string(
            r#"{"data":[{"access_token":"IGAAshort1","user_id":"17841400000000","permissions":"instagram_business_basic,instagram_business_manage_comments"}]}"#,
        ))
        .mount(&s)
        .await;
    Mock::given(method("POST"))
        .and(path("/oauth/access_token"))
        .and(body_string_contains("code=flat"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_string(r#"{"access_token":"IGQVJflat","user_id":17841400000001}"#),
        )
        .mount(&s)
        .await;
    Mock::given(method("POST"))
        .and(path("/oauth/access_token"))
        .and(body_string_contains("code=used"))
        .respond_with(ResponseTemplate::new(400).set_body_string(
            r#"{"error_type":"OAuthException","code":400,"error_message":"Matching code was not found or was already used"}"#,
        ))
        .mount(&s)
        .await;
    let c = InstagramLogin::new(cfg(&s)).unwrap();
    // The `#_` Instagram appends is stripped.
    let r = c.exchange_code("AQB-code1#_", now()).await.unwrap();
    assert_eq!(r.user_id, "17841400000000");
    assert_eq!(r.token.secret(), "IGAAshort1");
    assert_eq!(r.permissions.len(), 2);
    assert_eq!(
        r.token.expires_at,
        Some(now() + chrono::TimeDelta::hours(1))
    );
    let r = c.exchange_code("flat", now()).await.unwrap();
    assert_eq!(r.user_id, "17841400000001");
    let e = c.exchange_code("used", now()).await.unwrap_err();
    assert!(e.to_string().contains("Matching code was not found"), "{e}");
    assert!(!e.to_string().contains("shh-app-secret"));
}

#[tokio::test]
async fn consumer_long_lived_refresh_and_me() {
    let s = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/access_token"))
        .and(query_param("grant_type", "ig_exchange_token"))
        .and(query_param("client_secret", "shh-app-secret"))
        .and(query_param("access_token", "IGAAshort"))
        .respond_with(ResponseTemplate::new(200).set_body_string(
            r#"{"access_token":"IGAAlong","token_type":"bearer","expires_in":5183944}"#,
        ))
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path("/refresh_access_token"))
        .and(query_param("grant_type", "ig_refresh_token"))
        .and(query_param("access_token", "IGAAlong"))
        .respond_with(ResponseTemplate::new(200).set_body_string(
            r#"{"access_token":"IGAAlong2","token_type":"bearer","expires_in":5184000}"#,
        ))
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/{DEFAULT_GRAPH_VERSION}/me")))
        .and(query_param("fields", "id,username"))
        .and(query_param("access_token", "IGAAlong2"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_string(r#"{"id":"17841400000000","username":"paul"}"#),
        )
        .mount(&s)
        .await;
    let c = InstagramLogin::new(cfg(&s)).unwrap();
    let long = c
        .exchange_long_lived(&Token::new("IGAAshort", now()), now())
        .await
        .unwrap();
    assert_eq!(long.secret(), "IGAAlong");
    assert_eq!(
        long.expires_at,
        Some(now() + chrono::TimeDelta::seconds(5_183_944))
    );
    let r = c.refresh(&long, later()).await.unwrap();
    assert_eq!(r.secret(), "IGAAlong2");
    assert_eq!(r.issued_at, later());
    assert_eq!(
        r.expires_at,
        Some(later() + chrono::TimeDelta::seconds(5_184_000))
    );
    assert_eq!(c.me(&r).await.unwrap().username, "paul");
    let url = c.authorize_url(consumer::DEFAULT_SCOPES, "st4te").unwrap();
    let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(url.path(), "/oauth/authorize");
    assert_eq!(q["client_id"], "app-1");
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["scope"], "instagram_business_basic");
    assert_eq!(q["state"], "st4te");
    assert_eq!(q["redirect_uri"], "https://host.example/cb");
}

#[tokio::test]
async fn business_exchange_pages_and_debug_token() {
    let s = MockServer::start().await;
    let v = DEFAULT_GRAPH_VERSION;
    Mock::given(method("GET"))
        .and(path(format!("/{v}/oauth/access_token")))
        .and(query_param("code", "fbcode"))
        .and(query_param("client_id", "app-1"))
        .and(query_param("redirect_uri", "https://host.example/cb"))
        .respond_with(ResponseTemplate::new(200).set_body_string(
            r#"{"access_token":"EAAshort","token_type":"bearer","expires_in":3600}"#,
        ))
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/{v}/oauth/access_token")))
        .and(query_param("grant_type", "fb_exchange_token"))
        .and(query_param("fb_exchange_token", "EAAshort"))
        .respond_with(ResponseTemplate::new(200).set_body_string(
            r#"{"access_token":"EAAlong","token_type":"bearer","expires_in":5183999}"#,
        ))
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/{v}/me/accounts")))
        .and(query_param("access_token", "EAAlong"))
        .respond_with(ResponseTemplate::new(200).set_body_string(
            r#"{"data":[{"id":"page-1","name":"Best Of","access_token":"EAApage1","instagram_business_account":{"id":"1784","username":"best.of.instagram"}}]}"#,
        ))
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/{v}/debug_token")))
        .and(query_param("input_token", "EAApage1"))
        .and(query_param("access_token", "app-1|shh-app-secret"))
        .respond_with(ResponseTemplate::new(200).set_body_string(
            r#"{"data":{"app_id":"app-1","type":"PAGE","application":"LW","data_access_expires_at":1790000000,"expires_at":0,"is_valid":true,"scopes":["pages_show_list","instagram_basic"],"user_id":"10"}}"#,
        ))
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/{v}/debug_token")))
        .and(query_param("input_token", "EAAdead"))
        .respond_with(ResponseTemplate::new(200).set_body_string(
            r#"{"data":{"app_id":"app-1","is_valid":false,"expires_at":1700000000,"error":{"code":190,"message":"The session has been invalidated because the user changed their password","subcode":460}}}"#,
        ))
        .mount(&s)
        .await;
    let c = FacebookLogin::new(cfg(&s)).unwrap();
    let short = c.exchange_code("fbcode#_=_", now()).await.unwrap();
    let long = c.exchange_long_lived(&short, now()).await.unwrap();
    let pages = c.pages(&long).await.unwrap();
    assert_eq!(
        pages[0]
            .instagram_business_account
            .as_ref()
            .unwrap()
            .username,
        "best.of.instagram"
    );
    assert!(
        !format!("{pages:?}").contains("EAApage1"),
        "Page tokens are redacted in Debug"
    );
    let page_token = pages[0].token(now());
    let d = c.debug_token(&page_token).await.unwrap();
    assert_eq!(d.expires(), None, "expires_at 0 = never");
    assert_eq!(d.data_access_expires().unwrap().timestamp(), 1_790_000_000);

    // Through the provider.
    let provider = GraphProvider::new(None, Some(Arc::new(c)));
    let acct: Account =
        NewAccount::new("o", ConnectionKind::Business, "1784", "best").into_account();
    let info = provider.check(&acct, &page_token).await.unwrap();
    assert_eq!(info.expires_at, ReportedExpiry::Never);
    assert!(info.data_access_expires_at.is_some());
    let e = provider
        .check(&acct, &Token::new("EAAdead", now()))
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            ProviderError::Expired {
                reason: ExpiryReason::PasswordChanged,
                ..
            }
        ),
        "{e:?}"
    );
    let consumer = NewAccount::new("o", ConnectionKind::Consumer, "1", "x").into_account();
    assert!(
        matches!(
            provider.check(&consumer, &tok("x")).await,
            Err(ProviderError::Fatal { .. })
        ),
        "no consumer app configured"
    );
    let url = provider_authorize(&s);
    assert!(url.contains("auth_type=reauthorize"), "{url}");
}

fn provider_authorize(s: &MockServer) -> String {
    FacebookLogin::new(cfg(s))
        .unwrap()
        .authorize_url(business::DEFAULT_SCOPES, "st", true)
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn failures_are_classified_and_never_leak_the_token() {
    let s = MockServer::start().await;
    Mock::given(path("/refresh_access_token"))
        .and(query_param("access_token", "IGAA500"))
        .respond_with(ResponseTemplate::new(500).set_body_string("oops"))
        .mount(&s)
        .await;
    Mock::given(path("/refresh_access_token"))
        .and(query_param("access_token", "IGAAjunk"))
        .respond_with(ResponseTemplate::new(200).set_body_string("{\"access_token\":"))
        .mount(&s)
        .await;
    Mock::given(path("/refresh_access_token"))
        .and(query_param("access_token", "IGAAbig"))
        .respond_with(ResponseTemplate::new(200).set_body_string("x".repeat(2 << 20)))
        .mount(&s)
        .await;
    Mock::given(path("/refresh_access_token"))
        .and(query_param("access_token", "IGAAslow"))
        .respond_with(ResponseTemplate::new(200).set_delay(std::time::Duration::from_secs(3)))
        .mount(&s)
        .await;
    Mock::given(path("/refresh_access_token")).and(query_param("access_token", "IGAAgone"))
        .respond_with(ResponseTemplate::new(400).set_body_string(r#"{"error":{"message":"Error validating access token: The session has been invalidated because the user changed their password or Facebook has changed the session for security reasons.","type":"OAuthException","code":190,"error_subcode":460,"fbtrace_id":"A1"}}"#))
        .mount(&s).await;
    let base = url::Url::parse(&s.uri()).unwrap();
    let c = InstagramLogin::new(
        GraphConfig::builder("app-1", "shh-app-secret")
            .base_urls(BaseUrls::all(&base))
            .timeout(std::time::Duration::from_millis(500))
            .build()
            .unwrap(),
    )
    .unwrap();
    for (t, want_transient) in [
        ("IGAA500", true),
        ("IGAAjunk", true),
        ("IGAAbig", true),
        ("IGAAslow", true),
        ("IGAAgone", false),
    ] {
        let e = c.refresh(&tok(t), later()).await.unwrap_err();
        assert_eq!(e.is_transient(), want_transient, "{t}: {e:?}");
        let text = format!("{e} {e:?}");
        assert!(!text.contains(t), "token leaked in {text}");
        assert!(!text.contains("shh-app-secret"));
    }
    let e = c.refresh(&tok("IGAAgone"), later()).await.unwrap_err();
    assert!(matches!(
        e,
        ProviderError::Expired {
            reason: ExpiryReason::PasswordChanged,
            ..
        }
    ));
    assert!(!format!("{c:?}").contains("shh-app-secret"));
}

#[tokio::test]
async fn high_usage_pauses_calls_until_access_is_regained() {
    let s = MockServer::start().await;
    Mock::given(path(format!("/{DEFAULT_GRAPH_VERSION}/me")))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_string(r#"{"id":"1","username":"u"}"#)
                .insert_header("x-business-use-case-usage", r#"{"1784":[{"type":"instagram","call_count":97,"total_cputime":10,"total_time":12,"estimated_time_to_regain_access":30}]}"#),
        )
        .expect(2)
        .mount(&s)
        .await;
    // The header names business object 1784: that account's calls pause, no other's.
    let p = GraphProvider::new(Some(Arc::new(InstagramLogin::new(cfg(&s)).unwrap())), None);
    let account = |ig: &str| -> Account {
        NewAccount::new("o", ConnectionKind::Consumer, ig, "u").into_account()
    };
    let (busy, other) = (account("1784"), account("1999"));
    p.check(&busy, &tok("IGAAu")).await.unwrap();
    let e = p.check(&busy, &tok("IGAAu")).await.unwrap_err();
    assert!(e.is_rate_limited(), "{e:?}");
    p.check(&other, &tok("IGAAv")).await.unwrap();
    let wait = e.retry_after().unwrap();
    assert!(
        wait > std::time::Duration::from_secs(29 * 60)
            && wait <= std::time::Duration::from_secs(30 * 60),
        "{wait:?}"
    );
}

#[tokio::test]
async fn refresh_is_not_asked_for_young_or_expired_tokens() {
    let s = MockServer::start().await;
    Mock::given(path("/refresh_access_token"))
        .respond_with(ResponseTemplate::new(200).set_body_string(
            r#"{"access_token":"IGAAnew","token_type":"bearer","expires_in":5184000}"#,
        ))
        .expect(1)
        .mount(&s)
        .await;
    let c = InstagramLogin::new(cfg(&s)).unwrap();
    // 23 h old: Meta would refuse; we say when to come back, without a request.
    let young = tok("IGAAyoung");
    let e = c
        .refresh(&young, now() + chrono::TimeDelta::hours(23))
        .await
        .unwrap_err();
    assert!(matches!(e, ProviderError::Transient { .. }), "{e:?}");
    assert_eq!(e.retry_after(), Some(std::time::Duration::from_secs(3600)));
    // Past its 60 days: it cannot be refreshed any more.
    let e = c
        .refresh(&young, now() + chrono::TimeDelta::days(61))
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            ProviderError::Expired {
                reason: ExpiryReason::LifetimeEnded,
                ..
            }
        ),
        "{e:?}"
    );
    // Exactly 24 h old: asked (the single expected request).
    let t = c
        .refresh(&young, now() + chrono::TimeDelta::hours(24))
        .await
        .unwrap();
    assert_eq!(t.secret(), "IGAAnew");
}

/// A `/me` that reports the app's usage the test sets, and records when each request
/// arrived.
#[derive(Clone)]
struct AppUsage {
    percent: Arc<Mutex<u32>>,
    arrived: Arc<Mutex<Vec<Instant>>>,
}

impl AppUsage {
    async fn mount(s: &MockServer, percent: u32) -> Self {
        let u = Self {
            percent: Arc::new(Mutex::new(percent)),
            arrived: Arc::default(),
        };
        Mock::given(path(format!("/{DEFAULT_GRAPH_VERSION}/me")))
            .respond_with(u.clone())
            .mount(s)
            .await;
        u
    }
    fn set(&self, p: u32) {
        *self.percent.lock().unwrap() = p;
    }
    fn count(&self) -> usize {
        self.arrived.lock().unwrap().len()
    }
    /// The gaps between the requests that arrived after the first `from`.
    fn gaps(&self, from: usize) -> Vec<Duration> {
        let a = self.arrived.lock().unwrap();
        a[from..].windows(2).map(|w| w[1] - w[0]).collect()
    }
}

impl wiremock::Respond for AppUsage {
    fn respond(&self, _: &wiremock::Request) -> ResponseTemplate {
        self.arrived.lock().unwrap().push(Instant::now());
        let p = *self.percent.lock().unwrap();
        ResponseTemplate::new(200)
            .set_body_string(r#"{"id":"1","username":"u"}"#)
            .insert_header(
                "x-app-usage",
                format!(r#"{{"call_count":{p},"total_cputime":3,"total_time":4}}"#),
            )
    }
}

/// The issue's case: `X-App-Usage` at 95 %, default settings. Calls still go out, 3.6 s
/// apart (the budget left, 5 % of 20 000 calls, spread over the hour); a caller waits at
/// most 5 s for its slot, and a call whose slot is further is refused with the time of
/// its slot — seconds, not the hour every call of the app used to be refused for.
#[tokio::test]
async fn at_95_percent_app_usage_calls_go_out_spaced_and_none_is_refused_for_an_hour() {
    let s = MockServer::start().await;
    let usage = AppUsage::mount(&s, 80).await;
    let c = Arc::new(InstagramLogin::new(cfg(&s)).unwrap());
    // 80 % is under the 90 % mark: calls go at once.
    let t0 = Instant::now();
    for _ in 0..5 {
        c.me(&tok("IGAAa")).await.unwrap();
    }
    assert!(t0.elapsed() < Duration::from_secs(1), "{:?}", t0.elapsed());
    usage.set(95);
    c.me(&tok("IGAAa")).await.unwrap();
    // One caller, back to back for 8 s: every call goes out, 3.6 s apart.
    let from = usage.count() - 1;
    let t1 = Instant::now();
    let mut refused = 0;
    while t1.elapsed() < Duration::from_secs(8) {
        if c.me(&tok("IGAAa")).await.is_err() {
            refused += 1;
        }
    }
    assert_eq!(refused, 0);
    let gaps = usage.gaps(from);
    assert_eq!(gaps.len(), 3, "{gaps:?}");
    for g in &gaps {
        assert!(
            *g >= Duration::from_millis(3550) && *g < Duration::from_millis(4000),
            "{gaps:?}"
        );
    }
    // Ten callers at once: one waits for the next slot and goes; the others' slots are
    // more than 5 s away, so they are refused at once, without a request, with the
    // time of the slot: about 7 s.
    let before = usage.count();
    let t2 = Instant::now();
    let calls = (0..10).map(|_| {
        let c = c.clone();
        tokio::spawn(async move { c.me(&tok("IGAAa")).await })
    });
    let results = futures::future::join_all(calls).await;
    let mut waits = Vec::new();
    let mut ok = 0;
    for r in results {
        match r.unwrap() {
            Ok(_) => ok += 1,
            Err(e) => {
                assert!(e.is_rate_limited(), "{e:?}");
                waits.push(e.retry_after().unwrap());
            }
        }
    }
    assert_eq!((ok, waits.len()), (1, 9), "{waits:?}");
    assert!(t2.elapsed() < Duration::from_secs(5), "{:?}", t2.elapsed());
    let longest = waits.iter().max().unwrap();
    assert!(
        *longest > Duration::from_secs(5) && *longest <= Duration::from_millis(7200),
        "{waits:?}"
    );
    assert_eq!(usage.count() - before, 1, "refused calls sent nothing");
    println!(
        "at 95 %: gaps {gaps:?}; of 10 concurrent calls {ok} went, {} refused for at most {longest:?}",
        waits.len()
    );
}

/// Usage is read again on each answer: as it falls, the spacing shrinks (1.8 s at 99 %,
/// 0.36 s at 95 %, 0.18 s at 90 % with an allowance of 200 000 calls an hour), and below
/// the mark calls go at once.
#[tokio::test]
async fn as_usage_falls_the_spacing_shrinks_and_below_the_mark_it_is_gone() {
    let s = MockServer::start().await;
    let usage = AppUsage::mount(&s, 99).await;
    let base = url::Url::parse(&s.uri()).unwrap();
    let c = InstagramLogin::new(
        GraphConfig::builder("app-1", "shh-app-secret")
            .base_urls(BaseUrls::all(&base))
            .usage_allowance(200_000)
            .build()
            .unwrap(),
    )
    .unwrap();
    let mut at = Vec::new();
    for next in [99, 95, 95, 90, 90, 80, 80] {
        c.me(&tok("IGAAa")).await.unwrap();
        usage.set(next);
        at.push(usage.count());
    }
    c.me(&tok("IGAAa")).await.unwrap();
    let gaps = usage.gaps(0);
    // Request k+1 goes at the pace of the usage request k's answer reported.
    let ms = |g: Duration| g.as_millis() as u64;
    let want = [1800, 1800, 360, 360, 180, 180, 0];
    for (g, w) in gaps.iter().zip(want) {
        assert!(
            ms(*g) + 20 >= w && ms(*g) < w + 150,
            "gaps {gaps:?}, want {want:?}"
        );
    }
}

/// Meta's own throttle (code 4 with HTTP 429's `Retry-After`, usage at 100 %) stops the
/// app for exactly Meta's time: no request before it, calls again after it.
#[tokio::test]
async fn at_100_percent_code_4_stops_the_app_for_metas_time() {
    let s = MockServer::start().await;
    Mock::given(path(format!("/{DEFAULT_GRAPH_VERSION}/me")))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "120")
                .insert_header(
                    "x-app-usage",
                    r#"{"call_count":100,"total_cputime":40,"total_time":50}"#,
                )
                .set_body_string(
                    r#"{"error":{"message":"(#4) Application request limit reached","type":"OAuthException","is_transient":true,"code":4}}"#,
                ),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&s)
        .await;
    let usage = AppUsage::mount(&s, 70).await;
    let clock = ManualClock::new(now());
    let base = url::Url::parse(&s.uri()).unwrap();
    let c = InstagramLogin::new(
        GraphConfig::builder("app-1", "shh-app-secret")
            .base_urls(BaseUrls::all(&base))
            .clock(Arc::new(clock.clone()))
            .build()
            .unwrap(),
    )
    .unwrap();
    let e = c.me(&tok("IGAAone")).await.unwrap_err();
    assert!(e.is_rate_limited(), "{e:?}");
    assert_eq!(e.retry_after(), Some(Duration::from_secs(120)));
    clock.advance(chrono::TimeDelta::seconds(100));
    for t in ["IGAAone", "IGAAtwo"] {
        let e = c.me(&tok(t)).await.unwrap_err();
        assert_eq!(e.retry_after(), Some(Duration::from_secs(20)), "{e:?}");
        assert!(e.to_string().contains("calls stopped until"), "{e}");
    }
    assert_eq!(usage.count(), 0, "no request while Meta throttles");
    clock.advance(chrono::TimeDelta::seconds(21));
    c.me(&tok("IGAAtwo")).await.unwrap();
    assert_eq!(usage.count(), 1);
}

/// `X-Business-Use-Case-Usage` at 95 % for one account paces that account only (one
/// call per 86.4 s: 5 % of 20 000 calls over its 24-hour window); the next call of it is
/// refused for that slot, not for an hour, while the other account and the app go on.
#[tokio::test]
async fn business_usage_paces_only_that_account() {
    let s = MockServer::start().await;
    Mock::given(path(format!("/{DEFAULT_GRAPH_VERSION}/me")))
        .and(query_param("access_token", "IGAAbusy"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_string(r#"{"id":"1784","username":"busy"}"#)
                .insert_header(
                    "x-business-use-case-usage",
                    r#"{"1784":[{"type":"instagram","call_count":95,"total_cputime":10,"total_time":12,"estimated_time_to_regain_access":0}]}"#,
                ),
        )
        .expect(1)
        .mount(&s)
        .await;
    Mock::given(path(format!("/{DEFAULT_GRAPH_VERSION}/me")))
        .and(query_param("access_token", "IGAAcalm"))
        .respond_with(
            ResponseTemplate::new(200).set_body_string(r#"{"id":"1999","username":"calm"}"#),
        )
        .expect(5)
        .mount(&s)
        .await;
    let c = Arc::new(InstagramLogin::new(cfg(&s)).unwrap());
    let p = GraphProvider::new(Some(c.clone()), None);
    let account = |ig: &str| -> Account {
        NewAccount::new("o", ConnectionKind::Consumer, ig, "u").into_account()
    };
    let (busy, calm) = (account("1784"), account("1999"));
    p.check(&busy, &tok("IGAAbusy")).await.unwrap();
    let e = p.check(&busy, &tok("IGAAbusy")).await.unwrap_err();
    let wait = e.retry_after().unwrap();
    assert!(
        wait > Duration::from_secs(86) && wait <= Duration::from_millis(86_400),
        "{wait:?} {e}"
    );
    assert!(e.to_string().contains("account usage at 95 %"), "{e}");
    let t = Instant::now();
    for _ in 0..4 {
        p.check(&calm, &tok("IGAAcalm")).await.unwrap();
    }
    // Calls outside any account (the app's own) are not held back either.
    c.me(&tok("IGAAcalm")).await.unwrap();
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
}

#[tokio::test]
async fn debug_of_config_clients_and_errors_never_shows_secrets() {
    let s = MockServer::start().await;
    Mock::given(path("/oauth/access_token"))
        .respond_with(ResponseTemplate::new(400).set_body_string(
            r#"{"error_type":"OAuthException","code":400,"error_message":"Matching code was not found or was already used"}"#,
        ))
        .mount(&s)
        .await;
    let builder = GraphConfig::builder("app-1", "shh-app-secret")
        .redirect_uri("https://host.example/cb")
        .base_urls(BaseUrls::all(&url::Url::parse(&s.uri()).unwrap()));
    let config = builder.clone().build().unwrap();
    let ig = Arc::new(InstagramLogin::new(config.clone()).unwrap());
    let fb = Arc::new(FacebookLogin::new(config.clone()).unwrap());
    let err = ig.exchange_code("AQBcode#_", now()).await.unwrap_err();
    let provider = GraphProvider::new(Some(ig.clone()), Some(fb.clone()));
    let token = tok("IGAAtokenvalue");
    let text = format!("{builder:?} {config:?} {ig:?} {fb:?} {provider:?} {err:?} {err} {token:?}");
    for secret in ["shh-app-secret", "IGAAtokenvalue", "AQBcode"] {
        assert!(!text.contains(secret), "{secret} leaked in {text}");
    }
    assert!(text.contains("app-1"), "Debug still useful: {text}");
    assert!(err.to_string().contains("already used"), "{err}");
}

#[tokio::test]
async fn app_rate_limit_code_4_pauses_every_call_of_the_client() {
    let s = MockServer::start().await;
    Mock::given(path(format!("/{DEFAULT_GRAPH_VERSION}/me")))
        .respond_with(ResponseTemplate::new(403).set_body_string(
            r#"{"error":{"message":"(#4) Application request limit reached","type":"OAuthException","is_transient":true,"code":4,"fbtrace_id":"Ax"}}"#,
        ))
        .expect(1)
        .mount(&s)
        .await;
    let c = InstagramLogin::new(cfg(&s)).unwrap();
    let first = c.me(&tok("IGAAone")).await.unwrap_err();
    assert!(first.is_rate_limited(), "{first:?}");
    // A different token: still paused, no second request reaches Meta.
    let second = c.me(&tok("IGAAtwo")).await.unwrap_err();
    assert!(second.is_rate_limited(), "{second:?}");
    let wait = second.retry_after().unwrap();
    assert!(
        wait > std::time::Duration::from_secs(59 * 60),
        "default hour: {wait:?}"
    );
}

#[tokio::test]
async fn provider_refresh_dispatches_on_the_connection_kind() {
    let s = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/refresh_access_token"))
        .and(query_param("grant_type", "ig_refresh_token"))
        .and(query_param("access_token", "IGAAold"))
        .respond_with(ResponseTemplate::new(200).set_body_string(
            r#"{"access_token":"IGAAnew","token_type":"bearer","expires_in":5184000}"#,
        ))
        .expect(1)
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/{DEFAULT_GRAPH_VERSION}/debug_token")))
        .and(query_param("input_token", "EAApage"))
        .and(query_param("access_token", "app-1|shh-app-secret"))
        .respond_with(ResponseTemplate::new(200).set_body_string(
            r#"{"data":{"app_id":"app-1","type":"PAGE","expires_at":0,"data_access_expires_at":1788000000,"is_valid":true,"scopes":["instagram_basic"]}}"#,
        ))
        .expect(1)
        .mount(&s)
        .await;
    let clock = Arc::new(lightwidget_core::ManualClock::new(later()));
    let provider = GraphProvider::new(
        Some(Arc::new(InstagramLogin::new(cfg(&s)).unwrap())),
        Some(Arc::new(FacebookLogin::new(cfg(&s)).unwrap())),
    )
    .with_clock(clock);
    let consumer = NewAccount::new("o", ConnectionKind::Consumer, "1", "c").into_account();
    let t = provider.refresh(&consumer, &tok("IGAAold")).await.unwrap();
    assert_eq!(t.secret(), "IGAAnew");
    assert_eq!(t.expires_at, Some(later() + chrono::TimeDelta::days(60)));

    let business = NewAccount::new("o", ConnectionKind::Business, "1784", "b").into_account();
    let page = tok("EAApage");
    let t = provider.refresh(&business, &page).await.unwrap();
    assert!(t.same_value(&page), "a Page token is kept, not replaced");
    assert_eq!(t.expires_at, None, "expires_at 0 = never");
    assert_eq!(t.data_access_expires_at.unwrap().timestamp(), 1_788_000_000);
}

/// #29.3: `/me/accounts` is read to the end of its cursor, asked of the configured
/// Graph URL (a `paging.next` pointing elsewhere never receives the token), and a
/// cursor that repeats ends the listing instead of looping.
#[tokio::test]
async fn pages_follow_the_cursor_on_the_configured_host_and_stop_on_a_repeat() {
    let s = MockServer::start().await;
    let elsewhere = MockServer::start().await;
    let v = DEFAULT_GRAPH_VERSION;
    let page = |n: u32| {
        format!(
            r#"{{"id":"page-{n}","name":"P{n}","access_token":"EAApage{n}","instagram_business_account":{{"id":"ig-{n}","username":"shop{n}"}}}}"#
        )
    };
    let answer = |pages: &[u32], after: &str, more: bool| {
        let data: Vec<String> = pages.iter().map(|n| page(*n)).collect();
        let next = if more {
            // Graph's next URL carries the token; this one points at another host.
            format!(
                r#","next":"{}/{v}/me/accounts?access_token=EAAlong&after={after}""#,
                elsewhere.uri()
            )
        } else {
            String::new()
        };
        format!(
            r#"{{"data":[{}],"paging":{{"cursors":{{"before":"b","after":"{after}"}}{next}}}}}"#,
            data.join(",")
        )
    };
    // First answer (no `after`), then c1, then c2 (last: no `next`).
    Mock::given(method("GET"))
        .and(path(format!("/{v}/me/accounts")))
        .and(query_param("limit", "100"))
        .and(query_param("after", "c2"))
        .respond_with(ResponseTemplate::new(200).set_body_string(answer(&[5], "c3", false)))
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/{v}/me/accounts")))
        .and(query_param("after", "c1"))
        .respond_with(ResponseTemplate::new(200).set_body_string(answer(&[3, 4], "c2", true)))
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/{v}/me/accounts")))
        .and(query_param("access_token", "EAAlong"))
        .respond_with(ResponseTemplate::new(200).set_body_string(answer(&[1, 2], "c1", true)))
        .with_priority(10)
        .mount(&s)
        .await;
    let c = FacebookLogin::new(cfg(&s)).unwrap();
    let pages = c.pages(&tok("EAAlong")).await.unwrap();
    let ids: Vec<_> = pages.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, ["page-1", "page-2", "page-3", "page-4", "page-5"]);
    assert!(
        elsewhere.received_requests().await.unwrap().is_empty(),
        "the token went to the host in paging.next"
    );

    // A cursor that never moves: read once more, then stop.
    let s = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/{v}/me/accounts")))
        .respond_with(ResponseTemplate::new(200).set_body_string(answer(&[1], "same", true)))
        .mount(&s)
        .await;
    let c = FacebookLogin::new(cfg(&s)).unwrap();
    let pages = c.pages(&tok("EAAlong")).await.unwrap();
    assert_eq!(pages.len(), 2, "the repeat ends it");
    assert_eq!(s.received_requests().await.unwrap().len(), 2);
}
