//! The lightwidget keeper: the main job.
//!
//! ```text
//! cargo run --example keeper --features sandbox,sqlite,email             # the demo
//! cargo run --example keeper --features sandbox,sqlite,email -- run -c lightwidget.toml
//! cargo run --example keeper --features sandbox,sqlite,email -- status --owner user-42 --json
//! ```
//!
//! Exit codes: 0 ok, 2 usage, 69 database unavailable (EX_UNAVAILABLE), 78 bad
//! configuration (EX_CONFIG), 1 anything else.

mod cli;
mod config;
mod demo;

use std::io::Read;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use lightwidget::instagram::{FacebookLogin, GraphConfig, GraphProvider, InstagramLogin};
use lightwidget::notify::{EmailContent, EmailNotifier, EmlFileNotifier, LinkSigner};
use lightwidget::store_sql::{Encryption, Keyring, SqlStore};
use lightwidget::*;

use cli::{Cli, Command};
use config::{Config, ConfigError};

const EX_UNAVAILABLE: u8 = 69;
const EX_CONFIG: u8 = 78;

#[derive(Debug, thiserror::Error)]
enum Fail {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{0}")]
    BadConfig(String),
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("{0}")]
    Other(String),
}

impl Fail {
    fn code(&self) -> u8 {
        match self {
            Self::Config(_) | Self::BadConfig(_) => EX_CONFIG,
            Self::Unavailable(_) => EX_UNAVAILABLE,
            Self::Other(_) => 1,
        }
    }
}

impl From<lightwidget::Error> for Fail {
    fn from(e: lightwidget::Error) -> Self {
        if e.is_transient() {
            Self::Unavailable(e.to_string())
        } else {
            Self::Other(e.to_string())
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LIGHTWIDGET_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let configured = cli.config.is_some() || std::env::var_os("LIGHTWIDGET_DATABASE_URL").is_some();
    let result = match cli.command {
        None if !configured => demo::run(300, 120, "lightwidget-demo".as_ref())
            .await
            .map_err(|e| Fail::Other(e.to_string())),
        Some(Command::Demo {
            accounts,
            days,
            out,
        }) => demo::run(accounts, days, &out)
            .await
            .map_err(|e| Fail::Other(e.to_string())),
        None | Some(Command::Run) => run(cli.config.as_deref()).await,
        Some(cmd) => one_shot(cli.config.as_deref(), cmd).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.code())
        }
    }
}

async fn open(path: Option<&std::path::Path>) -> Result<(Config, Keeper), Fail> {
    let cfg = Config::load(path)?;
    let enc = match (&cfg.encryption_keys, cfg.plaintext_tokens) {
        (Some(k), _) => Encryption::Keyring(Keyring::parse(k).map_err(|e| {
            Fail::BadConfig(format!(
                "setting `encryption_keys` (env LIGHTWIDGET_KEYS): {e}"
            ))
        })?),
        (None, true) => Encryption::Plaintext,
        (None, false) => {
            return Err(Fail::BadConfig(
                "setting `encryption_keys` (env LIGHTWIDGET_KEYS) is required".into(),
            ));
        }
    };
    let store = SqlStore::builder(cfg.database_url.clone())
        .encryption(enc)
        .acquire_timeout(Duration::from_secs(10))
        .connect()
        .await
        .map_err(|e| {
            if e.is_transient() {
                Fail::Unavailable(e.to_string())
            } else {
                Fail::BadConfig(format!(
                    "setting `database_url` (env LIGHTWIDGET_DATABASE_URL): {e}"
                ))
            }
        })?;
    let graph =
        |app: &Option<(String, secrecy::SecretString)>| -> Result<Option<GraphConfig>, Fail> {
            let Some((id, secret)) = app else {
                return Ok(None);
            };
            let mut b = GraphConfig::builder(id, secrecy::ExposeSecret::expose_secret(secret));
            if let Some(v) = &cfg.graph_version {
                b = b.version(v);
            }
            if let Some(u) = &cfg.graph_base_url {
                b = b.base_urls(lightwidget::instagram::BaseUrls::all(u));
            }
            if let Some(r) = &cfg.redirect_uri {
                b = b.redirect_uri(r.as_str());
            }
            b.build()
                .map(Some)
                .map_err(|e| Fail::BadConfig(e.to_string()))
        };
    let consumer = graph(&cfg.consumer_app)?
        .map(InstagramLogin::new)
        .transpose()
        .map_err(|e| Fail::BadConfig(e.to_string()))?
        .map(Arc::new);
    let business = graph(&cfg.business_app)?
        .map(FacebookLogin::new)
        .transpose()
        .map_err(|e| Fail::BadConfig(e.to_string()))?
        .map(Arc::new);
    let mut b = Keeper::builder(
        Arc::new(store),
        Arc::new(GraphProvider::new(consumer, business)),
    )
    .concurrency(cfg.concurrency)
    .batch_size(cfg.batch_size)
    .poll_interval(Duration::from_secs(cfg.poll_interval_secs))
    .policy(
        RefreshPolicy::builder()
            .check_interval(Duration::from_secs(cfg.check_interval_hours * 3600))
            .build()
            .map_err(|e| Fail::BadConfig(format!("setting `check_interval_hours`: {e}")))?,
    );
    if let Some(n) = cfg.rate_limit_per_second {
        b = b.rate_limit_per_second(n);
    }
    if cfg.smtp_url.is_some() || cfg.eml_dir.is_some() {
        let secret = cfg.link_secret.clone().ok_or(ConfigError::Missing {
            setting: "link_secret",
            env: "LIGHTWIDGET_LINK_SECRET",
            why: "notices carry signed renewal and unsubscribe links",
        })?;
        let base = cfg.public_base_url.clone().ok_or(ConfigError::Missing {
            setting: "public_base_url",
            env: "LIGHTWIDGET_PUBLIC_BASE_URL",
            why: "renewal and unsubscribe links point at your site",
        })?;
        let links = Arc::new(LinkSigner::new(secret, base));
        let from = cfg
            .mail_from
            .clone()
            .unwrap_or_else(|| "lightwidget@localhost".into());
        let content = EmailContent::new(&from, links)
            .map_err(|e| Fail::BadConfig(format!("setting `mail_from`: {e}")))?;
        b = match (&cfg.smtp_url, &cfg.eml_dir) {
            (Some(url), _) => b
                .notifier(Arc::new(EmailNotifier::from_url(url, content).map_err(
                    |e| Fail::BadConfig(format!("setting `smtp_url`: {e}")),
                )?)),
            (None, Some(dir)) => b
                .notifier(Arc::new(EmlFileNotifier::new(dir, content).map_err(
                    |e| Fail::BadConfig(format!("setting `eml_dir`: {e}")),
                )?)),
            (None, None) => b,
        };
    }
    let keeper = b.build().map_err(|e| Fail::BadConfig(e.to_string()))?;
    Ok((cfg, keeper))
}

async fn run(path: Option<&std::path::Path>) -> Result<(), Fail> {
    let (cfg, keeper) = open(path).await?;
    eprintln!("lightwidget keeper {} started: {cfg:?}", keeper.worker_id());
    keeper
        .run(async {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("SIGTERM handler");
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            eprintln!("shutting down: finishing in-flight calls");
        })
        .await?;
    Ok(())
}

fn parse_id(s: &str) -> Result<AccountId, Fail> {
    s.parse()
        .map_err(|_| Fail::Other(format!("{s:?} is not an account id")))
}

async fn one_shot(path: Option<&std::path::Path>, cmd: Command) -> Result<(), Fail> {
    let (_cfg, keeper) = open(path).await?;
    match cmd {
        Command::Connect {
            kind,
            ig_user_id,
            username,
            owner,
            page_id,
            expires_in_days,
            notifications,
        } => {
            let mut token = match std::env::var("LIGHTWIDGET_TOKEN") {
                Ok(t) => t,
                Err(_) => {
                    let mut s = String::new();
                    std::io::stdin()
                        .read_to_string(&mut s)
                        .map_err(|e| Fail::Other(format!("reading the token from stdin: {e}")))?;
                    s
                }
            };
            token = token.trim().to_owned();
            if token.is_empty() {
                return Err(Fail::Other(
                    "no token: set LIGHTWIDGET_TOKEN or pipe it on stdin".into(),
                ));
            }
            let now = chrono::Utc::now();
            let mut t = Token::new(token, now);
            if let Some(d) = expires_in_days {
                t = t.expiring_in(d * 86_400);
            }
            let mut acct = NewAccount::new(owner, kind.into(), ig_user_id, username)
                .with_entitlements(Entitlements { notifications });
            if let Some(p) = page_id {
                acct = acct.with_page_id(p);
            }
            println!("{}", keeper.connect(acct, t).await?);
        }
        Command::Status {
            account,
            owner,
            json,
        } => {
            let reports = match (account, owner) {
                (Some(a), _) => vec![keeper.status(parse_id(&a)?).await?],
                (None, Some(o)) => keeper.statuses(&OwnerId::new(o)).await?,
                (None, None) => {
                    let h = keeper.health(Duration::from_secs(600)).await?;
                    println!(
                        "active {} · expired {} · revoked {} · last sweep {} ({})",
                        h.counts.active,
                        h.counts.expired,
                        h.counts.revoked,
                        h.last_sweep_at.map_or("never".into(), |t| t.to_rfc3339()),
                        if h.stale {
                            "STALE: is a keeper running?"
                        } else {
                            "ok"
                        }
                    );
                    return Ok(());
                }
            };
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&reports)
                        .map_err(|e| Fail::Other(e.to_string()))?
                );
            } else {
                for r in reports {
                    println!(
                        "{}  @{:<24} {:<8} {:<10} {:<22} last check {}  expires {}",
                        r.account.id,
                        r.account.username,
                        r.account.kind,
                        r.status.label(),
                        r.status.reason().map(|x| x.code()).unwrap_or_default(),
                        r.last_checked_at.map_or("never".into(), |t| t
                            .format("%Y-%m-%d %H:%M UTC")
                            .to_string()),
                        r.expires_at
                            .map_or("never".into(), |t| t.format("%Y-%m-%d").to_string()),
                    );
                }
            }
        }
        Command::History {
            account,
            limit,
            json,
        } => {
            let h = keeper
                .history(
                    parse_id(&account)?,
                    HistoryQuery {
                        before: None,
                        limit,
                    },
                )
                .await?;
            if json {
                let events: Vec<_> = h.iter().map(|e| &e.event).collect();
                println!(
                    "{}",
                    serde_json::to_string_pretty(&events)
                        .map_err(|e| Fail::Other(e.to_string()))?
                );
            } else {
                for e in h {
                    println!(
                        "{}  {:?}",
                        e.event.at.format("%Y-%m-%d %H:%M:%S UTC"),
                        e.event.kind
                    );
                }
            }
        }
        Command::Refresh { account } => {
            let s = keeper.force_refresh(parse_id(&account)?).await?;
            println!("refresh scheduled for {:?}", s.next_action_at);
        }
        Command::Demo { .. } | Command::Run => unreachable!("handled in main"),
    }
    Ok(())
}
