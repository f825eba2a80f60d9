//! The lightwidget keeper: the main job, as an installable program.
//!
//! ```text
//! cargo install lightwidget-keeper                  # or: cargo install --path lightwidget-keeper
//! lightwidget-keeper                                # the demo (sandbox, SMTP stand-in)
//! lightwidget-keeper run -c lightwidget.toml        # the daemon
//! lightwidget-keeper status --owner user-42 --json
//! lightwidget-keeper keys create --name php-site --scope write   # a key for the /v1 API
//! ```
//!
//! With `http_listen` set, the daemon serves `/metrics`, `/healthz`, `/readyz`, the
//! management API under `/v1` (its OpenAPI 3.1 document at `/v1/openapi.json`) and, with
//! `public_base_url`, `link_secret` and an app, the owner-facing pages its links lead to.
//!
//! In the repository the same program is also `cargo run --example keeper --features
//! sandbox,sqlite,email`. Settings: a TOML file and `LIGHTWIDGET_*` variables
//! (`lightwidget.example.toml` beside this crate lists them); `lightwidget-keeper.service`
//! is a hardened systemd unit.
//!
//! Exit codes: 0 ok, 2 usage, 69 database unavailable (EX_UNAVAILABLE), 78 bad
//! configuration (EX_CONFIG), 1 anything else.

mod api;
mod cli;
mod commands;
mod config;
mod demo;
mod import;
mod serve;
mod webhooks;

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

/// `RUST_LOG` (as in every Rust service), else `LIGHTWIDGET_LOG` (the older name), else
/// `warn`; `LIGHTWIDGET_LOG_FORMAT=json` writes one JSON object per line.
fn init_logging() -> Result<(), Fail> {
    use tracing_subscriber::EnvFilter;
    let filter = ["RUST_LOG", "LIGHTWIDGET_LOG"]
        .iter()
        .find_map(|var| {
            let v = std::env::var(var).ok().filter(|v| !v.trim().is_empty())?;
            Some(
                EnvFilter::try_new(&v)
                    .map_err(|e| Fail::BadConfig(format!("{var}={v:?} is not a log filter ({e})"))),
            )
        })
        .unwrap_or_else(|| Ok(EnvFilter::new("warn")))?;
    let format = std::env::var("LIGHTWIDGET_LOG_FORMAT").unwrap_or_default();
    let fmt = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format.trim() {
        "" | "text" => fmt.init(),
        "json" => fmt.json().init(),
        other => {
            return Err(Fail::BadConfig(format!(
                "LIGHTWIDGET_LOG_FORMAT={other:?}: give `text` (the default) or `json`"
            )));
        }
    }
    Ok(())
}

/// Runs the keeper program with the process's arguments (`lightwidget-keeper --help`);
/// the exit code says how it ended.
pub fn main() -> ExitCode {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(run_cli()),
        Err(e) => {
            eprintln!("lightwidget-keeper: cannot start the runtime: {e}");
            ExitCode::from(1)
        }
    }
}

async fn run_cli() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = init_logging() {
        eprintln!("error: {e}");
        return ExitCode::from(e.code());
    }
    let configured = cli.config.is_some() || std::env::var_os("LIGHTWIDGET_DATABASE_URL").is_some();
    let result = match cli.command {
        None if !configured => demo::run(300, 120, "lightwidget-demo".as_ref())
            .await
            .map_err(|e| Fail::Other(e.to_string())),
        Some(Command::Demo {
            accounts,
            days,
            out,
        }) => demo::run(accounts as usize, days, &out)
            .await
            .map_err(|e| Fail::Other(e.to_string())),
        None => run(cli.config.as_deref(), None).await,
        Some(Command::Run { listen }) => run(cli.config.as_deref(), listen).await,
        Some(cmd) => {
            let keeper = match open(cli.config.as_deref(), false).await {
                Ok(o) => o.keeper,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(e.code());
                }
            };
            commands::one_shot(&keeper, cmd).await
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.code())
        }
    }
}

/// An opened daemon: its settings, its keeper, and its web pages when configured.
struct Opened {
    cfg: Config,
    keeper: Keeper,
    web: Option<lightwidget_web::Web>,
}

/// Opens the store and builds the keeper; `daemon` starts what only a running daemon
/// needs (the host-webhook sender).
async fn open(path: Option<&std::path::Path>, daemon: bool) -> Result<Opened, Fail> {
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
            let default = lightwidget::instagram::BaseUrls::default();
            let one = cfg.graph_base_url.as_ref();
            let ig = cfg.graph_instagram_base_url.as_ref().or(one);
            let fb = cfg.graph_facebook_base_url.as_ref().or(one);
            if ig.is_some() || fb.is_some() {
                let mut urls = lightwidget::instagram::BaseUrls::per_platform(
                    ig.unwrap_or(&default.graph_instagram),
                    fb.unwrap_or(&default.graph_facebook),
                );
                if ig.is_none() {
                    (urls.www_instagram, urls.api_instagram) =
                        (default.www_instagram, default.api_instagram);
                }
                if fb.is_none() {
                    urls.www_facebook = default.www_facebook;
                }
                b = b.base_urls(urls);
            }
            b = b.timeout(Duration::from_secs(cfg.http_timeout_secs));
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
        Arc::new(GraphProvider::new(consumer.clone(), business.clone())),
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
    if let Some(secs) = cfg.lease_secs {
        b = b.lease(Duration::from_secs(secs));
    }
    let mut operator_mail: Option<Arc<dyn OperatorAlerts>> = None;
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
            (Some(url), _) => {
                let mail = Arc::new(
                    EmailNotifier::from_url(url, content)
                        .map_err(|e| Fail::BadConfig(format!("setting `smtp_url`: {e}")))?,
                );
                if let Some(to) = &cfg.operator_email {
                    operator_mail = Some(Arc::new(
                        lightwidget::notify::EmailAlerts::new(mail.clone(), to).map_err(|e| {
                            Fail::BadConfig(format!("setting `operator_email`: {e}"))
                        })?,
                    ));
                }
                b.notifier(mail)
            }
            (None, Some(dir)) => b
                .notifier(Arc::new(EmlFileNotifier::new(dir, content).map_err(
                    |e| Fail::BadConfig(format!("setting `eml_dir`: {e}")),
                )?)),
            (None, None) => b,
        };
    }
    let mut operator: Option<Arc<dyn OperatorAlerts>> = None;
    if let Some((url, secret)) = &cfg.operator_webhook {
        #[cfg(feature = "webhook")]
        {
            operator = Some(Arc::new(
                lightwidget::notify::WebhookAlerts::new(url.clone(), secret.clone())
                    .map_err(|e| Fail::BadConfig(format!("setting `operator_webhook_url`: {e}")))?,
            ));
        }
        #[cfg(not(feature = "webhook"))]
        {
            let _ = (url, secret);
            return Err(Fail::BadConfig(
                "setting `operator_webhook_url` needs the `webhook` feature".into(),
            ));
        }
    }
    // Both set: the webhook serves operator alerts (as it always has).
    if operator.is_none() {
        operator = operator_mail;
    }
    if let Some((_, secrets)) = &cfg.host_webhook {
        let refs: Vec<&str> = secrets
            .iter()
            .map(secrecy::ExposeSecret::expose_secret)
            .collect();
        lightwidget::notify::StandardWebhookSigner::new(&refs)
            .map_err(|e| Fail::BadConfig(format!("setting `host_webhook_secrets`: {e}")))?;
    }
    if let Some((url, secrets)) = cfg.host_webhook.as_ref().filter(|_| daemon) {
        let hooks = webhooks::HostWebhooks::start(
            webhooks::HostWebhookConfig {
                url: url.clone(),
                secrets: secrets
                    .iter()
                    .map(|s| secrecy::ExposeSecret::expose_secret(s).to_owned())
                    .collect(),
                refreshed: cfg.host_webhook_refreshed,
                max_attempts: 12,
                retry_initial: Duration::from_secs(1),
                retry_max: Duration::from_secs(300),
                timeout: Duration::from_secs(cfg.http_timeout_secs),
            },
            operator.take(),
        )
        .map_err(|e| Fail::BadConfig(format!("setting `host_webhook_secrets`: {e}")))?;
        let hooks = Arc::new(hooks);
        b = b.hooks(hooks.clone());
        operator = Some(hooks);
    }
    if let Some(o) = operator {
        b = b.operator_alerts(o);
    }
    let keeper = b.build().map_err(|e| Fail::BadConfig(e.to_string()))?;
    let web =
        match (&cfg.public_base_url, &cfg.link_secret) {
            (Some(base), Some(secret)) if consumer.is_some() || business.is_some() => Some(
                serve::web(&cfg, base, secret, keeper.clone(), consumer, business)?,
            ),
            _ => None,
        };
    Ok(Opened { cfg, keeper, web })
}

async fn run(
    path: Option<&std::path::Path>,
    listen: Option<std::net::SocketAddr>,
) -> Result<(), Fail> {
    let Opened { cfg, keeper, web } = open(path, true).await?;
    cfg.require_app()?;
    let listen = listen.or(cfg.http_listen);
    let server = match listen {
        Some(addr) => Some(serve::start(addr, keeper.clone(), &cfg, web).await?),
        None => None,
    };
    eprintln!("lightwidget keeper {} started: {cfg:?}", keeper.worker_id());
    if let Some(s) = &server {
        eprintln!(
            "serving /metrics, /healthz, /readyz, the API under /v1{} on http://{}",
            if s.web { " and the owners' pages" } else { "" },
            s.addr
        );
    }
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| Fail::Other(format!("cannot listen for SIGTERM: {e}")))?;
    keeper
        .run(async move {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            eprintln!("shutting down: finishing in-flight calls");
        })
        .await?;
    Ok(())
}
