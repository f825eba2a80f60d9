//! The host web app in a real browser: headless Chromium driven over chromedriver.
//!
//! Connect through the sandbox's OAuth, see ACTIVE; the owner changes their Instagram
//! password and a keeper sweep finds it: NOT ACTIVE with the reason, and the notice;
//! renew from the access token page (no login), ACTIVE again with both events in the
//! history; unsubscribe with one click. Screenshots go to `artifacts/screenshots/`.
//!
//! It needs Debian's `chromium` and `chromium-driver`, so it is
//! `#[ignore = "needs Chromium …"]`: `cargo test -- --include-ignored` runs it and fails,
//! saying what to install, where they are missing.

#[allow(dead_code)]
#[path = "../examples/host_app/app/mod.rs"]
mod app;
#[allow(dead_code)]
mod host_app;
#[allow(dead_code)]
#[path = "../examples/host_app/setup.rs"]
mod setup;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use chrono::{SubsecRound, TimeDelta, Utc};
use fantoccini::{Client, ClientBuilder, Locator};
use lightwidget::*;

/// Kills chromedriver when the test ends, however it ends.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn find_chromedriver() -> Option<PathBuf> {
    // An explicit CHROMEDRIVER is the only candidate (so the skip path can be exercised).
    if let Some(p) = std::env::var_os("CHROMEDRIVER") {
        return Some(PathBuf::from(p)).filter(|p| p.is_file());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("chromedriver"))
        .chain([PathBuf::from("/usr/bin/chromedriver")])
        .find(|p| p.is_file())
}

fn find_chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("CHROMIUM") {
        return Some(p.into());
    }
    [
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
        "/usr/bin/google-chrome",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.is_file())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

async fn start_driver(bin: &Path) -> (Driver, String) {
    let port = free_port();
    let child = Command::new(bin)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let driver = Driver(child);
    let url = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    for _ in 0..200 {
        if let Ok(r) = http.get(format!("{url}/status")).send().await
            && r.status().is_success()
        {
            return (driver, url);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("chromedriver did not come up on {url}");
}

async fn browser(webdriver: &str, chromium: Option<&Path>, profile: &Path) -> Client {
    let mut opts = serde_json::json!({
        "args": [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-dev-shm-usage", "--window-size=1200,1300",
            format!("--user-data-dir={}", profile.display()),
        ]
    });
    if let Some(c) = chromium {
        opts["binary"] = serde_json::json!(c.display().to_string());
    }
    let mut caps = serde_json::Map::new();
    caps.insert("goog:chromeOptions".into(), opts);
    ClientBuilder::rustls()
        .expect("TLS roots")
        .capabilities(caps)
        .connect(webdriver)
        .await
        .expect("a browser session")
}

async fn shot(c: &Client, dir: &Path, name: &str) {
    let png = c.screenshot().await.expect("screenshot");
    assert!(png.starts_with(b"\x89PNG"), "{name}: not a PNG");
    std::fs::write(dir.join(format!("{name}.png")), png).expect("write screenshot");
}

async fn text(c: &Client, css: &str) -> String {
    // Waits: a form submission may still be navigating (so the element found may belong
    // to the page being left: look again when it goes stale).
    for _ in 0..20 {
        let found = c
            .wait()
            .at_most(Duration::from_secs(10))
            .every(Duration::from_millis(50))
            .for_element(Locator::Css(css))
            .await;
        match found {
            Ok(e) => match e.text().await {
                Ok(t) => return t,
                Err(fantoccini::error::CmdError::Standard(w))
                    if w.error == fantoccini::error::ErrorStatus::StaleElementReference =>
                {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("text of {css}: {e}"),
            },
            Err(e) => panic!(
                "no {css} ({e}) at {}:\n{}",
                c.current_url()
                    .await
                    .map(|u| u.to_string())
                    .unwrap_or_default(),
                c.source().await.unwrap_or_default()
            ),
        }
    }
    panic!("{css} kept going stale");
}

/// Waits until the page at `path` has loaded (after a form's redirect).
async fn wait_for_path(c: &Client, path: &str) {
    for _ in 0..200 {
        if c.current_url()
            .await
            .map(|u| u.path() == path)
            .unwrap_or(false)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("never reached {path}");
}

async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"))
        .click()
        .await
        .expect("click");
}

async fn row_of(c: &Client, username: &str) -> String {
    for row in c.find_all(Locator::Css("tr.account")).await.expect("rows") {
        let t = row.text().await.expect("row text");
        if t.contains(&format!("@{username}")) {
            return t;
        }
    }
    panic!("no account row for @{username}");
}

/// Logs in with the stand-in login form (a POST with its CSRF token).
async fn login(c: &Client, base: &url::Url, user: &str) {
    c.goto(base.as_str()).await.unwrap();
    click(c, &format!("#login-{user}")).await;
    wait_for_path(c, "/accounts").await;
    let _ = text(c, "#queue").await;
}

/// Logs out with the header's button (a POST with its CSRF token).
async fn logout(c: &Client, base: &url::Url) {
    c.goto(base.join("accounts").unwrap().as_str())
        .await
        .unwrap();
    click(c, "#logout").await;
    wait_for_path(c, "/").await;
    let _ = text(c, "#login-form").await;
}

/// What every browser test starts from: chromedriver and Chromium found (or a failure
/// saying what to install), the screenshot and temp directories, and the app on
/// 127.0.0.1:0 with the sandbox, on a manual clock (not serving yet).
struct Browse {
    chromedriver: PathBuf,
    chromium: Option<PathBuf>,
    shots: PathBuf,
    tmp: PathBuf,
    clock: ManualClock,
    listener: tokio::net::TcpListener,
    base: url::Url,
    state: Arc<app::state::AppState>,
    sandbox: lightwidget::instagram::sandbox::Sandbox,
}

impl Browse {
    async fn prepare(prefix: &str, entitled: Vec<String>) -> Self {
        let Some(chromedriver) = find_chromedriver() else {
            panic!(
                "this test needs chromedriver and Chromium, which are not installed: \
                 apt-get install chromium chromium-driver"
            );
        };
        let chromium = find_chromium();
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let shots = root.join("artifacts/screenshots");
        std::fs::create_dir_all(&shots).expect("artifacts dir");
        let tmp = std::env::temp_dir().join(format!("{prefix}-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&tmp).expect("temp dir");
        let clock = ManualClock::new(Utc::now().trunc_subsecs(0));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base: url::Url = format!("http://{}/", listener.local_addr().unwrap())
            .parse()
            .unwrap();
        let opts = setup::Options {
            public_url: base.clone(),
            clock: Arc::new(clock.clone()),
            db_path: tmp.join("host.db"),
            entitled,
        };
        let (state, sandbox) = setup::with_sandbox(&opts).await.expect("app");
        Self {
            chromedriver,
            chromium,
            shots,
            tmp,
            clock,
            listener,
            base,
            state,
            sandbox,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium and chromedriver (apt-get install chromium chromium-driver); run with --include-ignored"]
async fn host_app_in_a_real_browser() {
    let Browse {
        chromedriver,
        chromium,
        shots,
        tmp,
        clock,
        listener,
        base,
        state,
        sandbox,
    } = Browse::prepare("lw-browser", vec!["alice".into()]).await;
    let paul = sandbox.create_consumer_user("paul");
    state
        .sandbox_login
        .lock()
        .unwrap()
        .insert(ConnectionKind::Consumer, paul.id.clone());
    // A second account whose username would break unescaped HTML.
    let shop = sandbox.create_business_user("<i>evil</i>&co");
    state
        .keeper
        .connect(
            NewAccount::new("alice", ConnectionKind::Business, &shop.id, &shop.username)
                .with_page_id(shop.page_id.clone().unwrap()),
            sandbox.issue_page_token(&shop),
        )
        .await
        .unwrap();
    state.queue.push_back(&OwnerId::new("alice"), "widget #101");
    let keeper = state.keeper.clone();
    let app_state = state.clone();
    let server = tokio::spawn(async move { axum::serve(listener, app::app(state)).await });

    let (_driver, wd) = start_driver(&chromedriver).await;
    let c = browser(&wd, chromium.as_deref(), &tmp.join("profile")).await;
    let url = |p: &str| base.join(p).unwrap().to_string();

    // 1. Renewing an account never connected: a clear message.
    c.goto(&url("access-token")).await.unwrap();
    shot(&c, &shots, "01-access-token-page").await;
    click(&c, "#renew-consumer").await;
    let msg = text(&c, "#message").await;
    assert!(msg.contains("@paul has never been connected"), "{msg}");
    assert!(msg.contains("Error code: 1075"), "the seeds' code: {msg}");
    shot(&c, &shots, "02-never-connected").await;

    // 2. Log in, connect through the sandbox's OAuth: ACTIVE.
    login(&c, &base, "alice").await;
    let cookies = c.get_all_cookies().await.unwrap();
    let session = cookies
        .iter()
        .find(|k| k.name() == "__Host-lw-session")
        .expect("the session cookie");
    assert_eq!(session.http_only(), Some(true));
    assert_eq!(session.secure(), Some(true));
    click(&c, "#connect-consumer").await;
    assert!(text(&c, "#message").await.contains("@paul is connected"));
    assert!(c.current_url().await.unwrap().path().ends_with("/accounts"));
    let row = row_of(&c, "paul").await;
    assert!(row.contains("Active") && !row.contains("Expired"), "{row}");
    assert!(row.contains("Consumer connection"), "{row}");
    // The hostile username is shown as text, not markup.
    let evil = row_of(&c, "<i>evil</i>&co").await;
    assert!(evil.contains("Business connection"), "{evil}");
    assert!(!c.source().await.unwrap().contains("<i>evil</i>"));
    shot(&c, &shots, "03-accounts-active").await;

    // 3. Settings: opt in to expired token notifications, the seeds' one checkbox, which
    // covers every break; the extra topics are warnings. Also one warning.
    c.goto(&url("settings")).await.unwrap();
    let form = text(&c, "form[action=\"/settings\"]").await;
    assert!(form.contains("Expired token notifications"), "{form}");
    let explained = text(&c, "#expired-explained").await;
    for words in [
        "stops working",
        "password was changed",
        "app was removed",
        "permission",
    ] {
        assert!(explained.contains(words), "{words}: {explained}");
    }
    assert!(
        c.find(Locator::Css("#topic-revoked")).await.is_err()
            && c.find(Locator::Css("#topic-permission-removed"))
                .await
                .is_err(),
        "breaks have no boxes of their own"
    );
    let cb = c
        .find(Locator::Css("#expired-notifications"))
        .await
        .unwrap();
    assert!(!cb.is_selected().await.unwrap());
    cb.click().await.unwrap();
    click(&c, "#more-topics summary").await;
    click(&c, "#topic-expiring-soon").await;
    click(&c, "#update-preferences").await;
    assert!(text(&c, "#message").await.contains("Preferences updated"));
    let cb = c
        .find(Locator::Css("#expired-notifications"))
        .await
        .unwrap();
    assert!(cb.is_selected().await.unwrap());
    shot(&c, &shots, "04-settings").await;

    // 4. Paul changes his Instagram password; the keeper's next check finds out.
    sandbox.password_changed(&paul);
    let mut expired = false;
    for _ in 0..8 {
        clock.advance(TimeDelta::hours(12));
        keeper.sweep().await.unwrap();
        keeper.dispatch_outbox().await.unwrap();
        if keeper
            .statuses(&OwnerId::new("alice"))
            .await
            .unwrap()
            .iter()
            .any(|r| r.account.username == "paul" && !r.status.is_active())
        {
            expired = true;
            break;
        }
    }
    assert!(expired, "the sweep never found the password change");
    c.goto(&url("accounts")).await.unwrap();
    let row = row_of(&c, "paul").await;
    assert!(row.contains("Expired"), "seed 002's word: {row}");
    assert!(row.contains("password was changed"), "{row}");
    shot(&c, &shots, "05-accounts-not-active").await;

    c.goto(&url("my-token")).await.unwrap();
    let page = text(&c, "main").await;
    assert!(page.contains("NOT ACTIVE"));
    assert!(page.contains("Notice sent"), "{page}");
    shot(&c, &shots, "06-my-token-not-active").await;

    c.goto(&url("inbox")).await.unwrap();
    let subject = text(&c, ".mail .subject").await;
    assert!(subject.contains("@paul has expired"), "{subject}");
    assert!(text(&c, ".mail").await.contains("password was changed"));
    shot(&c, &shots, "07-inbox-notice").await;
    // The mail's renewal link leads into the OAuth flow of the account's kind.
    let renew = c
        .find(Locator::Css(".mail a.btn"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .expect("a renewal link");
    assert!(renew.starts_with(&url("renew?token=")), "{renew}");
    let r = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(&renew)
        .send()
        .await
        .unwrap();
    let to = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        to.starts_with(&format!("{}oauth/authorize?", sandbox.base_url())) && to.contains("state="),
        "{to}"
    );

    // 5. Renew from the access token page, logged out: ACTIVE again.
    sandbox.set_scenario(&paul, None); // he logs in with the new password
    logout(&c, &base).await;
    c.goto(&url("access-token")).await.unwrap();
    click(&c, "#renew-consumer").await;
    let msg = text(&c, "#message").await;
    assert!(msg.contains("@paul is ACTIVE again"), "{msg}");
    // The seed's words after a renewal: the queue, a minute or two, the browser cache.
    let after = text(&c, "#after-renewal").await;
    for words in [
        "refresh queue with high priority",
        "a minute or two",
        "6 hours",
        "30 minutes",
        "browser",
    ] {
        assert!(after.contains(words), "{words}: {after}");
    }
    shot(&c, &shots, "08-renewed").await;

    login(&c, &base, "alice").await;
    let row = row_of(&c, "paul").await;
    assert!(row.contains("Active") && !row.contains("Expired"), "{row}");
    let queue = text(&c, "#queue li:first-child").await;
    assert!(
        queue.contains("widgets of @paul"),
        "renewed widgets first: {queue}"
    );
    shot(&c, &shots, "09-accounts-active-again").await;

    c.goto(&url("my-token")).await.unwrap();
    let mut paul_events = Vec::new();
    for card in c.find_all(Locator::Css(".token")).await.unwrap() {
        if card.text().await.unwrap().contains("@paul") {
            for e in card.find_all(Locator::Css("tr.event")).await.unwrap() {
                paul_events.push(e.attr("data-event").await.unwrap().unwrap_or_default());
            }
            let words = card.text().await.unwrap();
            assert!(
                words.contains("Token renewed") && words.contains("Token expired"),
                "history in words: {words}"
            );
        }
    }
    // Newest first: the renewal, then the notice and the expiry, then the connection.
    let pos = |n: &str| paul_events.iter().position(|e| e == n);
    assert!(
        pos("reconnected").is_some() && pos("expired").is_some(),
        "{paul_events:?}"
    );
    assert!(pos("reconnected") < pos("expired"), "{paul_events:?}");
    assert_eq!(paul_events.last().map(String::as_str), Some("connected"));
    let paul_card = c
        .find(Locator::XPath(
            "//div[contains(@class,'token')][.//h2[contains(.,'@paul')]]",
        ))
        .await
        .unwrap();
    paul_card.find(Locator::Css("h3")).await.unwrap();
    c.execute(
        "arguments[0].scrollIntoView()",
        vec![serde_json::to_value(&paul_card).unwrap()],
    )
    .await
    .unwrap();
    shot(&c, &shots, "10-my-token-history").await;

    // A developer's invitation: the client connects their own account, logged out, on
    // their own device; it lands on alice's Accounts page.
    c.goto(&url("accounts")).await.unwrap();
    click(&c, "#new-invitation").await;
    wait_for_path(&c, "/invitations").await;
    let _ = text(&c, "#invite-link").await;
    let invite = c
        .find(Locator::Css("#invite-link"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap()
        .expect("an invitation link");
    let client = sandbox.create_consumer_user("client.bakery");
    app_state
        .sandbox_login
        .lock()
        .unwrap()
        .insert(ConnectionKind::Consumer, client.id.clone());
    logout(&c, &base).await;
    c.goto(&invite).await.unwrap();
    assert!(text(&c, "main").await.contains("no password is shared"));
    shot(&c, &shots, "11-invitation").await;
    click(&c, "#invite-consumer").await;
    let msg = text(&c, "#message").await;
    assert!(
        msg.contains("@client.bakery is now connected to the LightWidget account of alice"),
        "{msg}"
    );
    login(&c, &base, "alice").await;
    let row = row_of(&c, "client.bakery").await;
    assert!(row.contains("Active"), "{row}");

    // 6. One-click unsubscribe from the email: its topic only, "all" offered.
    c.goto(&url("inbox")).await.unwrap();
    let unsubscribe = c
        .find(Locator::Css(".mail a.unsubscribe"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .expect("an unsubscribe link");
    click(&c, "a.unsubscribe").await;
    assert!(
        text(&c, "#unsubscribe")
            .await
            .contains("Unsubscribe from expired token emails")
    );
    assert!(text(&c, "#unsubscribe-all").await.contains("all emails"));
    shot(&c, &shots, "12-unsubscribe-confirm").await;
    click(&c, "#unsubscribe").await;
    let msg = text(&c, "#message").await;
    assert!(
        msg.contains("You will no longer get expired token emails"),
        "{msg}"
    );
    shot(&c, &shots, "13-unsubscribed").await;
    let prefs = keeper.preferences(&OwnerId::new("alice")).await.unwrap();
    assert!(!prefs.wants(NoticeTopic::Expired));
    assert!(
        prefs.wants(NoticeTopic::ExpiringSoon),
        "the warning stays on"
    );
    c.goto(&url("settings")).await.unwrap();
    let cb = c
        .find(Locator::Css("#expired-notifications"))
        .await
        .unwrap();
    assert!(!cb.is_selected().await.unwrap());
    // She opts back in; the old link, clicked again, changes nothing and says so.
    cb.click().await.unwrap();
    click(&c, "#update-preferences").await;
    assert!(text(&c, "#message").await.contains("Preferences updated"));
    c.goto(&unsubscribe).await.unwrap();
    click(&c, "#unsubscribe").await;
    let msg = text(&c, "#message").await;
    assert!(
        msg.contains(
            "This link was already used, and you turned expired token emails back on since"
        ) && msg.contains("Nothing changed"),
        "{msg}"
    );
    shot(&c, &shots, "14-unsubscribe-link-used").await;
    assert!(
        keeper
            .preferences(&OwnerId::new("alice"))
            .await
            .unwrap()
            .wants(NoticeTopic::Expired)
    );

    c.close().await.unwrap();
    server.abort();
    let _ = std::fs::remove_dir_all(&tmp);
}

/// The stable name of every history event on the page, newest first (the rows show
/// them in words; `data-event` carries the name).
async fn event_names(c: &Client) -> Vec<String> {
    let mut out = Vec::new();
    for e in c.find_all(Locator::Css(".token tr.event")).await.unwrap() {
        out.push(e.attr("data-event").await.unwrap().unwrap_or_default());
    }
    out
}

/// The seed's second kind of user: *Login with Instagram* lands on *My access token*
/// (ACTIVE, the check time); the sandbox's break control ends the token and the widget
/// preview finds out (NOT ACTIVE); *Update your access token* logs in again and comes
/// back ACTIVE with one more history row. Then *Login with Facebook* is another user.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium and chromedriver (apt-get install chromium chromium-driver); run with --include-ignored"]
async fn login_with_instagram_in_a_real_browser() {
    let Browse {
        chromedriver,
        chromium,
        shots,
        tmp,
        clock,
        listener,
        base,
        state,
        sandbox,
    } = Browse::prepare("lw-social", vec![]).await;
    let paul = sandbox.create_consumer_user("paul");
    let shop = sandbox.create_business_user("shop");
    {
        let mut login = state.sandbox_login.lock().unwrap();
        login.insert(ConnectionKind::Consumer, paul.id.clone());
        login.insert(ConnectionKind::Business, shop.id.clone());
    }
    let keeper = state.keeper.clone();
    let server = tokio::spawn(async move { axum::serve(listener, app::app(state)).await });
    let (_driver, wd) = start_driver(&chromedriver).await;
    let c = browser(&wd, chromium.as_deref(), &tmp.join("profile")).await;
    let url = |p: &str| base.join(p).unwrap().to_string();

    // 1. The login page offers three ways in.
    c.goto(base.as_str()).await.unwrap();
    for way in ["#login-alice", "#login-instagram", "#login-facebook"] {
        c.find(Locator::Css(way))
            .await
            .unwrap_or_else(|e| panic!("{way}: {e}"));
    }
    shot(&c, &shots, "20-login-three-ways").await;

    // 2. Login with Instagram: My access token, ACTIVE, the check time in UTC.
    click(&c, "#login-instagram").await;
    wait_for_path(&c, "/my-token").await;
    assert!(
        text(&c, "#message")
            .await
            .contains("logged in with Instagram as @paul")
    );
    assert_eq!(text(&c, "#token-status").await, "ACTIVE");
    let at = clock.now().format("%Y-%m-%d %H:%M UTC").to_string();
    assert_eq!(text(&c, "#last-check").await, at);
    assert!(text(&c, "header .who").await.contains("@paul"));
    assert!(
        text(&c, "#last-check-help")
            .await
            .contains("You log in to our website")
    );
    assert!(
        c.find(Locator::Css("#update-token")).await.is_err(),
        "no button while ACTIVE"
    );
    assert_eq!(event_names(&c).await, vec!["connected".to_owned()]);
    shot(&c, &shots, "21-my-token-active").await;
    let owner = OwnerId::new(format!("instagram:{}", paul.id));
    let id = keeper.statuses(&owner).await.unwrap()[0].account.id;

    // 3. The sandbox's break control ends the token; the widget preview finds out.
    let r = reqwest::Client::new()
        .post(format!(
            "{}_sandbox/accounts/{}/break",
            sandbox.base_url(),
            paul.id
        ))
        .form(&[("reason", "password_changed")])
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{r:?}");
    c.goto(&url(&format!("accounts/{id}/preview")))
        .await
        .unwrap();
    let _ = text(&c, "#preview-error").await;
    c.goto(&url("my-token")).await.unwrap();
    assert_eq!(text(&c, "#token-status").await, "NOT ACTIVE");
    assert!(text(&c, ".reason").await.contains("password was changed"));
    let before = event_names(&c).await;
    assert_eq!(
        before.first().map(String::as_str),
        Some("expired"),
        "{before:?}"
    );
    shot(&c, &shots, "22-my-token-not-active").await;

    // 4. Update your access token: the login flow again, ACTIVE with one more row.
    clock.advance(TimeDelta::minutes(7));
    click(&c, "#update-token").await;
    wait_for_path(&c, "/my-token").await;
    assert_eq!(text(&c, "#token-status").await, "ACTIVE");
    let at = clock.now().format("%Y-%m-%d %H:%M UTC").to_string();
    assert_eq!(text(&c, "#last-check").await, at);
    let after = event_names(&c).await;
    assert_eq!(after.len(), before.len() + 1, "{before:?} -> {after:?}");
    assert_eq!(after[0], "reconnected", "{after:?}");
    shot(&c, &shots, "23-my-token-updated").await;
    assert_eq!(
        keeper.statuses(&owner).await.unwrap().len(),
        1,
        "same owner, same account"
    );

    // An entitled social user saves Settings unchanged: no address is made up from
    // "@paul" (which is none), so the form is valid as it comes.
    keeper
        .set_owner_entitlements(
            &owner,
            id,
            Entitlements {
                notifications: true,
            },
        )
        .await
        .unwrap();
    c.goto(&url("settings")).await.unwrap();
    let email = c
        .find(Locator::Css("#email"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap()
        .unwrap_or_default();
    assert_eq!(email, "", "no invented address");
    click(&c, "#update-preferences").await;
    assert!(text(&c, "#message").await.contains("Preferences updated"));

    // 5. Login with Facebook is another user, with a connection of their own.
    logout(&c, &base).await;
    click(&c, "#login-facebook").await;
    wait_for_path(&c, "/my-token").await;
    assert!(
        text(&c, "#message")
            .await
            .contains("logged in with Facebook as @shop")
    );
    assert_eq!(text(&c, "#token-status").await, "ACTIVE");
    assert!(text(&c, ".token h2").await.contains("Business connection"));
    shot(&c, &shots, "24-facebook-login").await;

    c.close().await.unwrap();
    server.abort();
    let _ = std::fs::remove_dir_all(&tmp);
}

/// Shared ownership (#17): an agency (alice) and its client (bob) both connect the
/// same Instagram account: one account, two owners. The client unticks a permission on
/// Instagram: the keeper's next check shows NOT ACTIVE, with its own reason, on both
/// owners' pages. The client renews with *Refresh token*: ACTIVE again for both, and
/// each sees only their own events.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium and chromedriver (apt-get install chromium chromium-driver); run with --include-ignored"]
async fn shared_account_and_a_removed_permission_in_a_real_browser() {
    let Browse {
        chromedriver,
        chromium,
        shots,
        tmp,
        clock,
        listener,
        base,
        state,
        sandbox,
    } = Browse::prepare("lw-shared", vec!["alice".into()]).await;
    let paul = sandbox.create_consumer_user("paul.bakery");
    state
        .sandbox_login
        .lock()
        .unwrap()
        .insert(ConnectionKind::Consumer, paul.id.clone());
    let keeper = state.keeper.clone();
    let server = tokio::spawn(async move { axum::serve(listener, app::app(state)).await });
    let (_driver, wd) = start_driver(&chromedriver).await;
    let c = browser(&wd, chromium.as_deref(), &tmp.join("profile")).await;
    let url = |p: &str| base.join(p).unwrap().to_string();
    let active = |row: &str| row.contains("Active") && !row.contains("Expired");

    // 1. Two owners connect the same account: it is shared, never moved.
    login(&c, &base, "alice").await;
    click(&c, "#connect-consumer").await;
    assert!(
        text(&c, "#message")
            .await
            .contains("@paul.bakery is connected")
    );
    // Alice ticks the seeds' one checkbox, nothing else.
    c.goto(&url("settings")).await.unwrap();
    click(&c, "#expired-notifications").await;
    click(&c, "#update-preferences").await;
    assert!(text(&c, "#message").await.contains("Preferences updated"));
    logout(&c, &base).await;
    clock.advance(TimeDelta::minutes(5));
    login(&c, &base, "bob").await;
    click(&c, "#connect-consumer").await;
    assert!(
        text(&c, "#message")
            .await
            .contains("@paul.bakery is connected")
    );
    let row = row_of(&c, "paul.bakery").await;
    assert!(active(&row), "{row}");
    shot(&c, &shots, "30-shared-second-owner").await;
    let alice = OwnerId::new("alice");
    let bob = OwnerId::new("bob");
    let id = keeper.statuses(&alice).await.unwrap()[0].account.id;
    assert_eq!(
        keeper.statuses(&bob).await.unwrap()[0].account.id,
        id,
        "one account"
    );
    let owners: Vec<OwnerId> = keeper
        .owners(id)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.owner)
        .collect();
    assert_eq!(owners, vec![alice.clone(), bob.clone()]);

    // 2. The client unticks a permission on Instagram; the next check ends the token.
    let r = reqwest::Client::new()
        .post(format!(
            "{}_sandbox/accounts/{}/break",
            sandbox.base_url(),
            paul.id
        ))
        .form(&[("reason", "permission_removed")])
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{r:?}");
    clock.advance(TimeDelta::hours(13));
    keeper.sweep().await.unwrap();
    // A permission error is ambiguous (the owner's or the app's): one account alone is
    // held for its confirming re-check, nobody is told yet.
    let st = keeper.status(id).await.unwrap();
    assert!(st.status.is_active(), "{st:?}");
    assert!(st.hold.is_some(), "{st:?}");
    clock.advance(TimeDelta::minutes(61));
    keeper.sweep().await.unwrap();
    let st = keeper.status(id).await.unwrap();
    assert_eq!(st.status.reason(), Some(ExpiryReason::PermissionRemoved));
    c.goto(&url("accounts")).await.unwrap();
    let row = row_of(&c, "paul.bakery").await;
    assert!(row.contains("Expired"), "{row}");
    assert!(row.contains("permission"), "{row}");
    shot(&c, &shots, "31-shared-permission-removed").await;
    // A removed permission is a break: the expired token box covers it, in its own words.
    keeper.dispatch_outbox().await.unwrap();
    logout(&c, &base).await;
    login(&c, &base, "alice").await;
    c.goto(&url("inbox")).await.unwrap();
    let subject = text(&c, ".mail .subject").await;
    assert!(
        subject.contains("@paul.bakery lost a permission"),
        "{subject}"
    );
    let mail = text(&c, ".mail").await;
    assert!(
        mail.contains("you turned on expired token notifications"),
        "{mail}"
    );
    shot(&c, &shots, "31b-permission-removed-email").await;
    logout(&c, &base).await;
    login(&c, &base, "bob").await;
    c.goto(&url("accounts")).await.unwrap();

    // 3. The client grants it again with Refresh token: ACTIVE for both owners.
    sandbox.heal(&paul);
    clock.advance(TimeDelta::minutes(3));
    click(&c, "tr.account form button.refresh").await;
    wait_for_path(&c, "/accounts").await;
    // The first renewal method (Refresh token on the Accounts page) says the seed's words.
    let msg = text(&c, "#message").await;
    assert!(msg.contains("@paul.bakery is renewed"), "{msg}");
    let after = text(&c, "#after-renewal").await;
    assert!(
        after.contains("a minute or two") && after.contains("cache"),
        "{after}"
    );
    let row = row_of(&c, "paul.bakery").await;
    assert!(active(&row), "{row}");
    logout(&c, &base).await;
    login(&c, &base, "alice").await;
    let row = row_of(&c, "paul.bakery").await;
    assert!(active(&row), "renewed by bob, fixed for alice too: {row}");
    shot(&c, &shots, "32-shared-renewed-for-both").await;

    // Each owner sees the token's events, and only their own owner events.
    c.goto(&url("my-token")).await.unwrap();
    let events = event_names(&c).await;
    assert_eq!(
        events.first().map(String::as_str),
        Some("reconnected"),
        "{events:?}"
    );
    assert!(events.iter().any(|e| e == "expired"), "{events:?}");
    let bobs_joined = keeper
        .history_for(&bob, id, HistoryQuery::default())
        .await
        .unwrap()
        .iter()
        .filter(|e| e.event.kind.name() == "joined")
        .count();
    let alices_joined = keeper
        .history_for(&alice, id, HistoryQuery::default())
        .await
        .unwrap()
        .iter()
        .filter(|e| e.event.kind.name() == "joined")
        .count();
    assert_eq!(
        (alices_joined, bobs_joined),
        (0, 1),
        "bob's joining is his own event"
    );
    assert!(
        !events.iter().any(|e| e == "joined"),
        "alice does not see bob join: {events:?}"
    );
    shot(&c, &shots, "33-shared-history-alice").await;

    c.close().await.unwrap();
    server.abort();
    let _ = std::fs::remove_dir_all(&tmp);
}

/// The callbacks and links that need no browser: Meta's deauthorize and data-deletion
/// POSTs, the "other kind" hint, entitlement gating, single-use unsubscribe, forged state.
#[tokio::test]
async fn callbacks_and_links_over_http() {
    let tmp = std::env::temp_dir().join(format!("lw-http-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&tmp).unwrap();
    let clock = ManualClock::new(Utc::now().trunc_subsecs(0));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base: url::Url = format!("http://{}/", listener.local_addr().unwrap())
        .parse()
        .unwrap();
    let opts = setup::Options {
        public_url: base.clone(),
        clock: Arc::new(clock.clone()),
        db_path: tmp.join("host.db"),
        entitled: vec!["alice".into()],
    };
    let (state, sandbox) = setup::with_sandbox(&opts).await.unwrap();
    let keeper = state.keeper.clone();
    let shop = sandbox.create_business_user("shop");
    let paul = sandbox.create_consumer_user("paul");
    let shop_id = keeper
        .connect(
            NewAccount::new("alice", ConnectionKind::Business, &shop.id, "shop")
                .with_page_id(shop.page_id.clone().unwrap())
                .with_fb_user_id(shop.fb_user_id.clone().unwrap()),
            sandbox.issue_page_token(&shop),
        )
        .await
        .unwrap();
    let shop_fb = shop.fb_user_id.clone().unwrap();
    assert_ne!(
        shop_fb, shop.id,
        "Facebook Login's callbacks name another id"
    );
    let paul_id = keeper
        .connect(
            NewAccount::new("alice", ConnectionKind::Consumer, &paul.id, "paul"),
            sandbox.issue_consumer_token(&paul, TimeDelta::days(1)),
        )
        .await
        .unwrap();
    let app_state = state.clone();
    let server = tokio::spawn(async move { axum::serve(listener, app::app(state)).await });
    let http = reqwest::Client::new();
    let url = |p: &str| base.join(p).unwrap();

    // Renewing a business account with the consumer button: a hint to the right one,
    // though Instagram Login names the account with another id than Facebook Login.
    let shop_ig = sandbox.instagram_login_of(&shop);
    assert_ne!(shop_ig.id, shop.id);
    app_state
        .sandbox_login
        .lock()
        .unwrap()
        .insert(ConnectionKind::Consumer, shop_ig.id.clone());
    // (A browser: the flow is bound to the cookie set when it starts.)
    let mut b = host_app::Client::new_for(&base);
    let first = b.get(url("access-token/consumer")).await;
    let r = b.follow(first, &base).await;
    assert_eq!(r.status, 404, "{}", r.body);
    let body = r.body;
    assert!(
        body.contains("it is connected with a <b>Business connection"),
        "{body}"
    );
    assert!(body.contains("href=\"/access-token/business\""), "{body}");

    // A forged OAuth state is refused before any exchange.
    let r = http
        .get(url("oauth/callback?code=x&state=forged.state"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    // Pages behind the login stand-in send strangers to the front page.
    let r = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(url("accounts"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/");

    // Settings: the notifications checkbox only for entitled owners.
    let page = |who: &'static str| {
        let base = base.clone();
        async move {
            let mut b = host_app::Client::new_for(&base);
            let csrf = b.get(base.clone()).await.csrf();
            b.post(
                base.join("login").unwrap(),
                &[("csrf", &csrf), ("user", who)],
            )
            .await;
            b.get(base.join("settings").unwrap()).await.body
        }
    };
    let alice = page("alice").await;
    assert!(alice.contains("Expired token notifications") && alice.contains("Update preferences"));
    let bob = page("bob").await;
    assert!(bob.contains("Pro plan") && !bob.contains("Update preferences"));

    // Deauthorize: a correctly signed callback revokes; a forged one is refused.
    assert_eq!(
        sandbox.remove_app(&paul, Some(&url("deauthorize"))).await,
        Some(200)
    );
    let st = keeper.status(paul_id).await.unwrap();
    assert_eq!(st.status.as_str(), "revoked");
    let forged = lightwidget::instagram::signed_request::sign(
        "not-the-app-secret",
        &format!(r#"{{"algorithm":"HMAC-SHA256","user_id":"{}"}}"#, shop.id),
    );
    let r = http
        .post(url("deauthorize"))
        .form(&[("signed_request", forged.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(keeper.status(shop_id).await.unwrap().status.is_active());

    // Data deletion: signed by the business app with the app-scoped Facebook user id (not
    // the Instagram id); answers Meta's JSON; the status page says what was deleted.
    let business_signed = |user_id: &str| {
        lightwidget::instagram::signed_request::sign(
            &lightwidget::instagram::sandbox::SandboxConfig::default()
                .business_app
                .1,
            &format!(
                r#"{{"algorithm":"HMAC-SHA256","user_id":"{}","issued_at":{}}}"#,
                user_id,
                clock.now().timestamp()
            ),
        )
    };
    // The Instagram id in a Facebook Login callback matches nothing: nothing is touched.
    let r = http
        .post(url("deauthorize"))
        .form(&[("signed_request", business_signed(&shop.id).as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(keeper.status(shop_id).await.unwrap().status.is_active());
    let sr = business_signed(&shop_fb);
    let r = http
        .post(url("data-deletion"))
        .form(&[("signed_request", sr.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let j: serde_json::Value = r.json().await.unwrap();
    let code = j["confirmation_code"].as_str().unwrap().to_owned();
    let status_url = j["url"].as_str().unwrap().to_owned();
    assert!(status_url.contains(&code));
    let page = http
        .get(&status_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(&code) && page.contains("was received and carried out"),
        "{page}"
    );
    assert!(
        page.contains("<b>@shop</b>") && page.contains("access token, history"),
        "the status page reports what was deleted: {page}"
    );
    assert!(
        matches!(keeper.status(shop_id).await, Err(Error::UnknownAccount(_))),
        "the data-deletion callback deleted the account"
    );

    // Unsubscribe: the link turns off the topic of its email, GET only asks (and offers
    // "all"), the POST works once and says what it changed.
    let alice = OwnerId::new("alice");
    keeper
        .set_preferences(
            &Preferences::new("alice")
                .opt_in_all()
                .with_recipient(Recipient::Email("alice@example.com".into())),
        )
        .await
        .unwrap();
    let link =
        app_state
            .web
            .links()
            .unsubscribe_url(&alice, Some(NoticeTopic::Expired), clock.now());
    for _ in 0..2 {
        let body = http
            .get(link.clone())
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(body.contains("id=unsubscribe>"), "{body}");
        assert!(
            body.contains("Unsubscribe from expired token emails"),
            "{body}"
        );
        assert!(
            body.contains("id=unsubscribe-all"),
            "the page offers all: {body}"
        );
    }
    assert_eq!(
        keeper.preferences(&alice).await.unwrap().topics,
        NoticeTopic::ALL.into(),
        "GET changes nothing"
    );
    let post = |u: url::Url| {
        let http = http.clone();
        async move {
            let r = http
                .post(u)
                .form(&[("List-Unsubscribe", "One-Click")])
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            r.text().await.unwrap()
        }
    };
    let body = post(link.clone()).await;
    assert!(
        body.contains("You will no longer get expired token emails"),
        "{body}"
    );
    let topics = keeper.preferences(&alice).await.unwrap().topics;
    assert_eq!(
        topics,
        [NoticeTopic::DataAccessExpiring, NoticeTopic::ExpiringSoon].into(),
        "only the email's topic is turned off"
    );
    // A second click (the same link) says so, in words, and changes nothing.
    let body = post(link.clone()).await;
    assert!(
        body.contains("This link was already used: you are unsubscribed from expired token emails")
            && body.contains("Nothing changed"),
        "{body}"
    );
    // The owner opts back in: the old link does not undo it, and says so.
    keeper
        .set_preferences(
            &Preferences::new("alice")
                .opt_in_all()
                .with_recipient(Recipient::Email("alice@example.com".into())),
        )
        .await
        .unwrap();
    let body = post(link).await;
    assert!(
        body.contains(
            "This link was already used, and you turned expired token emails back on since"
        ) && body.contains("Nothing changed: you still get them"),
        "{body}"
    );
    assert!(
        keeper
            .preferences(&alice)
            .await
            .unwrap()
            .wants(NoticeTopic::Expired)
    );
    // "Unsubscribe from all" on the page of a fresh link.
    let link =
        app_state
            .web
            .links()
            .unsubscribe_url(&alice, Some(NoticeTopic::ExpiringSoon), clock.now());
    let mut all = link.clone();
    all.query_pairs_mut().append_pair("all", "1");
    let body = post(all).await;
    assert!(
        body.contains(
            "You will no longer get expired token, data access expiring and token expiring soon emails"
        ),
        "{body}"
    );
    assert!(keeper.preferences(&alice).await.unwrap().topics.is_empty());
    // That link is spent too, though it named one topic.
    assert!(post(link).await.contains("This link was already used"));

    server.abort();
    let _ = std::fs::remove_dir_all(&tmp);
}
