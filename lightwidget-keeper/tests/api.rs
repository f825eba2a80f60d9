//! The daemon as a service, from outside: the installed program runs against the Graph
//! sandbox on loopback, and its `/v1` API is driven over real HTTP: by this test in
//! Rust, by a Python backend (`tests/python/backend_e2e.py`, standard library only),
//! and by schemathesis (a property-based fuzzer of the OpenAPI document).

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use chrono::TimeDelta;
use lightwidget::instagram::sandbox::{Sandbox, SandboxConfig, UserHandle};
use secrecy::ExposeSecret;
use serde_json::{Value, json};

/// The whsec_ key the host webhooks are signed with in these tests.
const WEBHOOK_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running daemon with its settings.
struct Daemon {
    dir: PathBuf,
    vars: Vec<(String, String)>,
    child: Option<Child>,
    base: String,
}

impl Daemon {
    /// Starts `lightwidget-keeper run` against `sandbox`, with `extra` settings.
    async fn start(sandbox: &Sandbox, name: &str, extra: &[(&str, String)]) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "lw-api-{name}-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        let cfg = SandboxConfig::default();
        let mut vars: Vec<(String, String)> = vec![
            (
                "LIGHTWIDGET_DATABASE_URL".into(),
                format!("sqlite://{}", dir.join("keeper.db").display()),
            ),
            (
                "LIGHTWIDGET_KEYS".into(),
                "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=".into(),
            ),
            (
                "LIGHTWIDGET_CONSUMER_APP_ID".into(),
                cfg.consumer_app.0.clone(),
            ),
            (
                "LIGHTWIDGET_CONSUMER_APP_SECRET".into(),
                cfg.consumer_app.1.clone(),
            ),
            (
                "LIGHTWIDGET_BUSINESS_APP_ID".into(),
                cfg.business_app.0.clone(),
            ),
            (
                "LIGHTWIDGET_BUSINESS_APP_SECRET".into(),
                cfg.business_app.1.clone(),
            ),
            (
                "LIGHTWIDGET_GRAPH_BASE_URL".into(),
                sandbox.base_url().to_string(),
            ),
            ("LIGHTWIDGET_POLL_INTERVAL_SECS".into(), "1".into()),
            (
                "LIGHTWIDGET_HTTP_LISTEN".into(),
                format!("127.0.0.1:{port}"),
            ),
            ("LIGHTWIDGET_PUBLIC_BASE_URL".into(), format!("{base}/")),
            (
                "LIGHTWIDGET_REDIRECT_URI".into(),
                format!("{base}/oauth/callback"),
            ),
            (
                "LIGHTWIDGET_LINK_SECRET".into(),
                "a link secret for the api tests, long enough".into(),
            ),
            ("RUST_LOG".into(), "warn".into()),
        ];
        for (k, v) in extra {
            vars.push(((*k).into(), v.clone()));
        }
        let mut d = Self {
            dir,
            vars,
            child: None,
            base,
        };
        let child = d
            .cmd(&["run"])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the daemon starts");
        d.child = Some(child);
        let url = format!("{}/healthz", d.base);
        for _ in 0..200 {
            if reqwest::get(&url).await.is_ok_and(|r| r.status() == 200) {
                return d;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the daemon never answered /healthz");
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_lightwidget-keeper"));
        c.args(args)
            .env_remove("LIGHTWIDGET_CONFIG")
            .env_remove("LIGHTWIDGET_TOKEN")
            .envs(self.vars.iter().map(|(k, v)| (k, v)))
            .current_dir(&self.dir)
            .stdin(Stdio::null());
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("the program runs")
    }

    /// `keys create`: the key.
    fn key(&self, scope: &str) -> String {
        let o = self.run(&[
            "keys",
            "create",
            "--name",
            &format!("test {scope}"),
            "--scope",
            scope,
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap().trim().to_owned()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

struct Api {
    base: String,
    key: String,
    http: reqwest::Client,
}

impl Api {
    fn new(d: &Daemon, key: &str) -> Self {
        Self {
            base: d.base.clone(),
            key: key.to_owned(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
        }
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, String, Value) {
        let mut r = self
            .http
            .request(method.parse().unwrap(), format!("{}{path}", self.base))
            .bearer_auth(&self.key);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let resp = r.send().await.unwrap();
        let status = resp.status().as_u16();
        let ct = resp
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap_or_default().to_owned())
            .unwrap_or_default();
        let text = resp.text().await.unwrap();
        (
            status,
            ct,
            serde_json::from_str(&text).unwrap_or(Value::Null),
        )
    }
}

fn connect_body(user: &UserHandle, owner: &str, token: &lightwidget::Token) -> Value {
    json!({
        "owner": owner,
        "kind": "consumer",
        "ig_user_id": user.id,
        "username": user.username,
        "token": token.secret_string().expose_secret(),
        "issued_at": token.issued_at,
        "expires_at": token.expires_at,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_answers_with_scoped_keys_problem_details_and_the_feed() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let d = Daemon::start(
        &sandbox,
        "rust",
        &[("LIGHTWIDGET_API_RATE_LIMIT_PER_SECOND", "20".into())],
    )
    .await;
    let read = Api::new(&d, &d.key("read"));
    let write = Api::new(&d, &d.key("write"));
    let nobody = Api::new(
        &d,
        "lwk_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    );

    // No key, a forged key: 401 as problem details.
    let (s, ct, p) = nobody.call("GET", "/v1/owners/o/accounts", None).await;
    assert_eq!((s, ct.as_str()), (401, "application/problem+json"), "{p}");
    assert_eq!(p["code"], "unauthorized");
    let plain = reqwest::get(format!("{}/v1/owners/o/accounts", d.base))
        .await
        .unwrap();
    assert_eq!(plain.status(), 401);

    // A read key cannot write.
    let user = sandbox.create_consumer_user("api.shop");
    sandbox.set_media_count(&user, 7);
    let token = sandbox.issue_consumer_token(&user, TimeDelta::days(10));
    let (s, _, p) = read
        .call(
            "POST",
            "/v1/accounts",
            Some(connect_body(&user, "site-1", &token)),
        )
        .await;
    assert_eq!(s, 403, "{p}");
    assert_eq!(p["code"], "insufficient-scope");

    // Connect, and the token is never echoed.
    let (s, _, p) = write
        .call(
            "POST",
            "/v1/accounts",
            Some(connect_body(&user, "site-1", &token)),
        )
        .await;
    assert_eq!(s, 201, "{p}");
    assert!(
        !p.to_string()
            .contains(token.secret_string().expose_secret())
    );
    assert_eq!(p["outcome"], "created");
    assert_eq!(p["account"]["status"], "active");
    let id = p["account"]["id"].as_str().unwrap().to_owned();

    // Bad input: typed problems, not 500s.
    for (method, path, body, want) in [
        ("POST", "/v1/accounts", Some(json!({"owner": "x"})), 400),
        ("GET", "/v1/accounts/not-a-uuid", None, 400),
        (
            "GET",
            "/v1/accounts/0190a0a0-0000-7000-8000-000000000000",
            None,
            404,
        ),
        ("GET", "/v1/owners/site-1/accounts?limit=0", None, 400),
        ("GET", "/v1/owners/site-1/accounts?limit=abc", None, 400),
        ("GET", "/v1/no-such-thing", None, 404),
    ] {
        let api = if method == "POST" { &write } else { &read };
        let (s, ct, p) = api.call(method, path, body).await;
        assert_eq!(s, want, "{method} {path}: {p}");
        assert_eq!(ct, "application/problem+json", "{method} {path}");
    }
    let (s, _, p) = write
        .call("POST", "/v1/accounts", Some(json!({"owner": "o\u{0}", "kind": "consumer", "ig_user_id": "1", "username": "u", "token": "t"})))
        .await;
    assert_eq!(s, 422, "{p}");

    // Status, paged list, history.
    let (s, _, p) = read.call("GET", &format!("/v1/accounts/{id}"), None).await;
    assert_eq!(s, 200, "{p}");
    assert_eq!(p["label"], "ACTIVE");
    let (s, _, p) = read
        .call("GET", "/v1/owners/site-1/accounts?limit=1", None)
        .await;
    assert_eq!(s, 200, "{p}");
    assert_eq!(p["accounts"].as_array().unwrap().len(), 1);
    let (s, _, p) = read
        .call(
            "GET",
            &format!("/v1/owners/site-1/accounts/{id}/history"),
            None,
        )
        .await;
    assert_eq!(s, 200, "{p}");
    assert_eq!(p["events"][0]["kind"], "connected", "{p}");
    let (s, _, _) = read
        .call(
            "GET",
            &format!("/v1/owners/someone-else/accounts/{id}"),
            None,
        )
        .await;
    assert_eq!(s, 404, "another owner's account is not found");

    // The feed through the gateway, paged to the end.
    let mut seen = 0;
    let mut after: Option<String> = None;
    for _ in 0..10 {
        let q = after
            .as_ref()
            .map(|a| format!("&after={a}"))
            .unwrap_or_default();
        let (s, _, p) = read
            .call("GET", &format!("/v1/accounts/{id}/media?limit=3{q}"), None)
            .await;
        assert_eq!(s, 200, "{p}");
        seen += p["data"].as_array().unwrap().len();
        assert!(p["urls_expire_at"].is_string(), "{p}");
        match p["next"].as_str() {
            Some(n) => after = Some(n.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, 7);
    let (s, _, p) = read
        .call("GET", &format!("/v1/accounts/{id}/profile"), None)
        .await;
    assert_eq!((s, p["username"].as_str()), (200, Some("api.shop")), "{p}");

    // Links served by the daemon's own pages.
    let (s, _, p) = write
        .call(
            "POST",
            "/v1/owners/site-1/links",
            Some(json!({"purpose": "renew", "account_id": id})),
        )
        .await;
    assert_eq!(s, 201, "{p}");
    assert!(
        p["url"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{}/renew?token=", d.base)),
        "{p}"
    );
    let (s, _, p) = write
        .call(
            "POST",
            "/v1/owners/site-1/links",
            Some(json!({"purpose": "connect"})),
        )
        .await;
    assert_eq!(s, 201, "{p}");
    let invite = reqwest::get(p["url"].as_str().unwrap()).await.unwrap();
    assert_eq!(invite.status(), 200);

    // Preferences round trip; bad ones refused.
    let (s, _, p) = write
        .call(
            "PUT",
            "/v1/owners/site-1/preferences",
            Some(json!({"topics": ["expired"], "email": ["owner@example.com"]})),
        )
        .await;
    assert_eq!(s, 200, "{p}");
    assert_eq!(p["email"][0], "owner@example.com");
    let (s, _, _) = write
        .call(
            "PUT",
            "/v1/owners/site-1/preferences",
            Some(json!({"topics": ["nope"]})),
        )
        .await;
    assert_eq!(s, 422);

    // The OpenAPI document is served, 3.1, and names every operation.
    let spec: Value = reqwest::get(format!("{}/v1/openapi.json", d.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        spec["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        spec["openapi"]
    );
    assert!(spec["paths"]["/v1/accounts/{id}/media"]["get"].is_object());
    let mut checked = 0;
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let scope = op["x-required-scope"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path} has no scope"));
            let concrete = path
                .replace("{id}", &id)
                .replace("{owner}", "site-1")
                .replace("{code}", "abc");
            let refused: &[&Api] = match scope {
                "read" => &[],
                "write" => &[&read],
                "admin" => &[&read, &write],
                other => panic!("scope {other}"),
            };
            for api in refused {
                let (s, ct, p) = api
                    .call(&method.to_uppercase(), &concrete, Some(json!({})))
                    .await;
                assert_eq!(
                    (s, ct.as_str()),
                    (403, "application/problem+json"),
                    "{method} {path}: {p}"
                );
                checked += 1;
            }
        }
    }
    assert_eq!(
        checked, 11,
        "7 write operations refused to a read key, 2 admin ones to both"
    );
    // A known path with the wrong method: problem details too.
    let (s, ct, _) = read
        .call("PATCH", &format!("/v1/accounts/{id}"), None)
        .await;
    assert_eq!((s, ct.as_str()), (405, "application/problem+json"));
    // History pages never point at an empty page.
    let (_, _, p) = read
        .call("GET", &format!("/v1/accounts/{id}/history?limit=1"), None)
        .await;
    if let Some(before) = p["next"].as_i64() {
        let (_, _, more) = read
            .call(
                "GET",
                &format!("/v1/accounts/{id}/history?limit=1&before={before}"),
                None,
            )
            .await;
        assert!(
            !more["events"].as_array().unwrap().is_empty(),
            "{p} → {more}"
        );
    }

    // The per-key limit answers 429 with Retry-After; another key is not limited.
    let mut limited = false;
    for _ in 0..100 {
        let r = read
            .http
            .get(format!("{}/v1/accounts/{id}", d.base))
            .bearer_auth(&read.key)
            .send()
            .await
            .unwrap();
        if r.status() == 429 {
            assert!(r.headers().contains_key("retry-after"));
            limited = true;
            break;
        }
    }
    assert!(limited, "100 requests at once never hit a limit of 20/s");
    let (s, _, _) = write.call("GET", &format!("/v1/accounts/{id}"), None).await;
    assert_eq!(s, 200, "the write key has its own budget");

    // /metrics shows no owner, username or token.
    let m = reqwest::get(format!("{}/metrics", d.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for secret in ["site-1", "api.shop", token.secret_string().expose_secret()] {
        assert!(!m.contains(secret), "/metrics shows {secret}");
    }

    // Leave (disconnect), then the key is revoked and refused.
    let (s, _, p) = write
        .call("DELETE", &format!("/v1/owners/site-1/accounts/{id}"), None)
        .await;
    assert_eq!(s, 204, "{p}");
    // Keys created at once by several CLIs are all listed (and can all be revoked).
    let many: Vec<_> = (0..4)
        .map(|i| {
            d.cmd(&["keys", "create", "--name", &format!("concurrent {i}")])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in many {
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let listed = d.run(&["keys", "list", "--json"]);
    let keys: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(keys.as_array().unwrap().len(), 6, "{keys}");
    assert!(!String::from_utf8_lossy(&listed.stdout).contains(&write.key));
    let write_id = write.key.split('_').nth(1).unwrap();
    let o = d.run(&["keys", "revoke", write_id]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    tokio::time::sleep(Duration::from_secs(6)).await; // the daemon's key cache
    let (s, _, _) = write.call("GET", &format!("/v1/accounts/{id}"), None).await;
    assert_eq!(s, 401, "a revoked key is refused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_backend_uses_the_daemon_end_to_end() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let user = sandbox.create_consumer_user("python.shop");
    sandbox.set_media_count(&user, 9);
    sandbox.set_login_user(&user);
    let token = sandbox.issue_consumer_token(&user, TimeDelta::days(10));
    let hook_port = free_port();
    let d = Daemon::start(
        &sandbox,
        "python",
        &[
            (
                "LIGHTWIDGET_HOST_WEBHOOK_URL",
                format!("http://127.0.0.1:{hook_port}/hooks"),
            ),
            ("LIGHTWIDGET_HOST_WEBHOOK_SECRETS", WEBHOOK_SECRET.into()),
            (
                "LIGHTWIDGET_RETURN_URL",
                format!("http://127.0.0.1:{hook_port}/return"),
            ),
        ],
    )
    .await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/backend_e2e.py");
    let out = tokio::task::spawn_blocking({
        let mut c = Command::new("python3");
        c.arg(script)
            .envs(d.vars.iter().map(|(k, v)| (k, v)))
            .env("LW_API", &d.base)
            .env("LW_SANDBOX", sandbox.base_url().as_str())
            .env("LW_KEEPER_BIN", env!("CARGO_BIN_EXE_lightwidget-keeper"))
            .env("LW_WEBHOOK_PORT", hook_port.to_string())
            .env("LW_WEBHOOK_SECRET", WEBHOOK_SECRET)
            .env("LW_TOKEN", token.secret_string().expose_secret())
            .env("LW_IG_USER_ID", &user.id)
            .env("LW_USERNAME", &user.username)
            .env("LW_ISSUED_AT", token.issued_at.to_rfc3339())
            .env("LW_EXPIRES_AT", token.expires_at.unwrap().to_rfc3339())
            .env("LW_MEDIA_COUNT", "9");
        move || c.output().expect("python3 runs")
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "the Python backend failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("python backend: ok"));
}

/// schemathesis (`pip install schemathesis`) against the running daemon: no 5xx, every
/// response matches its schema and status list, and every operation refuses a request
/// without a key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs schemathesis (pip install schemathesis; .ci/run installs it)"]
async fn schemathesis_finds_no_server_error_and_no_schema_violation() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let user = sandbox.create_consumer_user("fuzz.shop");
    let token = sandbox.issue_consumer_token(&user, TimeDelta::days(10));
    let d = Daemon::start(
        &sandbox,
        "fuzz",
        &[("LIGHTWIDGET_API_RATE_LIMIT_PER_SECOND", "100000".into())],
    )
    .await;
    let admin = Api::new(&d, &d.key("admin"));
    let (s, _, p) = admin
        .call(
            "POST",
            "/v1/accounts",
            Some(connect_body(&user, "fuzz-owner", &token)),
        )
        .await;
    assert_eq!(s, 201, "{p}");
    let bin = std::env::var("SCHEMATHESIS").unwrap_or_else(|_| "schemathesis".into());
    let out = tokio::task::spawn_blocking({
        let mut c = Command::new(bin);
        c.args([
            "run",
            &format!("{}/v1/openapi.json", d.base),
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance,ignored_auth",
            "--header",
            &format!("Authorization: Bearer {}", admin.key),
            "--max-examples",
            "40",
            "--seed",
            "1",
            "--no-color",
        ])
        .env("SCHEMATHESIS_HOOKS", "")
        .env("NO_COLOR", "1");
        move || c.output()
    })
    .await
    .unwrap()
    .expect("schemathesis runs (pip install schemathesis)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{text}");
    assert!(out.status.success(), "schemathesis found problems:\n{text}");
}
