//! The keeper daemon as an operator runs it: the real binary (`examples/keeper`), a real
//! SQLite file, the Graph sandbox on loopback, real HTTP for `/metrics` and `/readyz`.
//!
//! The binary is the one `cargo test` builds next to this test
//! (`target/<profile>/examples/keeper`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use chrono::TimeDelta;
use lightwidget::instagram::sandbox::{Sandbox, SandboxConfig};
use secrecy::ExposeSecret;

fn keeper_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let bin = dir.join("examples").join("keeper");
    assert!(
        bin.exists(),
        "{} is missing: build it with `cargo build --example keeper --features sandbox,sqlite,email` \
         (plain `cargo test --all-features` builds it)",
        bin.display()
    );
    bin
}

/// A keeper environment on a fresh SQLite file.
struct Env {
    dir: PathBuf,
    vars: Vec<(String, String)>,
}

impl Env {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "lw-cli-{name}-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let db = dir.join("keeper.db");
        let vars = vec![
            (
                "LIGHTWIDGET_DATABASE_URL".into(),
                format!("sqlite://{}", db.display()),
            ),
            (
                "LIGHTWIDGET_KEYS".into(),
                "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=".into(),
            ),
        ];
        Self { dir, vars }
    }

    fn var(mut self, k: &str, v: &str) -> Self {
        self.vars.push((k.into(), v.into()));
        self
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(keeper_bin());
        c.args(args)
            .env_remove("LIGHTWIDGET_TOKEN")
            .env_remove("LIGHTWIDGET_CONFIG")
            .env_remove("LIGHTWIDGET_LOG")
            .envs(self.vars.iter().map(|(k, v)| (k, v)))
            .current_dir(&self.dir)
            .stdin(Stdio::null());
        c
    }

    /// `keeper connect --kind consumer …` with `extra` options and the token on stdin.
    fn connect(
        &self,
        ig_user_id: &str,
        username: &str,
        owner: &str,
        extra: &[&str],
        token: &str,
    ) -> Output {
        let mut args = vec![
            "connect",
            "--kind",
            "consumer",
            "--ig-user-id",
            ig_user_id,
            "--username",
            username,
            "--owner",
            owner,
        ];
        args.extend_from_slice(extra);
        self.run_stdin(&args, token)
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("run keeper")
    }

    /// Runs with `stdin` piped in.
    fn run_stdin(&self, args: &[&str], stdin: &str) -> Output {
        let mut child = self
            .cmd(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn keeper");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exit code")
}

#[test]
fn numbers_out_of_range_are_refused_with_the_setting_named_and_no_panic() {
    let env = Env::new("numbers");
    let o = env.connect(
        "1",
        "u",
        "o",
        &["--expires-in-days", "1000000000"],
        "IGAAtoken",
    );
    assert_eq!(code(&o), 2, "{}", text(&o));
    assert!(text(&o).contains("--expires-in-days"), "{}", text(&o));
    assert!(!text(&o).contains("panicked"), "{}", text(&o));

    for (var, value, setting) in [
        ("LIGHTWIDGET_CONCURRENCY", "0", "concurrency"),
        (
            "LIGHTWIDGET_RATE_LIMIT_PER_SECOND",
            "0",
            "rate_limit_per_second",
        ),
        (
            "LIGHTWIDGET_BATCH_SIZE",
            "99999999999999999999999",
            "batch_size",
        ),
        ("LIGHTWIDGET_POLL_INTERVAL_SECS", "-5", "poll_interval_secs"),
        ("LIGHTWIDGET_LEASE_SECS", "0", "lease_secs"),
        ("LIGHTWIDGET_HTTP_LISTEN", "not-an-address", "http_listen"),
    ] {
        let env = Env::new("numbers").var(var, value);
        let o = env.run(&["status"]);
        assert_eq!(code(&o), 78, "{var}={value}: {}", text(&o));
        assert!(text(&o).contains(setting), "{var}={value}: {}", text(&o));
        assert!(!text(&o).contains("panicked"), "{}", text(&o));
    }
}

#[test]
#[cfg(unix)]
fn a_token_variable_that_is_not_utf8_is_an_error_not_a_fallback_to_stdin() {
    use std::os::unix::ffi::OsStrExt;
    let env = Env::new("utf8");
    let mut c = env.cmd(&[
        "connect",
        "--kind",
        "consumer",
        "--ig-user-id",
        "1",
        "--username",
        "u",
        "--owner",
        "o",
    ]);
    c.env(
        "LIGHTWIDGET_TOKEN",
        std::ffi::OsStr::from_bytes(b"IGAA\xff"),
    );
    let o = c.output().unwrap();
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(text(&o).contains("not valid UTF-8"), "{}", text(&o));
    let o = env.run(&["status", "--owner", "o", "--json"]);
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "[]");
}

#[test]
fn an_existing_token_is_connected_with_its_real_age_and_history_reads_as_a_table() {
    let env = Env::new("age");
    let o = env.connect(
        "1784",
        "paul",
        "user-42",
        &[
            "--issued-at",
            "2026-11-01T00:00:00Z",
            "--expires-at",
            "2099-12-31T00:00:00Z",
        ],
        "IGAAsecret-token-value\n",
    );
    assert_eq!(code(&o), 0, "{}", text(&o));
    let id = String::from_utf8_lossy(&o.stdout).trim().to_owned();

    let o = env.run(&["status", "--owner", "user-42", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("status --json");
    assert_eq!(v[0]["expires_at"], "2099-12-31T00:00:00Z", "{v}");

    let o = env.run(&["history", &id]);
    let out = text(&o);
    assert_eq!(code(&o), 0, "{out}");
    assert!(out.contains("connected"), "{out}");
    assert!(out.contains("expires 2099-12-31"), "{out}");
    assert!(!out.contains("Connected {"), "Debug text in: {out}");
    assert!(!out.contains("IGAAsecret"), "{out}");

    let o = env.run(&["history", &id, "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("history --json");
    assert!(v.as_array().is_some_and(|a| !a.is_empty()), "{v}");

    let o = env.connect(
        "1785",
        "x",
        "o",
        &[
            "--issued-at",
            "2026-11-01T00:00:00Z",
            "--expires-at",
            "2026-10-01T00:00:00Z",
        ],
        "IGAAother",
    );
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(text(&o).contains("not after issued_at"), "{}", text(&o));
}

#[test]
fn preferences_are_shown_and_set_from_the_command_line() {
    let env = Env::new("prefs");
    let o = env.connect(
        "9",
        "shop",
        "owner-1",
        &["--expires-in-days", "60"],
        "IGAAprefs",
    );
    assert_eq!(code(&o), 0, "{}", text(&o));

    let o = env.run(&["preferences", "--owner", "owner-1", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["topics"], serde_json::json!([]), "{v}");
    assert_eq!(v["accounts"][0]["entitled"], false, "{v}");

    let o = env.run(&[
        "preferences",
        "--owner",
        "owner-1",
        "--topics",
        "expired,expiring_soon",
        "--email",
        "owner@shop.example",
        "--entitled",
        "true",
        "--json",
    ]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let o = env.run(&["preferences", "--owner", "owner-1", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["topics"].as_array().map(Vec::len), Some(2), "{v}");
    assert!(
        v["recipients"].to_string().contains("owner@shop.example"),
        "{v}"
    );
    assert_eq!(v["accounts"][0]["entitled"], true, "{v}");

    for bad in [
        vec!["--topics", "expired,bogus"],
        vec!["--email", "owner@shop.example\r\nBcc: x@evil.example"],
        vec!["--webhook", "ftp://x"],
    ] {
        let mut args = vec!["preferences", "--owner", "owner-1"];
        args.extend(bad.iter());
        let o = env.run(&args);
        assert_eq!(code(&o), 1, "{bad:?}: {}", text(&o));
    }
    // Nothing changed.
    let o = env.run(&["preferences", "--owner", "owner-1", "--json"]);
    let w: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v, w);
}

#[test]
fn import_reports_each_refused_line_and_imports_the_rest() {
    let env = Env::new("import");
    let jsonl = env.dir.join("tokens.jsonl");
    let long = "x".repeat(70 * 1024);
    std::fs::write(
        &jsonl,
        format!(
            "{}\n{}\nnot json\n{{\"kind\":\"business\",\"ig_user_id\":\"3\",\"username\":\"c\",\"owner\":\"o2\",\"token\":\"EAAsecret3\",\"page_id\":\"55\"}}\n{{\"kind\":\"consumer\",\"ig_user_id\":\"4\",\"username\":\"d\",\"owner\":\"o\",\"token\":\"{long}\"}}\n",
            r#"{"kind":"consumer","ig_user_id":"1","username":"a","owner":"o","token":"IGAAsecret1","issued_at":"2026-11-20T00:00:00Z","expires_at":"2099-01-19T00:00:00Z"}"#,
            r#"{"kind":"martian","ig_user_id":"2","username":"b","owner":"o","token":"IGAAsecret2"}"#,
        ),
    )
    .unwrap();
    let o = env.run(&["import", jsonl.to_str().unwrap()]);
    let out = text(&o);
    assert_eq!(code(&o), 1, "{out}");
    assert!(out.contains("line 1: imported"), "{out}");
    assert!(out.contains("line 2: refused: kind"), "{out}");
    assert!(out.contains("line 3: refused"), "{out}");
    assert!(out.contains("line 4: imported"), "{out}");
    assert!(out.contains("line 5: refused: longer than"), "{out}");
    assert!(out.contains("imported 2, unchanged 0, refused 3"), "{out}");
    assert!(!out.contains("secret"), "a token value in: {out}");

    let csv = env.dir.join("tokens.csv");
    std::fs::write(
        &csv,
        "kind,ig_user_id,username,owner,token,expires_at\n\
         consumer,10,x,o3,IGAAsecret10,2099-01-01T00:00:00Z\n\
         consumer,11,y,o3,IGAAsecret11,yesterday\n\
         \"consumer\",\"12\",\"z, with comma\",o3,IGAAsecret12,\n",
    )
    .unwrap();
    let o = env.run(&["import", csv.to_str().unwrap()]);
    let out = text(&o);
    assert_eq!(code(&o), 1, "{out}");
    assert!(out.contains("line 2: imported"), "{out}");
    assert!(out.contains("line 3: refused: expires_at"), "{out}");
    assert!(out.contains("line 4: imported"), "{out}");
    assert!(!out.contains("secret"), "a token value in: {out}");

    let o = env.run(&["status", "--owner", "o3", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let names: Vec<_> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["account"]["username"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names.len(), 2, "{v}");
    assert!(names.contains(&"z, with comma".to_owned()), "{names:?}");
}

/// The event names of `keeper history --json`, newest first.
fn events(env: &Env, account: &str) -> Vec<String> {
    let o = env.run(&["history", account, "--json"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"]["event"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// #29.5: an import line carries every field a connect has (so imported business
/// accounts match Meta's callbacks by Facebook user id), re-running a file changes
/// nothing, and an older token than the one held is refused unless `--force`.
#[test]
fn import_carries_every_field_and_never_rolls_a_token_back() {
    let env = Env::new("import-fresh");
    let line = |token: &str, issued: &str| {
        format!(
            r#"{{"kind":"business","ig_user_id":"17841400000000777","username":"dunnortho812","owner":"agency","token":"{token}","issued_at":"{issued}","page_id":"page-777","fb_user_id":"10150000000000777","scopes":["instagram_basic","pages_show_list"],"data_access_expires_at":"2099-03-01T00:00:00Z","notifications":true}}"#
        )
    };
    let first = env.dir.join("first.jsonl");
    std::fs::write(&first, line("EAAsecretOne", "2026-11-01T00:00:00Z") + "\n").unwrap();
    let o = env.run(&["import", first.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let out = text(&o);
    assert!(out.contains("imported 1, unchanged 0, refused 0"), "{out}");
    let id = out
        .split("line 1: imported ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap()
        .to_owned();

    // The same file again: nothing changes, no `reconnected` row.
    let o = env.run(&["import", first.to_str().unwrap()]);
    let out = text(&o);
    assert_eq!(code(&o), 0, "{out}");
    assert!(out.contains("line 1: unchanged"), "{out}");
    assert!(out.contains("imported 0, unchanged 1, refused 0"), "{out}");
    assert!(!events(&env, &id).iter().any(|e| e == "reconnected"));

    // A newer token is installed; the old file then is refused as older, for the
    // same reason in CSV without issued_at (compared by expiry: it never expires).
    let newer = env.dir.join("newer.jsonl");
    std::fs::write(&newer, line("EAAsecretTwo", "2026-11-20T00:00:00Z") + "\n").unwrap();
    let o = env.run(&["import", newer.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert_eq!(
        events(&env, &id)
            .iter()
            .filter(|e| *e == "reconnected")
            .count(),
        1
    );
    let o = env.run(&["import", first.to_str().unwrap()]);
    let out = text(&o);
    assert_eq!(code(&o), 1, "{out}");
    assert!(
        out.contains("line 1: refused:") && out.contains("older"),
        "{out}"
    );
    assert!(out.contains("imported 0, unchanged 0, refused 1"), "{out}");
    let csv = env.dir.join("old.csv");
    std::fs::write(
        &csv,
        "kind,ig_user_id,username,owner,token,scopes,fb_user_id\n\
         business,17841400000000777,dunnortho812,agency,EAAsecretOne,\"instagram_basic pages_show_list\",10150000000000777\n",
    )
    .unwrap();
    let o = env.run(&["import", csv.to_str().unwrap()]);
    let out = text(&o);
    assert_eq!(code(&o), 1, "{out}");
    assert!(out.contains("unknown time"), "{out}");
    assert!(!out.contains("secret"), "a token value in: {out}");
    assert_eq!(
        events(&env, &id)
            .iter()
            .filter(|e| *e == "reconnected")
            .count(),
        1,
        "nothing rolled back"
    );
    // --force rolls back on purpose.
    let o = env.run(&["import", "--force", first.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert_eq!(
        events(&env, &id)
            .iter()
            .filter(|e| *e == "reconnected")
            .count(),
        2
    );

    // What was stored: the Facebook user id Meta's callbacks name, scopes, data access.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        use lightwidget::TokenStore;
        use lightwidget::store_sql::{Keyring, SqlStore};
        let keys = env
            .vars
            .iter()
            .find(|(k, _)| k == "LIGHTWIDGET_KEYS")
            .unwrap()
            .1
            .clone();
        let url = &env.vars[0].1;
        let store = SqlStore::builder(url.clone())
            .keyring(Keyring::parse(&secrecy::SecretString::from(keys)).unwrap())
            .connect()
            .await
            .unwrap();
        let found = store.find_by_fb_user("10150000000000777").await.unwrap();
        assert_eq!(found.len(), 1, "found by Meta's callback id");
        let rec = &found[0];
        assert_eq!(rec.account.id.to_string(), id);
        assert_eq!(rec.account.page_id.as_deref(), Some("page-777"));
        assert_eq!(rec.state.token.secret(), "EAAsecretOne");
        assert_eq!(
            rec.state.token.scopes,
            vec!["instagram_basic".to_owned(), "pages_show_list".to_owned()]
        );
        assert_eq!(
            rec.state
                .token
                .data_access_expires_at
                .map(|t| t.to_rfc3339()),
            Some("2099-03-01T00:00:00+00:00".to_owned())
        );
    });
}

#[test]
fn the_example_config_file_lists_real_settings() {
    // Uncomment every `# key = value` line of the shipped example and load it.
    let example = include_str!("../lightwidget-keeper/lightwidget.example.toml");
    let env = Env::new("toml");
    let mut toml = String::new();
    for line in example.lines() {
        let l = line.trim_start_matches("# ");
        let is_setting = l.split_once(" = ").is_some_and(|(k, _)| {
            !k.is_empty() && k.chars().all(|c| c.is_ascii_lowercase() || c == '_')
        });
        if is_setting && !l.starts_with("database_url") && !l.starts_with("encryption_keys") {
            toml.push_str(l);
            toml.push('\n');
        }
    }
    assert!(toml.matches('\n').count() >= 20, "{toml}");
    let path = env.dir.join("keeper.toml");
    std::fs::write(&path, &toml).unwrap();
    let o = env.run(&["--config", path.to_str().unwrap(), "status"]);
    assert_eq!(code(&o), 0, "{}\n---\n{toml}", text(&o));
}

fn get(url: &str) -> (u16, String) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        match reqwest::get(url).await {
            Ok(r) => (r.status().as_u16(), r.text().await.unwrap_or_default()),
            Err(_) => (0, String::new()),
        }
    })
}

/// The value of one sample in a Prometheus text exposition.
fn sample(exposition: &str, name_and_labels: &str) -> Option<f64> {
    exposition.lines().find_map(|l| {
        let (k, v) = l.rsplit_once(' ')?;
        (k == name_and_labels).then(|| v.parse().ok())?
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_serves_metrics_health_and_readiness_and_stops_on_sigterm() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let user = sandbox.create_consumer_user("metrics.shop");
    let token = sandbox.issue_consumer_token(&user, TimeDelta::days(40));
    let cfg = SandboxConfig::default();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let env = Env::new("serve")
        .var("LIGHTWIDGET_CONSUMER_APP_ID", &cfg.consumer_app.0)
        .var("LIGHTWIDGET_CONSUMER_APP_SECRET", &cfg.consumer_app.1)
        .var("LIGHTWIDGET_GRAPH_BASE_URL", sandbox.base_url().as_str())
        .var("LIGHTWIDGET_POLL_INTERVAL_SECS", "1")
        .var("RUST_LOG", "info");
    let o = env.connect(
        &user.id,
        &user.username,
        "o",
        &[
            "--issued-at",
            &token.issued_at.to_rfc3339(),
            "--expires-at",
            &token.expires_at.unwrap().to_rfc3339(),
        ],
        token.secret_string().expose_secret(),
    );
    assert_eq!(code(&o), 0, "{}", text(&o));

    let listen = format!("127.0.0.1:{port}");
    let child = env
        .cmd(&["run", "--listen", &listen])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let base = format!("http://{listen}");
    let healthy = tokio::task::spawn_blocking({
        let base = base.clone();
        move || {
            for _ in 0..100 {
                if get(&format!("{base}/healthz")).0 == 200 {
                    return true;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            false
        }
    })
    .await
    .unwrap();
    assert!(healthy, "/healthz never answered");
    let ready = tokio::task::spawn_blocking({
        let base = base.clone();
        move || {
            for _ in 0..100 {
                let (s, body) = get(&format!("{base}/readyz"));
                if s == 200 {
                    return Some(body);
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            None
        }
    })
    .await
    .unwrap();
    assert!(
        ready.is_some_and(|b| b.starts_with("ready")),
        "/readyz never ready"
    );

    // The account is due a second after it was connected: wait for its refresh.
    let (s, exposition) = tokio::task::spawn_blocking({
        let base = base.clone();
        move || {
            let mut last = (0, String::new());
            for _ in 0..100 {
                last = get(&format!("{base}/metrics"));
                if sample(
                    &last.1,
                    "lightwidget_refreshes_total{kind=\"consumer\",outcome=\"ok\"}",
                )
                .is_some()
                {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            last
        }
    })
    .await
    .unwrap();
    assert_eq!(s, 200);
    assert_eq!(
        sample(&exposition, "lightwidget_accounts{status=\"active\"}"),
        Some(1.0),
        "{exposition}"
    );
    assert_eq!(sample(&exposition, "lightwidget_store_up"), Some(1.0));
    // The library's own metrics (feature `metrics`) land in the same exposition.
    assert_eq!(
        sample(
            &exposition,
            "lightwidget_refreshes_total{kind=\"consumer\",outcome=\"ok\"}"
        ),
        Some(1.0),
        "{exposition}"
    );
    assert!(
        exposition.contains("lightwidget_sweep_duration_seconds"),
        "{exposition}"
    );
    assert!(
        sample(&exposition, "lightwidget_last_sweep_age_seconds").is_some_and(|a| a < 30.0),
        "{exposition}"
    );
    // Every sample line parses as `name{labels} value`.
    for l in exposition
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (_, v) = l.rsplit_once(' ').expect(l);
        v.parse::<f64>().unwrap_or_else(|_| panic!("{l}"));
        assert!(!l.contains(&user.id), "an account id as a label: {l}");
    }

    // A second owner connects a token whose password was changed meanwhile: the next
    // sweep tries to refresh it, Meta says 190/460, and the gauges move.
    let user2 = sandbox.create_consumer_user("broken.shop");
    let token2 = sandbox.issue_consumer_token(&user2, TimeDelta::days(40));
    sandbox.password_changed(&user2);
    let o = env.connect(
        &user2.id,
        &user2.username,
        "o2",
        &[
            "--issued-at",
            &token2.issued_at.to_rfc3339(),
            "--expires-at",
            &token2.expires_at.unwrap().to_rfc3339(),
        ],
        token2.secret_string().expose_secret(),
    );
    assert_eq!(code(&o), 0, "{}", text(&o));
    let moved = tokio::task::spawn_blocking({
        let base = base.clone();
        move || {
            for _ in 0..100 {
                let (_, e) = get(&format!("{base}/metrics"));
                if sample(&e, "lightwidget_accounts{status=\"expired\"}") == Some(1.0)
                    && sample(
                        &e,
                        "lightwidget_expiries_total{reason=\"password_changed\"}",
                    ) == Some(1.0)
                    && sample(
                        &e,
                        "lightwidget_refreshes_total{kind=\"consumer\",outcome=\"expired\"}",
                    ) == Some(1.0)
                {
                    return true;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            false
        }
    })
    .await
    .unwrap();
    if !moved {
        let o = env.run(&["status", "--owner", "o2", "--json"]);
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let out = child.wait_with_output().unwrap();
        panic!(
            "the expired gauge never moved after the sweep: {}\n{}",
            text(&o),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    let pid = child.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
