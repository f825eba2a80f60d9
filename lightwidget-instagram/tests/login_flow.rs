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
        let token = a.token().unwrap().clone();
        let out = self
            .keeper
            .login(
                a.social_login(Entitlements::default()).unwrap(),
                a.into_token().unwrap(),
            )
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
    let exp = a.token().unwrap().expires_at.expect("a 60-day token");
    assert_eq!(exp - s.clock.now(), TimeDelta::days(60));
    let shown = format!("{a:?}");
    assert!(!shown.contains(a.token().unwrap().secret()), "{shown}");
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
    assert_eq!(a.page_id, shop.page_id.clone().map(Into::into));
    let fb = shop.fb_user_id.clone().expect("a Facebook user id");
    assert_ne!(fb, shop.id, "the two ids differ, as at Meta");
    assert_eq!(a.fb_user_id.as_deref(), Some(fb.as_str()));
    assert_eq!(
        a.token().unwrap().expires_at,
        None,
        "Page tokens never expire"
    );
    assert!(a.token().unwrap().data_access_expires_at.is_some());
    assert!(a.granted.contains(&"pages_show_list".to_owned()));
    // The owner identity comes from Meta's ids, not from anything the browser sent.
    assert_eq!(
        a.social_login(Entitlements::default())
            .unwrap()
            .owner()
            .as_str(),
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

/// Reads `/{ig_user_id}?fields=id,username` with `token`: the account's username, or
/// `None` when the token does not read that account.
async fn reads(s: &Setup, ig_user_id: &str, token: &Token) -> Option<String> {
    let mut u = s.sandbox.base_url();
    u.set_path(&format!("v25.0/{ig_user_id}"));
    u.query_pairs_mut()
        .append_pair("fields", "id,username")
        .append_pair("access_token", token.secret());
    let r = s.http.get(u).send().await.unwrap();
    if !r.status().is_success() {
        return None;
    }
    let v: serde_json::Value = r.json().await.unwrap();
    (v["id"] == ig_user_id).then(|| v["username"].as_str().unwrap_or_default().to_owned())
}

#[tokio::test]
async fn a_facebook_login_with_two_pages_lists_both_and_takes_neither_until_chosen() {
    let s = setup().await;
    let first = s.sandbox.create_business_user("first.shop");
    let second = s.sandbox.add_business_page(&first, "second.shop");
    assert_eq!(second.fb_user_id, first.fb_user_id, "one Facebook user");
    let q = s.dialog(ConnectionKind::Business, &first, &[]).await;
    let a = s
        .oauth
        .complete(ConnectionKind::Business, &q)
        .await
        .unwrap();
    assert!(a.needs_choice());
    let choices = a.choices();
    let ids: Vec<&str> = choices.iter().map(|c| c.ig_user_id.as_str()).collect();
    assert_eq!(ids, [first.id.as_str(), second.id.as_str()]);
    assert_eq!(choices[1].username, "second.shop");
    assert_eq!(choices[1].page_id, second.page_id.clone().unwrap());
    assert_eq!(choices[1].page_name, "second.shop Page");
    // Nothing is taken silently: no token, no account, no login until chosen.
    assert!(a.ig_user_id.is_empty() && a.page_id.is_none());
    assert!(matches!(a.token(), Err(FlowError::ChoiceNeeded { .. })));
    assert!(matches!(
        a.new_account(OwnerId::new("o"), Entitlements::default()),
        Err(FlowError::ChoiceNeeded { .. })
    ));
    assert!(matches!(
        a.social_login(Entitlements::default()),
        Err(FlowError::ChoiceNeeded { .. })
    ));
    assert!(matches!(
        a.clone().into_token(),
        Err(FlowError::ChoiceNeeded { .. })
    ));
    // Debug shows the choices, never a Page token.
    let chosen = a.choose(&second.id).unwrap();
    let shown = format!("{a:?} {chosen:?}");
    assert!(shown.contains("second.shop"), "{shown}");
    assert!(!shown.contains(chosen.token().unwrap().secret()), "{shown}");

    // The chosen token reads the chosen account, and only it.
    assert!(!chosen.needs_choice());
    assert_eq!(chosen.ig_user_id, second.id);
    assert_eq!(chosen.username, "second.shop");
    assert_eq!(chosen.page_id, second.page_id.clone().map(Into::into));
    assert_eq!(chosen.fb_user_id, first.fb_user_id.clone().map(Into::into));
    let t = chosen.token().unwrap().clone();
    assert_eq!(t.expires_at, None);
    assert!(t.data_access_expires_at.is_some());
    assert_eq!(
        reads(&s, &second.id, &t).await.as_deref(),
        Some("second.shop")
    );
    assert_eq!(reads(&s, &first.id, &t).await, None);
    let other = a.choose(&first.id).unwrap();
    assert_eq!(
        reads(&s, &first.id, other.token().unwrap())
            .await
            .as_deref(),
        Some("first.shop")
    );

    // An id that is not one of them is refused, in words naming what was offered.
    let stranger = s.sandbox.create_business_user("stranger");
    let e = a.choose(&stranger.id).unwrap_err();
    assert!(
        matches!(&e, FlowError::NotAmongPages { ig_user_id, .. } if *ig_user_id == stranger.id)
    );
    let m = e.to_string();
    assert!(
        m.contains("@first.shop")
            && m.contains("@second.shop")
            && m.contains("nothing was changed"),
        "{m}"
    );

    // Connecting the chosen one connects that account only.
    let owner = OwnerId::new("owner@example.com");
    let id = s
        .keeper
        .connect(
            chosen
                .new_account(owner.clone(), Entitlements::default())
                .unwrap(),
            chosen.into_token().unwrap(),
        )
        .await
        .unwrap();
    let all = s.keeper.statuses(&owner).await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].account.id, id);
    assert_eq!(all[0].account.ig_user_id, second.id);
}

#[tokio::test]
async fn a_single_page_is_selected_and_choose_accepts_only_its_account() {
    let s = setup().await;
    let shop = s.sandbox.create_business_user("shop");
    let q = s.dialog(ConnectionKind::Business, &shop, &[]).await;
    let a = s
        .oauth
        .complete(ConnectionKind::Business, &q)
        .await
        .unwrap();
    assert!(!a.needs_choice());
    assert_eq!(a.choices().len(), 1);
    assert_eq!(a.choose(&shop.id).unwrap().ig_user_id, shop.id);
    assert!(matches!(
        a.choose("17841400000000999"),
        Err(FlowError::NotAmongPages { .. })
    ));
    // Instagram Login: choose checks the one account.
    let paul = s.sandbox.create_consumer_user("paul");
    let q = s.dialog(ConnectionKind::Consumer, &paul, &[]).await;
    let c = s
        .oauth
        .complete(ConnectionKind::Consumer, &q)
        .await
        .unwrap();
    assert!(c.choices().is_empty() && !c.needs_choice());
    assert_eq!(c.choose(&paul.id).unwrap().ig_user_id, paul.id);
    assert!(matches!(
        c.choose(&shop.id),
        Err(FlowError::NotAmongPages { .. })
    ));
}

#[tokio::test]
async fn a_renewal_finds_its_account_among_the_pages_and_never_renews_another() {
    let s = setup().await;
    let a_user = s.sandbox.create_business_user("a.shop");
    let b_user = s.sandbox.add_business_page(&a_user, "b.shop");
    let owner = OwnerId::new("owner@example.com");
    // Both connected earlier, each with its own Page token.
    let mut ids = Vec::new();
    for u in [&a_user, &b_user] {
        let n = NewAccount::new(owner.clone(), ConnectionKind::Business, &u.id, &u.username)
            .with_page_id(u.page_id.clone().unwrap());
        ids.push(
            s.keeper
                .connect(n, s.sandbox.issue_page_token(u))
                .await
                .unwrap(),
        );
    }
    let before_a = s.history(ids[0]).await.len();
    // B's token is broken; the person renews B with a login that covers A and B.
    s.sandbox.password_changed(&b_user);
    let q = s.dialog(ConnectionKind::Business, &a_user, &[]).await;
    let login = s
        .oauth
        .complete(ConnectionKind::Business, &q)
        .await
        .unwrap();
    assert!(login.needs_choice());
    let renewal = login.choose(&b_user.id).unwrap();
    let token = renewal.token().unwrap().clone();
    let ig = renewal.ig_user_id.clone();
    let renewed = s
        .keeper
        .reconnect(ConnectionKind::Business, &ig, renewal.into_token().unwrap())
        .await
        .unwrap();
    assert_eq!(renewed, ids[1], "B was renewed");
    assert_eq!(
        reads(&s, &b_user.id, &token).await.as_deref(),
        Some("b.shop")
    );
    assert_eq!(s.history(ids[0]).await.len(), before_a, "A untouched");

    // A login that does not cover B renews nothing and says so.
    let c_user = s.sandbox.create_business_user("c.shop");
    let q = s.dialog(ConnectionKind::Business, &c_user, &[]).await;
    let other = s
        .oauth
        .complete(ConnectionKind::Business, &q)
        .await
        .unwrap();
    let e = other.choose(&b_user.id).unwrap_err();
    assert!(matches!(e, FlowError::NotAmongPages { .. }));
    assert!(e.to_string().contains("@c.shop"), "{e}");
}

#[tokio::test]
async fn the_rerequest_prompt_asks_with_auth_type_rerequest() {
    let s = setup().await;
    let url = s
        .oauth
        .authorize_url(ConnectionKind::Business, "st", Prompt::Rerequest)
        .unwrap();
    assert!(
        url.query_pairs()
            .any(|(k, v)| k == "auth_type" && v == "rerequest"),
        "{url}"
    );
    let url = s
        .oauth
        .authorize_url(ConnectionKind::Business, "st", Prompt::Reauthorize)
        .unwrap();
    assert!(
        url.query_pairs()
            .any(|(k, v)| k == "auth_type" && v == "reauthorize"),
        "{url}"
    );
}

/// #29.3: an agency whose Facebook user manages more Pages than one `/me/accounts`
/// answer holds (Meta: at most 100) can connect and renew any of them, the last too.
#[tokio::test]
async fn an_agency_with_more_pages_than_one_answer_holds_can_connect_and_renew_the_last() {
    let s = setup().await;
    let first = s.sandbox.create_business_user("agency.page0");
    let mut last = first.clone();
    for i in 1..130 {
        last = s
            .sandbox
            .add_business_page(&first, &format!("agency.page{i}"));
    }
    let q = s.dialog(ConnectionKind::Business, &first, &[]).await;
    let login = s
        .oauth
        .complete(ConnectionKind::Business, &q)
        .await
        .unwrap();
    let choices = login.choices();
    assert_eq!(choices.len(), 130, "every Page, across answers");
    assert_eq!(choices[0].username, "agency.page0", "in Meta's order");
    assert_eq!(choices[129].username, "agency.page129");
    assert_eq!(s.sandbox.requests("pages"), 2, "two answers: 100 + 30");
    // Connect the last one; its Page token reads its own account.
    let chosen = login.choose(&last.id).unwrap();
    let token = chosen.token().unwrap().clone();
    assert_eq!(
        reads(&s, &last.id, &token).await.as_deref(),
        Some("agency.page129")
    );
    let owner = OwnerId::new("agency@example.com");
    let id = s
        .keeper
        .connect(
            chosen.new_account(owner, Entitlements::default()).unwrap(),
            chosen.into_token().unwrap(),
        )
        .await
        .unwrap();
    // A renewal of that last Page later finds it beyond the first answer too.
    s.clock.advance(TimeDelta::days(2));
    s.sandbox.password_changed(&last);
    let q = s.dialog(ConnectionKind::Business, &first, &[]).await;
    let again = s
        .oauth
        .complete(ConnectionKind::Business, &q)
        .await
        .unwrap();
    let renewal = again.choose(&last.id).expect("the last Page is offered");
    let renewed = s
        .keeper
        .reconnect(
            ConnectionKind::Business,
            &renewal.ig_user_id.clone(),
            renewal.into_token().unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(renewed, id);
}

/// #29.4, LightWidget's error 1075: a Business account renewed with the Consumer button.
/// Instagram Login names the account with its Instagram-scoped id, Facebook Login with
/// the Instagram business account id; the hint finds the Business connection by the
/// username both report.
#[tokio::test]
async fn the_wrong_button_hint_finds_the_other_kind_by_username_across_different_ids() {
    let s = setup().await;
    let biz = s.sandbox.create_business_user("dunnortho812");
    let owner = OwnerId::new("morganc@example.com");
    // Connected with Facebook Login (the Business connection).
    let q = s.dialog(ConnectionKind::Business, &biz, &[]).await;
    let a = s
        .oauth
        .complete(ConnectionKind::Business, &q)
        .await
        .unwrap();
    let id = s
        .keeper
        .connect(
            a.new_account(owner, Entitlements::default()).unwrap(),
            a.into_token().unwrap(),
        )
        .await
        .unwrap();
    let before = s.history(id).await.len();
    // Renewed with the Consumer button: Instagram Login, the same account, another id.
    let same_account = s.sandbox.instagram_login_of(&biz);
    let q = s.dialog(ConnectionKind::Consumer, &same_account, &[]).await;
    let c = s
        .oauth
        .complete(ConnectionKind::Consumer, &q)
        .await
        .unwrap();
    assert_eq!(c.username, "dunnortho812");
    assert_ne!(c.ig_user_id, biz.id, "the flows' ids differ");
    // By id alone there is nothing to hint at ...
    let by_id = s
        .keeper
        .reconnect(
            ConnectionKind::Consumer,
            &c.ig_user_id,
            c.token().unwrap().clone(),
        )
        .await
        .unwrap_err();
    assert!(matches!(
        by_id,
        lightwidget_core::Error::NotConnected { hint: None, .. }
    ));
    // ... with the username the hint names the Business connection.
    let err = s
        .keeper
        .reconnect_as(
            ConnectionKind::Consumer,
            &c.ig_user_id,
            &c.username.to_uppercase(),
            c.token().unwrap().clone(),
        )
        .await
        .unwrap_err();
    match &err {
        lightwidget_core::Error::NotConnected { kind, hint, .. } => {
            assert_eq!(*kind, ConnectionKind::Consumer);
            assert_eq!(*hint, Some(ConnectionKind::Business));
        }
        other => panic!("expected NotConnected, got {other:?}"),
    }
    assert!(err.to_string().contains("business flow"), "{err}");
    // Nothing was renewed; another username hints at nothing.
    assert_eq!(s.history(id).await.len(), before, "nothing renewed");
    let other = s
        .keeper
        .reconnect_as(
            ConnectionKind::Consumer,
            &c.ig_user_id,
            "someone.else",
            c.token().unwrap().clone(),
        )
        .await
        .unwrap_err();
    assert!(matches!(
        other,
        lightwidget_core::Error::NotConnected { hint: None, .. }
    ));
}
