//! A second, minimal host proves the seams: its own identity (a request header instead
//! of a session), its own page frame, its own sign-in path; the JSON endpoints; forged,
//! cross-site and cross-owner requests refused; and two instances of the host sharing one
//! store, so a flow started on one completes on the other and is spent for both.

use std::sync::Arc;

use axum::http::request::Parts;
use chrono::{SubsecRound, TimeDelta, Utc};
use lightwidget_core::*;
use lightwidget_instagram::flow::OAuth;
use lightwidget_instagram::sandbox::{Sandbox, SandboxConfig, UserHandle};
use lightwidget_instagram::state::{MemoryNonceStore, StateSigner};
use lightwidget_instagram::{FacebookLogin, GraphProvider, InstagramLogin};
use lightwidget_notify::LinkSigner;
use lightwidget_web::{Host, Messages, Pages, Step, Viewer, Web, async_trait};
use reqwest::redirect::Policy;
use serde_json::Value;
use url::Url;

/// Identity from a header the (imaginary) proxy in front of this host sets.
struct HeaderHost {
    sandbox_user: std::sync::Mutex<Option<String>>,
}

fn csrf_of(user: &str) -> String {
    format!("csrf-of-{user}-0123456789abcdef")
}

#[async_trait]
impl Host for HeaderHost {
    async fn viewer(&self, request: &Parts) -> Option<Viewer> {
        let user = request.headers.get("x-user")?.to_str().ok()?.to_owned();
        Some(Viewer {
            owner: OwnerId::new(user.clone()),
            name: format!("{user} (second host)"),
            csrf: csrf_of(&user),
            social: None,
        })
    }

    fn redirect(&self, step: Step) -> String {
        match step {
            Step::SignIn => "/signin".into(),
            Step::Connected => "/mine".into(),
            _ => "/".into(),
        }
    }

    fn decorate_authorize_url(&self, _kind: ConnectionKind, url: &mut Url) {
        if let Some(id) = self.sandbox_user.lock().unwrap().as_deref() {
            url.query_pairs_mut().append_pair("sandbox_user", id);
        }
    }
}

/// Its own frame.
struct PlainPages;

impl Pages for PlainPages {
    fn page(&self, title: &str, viewer: Option<&Viewer>, body: &str) -> String {
        format!(
            "<html data-host=second><title>{}</title><p id=who>{}</p>{body}</html>",
            lightwidget_web::views::esc(title),
            viewer
                .map(|v| lightwidget_web::views::esc(&v.name))
                .unwrap_or_default()
        )
    }
}

struct Instance {
    base: Url,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.server.abort();
    }
}

struct World {
    sandbox: Sandbox,
    keeper: Keeper,
    host: Arc<HeaderHost>,
    /// Instances serving the same store, behind one public URL.
    instances: Vec<Instance>,
    http: reqwest::Client,
}

const STATE_SECRET: &str = "the-state-secret-every-instance-shares-0123456789";

async fn world(instances: usize) -> World {
    world_with(instances, Messages::default()).await
}

async fn world_with(instances: usize, messages: Messages) -> World {
    let clock = ManualClock::new(Utc::now().trunc_subsecs(0));
    let sandbox = Sandbox::start(SandboxConfig {
        clock: Arc::new(clock.clone()),
        ..Default::default()
    })
    .await
    .unwrap();
    let listeners: Vec<_> = futures_listeners(instances).await;
    // One public URL (the load balancer's); the instances' own addresses differ.
    let public: Url = format!("http://{}/", listeners[0].local_addr().unwrap())
        .parse()
        .unwrap();
    let redirect = public.join("oauth/callback").unwrap();
    let consumer = Arc::new(
        InstagramLogin::new(
            sandbox
                .consumer_config()
                .redirect_uri(redirect.as_str())
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
                .redirect_uri(redirect.as_str())
                .clock(Arc::new(clock.clone()))
                .build()
                .unwrap(),
        )
        .unwrap(),
    );
    let provider = GraphProvider::new(Some(consumer.clone()), Some(business.clone()))
        .with_clock(Arc::new(clock.clone()));
    let store = Arc::new(InMemoryStore::new());
    let keeper = Keeper::builder(store, Arc::new(provider))
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
    let host = Arc::new(HeaderHost {
        sandbox_user: std::sync::Mutex::new(None),
    });
    let links = Arc::new(LinkSigner::new(
        "the-link-secret-0123456789abcdef".to_owned().into(),
        public.clone(),
    ));
    let mut out = Vec::new();
    for listener in listeners {
        let base: Url = format!("http://{}/", listener.local_addr().unwrap())
            .parse()
            .unwrap();
        // Each instance has its own process memory: its own nonce list.
        let web = Web::builder(
            keeper.clone(),
            OAuth::new(Some(consumer.clone()), Some(business.clone())),
            links.clone(),
            public.clone(),
        )
        .clock(Arc::new(clock.clone()))
        .state_signer(StateSigner::new(
            STATE_SECRET.to_owned().into(),
            Box::new(MemoryNonceStore::default()),
        ))
        .host(host.clone())
        .pages(Arc::new(PlainPages))
        .messages(messages.clone())
        .build()
        .unwrap();
        let router = web.router();
        let server = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        out.push(Instance { base, server });
    }
    World {
        sandbox,
        keeper,
        host,
        instances: out,
        http: reqwest::Client::builder()
            .redirect(Policy::none())
            .build()
            .unwrap(),
    }
}

async fn futures_listeners(n: usize) -> Vec<tokio::net::TcpListener> {
    let mut v = Vec::new();
    for _ in 0..n {
        v.push(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap());
    }
    v
}

impl World {
    fn url(&self, i: usize, path: &str) -> Url {
        self.instances[i].base.join(path).unwrap()
    }

    async fn get(&self, i: usize, path: &str, user: Option<&str>) -> reqwest::Response {
        let mut r = self.http.get(self.url(i, path));
        if let Some(u) = user {
            r = r.header("x-user", u);
        }
        r.send().await.unwrap()
    }

    async fn json(&self, path: &str, user: &str) -> (u16, Value) {
        let r = self.get(0, path, Some(user)).await;
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// A same-origin form POST as `user` with `csrf`, carrying `cookie`.
    async fn post(
        &self,
        i: usize,
        path: &str,
        user: &str,
        csrf: &str,
        site: &str,
        cookie: &str,
    ) -> reqwest::Response {
        self.http
            .post(self.url(i, path))
            .header("x-user", user)
            .header("sec-fetch-site", site)
            .header("cookie", cookie)
            .form(&[("csrf", csrf)])
            .send()
            .await
            .unwrap()
    }

    async fn connect_paul(&self, owner: &str) -> (UserHandle, AccountId) {
        let paul = self.sandbox.create_consumer_user("paul");
        let id = self
            .keeper
            .connect(
                NewAccount::new(owner, ConnectionKind::Consumer, &paul.id, "paul"),
                self.sandbox.issue_consumer_token(&paul, TimeDelta::days(1)),
            )
            .await
            .unwrap();
        (paul, id)
    }
}

fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

fn set_cookies(r: &reqwest::Response) -> String {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or_default().to_owned())
        .collect::<Vec<_>>()
        .join("; ")
}

#[tokio::test]
async fn the_second_host_brings_its_own_identity_pages_and_sign_in() {
    let w = world(1).await;
    // No identity: sent to this host's own sign-in page.
    let r = w.get(0, "accounts", None).await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/signin");
    // Its frame, its viewer's name; the security headers on.
    let r = w.get(0, "accounts", Some("alice")).await;
    assert_eq!(r.status(), 200);
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(r.headers()["x-frame-options"], "DENY");
    let body = r.text().await.unwrap();
    assert!(body.starts_with("<html data-host=second>"), "{body}");
    assert!(body.contains("alice (second host)"), "{body}");
    assert!(
        body.contains(&csrf_of("alice")),
        "forms carry the host's token"
    );
    // The public pages use the frame too.
    let body = w.get(0, "access-token", None).await.text().await.unwrap();
    assert!(body.starts_with("<html data-host=second>") && body.contains("Business connection"));
}

#[tokio::test]
async fn json_endpoints_answer_the_owner_in_words_and_no_one_else() {
    let w = world(1).await;
    let (_paul, id) = w.connect_paul("alice").await;
    let (st, v) = w.json("api/accounts", "alice").await;
    assert_eq!(st, 200, "{v}");
    let a = &v["accounts"][0];
    assert_eq!(a["username"], "paul");
    assert_eq!(a["status"], "Active");
    assert_eq!(a["token_status"], "ACTIVE");
    assert_eq!(a["kind"], "consumer");
    assert!(a["last_successful_check"].is_string(), "{a}");
    let renew = a["renew_url"].as_str().unwrap();
    assert!(renew.contains("/renew?token="), "{renew}");
    assert!(v["next"].is_null());
    // The renewal URL leads into the OAuth flow of the account's kind.
    let path = Url::parse(renew).unwrap();
    let r = w
        .get(0, &format!("renew?{}", path.query().unwrap()), None)
        .await;
    assert_eq!(r.status(), 303);
    assert!(location(&r).contains("oauth/authorize") || location(&r).contains("authorize"));

    let (st, h) = w
        .json(&format!("api/accounts/{id}/history?limit=1"), "alice")
        .await;
    assert_eq!(st, 200, "{h}");
    assert_eq!(h["entries"][0]["event"], "connected");
    assert_eq!(h["entries"][0]["label"], "Connected");
    // Another owner sees nothing of it; no identity is 401; bad paging is 400.
    let (st, v) = w.json("api/accounts", "bob").await;
    assert_eq!((st, v["accounts"].as_array().unwrap().len()), (200, 0));
    assert_eq!(w.json(&format!("api/accounts/{id}"), "bob").await.0, 404);
    assert_eq!(
        w.json(&format!("api/accounts/{id}/history"), "bob").await.0,
        404
    );
    assert_eq!(w.get(0, "api/accounts", None).await.status(), 401);
    assert_eq!(w.json("api/accounts?limit=0", "alice").await.0, 400);
    assert_eq!(w.json("api/accounts?limit=100000", "alice").await.0, 400);
    assert_eq!(w.json("api/accounts?after=nope", "alice").await.0, 400);
    assert_eq!(w.json("api/accounts/not-an-id", "alice").await.0, 404);
}

#[tokio::test]
async fn forged_cross_site_and_cross_owner_posts_change_nothing() {
    let w = world(1).await;
    let (_paul, id) = w.connect_paul("alice").await;
    let path = format!("accounts/{id}/disconnect");
    // Wrong token, another site, another owner with their own token: refused.
    let r = w
        .post(
            0,
            &path,
            "alice",
            "forged-token-0123456789",
            "same-origin",
            "",
        )
        .await;
    assert_eq!(r.status(), 403);
    let r = w
        .post(0, &path, "alice", &csrf_of("alice"), "cross-site", "")
        .await;
    assert_eq!(r.status(), 403);
    let r = w
        .post(0, &path, "bob", &csrf_of("bob"), "same-origin", "")
        .await;
    assert_eq!(r.status(), 404);
    assert!(w.keeper.status(id).await.is_ok(), "still there");
    // The owner, with their token, from the site: done, and told so on the next page.
    let r = w
        .post(0, &path, "alice", &csrf_of("alice"), "same-origin", "")
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/mine");
    assert!(
        w.keeper
            .statuses(&OwnerId::new("alice"))
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_flow_started_on_one_instance_completes_on_another_once() {
    let w = world(2).await;
    let (paul, id) = w.connect_paul("alice").await;
    *w.host.sandbox_user.lock().unwrap() = Some(paul.id.to_string());
    // Refresh token on instance 0: the renewal's target is held in the store.
    let r = w
        .post(
            0,
            &format!("accounts/{id}/refresh"),
            "alice",
            &csrf_of("alice"),
            "same-origin",
            "",
        )
        .await;
    assert_eq!(r.status(), 303, "{:?}", r.text().await);
    let binding = set_cookies(&r);
    let dialog = w.http.get(location(&r)).send().await.unwrap();
    assert!(dialog.status().is_redirection());
    let callback: Url = location(&dialog).parse().unwrap();
    let path = format!("oauth/callback?{}", callback.query().unwrap());
    // The callback lands on instance 1: it finds the target and renews exactly paul.
    let r = w
        .http
        .get(w.url(1, &path))
        .header("x-user", "alice")
        .header("cookie", &binding)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "{:?}", r.text().await);
    assert_eq!(location(&r), "/mine");
    let flash = set_cookies(&r);
    let page = w
        .http
        .get(w.url(1, "accounts"))
        .header("x-user", "alice")
        .header("cookie", &flash)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("The access token of @paul is renewed."),
        "{page}"
    );
    assert!(page.contains("refresh queue with high priority"), "{page}");
    // Replayed on instance 0, whose own memory never saw it: spent in the store.
    let r = w
        .http
        .get(w.url(0, &path))
        .header("x-user", "alice")
        .header("cookie", &binding)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("already completed"));
}

#[tokio::test]
async fn without_app_secrets_no_signed_request_is_believed() {
    let w = world(1).await;
    let (paul, id) = w.connect_paul("alice").await;
    // Signed with the empty key a host that configured no secret would "have".
    let sr = lightwidget_instagram::signed_request::sign(
        "",
        &format!(
            r#"{{"algorithm":"HMAC-SHA256","user_id":"{}","issued_at":{}}}"#,
            paul.id,
            Utc::now().timestamp()
        ),
    );
    for path in ["data-deletion", "deauthorize"] {
        let r = w
            .http
            .post(w.url(0, path))
            .form(&[("signed_request", sr.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{path}");
    }
    assert!(w.keeper.status(id).await.unwrap().status.is_active());
}

#[tokio::test]
async fn the_host_rewords_any_message() {
    let mut m = Messages::default();
    m.set("access-token-intro", "Renew here, {nobody} filled this.")
        .unwrap();
    m.set(
        "never-connected",
        "Nope: @{username} ({kind}) is unknown here [1075].",
    )
    .unwrap();
    assert!(m.set("not-a-message", "x").is_err());
    let w = world_with(1, m).await;
    let body = w.get(0, "access-token", None).await.text().await.unwrap();
    assert!(body.contains("Renew here, {nobody} filled this."), "{body}");
    assert!(!body.contains("without logging in"), "{body}");
    // A message with values, after a real flow: renewing an account never connected.
    let paul = w.sandbox.create_consumer_user("paul");
    *w.host.sandbox_user.lock().unwrap() = Some(paul.id.to_string());
    let r = w
        .http
        .get(w.url(0, "access-token/consumer"))
        .send()
        .await
        .unwrap();
    let binding = set_cookies(&r);
    let dialog = w.http.get(location(&r)).send().await.unwrap();
    let callback: Url = location(&dialog).parse().unwrap();
    let page = w
        .http
        .get(w.url(0, &format!("oauth/callback?{}", callback.query().unwrap())))
        .header("cookie", &binding)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(
            "Nope: @paul (Consumer connection (Instagram Login)) is unknown here [1075]."
        ),
        "{page}"
    );
}
