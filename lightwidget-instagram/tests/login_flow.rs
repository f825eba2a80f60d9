//! "Log in with Instagram / Facebook" over real HTTP against the sandbox: every outcome
//! of the dialogs through `flow::OAuth`, then `Keeper::login` and what it records.
#![cfg(feature = "sandbox")]

use std::sync::Arc;

use chrono::{TimeDelta, TimeZone, Utc};
use lightwidget_core::*;
use lightwidget_instagram::flow::{FlowError, OAuth, Prompt};
use lightwidget_instagram::sandbox::{Sandbox, SandboxConfig, UserHandle, dialog};
use lightwidget_instagram::*;

struct Setup {
    clock: ManualClock,
    sandbox: Sandbox,
    keeper: Keeper,
    oauth: OAuth,
    http: reqwest::Client,
}

async fn setup() -> Setup {
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 3, 1, 8, 0, 0).unwrap());
    let sandbox = Sandbox::start(SandboxConfig {
        clock: Arc::new(clock.clone()),
        ..Default::default()
    })
    .await
    .unwrap();
    let cfg = |b: GraphConfigBuilder| {
        b.redirect_uri("http://127.0.0.1:9/oauth/callback")
            .clock(Arc::new(clock.clone()))
            .build()
            .unwrap()
    };
    let consumer = Arc::new(InstagramLogin::new(cfg(sandbox.consumer_config())).unwrap());
    let business = Arc::new(FacebookLogin::new(cfg(sandbox.business_config())).unwrap());
    let provider = GraphProvider::new(Some(consumer.clone()), Some(business.clone()))
        .with_clock(Arc::new(clock.clone()));
    let keeper = Keeper::builder(Arc::new(InMemoryStore::new()), Arc::new(provider))
        .clock(Arc::new(clock.clone()))
        .rng_seed(3)
        .build()
        .unwrap();
    Setup {
        clock,
        sandbox,
        keeper,
        oauth: OAuth::new(Some(consumer), Some(business)),
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
    }
}

impl Setup {
    /// Goes through the `kind` dialog as `user`, with extra dialog parameters; returns
    /// the callback's query string.
    async fn dialog(
        &self,
        kind: ConnectionKind,
        user: &UserHandle,
        extra: &[(&str, &str)],
    ) -> String {
        let mut url = self
            .oauth
            .authorize_url(kind, "state-1", Prompt::Default)
            .unwrap();
        url.query_pairs_mut().append_pair(dialog::USER, &user.id);
        for (k, v) in extra {
            url.query_pairs_mut().append_pair(k, v);
        }
        let r = self.http.get(url).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 303, "the dialog redirects back");
        let to = url::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
        assert_eq!(to.path(), "/oauth/callback");
        to.query().unwrap_or_default().to_owned()
    }

    async fn login(&self, kind: ConnectionKind, user: &UserHandle) -> (LoginOutcome, Token) {
        let q = self.dialog(kind, user, &[]).await;
        let a = self.oauth.complete(kind, &q).await.expect("authorized");
        let token = a.token().clone();
        let out = self
            .keeper
            .login(a.social_login(Entitlements::default()), a.into_token())
            .await
            .expect("logged in");
        (out, token)
    }

    async fn history(&self, id: AccountId) -> Vec<HistoryEntry> {
        self.keeper
            .history(id, HistoryQuery::default())
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn allow_instagram_login_yields_the_account_and_a_long_lived_token() {
    let s = setup().await;
    let paul = s.sandbox.create_consumer_user("paul");
    let q = s.dialog(ConnectionKind::Consumer, &paul, &[]).await;
    let a = s
        .oauth
        .complete(ConnectionKind::Consumer, &q)
        .await
        .unwrap();
    assert_eq!(a.ig_user_id, paul.id);
    assert_eq!(a.username, "paul");
    assert_eq!(a.account_type.as_deref(), Some("BUSINESS"));
    assert_eq!(a.granted, vec!["instagram_business_basic".to_owned()]);
    let exp = a.token().expires_at.expect("a 60-day token");
    assert_eq!(exp - s.clock.now(), TimeDelta::days(60));
    let shown = format!("{a:?}");
    assert!(!shown.contains(a.token().secret()), "{shown}");
    assert!(shown.contains("REDACTED"));
}

#[tokio::test]
async fn allow_facebook_login_yields_the_page_token_and_the_app_scoped_user_id() {
    let s = setup().await;
    let shop = s.sandbox.create_business_user("shop");
    let q = s.dialog(ConnectionKind::Business, &shop, &[]).await;
    let a = s
        .oauth
        .complete(ConnectionKind::Business, &q)
        .await
        .unwrap();
    assert_eq!(a.ig_user_id, shop.id);
    assert_eq!(a.page_id, shop.page_id);
    let fb = shop.fb_user_id.clone().expect("a Facebook user id");
    assert_ne!(fb, shop.id, "the two ids differ, as at Meta");
    assert_eq!(a.fb_user_id.as_deref(), Some(fb.as_str()));
    assert_eq!(a.token().expires_at, None, "Page tokens never expire");
    assert!(a.token().data_access_expires_at.is_some());
    assert!(a.granted.contains(&"pages_show_list".to_owned()));
    // The owner identity comes from Meta's ids, not from anything the browser sent.
    assert_eq!(
        a.social_login(Entitlements::default()).owner().as_str(),
        format!("facebook:{fb}")
    );
}

#[tokio::test]
async fn cancel_is_cancelled_for_both_kinds() {
    let s = setup().await;
    let paul = s.sandbox.create_consumer_user("paul");
    let shop = s.sandbox.create_business_user("shop");
    for (kind, u) in [
        (ConnectionKind::Consumer, &paul),
        (ConnectionKind::Business, &shop),
    ] {
        let q = s.dialog(kind, u, &[(dialog::OUTCOME, "cancel")]).await;
        assert!(q.contains("error=access_denied"), "{q}");
        let e = s.oauth.complete(kind, &q).await.unwrap_err();
        assert_eq!(e, FlowError::Cancelled);
    }
    assert_eq!(s.sandbox.requests("code_exchange"), 0, "nothing exchanged");
}

#[tokio::test]
async fn an_unticked_permission_is_named_before_anything_is_saved() {
    let s = setup().await;
    let shop = s.sandbox.create_business_user("shop");
    let q = s
        .dialog(
            ConnectionKind::Business,
            &shop,
            &[(dialog::UNTICK, "pages_show_list")],
        )
        .await;
    let e = s
        .oauth
        .complete(ConnectionKind::Business, &q)
        .await
        .unwrap_err();
    assert_eq!(
        e,
        FlowError::PermissionsNotGranted {
            missing: vec!["pages_show_list".into()]
        }
    );
    assert!(e.to_string().contains("pages_show_list"), "{e}");
    assert_eq!(s.sandbox.requests("pages"), 0, "checked before the Pages");

    let paul = s.sandbox.create_consumer_user("paul");
    let q = s
        .dialog(
            ConnectionKind::Consumer,
            &paul,
            &[(dialog::UNTICK, "instagram_business_basic")],
        )
        .await;
    let e = s
        .oauth
        .complete(ConnectionKind::Consumer, &q)
        .await
        .unwrap_err();
    assert_eq!(
        e,
        FlowError::PermissionsNotGranted {
            missing: vec!["instagram_business_basic".into()]
        }
    );
    assert_eq!(
        s.sandbox.requests("exchange"),
        0,
        "checked before the long-lived exchange"
    );
    assert!(
        s.keeper
            .statuses(&OwnerId::new(format!("instagram:{}", paul.id)))
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn the_required_permissions_are_configurable_per_kind() {
    let s = setup().await;
    let oauth = s.oauth.clone().with_required(
        ConnectionKind::Consumer,
        &[
            "instagram_business_basic",
            "instagram_business_manage_comments",
        ],
    );
    let url = oauth
        .authorize_url(ConnectionKind::Consumer, "st", Prompt::Default)
        .unwrap();
    let scope = url
        .query_pairs()
        .find(|(k, _)| k == "scope")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    assert!(
        scope.contains("instagram_business_manage_comments"),
        "required ones are asked for: {scope}"
    );
    let paul = s.sandbox.create_consumer_user("paul");
    let q = s
        .dialog(
            ConnectionKind::Consumer,
            &paul,
            &[(dialog::UNTICK, "instagram_business_manage_comments")],
        )
        .await;
    assert_eq!(
        oauth
            .complete(ConnectionKind::Consumer, &q)
            .await
            .unwrap_err(),
        FlowError::PermissionsNotGranted {
            missing: vec!["instagram_business_manage_comments".into()]
        }
    );
}

#[tokio::test]
async fn a_personal_account_is_refused_with_what_to_do() {
    let s = setup().await;
    let me = s.sandbox.create_personal_user("holiday.pics");
    let q = s.dialog(ConnectionKind::Consumer, &me, &[]).await;
    let e = s
        .oauth
        .complete(ConnectionKind::Consumer, &q)
        .await
        .unwrap_err();
    assert_eq!(e, FlowError::PersonalAccount);
    let m = e.to_string();
    assert!(
        m.contains("2024-12-04") && m.contains("Business or Creator"),
        "{m}"
    );
}

#[tokio::test]
async fn a_code_used_twice_is_code_used() {
    let s = setup().await;
    let paul = s.sandbox.create_consumer_user("paul");
    let shop = s.sandbox.create_business_user("shop");
    for (kind, u) in [
        (ConnectionKind::Consumer, &paul),
        (ConnectionKind::Business, &shop),
    ] {
        let q = s.dialog(kind, u, &[]).await;
        s.oauth.complete(kind, &q).await.unwrap();
        assert_eq!(
            s.oauth.complete(kind, &q).await.unwrap_err(),
            FlowError::CodeUsed
        );
    }
}

#[tokio::test]
async fn meta_down_is_unavailable_and_a_callback_without_code_is_incomplete() {
    let s = setup().await;
    let paul = s.sandbox.create_consumer_user("paul");
    let q = s.dialog(ConnectionKind::Consumer, &paul, &[]).await;
    s.sandbox
        .inject(lightwidget_instagram::sandbox::Fault::Status(503), 1);
    let e = s
        .oauth
        .complete(ConnectionKind::Consumer, &q)
        .await
        .unwrap_err();
    assert!(e.is_transient(), "{e:?}");
    assert_eq!(
        s.oauth
            .complete(ConnectionKind::Consumer, "state=abc")
            .await
            .unwrap_err(),
        FlowError::Incomplete
    );
}

#[tokio::test]
async fn a_business_user_without_instagram_account_is_told_so() {
    let s = setup().await;
    // A consumer-only sandbox user has no Page: Facebook Login finds no Instagram account.
    let paul = s.sandbox.create_consumer_user("paul");
    let q = s.dialog(ConnectionKind::Business, &paul, &[]).await;
    assert_eq!(
        s.oauth
            .complete(ConnectionKind::Business, &q)
            .await
            .unwrap_err(),
        FlowError::NoInstagramAccount
    );
}

#[tokio::test]
async fn the_same_person_gets_the_same_owner_and_the_other_kind_another_connection() {
    let s = setup().await;
    let paul = s.sandbox.create_consumer_user("paul");
    let (first, _) = s.login(ConnectionKind::Consumer, &paul).await;
    assert_eq!(first.owner.as_str(), format!("instagram:{}", paul.id));
    assert_eq!(first.effect, LoginEffect::Connected);
    let (again, _) = s.login(ConnectionKind::Consumer, &paul).await;
    assert_eq!(again.owner, first.owner);
    assert_eq!(again.account_id, first.account_id);
    let h = s.history(first.account_id).await;
    assert!(
        matches!(h[h.len() - 1].event.kind, TokenEventKind::Connected { .. }),
        "{h:?}"
    );
    assert_eq!(first.other_kind, None);

    // The same Instagram id connected with the other kind is another connection: the
    // login does not touch it, and says it exists.
    let other = s
        .keeper
        .connect(
            NewAccount::new("alice", ConnectionKind::Business, &paul.id, "paul")
                .with_page_id("page-x"),
            Token::new("EAAGother", s.clock.now()),
        )
        .await
        .unwrap();
    let (third, _) = s.login(ConnectionKind::Consumer, &paul).await;
    assert_eq!(third.account_id, first.account_id);
    assert_eq!(third.other_kind, Some(ConnectionKind::Business));
    assert_eq!(
        s.history(other).await.len(),
        1,
        "the other connection untouched"
    );
}

#[tokio::test]
async fn login_twice_with_the_same_token_moves_the_last_check_and_adds_no_history() {
    let s = setup().await;
    // Facebook Login hands out the same non-expiring Page token again.
    let shop = s.sandbox.create_business_user("shop");
    let (first, t1) = s.login(ConnectionKind::Business, &shop).await;
    let rows = s.history(first.account_id).await.len();
    let checked = s
        .keeper
        .status(first.account_id)
        .await
        .unwrap()
        .last_checked_at;
    s.clock.advance(TimeDelta::hours(5));
    let (second, t2) = s.login(ConnectionKind::Business, &shop).await;
    assert!(t1.same_value(&t2), "the sandbox gave the same Page token");
    assert_eq!(second.effect, LoginEffect::Checked);
    assert_eq!(second.owner, first.owner);
    let after = s.keeper.status(first.account_id).await.unwrap();
    assert_eq!(
        after.last_checked_at,
        Some(s.clock.now()),
        "last check moved"
    );
    assert_ne!(after.last_checked_at, checked);
    assert_eq!(
        s.history(first.account_id).await.len(),
        rows,
        "no new history row"
    );
}

#[tokio::test]
async fn login_with_a_new_token_adds_one_history_row_and_revives_a_broken_account() {
    let s = setup().await;
    let paul = s.sandbox.create_consumer_user("paul");
    let (first, t1) = s.login(ConnectionKind::Consumer, &paul).await;
    // Paul changes his password; the keeper finds out.
    s.sandbox.password_changed(&paul);
    let id = first.account_id;
    for _ in 0..12 {
        s.clock.advance(TimeDelta::hours(12));
        s.keeper.sweep().await.unwrap();
        if !s.keeper.status(id).await.unwrap().status.is_active() {
            break;
        }
    }
    assert!(
        !s.keeper.status(id).await.unwrap().status.is_active(),
        "NOT ACTIVE"
    );
    let rows = s.history(id).await.len();
    // He logs in again with the new password: a new token, ACTIVE, one history row.
    let (second, t2) = s.login(ConnectionKind::Consumer, &paul).await;
    assert!(!t1.same_value(&t2));
    assert_eq!(second.effect, LoginEffect::Renewed);
    let st = s.keeper.status(id).await.unwrap();
    assert!(st.status.is_active());
    assert_eq!(st.last_checked_at, Some(s.clock.now()));
    let h = s.history(id).await;
    assert_eq!(h.len(), rows + 1, "{h:?}");
    assert!(
        matches!(h[0].event.kind, TokenEventKind::Reconnected { .. }),
        "{h:?}"
    );
    // The new token works; the one from before the password change does not.
    let token = s.keeper.access_token(id).await.unwrap();
    assert!(token.same_value(&t2));
    let me = reqwest::get(format!(
        "{}{}/me?fields=id&access_token={}",
        s.sandbox.base_url(),
        DEFAULT_GRAPH_VERSION,
        t1.secret()
    ))
    .await
    .unwrap();
    assert_eq!(me.status().as_u16(), 400, "the old token stays broken");
}

#[tokio::test]
async fn the_dialog_page_offers_who_logs_in_each_permission_allow_and_cancel() {
    let s = setup().await;
    let shop = s.sandbox.create_business_user("shop");
    let mut url = s
        .oauth
        .authorize_url(ConnectionKind::Business, "st", Prompt::Default)
        .unwrap();
    url.query_pairs_mut()
        .append_pair(dialog::PAGE, "show")
        .append_pair(dialog::USER, &shop.id);
    let page = s.http.get(url.clone()).send().await.unwrap();
    assert_eq!(page.status().as_u16(), 200);
    let html = page.text().await.unwrap();
    for part in [
        "@shop",
        "grant_pages_show_list",
        "dialog-allow",
        "dialog-cancel",
    ] {
        assert!(html.contains(part), "{part} in {html}");
    }
    // What the form sends: the boxes left ticked, and the button pressed.
    let submit = |extra: &[(&str, &str)]| {
        let mut u = url.clone();
        for (k, v) in extra {
            u.query_pairs_mut().append_pair(k, v);
        }
        u
    };
    let back = |u: url::Url| async {
        let r = s.http.get(u).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 303);
        let to = url::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
        to.query().unwrap_or_default().to_owned()
    };
    let q = back(submit(&[
        ("sandbox_decision", "allow"),
        ("grant_instagram_basic", "1"),
        ("grant_pages_read_engagement", "1"),
    ]))
    .await;
    assert_eq!(
        s.oauth
            .complete(ConnectionKind::Business, &q)
            .await
            .unwrap_err(),
        FlowError::PermissionsNotGranted {
            missing: vec!["pages_show_list".into()]
        }
    );
    let q = back(submit(&[("sandbox_decision", "cancel")])).await;
    assert_eq!(
        s.oauth
            .complete(ConnectionKind::Business, &q)
            .await
            .unwrap_err(),
        FlowError::Cancelled
    );
    let q = back(submit(&[
        ("sandbox_decision", "allow"),
        ("grant_instagram_basic", "1"),
        ("grant_pages_show_list", "1"),
        ("grant_pages_read_engagement", "1"),
    ]))
    .await;
    let a = s
        .oauth
        .complete(ConnectionKind::Business, &q)
        .await
        .unwrap();
    assert_eq!(a.username, "shop");
}
