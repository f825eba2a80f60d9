//! Behaviour against the sandbox: the OAuth dance, the Graph rules, scenarios, and the
//! Keeper keeping consumer and business tokens with the real clients.

use std::sync::{Arc, Mutex};

use axum::extract::{Form, State};
use chrono::{TimeDelta, TimeZone, Utc};
use lightwidget_core::*;
use lightwidget_instagram::sandbox::{Fault, Sandbox, SandboxConfig};
use lightwidget_instagram::*;

struct Setup {
    clock: ManualClock,
    sandbox: Sandbox,
    keeper: Keeper,
    consumer: Arc<InstagramLogin>,
    business: Arc<FacebookLogin>,
}

async fn setup() -> Setup {
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 3, 1, 8, 0, 0).unwrap());
    let sandbox = Sandbox::start(SandboxConfig {
        clock: Arc::new(clock.clone()),
        ..Default::default()
    })
    .await
    .unwrap();
    let consumer = Arc::new(
        InstagramLogin::new(
            sandbox
                .consumer_config()
                .redirect_uri("http://127.0.0.1:9/cb")
                .clock(Arc::new(clock.clone()))
                .build()
                .unwrap(),
        )
        .unwrap(),
    );
    let business = Arc::new(
        FacebookLogin::new(
            sandbox
                .business_config()
                .redirect_uri("http://127.0.0.1:9/cb")
                .clock(Arc::new(clock.clone()))
                .build()
                .unwrap(),
        )
        .unwrap(),
    );
    let provider = GraphProvider::new(Some(consumer.clone()), Some(business.clone()))
        .with_clock(Arc::new(clock.clone()));
    let keeper = Keeper::builder(Arc::new(InMemoryStore::new()), Arc::new(provider))
        .clock(Arc::new(clock.clone()))
        .rng_seed(9)
        .build()
        .unwrap();
    Setup {
        clock,
        sandbox,
        keeper,
        consumer,
        business,
    }
}

async fn run_days(s: &Setup, days: i64) {
    for _ in 0..days * 4 {
        s.clock.advance(TimeDelta::hours(6));
        s.keeper.sweep().await.unwrap();
    }
}

#[tokio::test]
async fn instagram_login_end_to_end_then_refreshed_before_expiry() {
    let s = setup().await;
    let paul = s.sandbox.create_consumer_user("paul");
    s.sandbox.set_login_user(&paul);
    // The authorize dialog redirects back with a code (and Instagram's `#_`).
    let url = s
        .consumer
        .authorize_url(consumer::DEFAULT_SCOPES, "st")
        .unwrap();
    let resp = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(url)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    let loc = resp.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        loc.starts_with("http://127.0.0.1:9/cb?code=") && loc.ends_with("&state=st#_"),
        "{loc}"
    );
    let code = url::Url::parse(&loc)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let now = s.clock.now();
    let short = s
        .consumer
        .exchange_code(&format!("{code}#_"), now)
        .await
        .unwrap();
    assert_eq!(short.user_id, paul.id);
    assert!(
        s.consumer.exchange_code(&code, now).await.is_err(),
        "a code is single-use"
    );
    let long = s
        .consumer
        .exchange_long_lived(&short.token, now)
        .await
        .unwrap();
    assert_eq!(long.expires_at, Some(now + TimeDelta::days(60)));
    let id = s
        .keeper
        .connect(
            NewAccount::new("o", ConnectionKind::Consumer, &short.user_id, "paul"),
            long,
        )
        .await
        .unwrap();

    run_days(&s, 150).await;
    let st = s.keeper.status(id).await.unwrap();
    assert!(st.status.is_active(), "{:?}", st.status);
    assert!(
        st.expires_at.unwrap() > s.clock.now() + TimeDelta::days(20),
        "refreshed before expiry"
    );
    assert!(
        s.sandbox.requests("refresh") >= 4,
        "refreshed ~every 30 days: {}",
        s.sandbox.requests("refresh")
    );
    assert!(s.sandbox.requests("me") > 100, "checked between refreshes");
}

#[tokio::test]
async fn a_business_page_token_is_checked_and_data_access_expiry_is_found() {
    let s = setup().await;
    let shop = s.sandbox.create_business_user("best.of.instagram");
    s.sandbox.set_login_user(&shop);
    let url = s
        .business
        .authorize_url(business::DEFAULT_SCOPES, "st", false)
        .unwrap();
    let resp = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(url)
        .send()
        .await
        .unwrap();
    let loc = resp.headers()["location"].to_str().unwrap().to_owned();
    let code = url::Url::parse(&loc)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let now = s.clock.now();
    let user_token = s.business.exchange_code(&code, now).await.unwrap();
    let long = s
        .business
        .exchange_long_lived(&user_token, now)
        .await
        .unwrap();
    let pages = s.business.pages(&long).await.unwrap();
    let page = &pages[0];
    let ig = page.instagram_business_account.clone().unwrap();
    assert_eq!(ig.id, shop.id);
    let id = s
        .keeper
        .connect(
            NewAccount::new("o", ConnectionKind::Business, &ig.id, &ig.username)
                .with_page_id(&page.id),
            page.token(now),
        )
        .await
        .unwrap();
    run_days(&s, 3).await;
    let st = s.keeper.status(id).await.unwrap();
    assert!(st.status.is_active());
    assert_eq!(st.expires_at, None, "Page tokens never expire");
    assert!(
        st.data_access_expires_at.is_some(),
        "debug_token told us the data-access expiry"
    );
    assert!(s.sandbox.requests("debug_token") >= 5);
    s.sandbox.expire_data_access(&shop);
    run_days(&s, 1).await;
    let st = s.keeper.status(id).await.unwrap();
    assert!(
        matches!(
            st.status,
            TokenStatus::Expired {
                reason: ExpiryReason::DataAccessExpired,
                ..
            }
        ),
        "{:?}",
        st.status
    );
}

#[tokio::test]
async fn a_password_change_is_found_at_the_next_check_with_the_reason() {
    let s = setup().await;
    let ana = s.sandbox.create_consumer_user("ana");
    let t = s.sandbox.issue_consumer_token(&ana, TimeDelta::days(2));
    let id = s
        .keeper
        .connect(
            NewAccount::new("o", ConnectionKind::Consumer, &ana.id, "ana"),
            t,
        )
        .await
        .unwrap();
    run_days(&s, 1).await;
    s.sandbox.password_changed(&ana);
    s.clock.advance(TimeDelta::hours(13));
    s.keeper.sweep().await.unwrap();
    let st = s.keeper.status(id).await.unwrap();
    assert!(
        matches!(
            st.status,
            TokenStatus::Expired {
                reason: ExpiryReason::PasswordChanged,
                ..
            }
        ),
        "{:?}",
        st.status
    );
}

#[tokio::test]
async fn faults_never_expire_a_valid_token() {
    let s = setup().await;
    let u = s.sandbox.create_consumer_user("faulty");
    let t = s.sandbox.issue_consumer_token(&u, TimeDelta::days(40));
    let id = s
        .keeper
        .connect(
            NewAccount::new("o", ConnectionKind::Consumer, &u.id, "faulty"),
            t,
        )
        .await
        .unwrap();
    s.sandbox.inject(Fault::Status(500), 1);
    s.sandbox.inject(Fault::Malformed, 1);
    s.sandbox.inject(
        Fault::RateLimit {
            code: 80002,
            regain_minutes: 45,
        },
        1,
    );
    for _ in 0..3 {
        s.keeper.force_refresh(id).await.unwrap();
        s.clock.advance(TimeDelta::seconds(1));
        s.keeper.sweep().await.unwrap();
        let st = s.keeper.status(id).await.unwrap();
        assert!(st.status.is_active());
    }
    let st = s.keeper.status(id).await.unwrap();
    assert_eq!(st.failures, 3);
    assert!(
        st.next_action_at.unwrap() >= s.clock.now() + TimeDelta::minutes(44),
        "rate-limit regain time honoured"
    );
    s.clock.set(st.next_action_at.unwrap());
    s.keeper.sweep().await.unwrap();
    let st = s.keeper.status(id).await.unwrap();
    assert_eq!(st.failures, 0, "recovered");
    assert!(
        st.expires_at.unwrap() > s.clock.now() + TimeDelta::days(59),
        "then refreshed"
    );
}

#[tokio::test]
async fn remove_app_posts_a_signed_deauthorize_callback() {
    let s = setup().await;
    let u = s.sandbox.create_consumer_user("leaver");
    let got: Arc<Mutex<Vec<String>>> = Arc::default();
    let app = axum::Router::new()
        .route(
            "/deauthorize",
            axum::routing::post(
                |State(g): State<Arc<Mutex<Vec<String>>>>,
                 Form(f): Form<std::collections::HashMap<String, String>>| async move {
                    g.lock().unwrap().push(f["signed_request"].clone());
                    "ok"
                },
            ),
        )
        .with_state(got.clone());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    let cb = url::Url::parse(&format!("http://{addr}/deauthorize")).unwrap();
    assert_eq!(s.sandbox.remove_app(&u, Some(&cb)).await, Some(200));
    let sr = got.lock().unwrap()[0].clone();
    let req = signed_request::verify(&sr, "ig-sandbox-secret", None).unwrap();
    assert_eq!(req.user_id, u.id);
    assert!(signed_request::verify(&sr, "fb-sandbox-secret", None).is_err());
    // And the token now says "app removed".
    let t = s.sandbox.issue_consumer_token(&u, TimeDelta::days(3));
    assert!(matches!(
        s.consumer.me(&t).await,
        Err(ProviderError::Revoked { .. })
    ));
}
