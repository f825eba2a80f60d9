//! Issue #16: each attack performed for real against the host app example on
//! `127.0.0.1:0` (reqwest over loopback, cookies kept by hand like a browser) or against
//! the library, asserting the refusal and that nothing changed in the store.

#[allow(dead_code)]
#[path = "../examples/host_app/app/mod.rs"]
mod app;
#[allow(dead_code)]
mod host_app;
#[allow(dead_code)]
#[path = "../examples/host_app/setup.rs"]
mod setup;

use std::sync::{Arc, Mutex};

use chrono::TimeDelta;
use host_app::{Client, Page, Site};
use lightwidget::instagram::sandbox::{SandboxConfig, UserHandle};
use lightwidget::instagram::signed_request::sign;
use lightwidget::*;
use url::Url;

fn owner(s: &str) -> OwnerId {
    OwnerId::new(s)
}

async fn accounts_of(site: &Site, who: &str) -> Vec<String> {
    site.keeper
        .statuses(&owner(who))
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.account.username)
        .collect()
}

/// Starts a Connect flow in `b` (signed in) and lets the sandbox dialog log in: the
/// callback URL with `code` and `state`, not yet visited.
async fn authorized_callback(site: &Site, b: &mut Client, kind: &str) -> Url {
    let csrf = b.csrf(site).await;
    let r = b
        .post(site.url(&format!("connect/{kind}")), &[("csrf", &csrf)])
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let dialog = b.get(r.location().as_str()).await;
    assert!((300..400).contains(&dialog.status), "{}", dialog.body);
    let cb: Url = dialog.location().parse().unwrap();
    assert!(cb.path().ends_with("/oauth/callback"), "{cb}");
    cb
}

fn consumer_user(site: &Site, name: &str) -> UserHandle {
    let u = site.sandbox.create_consumer_user(name);
    site.sandbox_login_as(ConnectionKind::Consumer, &u.id);
    u
}

// ---------------------------------------------------------------- 1. state binding

#[tokio::test]
async fn oauth_state_only_completes_in_the_browser_that_started_it() {
    let site = Site::start().await;
    let _victim_ig = consumer_user(&site, "victim.shop");
    // The attacker starts a connection to *their* LightWidget account and, instead of
    // finishing it, sends the authorize link on to the victim, who logs in on Instagram.
    let mut attacker = Client::browser(&site);
    attacker.login(&site, "mallory").await;
    let attackers_callback = authorized_callback(&site, &mut attacker, "consumer").await;

    // The victim's browser arrives at the callback: no binding cookie.
    let mut victim = Client::browser(&site);
    victim.login(&site, "alice").await;
    let r = victim.get(attackers_callback.clone()).await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("started in another browser"), "{}", r.body);
    // With a binding of its own (the victim started a flow too): still refused.
    let victims_callback = authorized_callback(&site, &mut victim, "consumer").await;
    let r = victim.get(attackers_callback.clone()).await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("started in another browser"), "{}", r.body);
    assert!(
        accounts_of(&site, "mallory").await.is_empty(),
        "nothing attached to the attacker"
    );
    assert!(accounts_of(&site, "alice").await.is_empty());

    // The victim's own flow, in the victim's browser, still works (the refusals did not
    // clear its cookie), once.
    let r = victim.get(victims_callback.clone()).await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.location(), "/accounts");
    assert_eq!(accounts_of(&site, "alice").await, ["victim.shop"]);
    assert!(accounts_of(&site, "mallory").await.is_empty());
    let r = victim.get(victims_callback).await;
    assert_eq!(r.status, 400, "single use");
}

// ---------------------------------------------------------------- 3. signed_request

#[tokio::test]
async fn stale_undated_or_future_signed_requests_are_refused() {
    let site = Site::start().await;
    let paul = site.sandbox.create_consumer_user("paul");
    let id = site
        .keeper
        .connect(
            NewAccount::new("alice", ConnectionKind::Consumer, &paul.id, "paul"),
            site.sandbox.issue_consumer_token(&paul, TimeDelta::days(1)),
        )
        .await
        .unwrap();
    let secret = SandboxConfig::default().consumer_app.1;
    let now = site.clock.now().timestamp();
    let signed = |issued_at: Option<i64>| {
        let at = issued_at
            .map(|t| format!(r#","issued_at":{t}"#))
            .unwrap_or_default();
        sign(
            &secret,
            &format!(
                r#"{{"algorithm":"HMAC-SHA256","user_id":"{}"{at}}}"#,
                paul.id
            ),
        )
    };
    let http = reqwest::Client::new();
    let post = |path: &'static str, sr: String| {
        let http = http.clone();
        let url = site.url(path);
        async move {
            http.post(url)
                .form(&[("signed_request", sr)])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    // A captured callback replayed hours later, one without a date, one from the future.
    for (what, sr) in [
        ("stale", signed(Some(now - 2 * 3600))),
        ("undated", signed(None)),
        ("future", signed(Some(now + 600))),
    ] {
        assert_eq!(
            post("deauthorize", sr.clone()).await,
            403,
            "{what} deauthorize"
        );
        assert_eq!(post("data-deletion", sr).await, 403, "{what} data deletion");
        let st = site.keeper.status(id).await.expect("account kept");
        assert!(st.status.is_active(), "{what}: still active");
    }
    // Within the clock-skew bound and fresh: accepted.
    assert_eq!(post("deauthorize", signed(Some(now + 120))).await, 200);
    assert_eq!(
        site.keeper.status(id).await.unwrap().status.as_str(),
        "revoked"
    );
}

// ---------------------------------------------------------------- 4. identity

#[tokio::test]
async fn identity_is_an_encrypted_session_set_by_a_csrf_checked_post() {
    let site = Site::start().await;
    let paul = site.sandbox.create_consumer_user("paul");
    site.keeper
        .connect(
            NewAccount::new("alice", ConnectionKind::Consumer, &paul.id, "paul"),
            site.sandbox.issue_consumer_token(&paul, TimeDelta::days(1)),
        )
        .await
        .unwrap();

    // The old unsigned cookie names anyone: no longer.
    let mut forger = Client::browser(&site);
    forger.cookies.insert("lw_user".into(), "alice".into());
    let r = forger.get(site.url("accounts")).await;
    assert_eq!((r.status, r.location().as_str()), (303, "/"));
    // GET /login does not log in.
    let r = forger.get(site.url("login?user=alice")).await;
    assert_eq!(r.status, 405);
    assert!(!forger.cookies.keys().any(|k| k.contains("session")));
    // POST /login without the form's CSRF token, or with another session's: refused.
    let r = forger.post(site.url("login"), &[("user", "alice")]).await;
    assert_eq!(r.status, 403);
    let mut other = Client::browser(&site);
    let others_token = other.get(site.url("")).await.csrf();
    let _ = forger.get(site.url("")).await; // the forger's own anonymous session
    let r = forger
        .post(
            site.url("login"),
            &[("csrf", &others_token), ("user", "alice")],
        )
        .await;
    assert_eq!(r.status, 403);
    // A session cookie edited by hand (say, to become alice): refused.
    let mut bob = Client::browser(&site);
    let r = bob.login(&site, "bob").await;
    let set = r
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect::<Vec<_>>();
    let session = set
        .iter()
        .find(|c| c.starts_with("__Host-lw-session="))
        .expect("session cookie");
    for attr in ["HttpOnly", "SameSite=Lax", "Secure", "Path=/"] {
        assert!(session.contains(attr), "{attr} in {session}");
    }
    let value = bob.cookies["__Host-lw-session"].clone();
    assert!(!value.contains("bob"), "encrypted, not readable");
    let mut edited = value.into_bytes();
    let mid = edited.len() / 2;
    edited[mid] = if edited[mid] == b'A' { b'B' } else { b'A' };
    forger.cookies.insert(
        "__Host-lw-session".into(),
        String::from_utf8(edited).unwrap(),
    );
    let r = forger.get(site.url("accounts")).await;
    assert_eq!((r.status, r.location().as_str()), (303, "/"));
    // Nobody got in; alice's account is as it was, and only alice sees it.
    let r = bob.get(site.url("accounts")).await;
    assert!(r.body.contains("Signed in as <b>bob</b>") && !r.body.contains("@paul"));
    let mut alice = Client::browser(&site);
    alice.login(&site, "alice").await;
    assert!(alice.get(site.url("accounts")).await.body.contains("@paul"));
    // The page says the login is a stand-in.
    assert!(
        Client::browser(&site)
            .get(site.url(""))
            .await
            .body
            .contains("stand-in")
    );
}

// ---------------------------------------------------------------- 5. CSRF

#[tokio::test]
async fn forged_cross_site_posts_get_403_and_change_nothing() {
    let site = Site::start().await;
    let paul = site.sandbox.create_consumer_user("paul");
    let id = site
        .keeper
        .connect(
            NewAccount::new("alice", ConnectionKind::Consumer, &paul.id, "paul"),
            site.sandbox.issue_consumer_token(&paul, TimeDelta::days(1)),
        )
        .await
        .unwrap();
    let mut alice = Client::browser(&site);
    alice.login(&site, "alice").await;
    let token = alice.csrf(&site).await;
    let before = site.keeper.preferences(&owner("alice")).await.unwrap();

    // Another site's page posts alice's forms in her browser (with her cookies; even the
    // token, had it leaked): Origin / Sec-Fetch-Site refuse it.
    let mut evil = Client::cross_site();
    evil.cookies = alice.cookies.clone();
    let settings = [
        ("csrf", token.as_str()),
        ("expired_notifications", "on"),
        ("email", "attacker@evil.example"),
    ];
    let forms: [(String, &[(&str, &str)]); 7] = [
        ("settings".into(), &settings),
        (format!("accounts/{id}/disconnect"), &[("csrf", &token)]),
        (format!("accounts/{id}/refresh"), &[("csrf", &token)]),
        ("invitations".into(), &[("csrf", &token)]),
        ("connect/consumer".into(), &[("csrf", &token)]),
        ("logout".into(), &[("csrf", &token)]),
        ("login".into(), &[("csrf", &token), ("user", "mallory")]),
    ];
    for (path, form) in &forms {
        let r = evil.post(site.url(path), form).await;
        assert_eq!(r.status, 403, "cross-site POST {path}");
    }
    // Same-origin, but without the session's token or with a wrong one.
    for (path, form) in &forms {
        let without: Vec<(&str, &str)> =
            form.iter().filter(|(k, _)| *k != "csrf").copied().collect();
        assert_eq!(
            alice.post(site.url(path), &without).await.status,
            403,
            "no token {path}"
        );
        let mut wrong = without.clone();
        wrong.push((
            "csrf",
            "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ));
        assert_eq!(
            alice.post(site.url(path), &wrong).await.status,
            403,
            "wrong token {path}"
        );
    }
    // Nothing changed: preferences, the account, the session.
    let after = site.keeper.preferences(&owner("alice")).await.unwrap();
    assert_eq!(format!("{before:?}"), format!("{after:?}"));
    assert!(site.keeper.status(id).await.unwrap().status.is_active());
    let page = alice.get(site.url("accounts")).await;
    assert!(page.body.contains("Signed in as <b>alice</b>") && page.body.contains("@paul"));
    // The genuine form works.
    let r = alice
        .post(
            site.url("settings"),
            &[
                ("csrf", &token),
                ("expired_notifications", "on"),
                ("email", "alice@example.com"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let prefs = site.keeper.preferences(&owner("alice")).await.unwrap();
    // The seeds' checkbox is the expired topic (every break): no warning is turned on with it.
    assert_eq!(
        prefs.topics.iter().copied().collect::<Vec<_>>(),
        vec![NoticeTopic::Expired]
    );
    // Each warning is its own checkbox.
    let r = alice
        .post(
            site.url("settings"),
            &[
                ("csrf", &token),
                ("expiring_soon", "on"),
                ("data_access_expiring", "on"),
                ("email", "alice@example.com"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let prefs = site.keeper.preferences(&owner("alice")).await.unwrap();
    assert_eq!(
        prefs.topics.iter().copied().collect::<Vec<_>>(),
        vec![NoticeTopic::DataAccessExpiring, NoticeTopic::ExpiringSoon]
    );
    let page = alice.get(site.url("settings")).await;
    assert!(
        page.body
            .contains("id=topic-expiring-soon value=on checked")
    );
    assert!(
        !page
            .body
            .contains("id=expired-notifications value=on checked")
    );
}

// ---------------------------------------------------------------- 6. headers

fn assert_security_headers(what: &str, p: &Page) {
    let h = |n: &str| {
        p.headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let csp = h("content-security-policy");
    assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
    assert!(csp.contains("default-src 'none'"), "{what}: {csp}");
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("script-src"),
        "{what}: {csp}"
    );
    assert_eq!(h("x-frame-options"), "DENY", "{what}");
    assert_eq!(h("x-content-type-options"), "nosniff", "{what}");
    assert_eq!(h("referrer-policy"), "no-referrer", "{what}");
    assert!(!p.body.contains("<script"), "{what}: no script");
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let site = Site::start().await;
    let paul = consumer_user(&site, "paul");
    site.keeper
        .connect(
            NewAccount::new("alice", ConnectionKind::Consumer, &paul.id, "paul"),
            site.sandbox.issue_consumer_token(&paul, TimeDelta::days(1)),
        )
        .await
        .unwrap();
    let mut alice = Client::browser(&site);
    alice.login(&site, "alice").await;
    let unsubscribe =
        site.state
            .web
            .links()
            .unsubscribe_url(&owner("alice"), None, site.clock.now());
    let mut pages = Vec::new();
    for path in [
        "",
        "accounts",
        "my-token",
        "settings",
        "inbox",
        "access-token",
        "access-token/consumer",
        "renew?token=forged",
        "invite?token=forged",
        "oauth/callback?state=x",
        "data-deletion?code=x",
        "no-such-page",
    ] {
        pages.push((path.to_owned(), alice.get(site.url(path)).await));
    }
    pages.push(("unsubscribe".into(), alice.get(unsubscribe.clone()).await));
    pages.push((
        "unsubscribe POST".into(),
        Client::browser(&site).post(unsubscribe, &[]).await,
    ));
    pages.push((
        "deauthorize forged".into(),
        alice
            .post(site.url("deauthorize"), &[("signed_request", "x.y")])
            .await,
    ));
    pages.push((
        "cross-site".into(),
        Client::cross_site().post(site.url("settings"), &[]).await,
    ));
    for (what, p) in &pages {
        assert_security_headers(what, p);
    }
    // Pages with account data are never cached.
    for (what, p) in &pages[..6] {
        assert_eq!(p.headers["cache-control"], "no-store", "{what}");
    }
    // The OAuth redirect (state in the URL) and the renewal link page too.
    let (_, renew) = &pages[6];
    assert_eq!(renew.status, 303);
    assert_eq!(renew.headers["referrer-policy"], "no-referrer");
    assert_eq!(renew.headers["cache-control"], "no-store");
}

// ---------------------------------------------------------------- 7. owner scoping

#[tokio::test]
async fn one_owner_never_sees_another_owners_accounts_queue_or_mail() {
    let site = Site::start().await;
    let paul = site.sandbox.create_consumer_user("paul.secret");
    let id = site
        .keeper
        .connect(
            NewAccount::new("alice", ConnectionKind::Consumer, &paul.id, "paul.secret"),
            site.sandbox.issue_consumer_token(&paul, TimeDelta::days(1)),
        )
        .await
        .unwrap();
    site.state
        .queue
        .push_back(&owner("bob"), "widget #7 of bob");
    // Alice renews paul: the hook puts its widgets first in *alice's* queue.
    site.keeper
        .reconnect(
            ConnectionKind::Consumer,
            &paul.id,
            site.sandbox.issue_consumer_token(&paul, TimeDelta::days(1)),
        )
        .await
        .unwrap();
    assert_eq!(
        site.state.queue.snapshot(&owner("alice")),
        ["widgets of @paul.secret"]
    );
    assert_eq!(
        site.state.queue.snapshot(&owner("bob")),
        ["widget #7 of bob"]
    );

    let mut bob = Client::browser(&site);
    bob.login(&site, "bob").await;
    for path in ["accounts", "my-token", "inbox", "settings"] {
        let body = bob.get(site.url(path)).await.body;
        assert!(
            !body.contains("paul.secret"),
            "bob's {path} shows alice's account"
        );
    }
    assert!(
        bob.get(site.url("accounts"))
            .await
            .body
            .contains("widget #7 of bob")
    );
    // Acting on alice's account by its id: 404, and nothing changes.
    let token = bob.csrf(&site).await;
    for action in ["refresh", "disconnect"] {
        let r = bob
            .post(
                site.url(&format!("accounts/{id}/{action}")),
                &[("csrf", &token)],
            )
            .await;
        assert_eq!(r.status, 404, "{action}");
        assert!(!r.body.contains("paul.secret"));
    }
    assert!(site.keeper.status(id).await.unwrap().status.is_active());
    let mut alice = Client::browser(&site);
    alice.login(&site, "alice").await;
    let page = alice.get(site.url("accounts")).await.body;
    assert!(page.contains("widgets of @paul.secret") && !page.contains("widget #7 of bob"));
}

/// #17 shared accounts: a second owner's connect of the same Instagram account joins it; it
/// never moves. The first owner keeps it (same id, still listed, still theirs to act on),
/// and the second owner's disconnect only takes it off their own list.
#[tokio::test]
async fn a_second_owner_joins_and_the_account_never_moves() {
    let site = Site::start().await;
    let paul = site.sandbox.create_consumer_user("paul.shared");
    let connect = |who: &str| {
        site.keeper.connect(
            NewAccount::new(who, ConnectionKind::Consumer, &paul.id, "paul.shared"),
            site.sandbox.issue_consumer_token(&paul, TimeDelta::days(1)),
        )
    };
    let id = connect("alice").await.unwrap();
    assert_eq!(
        connect("bob").await.unwrap(),
        id,
        "joined, not a second account"
    );
    let owners: Vec<String> = site
        .keeper
        .owners(id)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.owner.0)
        .collect();
    assert_eq!(owners, ["alice", "bob"], "alice keeps it; bob joined");
    assert_eq!(
        site.keeper.status(id).await.unwrap().account.owner,
        owner("alice")
    );

    let mut bob = Client::browser(&site);
    bob.login(&site, "bob").await;
    assert!(
        bob.get(site.url("accounts"))
            .await
            .body
            .contains("paul.shared")
    );
    // The join renewed it: the widget-first hook queued both owners' widgets.
    assert_eq!(
        site.state.queue.snapshot(&owner("bob")),
        ["widgets of @paul.shared"]
    );
    let token = bob.csrf(&site).await;
    let r = bob
        .post(
            site.url(&format!("accounts/{id}/disconnect")),
            &[("csrf", &token)],
        )
        .await;
    assert!(r.status < 400, "bob leaves: {}", r.status);
    assert!(
        site.keeper
            .statuses(&owner("bob"))
            .await
            .unwrap()
            .is_empty()
    );
    // Alice still has it, with its token.
    let st = site.keeper.status(id).await.unwrap();
    assert!(st.status.is_active());
    assert_eq!(site.keeper.owners(id).await.unwrap().len(), 1);
    let mut alice = Client::browser(&site);
    alice.login(&site, "alice").await;
    assert!(
        alice
            .get(site.url("accounts"))
            .await
            .body
            .contains("paul.shared")
    );
}

// ---------------------------------------------------------------- 8. callback errors

/// Collects log lines (the server runs on this test's single thread).
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn bad_codes_and_oauth_errors_get_our_own_words() {
    let logs = Logs::default();
    let sink = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || sink.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::DEBUG)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let site = Site::start().await;
    let _ = consumer_user(&site, "paul");
    let mut alice = Client::browser(&site);
    alice.login(&site, "alice").await;

    let with = |cb: &Url, k: &str, v: &str| {
        let mut u = cb.clone();
        let pairs: Vec<(String, String)> = u
            .query_pairs()
            .filter(|(key, _)| key != "code")
            .map(|(a, b)| (a.into_owned(), b.into_owned()))
            .collect();
        u.query_pairs_mut()
            .clear()
            .extend_pairs(pairs)
            .append_pair(k, v);
        u
    };
    // A made-up code, with a genuine state in the right browser: 400, our message.
    let cb = authorized_callback(&site, &mut alice, "consumer").await;
    let r = alice.get(with(&cb, "code", "AQ-made-up")).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        r.body.contains("Instagram did not accept this sign-in"),
        "{}",
        r.body
    );
    assert!(!r.body.contains("Matching code") && !r.body.contains("OAuthException"));
    // A used code: the genuine flow once, then its code again in a new flow.
    let cb = authorized_callback(&site, &mut alice, "consumer").await;
    let used: String = cb
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    assert_eq!(alice.get(cb).await.status, 303);
    site.keeper
        .delete_account(
            site.keeper.statuses(&owner("alice")).await.unwrap()[0]
                .account
                .id,
        )
        .await
        .unwrap();
    let cb = authorized_callback(&site, &mut alice, "consumer").await;
    let r = alice.get(with(&cb, "code", &used)).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("already used or has expired"));
    assert!(
        accounts_of(&site, "alice").await.is_empty(),
        "nothing connected"
    );
    // The Graph error went to the log, no token with it.
    let log = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(log.contains("OAuth code exchange failed"), "{log}");
    assert!(!log.contains("access_token"), "{log}");

    // error / error_description from the query string are never reflected.
    for (error, reason, expect) in [
        (
            "access_denied",
            "user_denied",
            "you chose not to allow access",
        ),
        (
            "server_error",
            "<b>x</b>",
            "Instagram did not complete the sign-in",
        ),
    ] {
        let cb = authorized_callback(&site, &mut alice, "consumer").await;
        let mut u = with(&cb, "error", error);
        u.query_pairs_mut()
            .append_pair("error_reason", reason)
            .append_pair(
                "error_description",
                "<script>alert(1)</script> Call +1-555-SCAM now",
            );
        let r = alice.get(u).await;
        assert!(r.status < 500, "{}", r.status);
        assert!(r.body.contains(expect), "{}", r.body);
        assert!(
            !r.body.contains("SCAM")
                && !r.body.contains("alert(1)")
                && !r.body.contains("<b>x</b>"),
            "{}",
            r.body
        );
    }
    assert!(accounts_of(&site, "alice").await.is_empty());
}

// ---------------------------------------------------------------- 9. input limits

#[tokio::test]
async fn bad_email_big_bodies_and_unknown_ids_are_refused_cleanly() {
    let site = Site::start().await;
    let mut alice = Client::browser(&site);
    alice.login(&site, "alice").await;
    let token = alice.csrf(&site).await;
    let before = format!(
        "{:?}",
        site.keeper.preferences(&owner("alice")).await.unwrap()
    );
    let long = format!("{}@example.com", "a".repeat(250));
    for (email, says) in [
        (
            "alice@example.com\r\nBcc: everyone@example.com",
            "on one line",
        ),
        (
            "alice@example.com\nBcc: everyone@example.com",
            "on one line",
        ),
        (long.as_str(), "longer than 254"),
        ("not an address", "not an email address"),
        ("<alice@example.com>", "not an email address"),
    ] {
        let r = alice
            .post(
                site.url("settings"),
                &[
                    ("csrf", &token),
                    ("expired_notifications", "on"),
                    ("email", email),
                ],
            )
            .await;
        assert_eq!(r.status, 400, "{email:?}");
        assert!(r.body.contains(says), "{email:?}: {}", r.body);
    }
    // Form bodies over 16 KiB: 413, on every form, before anything runs.
    let big = "x".repeat(20 * 1024);
    for path in [
        "settings",
        "login",
        "deauthorize",
        "data-deletion",
        "invitations",
    ] {
        let r = alice
            .post(
                site.url(path),
                &[("csrf", &token), ("email", &big), ("signed_request", &big)],
            )
            .await;
        assert_eq!(r.status, 413, "{path}");
    }
    assert_eq!(
        format!(
            "{:?}",
            site.keeper.preferences(&owner("alice")).await.unwrap()
        ),
        before,
        "nothing saved"
    );
    // Unknown or malformed account ids: 404.
    for id in [
        uuid::Uuid::new_v4().to_string(),
        "not-an-id".into(),
        "%00".into(),
    ] {
        for action in ["refresh", "disconnect"] {
            let r = alice
                .post(
                    site.url(&format!("accounts/{id}/{action}")),
                    &[("csrf", &token)],
                )
                .await;
            assert_eq!(r.status, 404, "{id} {action}");
        }
    }
    // No bad input anywhere answers with a 5xx.
    let mut anon = Client::browser(&site);
    for path in [
        "oauth/callback",
        "oauth/callback?state=",
        "oauth/callback?code=x",
        "renew",
        "invite",
        "invite/start?kind=consumer&token=x",
        "unsubscribe?token=%ff",
        "data-deletion",
        "access-token/other",
    ] {
        let r = anon.get(site.url(path)).await;
        assert!(r.status < 500, "{path}: {}", r.status);
    }
    for path in [
        "deauthorize",
        "data-deletion",
        "unsubscribe",
        "login",
        "logout",
    ] {
        let r = anon
            .post(site.url(path), &[("signed_request", "!!"), ("csrf", "x")])
            .await;
        assert!(r.status < 500, "POST {path}: {}", r.status);
    }
}

// ---------------------------------------------------------------- Log in with Instagram / Facebook

/// Starts "Login with Instagram / Facebook" in `b` from the login page and goes through
/// the sandbox dialog (with extra dialog parameters): the callback URL, not yet visited.
async fn login_callback(site: &Site, b: &mut Client, way: &str, extra: &[(&str, &str)]) -> Url {
    let csrf = b.get(site.url("")).await.csrf();
    let r = b
        .post(site.url(&format!("login/{way}")), &[("csrf", &csrf)])
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let mut dialog: Url = r.location().parse().unwrap();
    for (k, v) in extra {
        dialog.query_pairs_mut().append_pair(k, v);
    }
    let d = b.get(dialog).await;
    assert!((300..400).contains(&d.status), "{}", d.body);
    let cb: Url = d.location().parse().unwrap();
    assert!(cb.path().ends_with("/oauth/callback"), "{cb}");
    cb
}

#[tokio::test]
async fn a_social_session_comes_only_from_the_verified_login_callback() {
    let site = Site::start().await;
    let paul = consumer_user(&site, "paul");
    let mut b = Client::browser(&site);
    let cb = login_callback(&site, &mut b, "instagram", &[]).await;

    // Someone else's browser arriving at this callback is not signed in as paul.
    let mut other = Client::browser(&site);
    let r = other.get(cb.clone()).await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("started in another browser"), "{}", r.body);
    assert_eq!(
        other.get(site.url("my-token")).await.status,
        303,
        "not signed in"
    );

    // The browser that started it is, as the connection Meta vouched for.
    let r = b.get(cb.clone()).await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(r.location().starts_with("/my-token"), "{}", r.location());
    let page = b.get(site.url("my-token")).await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("Signed in as <b>@paul</b>"),
        "{}",
        page.body
    );
    assert!(page.body.contains("ACTIVE"));
    let me = format!("instagram:{}", paul.id);
    assert_eq!(accounts_of(&site, &me).await, vec!["paul".to_owned()]);

    // A replay signs no one in and changes nothing.
    let mut replayer = Client::browser(&site);
    replayer.cookies = b.cookies.clone();
    replayer.cookies.retain(|k, _| !k.contains("session"));
    assert_eq!(replayer.get(cb).await.status, 400);
    assert_eq!(replayer.get(site.url("my-token")).await.status, 303);

    // Starting a login from another site's page is refused.
    let mut evil = Client::cross_site();
    let r = evil
        .post(site.url("login/instagram"), &[("csrf", "x")])
        .await;
    assert_eq!(r.status, 403);
    // An unknown way in is not found, and the email login cannot pose as a social user.
    let csrf = b.csrf(&site).await;
    assert_eq!(
        b.post(site.url("login/myspace"), &[("csrf", &csrf)])
            .await
            .status,
        404
    );
    let mut pose = Client::browser(&site);
    let csrf = pose.get(site.url("")).await.csrf();
    let r = pose
        .post(site.url("login"), &[("csrf", &csrf), ("user", &me)])
        .await;
    assert_eq!(r.status, 400, "a ':' is not an email user name");
}

#[tokio::test]
async fn login_failures_are_told_in_plain_words_and_sign_no_one_in() {
    let site = Site::start().await;
    let _paul = consumer_user(&site, "paul");
    for (extra, expect) in [
        (
            vec![("sandbox_outcome", "cancel")],
            "you chose not to allow access",
        ),
        (
            vec![("sandbox_untick", "instagram_business_basic")],
            "you did not allow <code>instagram_business_basic</code>",
        ),
    ] {
        let mut b = Client::browser(&site);
        let cb = login_callback(&site, &mut b, "instagram", &extra).await;
        let r = b.get(cb).await;
        assert!(r.body.contains(expect), "{}", r.body);
        assert!(r.body.contains("Not signed in"), "{}", r.body);
        assert_eq!(b.get(site.url("my-token")).await.status, 303);
    }
    let personal = site.sandbox.create_personal_user("holiday.pics");
    site.sandbox_login_as(ConnectionKind::Consumer, &personal.id);
    let mut b = Client::browser(&site);
    let cb = login_callback(&site, &mut b, "instagram", &[]).await;
    let r = b.get(cb).await;
    assert_eq!(r.status, 400);
    assert!(
        r.body.contains("Meta no longer supports personal accounts")
            && r.body.contains("2024-12-04")
            && r.body.contains("Business or Creator"),
        "{}",
        r.body
    );
    assert!(
        accounts_of(&site, &format!("instagram:{}", personal.id))
            .await
            .is_empty(),
        "nothing saved"
    );
}

#[tokio::test]
async fn an_email_users_account_is_shared_by_its_instagram_login_and_stays_theirs() {
    let site = Site::start().await;
    let _paul = consumer_user(&site, "paul");
    let mut alice = Client::browser(&site);
    alice.login(&site, "alice").await;
    let cb = authorized_callback(&site, &mut alice, "consumer").await;
    assert_eq!(alice.get(cb).await.status, 303);
    let id = site.keeper.statuses(&owner("alice")).await.unwrap()[0]
        .account
        .id;
    let rows = site
        .keeper
        .history_for(&owner("alice"), id, HistoryQuery::default())
        .await
        .unwrap()
        .len();

    // Paul logs in with Instagram himself: the same account, now shared, renewed for both.
    site.clock.advance(TimeDelta::hours(2));
    let mut b = Client::browser(&site);
    let cb = login_callback(&site, &mut b, "instagram", &[]).await;
    assert_eq!(b.get(cb).await.status, 303);
    let page = b.get(site.url("my-token")).await;
    assert!(page.body.contains("@paul"), "{}", page.body);
    let st = site.keeper.status(id).await.unwrap();
    assert_eq!(st.last_checked_at, Some(site.clock.now()));
    assert_eq!(st.account.owner, owner("alice"), "never moved");
    assert!(st.account.entitlements.notifications, "alice's plan kept");
    let paul = OwnerId::new(format!("instagram:{}", _paul.id));
    let owners: Vec<_> = site
        .keeper
        .owners(id)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.owner)
        .collect();
    assert_eq!(
        owners,
        vec![owner("alice"), paul.clone()],
        "joined, not moved"
    );
    assert_eq!(
        site.keeper
            .history_for(&owner("alice"), id, HistoryQuery::default())
            .await
            .unwrap()
            .len(),
        rows + 1,
        "alice sees one new token row (the renewal), not paul's joining"
    );
    // Paul's own pages show nothing of alice's.
    let accounts = b.get(site.url("accounts")).await;
    assert!(!accounts.body.contains("alice"), "{}", accounts.body);
}

/// A second owner's connect *joins* (#17.1): an email user connecting the account a
/// social user holds shares it; the social user keeps it, nothing is moved.
#[tokio::test]
async fn an_account_a_social_user_holds_is_shared_not_taken_by_an_email_users_connect() {
    let site = Site::start().await;
    let paul = consumer_user(&site, "paul");
    let mut b = Client::browser(&site);
    let cb = login_callback(&site, &mut b, "instagram", &[]).await;
    assert_eq!(b.get(cb).await.status, 303);
    let mut alice = Client::browser(&site);
    alice.login(&site, "alice").await;
    let cb = authorized_callback(&site, &mut alice, "consumer").await;
    let r = alice.get(cb).await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(accounts_of(&site, "alice").await, vec!["paul".to_owned()]);
    let social = format!("instagram:{}", paul.id);
    assert_eq!(accounts_of(&site, &social).await, vec!["paul".to_owned()]);
    let id = site.keeper.statuses(&owner(&social)).await.unwrap()[0]
        .account
        .id;
    assert_eq!(
        site.keeper.status(id).await.unwrap().account.owner,
        owner(&social),
        "the first owner stays the primary one"
    );
}

// ---------------------------------------------------------------- #17.3 several Pages

fn hidden(page: &Page, name: &str) -> String {
    let key = format!("name={name} value=\"");
    let at = page
        .body
        .find(&key)
        .unwrap_or_else(|| panic!("no {name} in:\n{}", page.body));
    let rest = &page.body[at + key.len()..];
    rest[..rest.find('"').unwrap()].to_owned()
}

/// A Facebook user with two Pages (A's and B's Instagram business accounts); A's login.
fn two_pages(site: &Site, a: &str, b: &str) -> (UserHandle, UserHandle) {
    let first = site.sandbox.create_business_user(a);
    let second = site.sandbox.add_business_page(&first, b);
    site.sandbox_login_as(ConnectionKind::Business, &first.id);
    (first, second)
}

async fn connect_business(site: &Site, who: &str, u: &UserHandle) -> AccountId {
    site.keeper
        .connect(
            NewAccount::new(who, ConnectionKind::Business, &u.id, &u.username)
                .with_page_id(u.page_id.clone().unwrap())
                .with_entitlements(Entitlements {
                    notifications: true,
                }),
            site.sandbox.issue_page_token(u),
        )
        .await
        .unwrap()
}

#[tokio::test]
async fn several_pages_get_a_choice_page_and_only_the_chosen_account_is_connected() {
    let site = Site::start().await;
    let (_first, second) = two_pages(&site, "first.shop", "second.shop");
    let mut alice = Client::browser(&site);
    alice.login(&site, "alice").await;
    let cb = authorized_callback(&site, &mut alice, "business").await;
    let back = alice.get(cb).await;
    assert_eq!(back.status, 303, "{}", back.body);
    assert_eq!(back.location(), "/connect/choose");
    assert!(accounts_of(&site, "alice").await.is_empty(), "nothing yet");
    let choice = alice.get(site.url("connect/choose")).await;
    assert_eq!(choice.status, 200, "{}", choice.body);
    assert!(choice.body.contains("@first.shop") && choice.body.contains("@second.shop"));
    assert!(choice.body.contains("second.shop Page"));
    assert!(!choice.body.contains("EAAG"), "no token in the page");
    for v in alice.cookies.values() {
        assert!(!v.contains("EAAG"), "no token in a cookie");
    }
    let token = hidden(&choice, "choice_token");

    // Another browser has no pending choice; a cross-site POST is refused.
    let mut other = Client::browser(&site);
    assert_eq!(other.get(site.url("connect/choose")).await.status, 400);
    let mut evil = Client::cross_site();
    evil.cookies = alice.cookies.clone();
    let r = evil
        .post(
            site.url("connect/choose"),
            &[("choice_token", &token), ("ig_user_id", &second.id)],
        )
        .await;
    assert_eq!(r.status, 403);
    assert!(accounts_of(&site, "alice").await.is_empty());

    // The chosen one, and only it, is connected.
    let r = alice
        .post(
            site.url("connect/choose"),
            &[("choice_token", &token), ("ig_user_id", &second.id)],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.location(), "/accounts");
    let page = alice.follow(r, &site.base).await;
    assert!(
        page.body.contains("@second.shop is connected."),
        "{}",
        page.body
    );
    assert_eq!(accounts_of(&site, "alice").await, ["second.shop"]);
    // Single use.
    let again = alice
        .post(
            site.url("connect/choose"),
            &[("choice_token", &token), ("ig_user_id", &second.id)],
        )
        .await;
    assert_eq!(again.status, 400, "{}", again.body);
    assert_eq!(accounts_of(&site, "alice").await, ["second.shop"]);
}

#[tokio::test]
async fn a_choice_with_a_wrong_token_or_an_id_not_offered_connects_nothing() {
    let site = Site::start().await;
    let (first, _second) = two_pages(&site, "first.shop", "second.shop");
    let stranger = site.sandbox.create_business_user("stranger");
    let mut alice = Client::browser(&site);
    alice.login(&site, "alice").await;
    let cb = authorized_callback(&site, &mut alice, "business").await;
    alice.get(cb).await;
    let choice = alice.get(site.url("connect/choose")).await;
    let token = hidden(&choice, "choice_token");
    let r = alice
        .post(
            site.url("connect/choose"),
            &[("choice_token", "forged"), ("ig_user_id", &first.id)],
        )
        .await;
    assert_eq!(r.status, 403);
    assert!(accounts_of(&site, "alice").await.is_empty());

    let cb = authorized_callback(&site, &mut alice, "business").await;
    alice.get(cb).await;
    let token2 = hidden(&alice.get(site.url("connect/choose")).await, "choice_token");
    assert_ne!(token, token2);
    let r = alice
        .post(
            site.url("connect/choose"),
            &[("choice_token", &token2), ("ig_user_id", &stranger.id)],
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("not among"), "{}", r.body);
    assert!(accounts_of(&site, "alice").await.is_empty());
}

/// The host reports a permission error for `id` twice, a window apart: the first is held
/// (it could be the app's), the second confirms it is the account's own and ends it.
async fn remove_permission(site: &Site, id: AccountId) -> StatusReport {
    let report = || {
        site.keeper.observe(
            id,
            Err(ProviderError::Permission {
                message: "(#10) Application does not have permission".into(),
            }),
        )
    };
    let held = report().await.unwrap();
    assert!(held.status.is_active() && held.hold.is_some(), "{held:?}");
    site.clock.advance(TimeDelta::minutes(61));
    report().await.unwrap()
}

#[tokio::test]
async fn refresh_token_renews_its_own_account_among_the_pages_and_rerequests_a_removed_permission()
{
    let site = Site::start().await;
    let (first, second) = two_pages(&site, "a.shop", "b.shop");
    let a_id = connect_business(&site, "alice", &first).await;
    let b_id = connect_business(&site, "alice", &second).await;
    // B lost a permission: NOT ACTIVE, PermissionRemoved (an ambiguous error is held
    // until it is confirmed as this account's own: reported again a window later).
    let r = remove_permission(&site, b_id).await;
    assert_eq!(r.status.reason(), Some(ExpiryReason::PermissionRemoved));
    let a_history = site
        .keeper
        .history(a_id, HistoryQuery::default())
        .await
        .unwrap()
        .len();

    let mut alice = Client::browser(&site);
    alice.login(&site, "alice").await;
    let csrf = alice.csrf(&site).await;
    let start = alice
        .post(
            site.url(&format!("accounts/{b_id}/refresh")),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(start.status, 303, "{}", start.body);
    let dialog: Url = start.location().parse().unwrap();
    assert!(
        dialog
            .query_pairs()
            .any(|(k, v)| k == "auth_type" && v == "rerequest"),
        "{dialog}"
    );
    let back = alice.get(dialog).await;
    let done = alice.follow(back, &site.base).await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(
        site.keeper.status(b_id).await.unwrap().status.is_active(),
        "B renewed"
    );
    assert_eq!(
        site.keeper
            .history(a_id, HistoryQuery::default())
            .await
            .unwrap()
            .len(),
        a_history,
        "A untouched"
    );
    // A's Refresh token (ACTIVE) renews data access instead.
    let csrf = alice.csrf(&site).await;
    let a_start = alice
        .post(
            site.url(&format!("accounts/{a_id}/refresh")),
            &[("csrf", &csrf)],
        )
        .await;
    assert!(
        a_start.location().contains("auth_type=reauthorize"),
        "{}",
        a_start.location()
    );
}

#[tokio::test]
async fn a_renewal_whose_login_does_not_cover_the_account_renews_nothing_and_says_so() {
    let site = Site::start().await;
    let b = site.sandbox.create_business_user("b.shop");
    let b_id = connect_business(&site, "alice", &b).await;
    let (_c, _d) = two_pages(&site, "c.shop", "d.shop");
    let before = site
        .keeper
        .history(b_id, HistoryQuery::default())
        .await
        .unwrap()
        .len();
    let mut alice = Client::browser(&site);
    alice.login(&site, "alice").await;
    let csrf = alice.csrf(&site).await;
    let start = alice
        .post(
            site.url(&format!("accounts/{b_id}/refresh")),
            &[("csrf", &csrf)],
        )
        .await;
    let back = alice.get(start.location().as_str()).await;
    let done = alice.follow(back, &site.base).await;
    assert_eq!(done.status, 409, "{}", done.body);
    assert!(
        done.body.contains("Nothing was renewed")
            && done.body.contains("@c.shop")
            && done.body.contains("@b.shop"),
        "{}",
        done.body
    );
    assert_eq!(
        accounts_of(&site, "alice").await,
        ["b.shop"],
        "nothing connected"
    );
    assert_eq!(
        site.keeper
            .history(b_id, HistoryQuery::default())
            .await
            .unwrap()
            .len(),
        before,
        "nothing renewed"
    );
}

#[tokio::test]
async fn the_access_token_page_renews_the_connected_accounts_among_the_pages_and_says_which() {
    let site = Site::start().await;
    let (first, second) = two_pages(&site, "a.shop", "b.shop");
    let a_id = connect_business(&site, "alice", &first).await;
    site.sandbox.password_changed(&first);
    let mut anon = Client::browser(&site);
    let start = anon.get(site.url("access-token/business")).await;
    assert_eq!(start.status, 303, "{}", start.body);
    let back = anon.get(start.location().as_str()).await;
    let done = anon.follow(back, &site.base).await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.body.contains("<li>@a.shop</li></ul>"), "{}", done.body);
    assert!(
        done.body.contains("id=not-connected><li>@b.shop"),
        "{}",
        done.body
    );
    assert!(site.keeper.status(a_id).await.unwrap().status.is_active());
    assert_eq!(
        accounts_of(&site, "alice").await,
        ["a.shop"],
        "b not connected"
    );
    let _ = second;
}

#[tokio::test]
async fn the_emailed_renewal_link_renews_its_own_account_and_rerequests_a_removed_permission() {
    let site = Site::start().await;
    let (first, second) = two_pages(&site, "a.shop", "b.shop");
    let a_id = connect_business(&site, "alice", &first).await;
    let b_id = connect_business(&site, "alice", &second).await;
    let mut p = Preferences::new(owner("alice"));
    p.topics = [NoticeTopic::Expired].into_iter().collect();
    site.keeper
        .set_preferences(&p.with_recipient(Recipient::Email("alice@example.com".into())))
        .await
        .unwrap();
    remove_permission(&site, b_id).await;
    site.keeper.sweep().await.unwrap();
    site.keeper.dispatch_outbox().await.unwrap();
    let mail = site
        .state
        .inbox
        .of(&owner("alice"))
        .into_iter()
        .find(|m| m.subject.contains("b.shop") || m.text.contains("b.shop"))
        .unwrap_or_else(|| {
            panic!(
                "a notice for @b.shop: {:?}",
                site.state
                    .inbox
                    .of(&owner("alice"))
                    .iter()
                    .map(|m| &m.subject)
                    .collect::<Vec<_>>()
            )
        });
    let a_history = site
        .keeper
        .history(a_id, HistoryQuery::default())
        .await
        .unwrap()
        .len();
    // No login needed: the link alone, in a fresh browser.
    let mut b = Client::browser(&site);
    let start = b.get(mail.renew.clone()).await;
    assert_eq!(start.status, 303, "{}", start.body);
    let dialog: Url = start.location().parse().unwrap();
    assert!(
        dialog
            .query_pairs()
            .any(|(k, v)| k == "auth_type" && v == "rerequest"),
        "{dialog}"
    );
    let back = b.get(dialog).await;
    let done = b.follow(back, &site.base).await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.body.contains("@b.shop"), "{}", done.body);
    assert!(site.keeper.status(b_id).await.unwrap().status.is_active());
    assert_eq!(
        site.keeper
            .history(a_id, HistoryQuery::default())
            .await
            .unwrap()
            .len(),
        a_history,
        "A untouched"
    );
}

#[tokio::test]
async fn a_facebook_login_with_several_pages_asks_which_account_to_log_in_with() {
    let site = Site::start().await;
    let (_first, second) = two_pages(&site, "a.shop", "b.shop");
    let mut b = Client::browser(&site);
    let cb = login_callback(&site, &mut b, "facebook", &[]).await;
    let back = b.get(cb).await;
    assert_eq!(back.location(), "/connect/choose", "{}", back.body);
    let choice = b.get(site.url("connect/choose")).await;
    let token = hidden(&choice, "choice_token");
    let r = b
        .post(
            site.url("connect/choose"),
            &[("choice_token", &token), ("ig_user_id", &second.id)],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(r.location().starts_with("/my-token"), "{}", r.location());
    let page = b.get(site.url("my-token")).await;
    assert!(
        page.body.contains("as @b.shop") || page.body.contains("@b.shop"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("@a.shop"), "{}", page.body);
}

#[tokio::test]
async fn refresh_token_of_a_consumer_account_logged_in_as_someone_else_renews_nothing() {
    let site = Site::start().await;
    let paul = site.sandbox.create_consumer_user("paul");
    let id = site
        .keeper
        .connect(
            NewAccount::new("alice", ConnectionKind::Consumer, &paul.id, "paul"),
            site.sandbox.issue_consumer_token(&paul, TimeDelta::days(1)),
        )
        .await
        .unwrap();
    consumer_user(&site, "mallory.pics");
    let mut alice = Client::browser(&site);
    alice.login(&site, "alice").await;
    let csrf = alice.csrf(&site).await;
    let start = alice
        .post(
            site.url(&format!("accounts/{id}/refresh")),
            &[("csrf", &csrf)],
        )
        .await;
    let back = alice.get(start.location().as_str()).await;
    let done = alice.follow(back, &site.base).await;
    assert_eq!(done.status, 409, "{}", done.body);
    assert!(
        done.body.contains("as @mallory.pics, not @paul"),
        "{}",
        done.body
    );
    assert_eq!(
        accounts_of(&site, "alice").await,
        ["paul"],
        "mallory not connected"
    );
}

/// #17.4 end to end: a business connect through the OAuth flow stores the app-scoped
/// Facebook user id, and Facebook Login's deauthorize callback, which names only that id,
/// revokes the account.
#[tokio::test]
async fn a_business_connect_stores_the_facebook_user_id_its_callbacks_name() {
    let site = Site::start().await;
    let shop = site.sandbox.create_business_user("fb.shop");
    site.sandbox_login_as(ConnectionKind::Business, &shop.id);
    let mut alice = Client::browser(&site);
    alice.login(&site, "alice").await;
    let cb = authorized_callback(&site, &mut alice, "business").await;
    assert_eq!(alice.get(cb).await.status, 303);
    let st = site.keeper.statuses(&owner("alice")).await.unwrap();
    let fb = shop.fb_user_id.clone().unwrap();
    assert_ne!(fb, shop.id);
    assert_eq!(st[0].account.fb_user_id.as_deref(), Some(fb.as_str()));
    let sr = lightwidget::instagram::signed_request::sign(
        &lightwidget::instagram::sandbox::SandboxConfig::default()
            .business_app
            .1,
        &format!(
            r#"{{"algorithm":"HMAC-SHA256","user_id":"{fb}","issued_at":{}}}"#,
            site.clock.now().timestamp()
        ),
    );
    let r = reqwest::Client::new()
        .post(site.url("deauthorize"))
        .form(&[("signed_request", sr)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let st = site.keeper.status(st[0].account.id).await.unwrap();
    assert_eq!(st.status.as_str(), "revoked");
}

// ---------------------------------------------------------------- #27.6 sessions and URL text

#[tokio::test]
async fn a_copied_session_cookie_stops_working_at_logout() {
    let site = Site::start().await;
    let mut alice = Client::browser(&site);
    let r = alice.login(&site, "alice").await;
    let set = r
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Lax"),
        "{set}"
    );
    assert!(
        set.contains("Max-Age=1800"),
        "idle timeout of 30 minutes: {set}"
    );
    // An attacker copies the cookie.
    let mut thief = Client::browser(&site);
    thief.cookies = alice.cookies.clone();
    assert_eq!(thief.get(site.url("accounts")).await.status, 200);
    let csrf = alice.csrf(&site).await;
    let r = alice.post(site.url("logout"), &[("csrf", &csrf)]).await;
    assert_eq!(r.status, 303);
    // The copy is dead on the server, for pages and for forms.
    let r = thief.get(site.url("accounts")).await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.location(), "/");
    let r = thief
        .post(
            site.url("settings"),
            &[
                ("csrf", &csrf),
                ("expired_notifications", "on"),
                ("email", "evil@example.com"),
            ],
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    let prefs = site.keeper.preferences(&owner("alice")).await.unwrap();
    assert!(prefs.recipients.is_empty(), "nothing changed: {prefs:?}");
}

#[tokio::test]
async fn log_out_everywhere_ends_every_session_of_the_user_and_no_other() {
    let site = Site::start().await;
    let mut laptop = Client::browser(&site);
    laptop.login(&site, "alice").await;
    let mut phone = Client::browser(&site);
    phone.login(&site, "alice").await;
    let mut bob = Client::browser(&site);
    bob.login(&site, "bob").await;
    let csrf = laptop.csrf(&site).await;
    let r = laptop
        .post(site.url("logout/everywhere"), &[("csrf", &csrf)])
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(laptop.get(site.url("accounts")).await.status, 303);
    assert_eq!(
        phone.get(site.url("accounts")).await.status,
        303,
        "the other device too"
    );
    assert_eq!(
        bob.get(site.url("accounts")).await.status,
        200,
        "other users keep theirs"
    );
    // Signing in again works.
    let mut again = Client::browser(&site);
    again.login(&site, "alice").await;
    assert_eq!(again.get(site.url("accounts")).await.status, 200);
    // A forged "log out everywhere" (no token) ends nothing.
    let r = bob
        .post(site.url("logout/everywhere"), &[("csrf", "x")])
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(bob.get(site.url("accounts")).await.status, 200);
}

#[tokio::test]
async fn no_page_shows_text_taken_from_the_url() {
    let site = Site::start().await;
    let mut alice = Client::browser(&site);
    alice.login(&site, "alice").await;
    let evil = "SECURITY NOTICE: sign in again at https://evil.example";
    let q: String = url::form_urlencoded::byte_serialize(evil.as_bytes()).collect();
    for path in [
        format!("accounts?connected={q}"),
        format!("accounts?disconnected={q}"),
        format!("my-token?welcome={q}&also=business"),
        format!("settings?saved={q}"),
        format!("data-deletion?code={q}"),
        format!("renew?token={q}"),
        format!("unsubscribe?token={q}"),
        format!("invite?token={q}"),
    ] {
        let r = alice.get(site.url(&path)).await;
        assert!(!r.body.contains("SECURITY NOTICE"), "{path}: {}", r.body);
        assert!(!r.body.contains("evil.example"), "{path}: {}", r.body);
        assert!(!r.body.contains("is connected"), "{path}: {}", r.body);
        assert!(!r.body.contains("is disconnected"), "{path}: {}", r.body);
    }
    // Nor a fixed message the URL merely asks for.
    let r = alice.get(site.url("settings?saved=1")).await;
    assert!(r.body.contains("Expired token notifications"), "{}", r.body);
    assert!(!r.body.contains("Preferences updated"), "{}", r.body);
}

// ---------------------------------------------------------------- #27 review: callbacks and flow starts

#[tokio::test]
async fn a_signed_request_replayed_gets_the_first_answer_and_changes_nothing_more() {
    let site = Site::start().await;
    let paul = site.sandbox.create_consumer_user("paul");
    site.keeper
        .connect(
            NewAccount::new("alice", ConnectionKind::Consumer, &paul.id, "paul"),
            site.sandbox.issue_consumer_token(&paul, TimeDelta::days(1)),
        )
        .await
        .unwrap();
    let secret = SandboxConfig::default().consumer_app.1;
    let sr = sign(
        &secret,
        &format!(
            r#"{{"algorithm":"HMAC-SHA256","user_id":"{}","issued_at":{}}}"#,
            paul.id,
            site.clock.now().timestamp()
        ),
    );
    let http = reqwest::Client::new();
    let mut codes = Vec::new();
    for _ in 0..3 {
        let r = http
            .post(site.url("data-deletion"))
            .form(&[("signed_request", sr.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let v: serde_json::Value = r.json().await.unwrap();
        codes.push(v["confirmation_code"].as_str().unwrap().to_owned());
    }
    assert!(
        codes.iter().all(|c| c == &codes[0]),
        "one request, one code: {codes:?}"
    );
    assert!(accounts_of(&site, "alice").await.is_empty());
    // The status page answers from the store.
    let page = Client::browser(&site)
        .get(site.url(&format!("data-deletion?code={}", codes[0])))
        .await;
    assert!(
        page.body.contains("carried out") && page.body.contains("@paul"),
        "{}",
        page.body
    );
}

#[tokio::test]
async fn flows_cannot_be_started_from_another_site() {
    let site = Site::start().await;
    let token = site
        .state
        .web
        .state_signer()
        .invitation(&owner("mallory"), site.clock.now());
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut u = site.url("invite/start");
    u.query_pairs_mut()
        .append_pair("kind", "business")
        .append_pair("token", &token);
    for url in [u.clone(), site.url("access-token/consumer")] {
        // Another site navigates the browser there: refused, no flow cookie set.
        let r = http
            .get(url.clone())
            .header("sec-fetch-site", "cross-site")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{url}");
        assert!(r.headers().get("set-cookie").is_none(), "{url}");
        // From the site's own page: the flow starts.
        let r = http
            .get(url.clone())
            .header("sec-fetch-site", "same-origin")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303, "{url}");
    }
    // The invitation page no longer shows the inviter's owner id when it is a Meta id.
    let token = site
        .state
        .web
        .state_signer()
        .invitation(&owner("instagram:1784001"), site.clock.now());
    let page = Client::browser(&site)
        .get(site.url(&format!("invite?token={token}")))
        .await;
    assert!(!page.body.contains("1784001"), "{}", page.body);
}
