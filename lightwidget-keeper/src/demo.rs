//! The self-contained demo: SQLite file + Graph sandbox + `.eml` notices, a few hundred
//! accounts of both kinds, months of simulated time, and the scenarios that kill tokens.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use axum::extract::{Form, State};
use chrono::{SubsecRound, TimeDelta, Utc};
use lightwidget::instagram::sandbox::{Fault, Sandbox, SandboxConfig, UserHandle};
use lightwidget::instagram::{FacebookLogin, GraphProvider, InstagramLogin, signed_request};
use lightwidget::notify::{EmailContent, EmlFileNotifier, LinkSigner};
use lightwidget::store_sql::{Encryption, Key, Keyring, SqlStore};
use lightwidget::*;

/// The host hook: renewed accounts go to the front of the widget refresh queue.
#[derive(Default)]
struct WidgetQueue {
    renewed: AtomicU64,
}

#[async_trait]
impl LifecycleHooks for WidgetQueue {
    async fn on_renewed(&self, account: &Account) {
        self.renewed.fetch_add(1, Ordering::Relaxed);
        tracing::info!(account_id = %account.id, "widgets of @{} queued first", account.username);
    }
}

struct Deauth {
    keeper: Keeper,
    clock: ManualClock,
    consumer_secret: secrecy::SecretString,
    business_secret: secrecy::SecretString,
}

/// Meta's callback form.
#[derive(serde::Deserialize)]
struct SignedForm {
    signed_request: String,
}

async fn deauthorize(
    State(d): State<Arc<Deauth>>,
    Form(f): Form<SignedForm>,
) -> axum::http::StatusCode {
    let sr = &f.signed_request;
    // Which app signed it tells the connection kind; it must be fresh (a replay later
    // must not revoke a connection renewed meanwhile).
    use secrecy::ExposeSecret as _;
    let age = Some((TimeDelta::hours(1), d.clock.now()));
    let (req, kind) = match signed_request::verify(sr, d.consumer_secret.expose_secret(), age) {
        Ok(r) => (r, ConnectionKind::Consumer),
        Err(_) => match signed_request::verify(sr, d.business_secret.expose_secret(), age) {
            Ok(r) => (r, ConnectionKind::Business),
            Err(_) => return axum::http::StatusCode::FORBIDDEN,
        },
    };
    match d.keeper.deauthorize(kind, &req.user_id).await {
        Ok(_) => axum::http::StatusCode::OK,
        Err(Error::NotConnected { .. }) => axum::http::StatusCode::NOT_FOUND,
        Err(_) => axum::http::StatusCode::SERVICE_UNAVAILABLE,
    }
}

pub async fn run(accounts: usize, days: i64, out: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let started = Instant::now();
    std::fs::create_dir_all(out)?;
    let db = out.join("lightwidget-demo.db");
    for ext in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{ext}", db.display()));
    }
    let mail = out.join("mail");
    let _ = std::fs::remove_dir_all(&mail);

    let clock = ManualClock::new(Utc::now().trunc_subsecs(0));
    let sandbox = Sandbox::start(SandboxConfig {
        clock: Arc::new(clock.clone()),
        ..Default::default()
    })
    .await?;
    let consumer = Arc::new(InstagramLogin::new(
        sandbox
            .consumer_config()
            .clock(Arc::new(clock.clone()))
            .build()?,
    )?);
    let business = Arc::new(FacebookLogin::new(
        sandbox
            .business_config()
            .clock(Arc::new(clock.clone()))
            .build()?,
    )?);
    let provider =
        GraphProvider::new(Some(consumer), Some(business)).with_clock(Arc::new(clock.clone()));
    let key_bytes = rand_key();
    let key = Key::new("demo", &key_bytes)?;
    let store = Arc::new(SqlStore::open_sqlite(&db, Encryption::Keyring(Keyring::new(key))).await?);
    let links = Arc::new(LinkSigner::new(
        uuid::Uuid::new_v4().to_string().into(),
        "http://localhost:8080/".parse()?,
    ));
    let content = EmailContent::new("LightWidget <alerts@lightwidget.example>", links)?
        .with_clock(Arc::new(clock.clone()));
    let eml = Arc::new(EmlFileNotifier::new(&mail, content)?);
    let queue = Arc::new(WidgetQueue::default());
    let keeper = Keeper::builder(store.clone(), Arc::new(provider))
        .clock(Arc::new(clock.clone()))
        .policy(
            RefreshPolicy::builder()
                // Daily checks keep the demo short; the default is every 12 h.
                .check_interval(Duration::from_secs(24 * 3600))
                .build()?,
        )
        .notifier(eml)
        .hooks(queue.clone())
        .concurrency(32)
        .batch_size(250)
        .worker_id("demo-keeper")
        .build()?;

    // The host's deauthorize callback endpoint, on loopback.
    let cb = Arc::new(Deauth {
        keeper: keeper.clone(),
        clock: clock.clone(),
        consumer_secret: SandboxConfig::default().consumer_app.1.into(),
        business_secret: SandboxConfig::default().business_app.1.into(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let cb_url: url::Url = format!("http://{}/deauthorize", listener.local_addr()?).parse()?;
    let app = axum::Router::new()
        .route("/deauthorize", axum::routing::post(deauthorize))
        .with_state(cb);
    tokio::spawn(async move { axum::serve(listener, app).await });

    println!("lightwidget demo: {accounts} accounts, {days} simulated days");
    println!(
        "  database: {}  (tokens AES-256-GCM encrypted)",
        db.display()
    );
    println!("  notices:  {}/*.eml", mail.display());
    println!("  Graph API sandbox: {}", sandbox.base_url());

    // Seed: two thirds consumer (tokens 0-55 days old), one third business (Page tokens).
    let mut consumers: Vec<(UserHandle, AccountId)> = Vec::new();
    let mut businesses: Vec<(UserHandle, AccountId)> = Vec::new();
    for i in 0..accounts {
        let owner = format!("owner{:02}", i % 40);
        let entitled = i % 40 < 30;
        if i % 3 < 2 {
            let u = sandbox.create_consumer_user(&format!("consumer{i}"));
            let t = sandbox.issue_consumer_token(&u, TimeDelta::hours((i as i64 * 37) % (55 * 24)));
            let id = keeper
                .connect(
                    NewAccount::new(owner, ConnectionKind::Consumer, &u.id, &u.username)
                        .with_entitlements(Entitlements {
                            notifications: entitled,
                        }),
                    t,
                )
                .await?;
            consumers.push((u, id));
        } else {
            let u = sandbox.create_business_user(&format!("shop{i}"));
            sandbox.set_data_access_expires_at(
                &u,
                clock.now() + TimeDelta::days(20 + (i as i64 * 13) % 200),
            );
            let t = sandbox.issue_page_token(&u);
            let id = keeper
                .connect(
                    NewAccount::new(owner, ConnectionKind::Business, &u.id, &u.username)
                        .with_page_id(u.page_id.clone().unwrap_or_default())
                        .with_entitlements(Entitlements {
                            notifications: entitled,
                        }),
                    t,
                )
                .await?;
            businesses.push((u, id));
        }
    }
    for o in 0..40 {
        if o % 3 != 2 {
            let owner = format!("owner{o:02}");
            keeper
                .set_preferences(
                    &Preferences::new(owner.as_str())
                        .opt_in_all()
                        .with_recipient(Recipient::Email(format!("{owner}@example.com"))),
                )
                .await?;
        }
    }

    println!(
        "\n  day | active | expired | revoked | refreshed | checked | notices sent | suppressed"
    );
    let step = TimeDelta::hours(6);
    let mut day = 0;
    let mut t = TimeDelta::zero();
    while t < TimeDelta::days(days) {
        clock.advance(step);
        t += step;
        let d = t.num_days();
        if d != day {
            day = d;
            match day {
                10 => {
                    for (u, _) in consumers.iter().take(5) {
                        sandbox.password_changed(u);
                    }
                    println!("  -- day 10: 5 owners changed their Instagram password");
                }
                20 => {
                    for (u, _) in consumers.iter().skip(5).take(3) {
                        sandbox.remove_app(u, Some(&cb_url)).await;
                    }
                    println!(
                        "  -- day 20: 3 owners removed the app (signed deauthorize callbacks)"
                    );
                }
                30 => {
                    for (u, _) in businesses.iter().take(2) {
                        sandbox.expire_data_access(u);
                    }
                    println!("  -- day 30: data access ran out on 2 business accounts");
                }
                45 => {
                    sandbox.inject(
                        Fault::RateLimit {
                            code: 80002,
                            regain_minutes: 90,
                        },
                        40,
                    );
                    sandbox.inject(Fault::Status(503), 20);
                    println!("  -- day 45: a burst of rate limiting and 503s");
                }
                60 => {
                    for (u, _) in consumers.iter().skip(8).take(2) {
                        sandbox.checkpoint(u);
                    }
                    println!("  -- day 60: 2 accounts hit a security checkpoint");
                }
                75 => {
                    // Two owners renew from the access-token page (no login): new tokens.
                    for (u, _) in consumers.iter().take(2) {
                        sandbox.set_scenario(u, None);
                        let fresh = sandbox.issue_consumer_token(u, TimeDelta::zero());
                        keeper
                            .reconnect(ConnectionKind::Consumer, &u.id, fresh)
                            .await?;
                    }
                    println!(
                        "  -- day 75: 2 owners renewed their connection; their widgets were queued first"
                    );
                }
                _ => {}
            }
        }
        keeper.sweep().await?;
        keeper.dispatch_outbox().await?;
        if t.num_hours() % (24 * 10) == 0 {
            let c = store.count_by_status().await?;
            let s = keeper.stats();
            println!(
                "  {:>3} | {:>6} | {:>7} | {:>7} | {:>9} | {:>7} | {:>12} | {:>10}",
                day,
                c.active,
                c.expired,
                c.revoked,
                s.refreshed,
                s.checked,
                s.notices_sent,
                s.notices_suppressed
            );
        }
    }

    // Summary.
    let s = keeper.stats();
    let c = store.count_by_status().await?;
    let mut reasons: BTreeMap<String, u64> = BTreeMap::new();
    for o in 0..40 {
        for r in keeper
            .statuses(&OwnerId::new(format!("owner{o:02}")))
            .await?
        {
            if let TokenStatus::Expired { reason, .. } = r.status {
                *reasons.entry(reason.code()).or_default() += 1;
            }
        }
    }
    let emails = std::fs::read_dir(&mail).map(|d| d.count()).unwrap_or(0);
    println!(
        "\n  summary after {days} simulated days ({:.1} s of wall time)",
        started.elapsed().as_secs_f64()
    );
    println!("  ┌──────────────────────────────┬────────┐");
    let row = |k: &str, v: u64| println!("  │ {k:<28} │ {v:>6} │");
    row("accounts", accounts as u64);
    row("active now", c.active);
    row("refreshed (total)", s.refreshed);
    row("checked (total)", s.checked);
    row("retries (transient)", s.retries);
    for (k, v) in &reasons {
        row(&format!("expired: {k}"), *v);
    }
    row("revoked (app removed)", c.revoked);
    row("renewed by owners", queue.renewed.load(Ordering::Relaxed));
    row("notices sent", s.notices_sent);
    row("notices suppressed", s.notices_suppressed);
    row(".eml files written", emails as u64);
    row("Graph calls: refresh", sandbox.requests("refresh"));
    row("Graph calls: /me", sandbox.requests("me"));
    row("Graph calls: debug_token", sandbox.requests("debug_token"));
    println!("  └──────────────────────────────┴────────┘");
    let h = keeper.health(Duration::from_secs(600)).await?;
    println!(
        "  last sweep (simulated clock): {}",
        h.last_sweep_at.map_or_else(
            || "never".into(),
            |t| t.format("%Y-%m-%d %H:%M UTC").to_string()
        )
    );
    // Fold the write-ahead log into the database file, so the demo leaves one file.
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(store.pool())
        .await?;
    store.close().await;
    let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, key_bytes);
    println!("\n  inspect the database with the keeper's own commands:");
    println!(
        "    export LIGHTWIDGET_DATABASE_URL=sqlite://{} LIGHTWIDGET_KEYS=demo:{b64}",
        db.display()
    );
    println!("    cargo run --example keeper --features sandbox,sqlite,email -- status");
    println!(
        "    cargo run --example keeper --features sandbox,sqlite,email -- status --owner owner00"
    );
    Ok(())
}

fn rand_key() -> [u8; 32] {
    let mut k = [0u8; 32];
    for (i, b) in uuid::Uuid::new_v4()
        .as_bytes()
        .iter()
        .chain(uuid::Uuid::new_v4().as_bytes())
        .enumerate()
    {
        k[i] = *b;
    }
    k
}
