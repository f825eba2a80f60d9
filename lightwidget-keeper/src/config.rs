//! Daemon configuration: a TOML file, then `LIGHTWIDGET_*` environment variables on top.
//! Every error names the setting at fault.

use std::path::{Path, PathBuf};

use secrecy::SecretString;
use serde::Deserialize;

/// What went wrong with the configuration (exit code 78, EX_CONFIG).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("setting `{setting}` (env {env}) is required: {why}")]
    Missing {
        setting: &'static str,
        env: &'static str,
        why: &'static str,
    },
    #[error("setting `{setting}` (env {env}) is invalid: {message}")]
    Invalid {
        setting: &'static str,
        env: &'static str,
        message: String,
    },
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct File {
    database_url: Option<String>,
    encryption_keys: Option<String>,
    plaintext_tokens: Option<bool>,
    consumer_app_id: Option<String>,
    consumer_app_secret: Option<String>,
    business_app_id: Option<String>,
    business_app_secret: Option<String>,
    redirect_uri: Option<String>,
    graph_version: Option<String>,
    graph_base_url: Option<String>,
    smtp_url: Option<String>,
    mail_from: Option<String>,
    eml_dir: Option<PathBuf>,
    link_secret: Option<String>,
    public_base_url: Option<String>,
    concurrency: Option<usize>,
    batch_size: Option<usize>,
    poll_interval_secs: Option<u64>,
    rate_limit_per_second: Option<u32>,
    check_interval_hours: Option<u64>,
    lease_secs: Option<u64>,
    http_timeout_secs: Option<u64>,
    graph_instagram_base_url: Option<String>,
    graph_facebook_base_url: Option<String>,
    http_listen: Option<String>,
    operator_email: Option<String>,
    operator_webhook_url: Option<String>,
    operator_webhook_secret: Option<String>,
    api_rate_limit_per_second: Option<u32>,
    host_webhook_url: Option<String>,
    host_webhook_secrets: Option<String>,
    host_webhook_refreshed: Option<bool>,
    return_url: Option<String>,
}

/// The resolved configuration. Secrets are `SecretString`s; `Debug` redacts them.
pub struct Config {
    pub database_url: String,
    pub encryption_keys: Option<SecretString>,
    pub plaintext_tokens: bool,
    pub consumer_app: Option<(String, SecretString)>,
    pub business_app: Option<(String, SecretString)>,
    pub redirect_uri: Option<url::Url>,
    pub graph_version: Option<String>,
    /// One base URL for every Graph host (tests / sandbox / proxies).
    pub graph_base_url: Option<url::Url>,
    pub smtp_url: Option<SecretString>,
    pub mail_from: Option<String>,
    pub eml_dir: Option<PathBuf>,
    pub link_secret: Option<SecretString>,
    pub public_base_url: Option<url::Url>,
    pub concurrency: usize,
    pub batch_size: usize,
    pub poll_interval_secs: u64,
    /// `None` = no cap on Graph calls per second.
    pub rate_limit_per_second: Option<u32>,
    pub check_interval_hours: u64,
    /// How long a claimed account stays leased to this keeper (`None`: the keeper's default, 60 s).
    pub lease_secs: Option<u64>,
    /// Timeout of one Graph API request.
    pub http_timeout_secs: u64,
    /// Base URL of Instagram's hosts (overrides `graph_base_url` for them).
    pub graph_instagram_base_url: Option<url::Url>,
    /// Base URL of Facebook's hosts (overrides `graph_base_url` for them).
    pub graph_facebook_base_url: Option<url::Url>,
    /// Serve `/metrics`, `/healthz` and `/readyz` here.
    pub http_listen: Option<std::net::SocketAddr>,
    /// Where operator alerts of app-wide incidents are emailed (needs `smtp_url`).
    pub operator_email: Option<String>,
    /// Where operator alerts are posted as signed JSON, with the signing secret.
    pub operator_webhook: Option<(url::Url, SecretString)>,
    /// Requests per second each API key may make (bursts of twice that).
    pub api_rate_limit_per_second: u32,
    /// Where lifecycle events are POSTed for the host, with the signing keys (`whsec_…`).
    pub host_webhook: Option<(url::Url, Vec<SecretString>)>,
    /// Send `account.refreshed` events too (one per refresh).
    pub host_webhook_refreshed: bool,
    /// Where the web pages send the browser after a connect or renewal.
    pub return_url: Option<url::Url>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("database_url", &redact_url(&self.database_url))
            .field("consumer_app_id", &self.consumer_app.as_ref().map(|a| &a.0))
            .field("business_app_id", &self.business_app.as_ref().map(|a| &a.0))
            .field("graph_base_url", &self.graph_base_url)
            .field("graph_instagram_base_url", &self.graph_instagram_base_url)
            .field("graph_facebook_base_url", &self.graph_facebook_base_url)
            .field("concurrency", &self.concurrency)
            .field("batch_size", &self.batch_size)
            .field("poll_interval_secs", &self.poll_interval_secs)
            .field("lease_secs", &self.lease_secs)
            .field("http_listen", &self.http_listen)
            .field("api_rate_limit_per_second", &self.api_rate_limit_per_second)
            .field(
                "host_webhook_url",
                &self.host_webhook.as_ref().map(|w| redact_url(w.0.as_str())),
            )
            .field(
                "return_url",
                &self.return_url.as_ref().map(|u| redact_url(u.as_str())),
            )
            .field("operator_email", &self.operator_email)
            .field(
                "operator_webhook_url",
                &self
                    .operator_webhook
                    .as_ref()
                    .map(|w| redact_url(w.0.as_str())),
            )
            .finish_non_exhaustive()
    }
}

/// Hides a password in a URL (`postgres://u:****@h/db`).
pub fn redact_url(s: &str) -> String {
    match url::Url::parse(s) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("****"));
            u.to_string()
        }
        _ => s.to_owned(),
    }
}

fn env(name: &str) -> Option<String> {
    // A value that is not UTF-8 is not silently ignored: it reads as invalid below.
    std::env::var_os(name)
        .map(|v| {
            v.into_string()
                .unwrap_or_else(|_| "\u{FFFD}(not UTF-8)".into())
        })
        .filter(|v| !v.trim().is_empty())
}

fn pick(file: Option<String>, var: &str) -> Option<String> {
    env(var).or(file)
}

fn url_setting(
    v: Option<String>,
    setting: &'static str,
    env: &'static str,
) -> Result<Option<url::Url>, ConfigError> {
    v.map(|s| {
        url::Url::parse(&s).map_err(|e| ConfigError::Invalid {
            setting,
            env,
            message: format!("{:?} is not a URL ({e})", truncate(&s)),
        })
    })
    .transpose()
}

/// A number from the environment (first) or the file, inside `range`.
fn num<T>(
    file: Option<T>,
    setting: &'static str,
    var: &'static str,
    range: std::ops::RangeInclusive<T>,
) -> Result<Option<T>, ConfigError>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
{
    let invalid = |message: String| ConfigError::Invalid {
        setting,
        env: var,
        message,
    };
    let v = match env(var) {
        Some(s) => Some(s.trim().parse::<T>().map_err(|_| {
            invalid(format!(
                "{:?} is not a whole number from {} to {}",
                truncate(&s),
                range.start(),
                range.end()
            ))
        })?),
        None => file,
    };
    match v {
        Some(n) if !range.contains(&n) => Err(invalid(format!(
            "{n} is out of range: give a value from {} to {}",
            range.start(),
            range.end()
        ))),
        v => Ok(v),
    }
}

/// At most 64 characters of a bad value, for an error message.
fn truncate(s: &str) -> String {
    let mut t: String = s.chars().take(64).collect();
    if t.len() < s.len() {
        t.push('…');
    }
    t
}

fn app(
    id: Option<String>,
    secret: Option<String>,
    id_setting: &'static str,
    id_env: &'static str,
    secret_setting: &'static str,
    secret_env: &'static str,
) -> Result<Option<(String, SecretString)>, ConfigError> {
    match (id, secret) {
        (None, None) => Ok(None),
        (Some(id), Some(secret)) => Ok(Some((id, SecretString::from(secret)))),
        (Some(_), None) => Err(ConfigError::Missing {
            setting: secret_setting,
            env: secret_env,
            why: "an app id is configured without its app secret",
        }),
        (None, Some(_)) => Err(ConfigError::Missing {
            setting: id_setting,
            env: id_env,
            why: "an app secret is configured without its app id",
        }),
    }
}

impl Config {
    /// `run` refreshes tokens, so it needs at least one Meta app; one-shot commands
    /// (status, history, preferences, import) do not.
    pub fn require_app(&self) -> Result<(), ConfigError> {
        if self.consumer_app.is_none() && self.business_app.is_none() {
            return Err(ConfigError::Missing {
                setting: "consumer_app_id / business_app_id",
                env: "LIGHTWIDGET_CONSUMER_APP_ID / LIGHTWIDGET_BUSINESS_APP_ID",
                why: "at least one Meta app (Instagram Login or Facebook Login) is needed to refresh tokens",
            });
        }
        Ok(())
    }

    /// Loads `path` (if given) and applies environment overrides.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let file: File = match path {
            None => File::default(),
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                    path: p.to_owned(),
                    source,
                })?;
                toml::from_str(&text).map_err(|e| ConfigError::Parse {
                    path: p.to_owned(),
                    message: e.to_string(),
                })?
            }
        };
        let database_url =
            pick(file.database_url, "LIGHTWIDGET_DATABASE_URL").ok_or(ConfigError::Missing {
                setting: "database_url",
                env: "LIGHTWIDGET_DATABASE_URL",
                why: "where to keep tokens, e.g. sqlite://lightwidget.db or postgres://...",
            })?;
        let encryption_keys =
            pick(file.encryption_keys, "LIGHTWIDGET_KEYS").map(SecretString::from);
        let plaintext_tokens = match env("LIGHTWIDGET_PLAINTEXT_TOKENS") {
            Some(v) => matches!(v.as_str(), "1" | "true" | "yes"),
            None => file.plaintext_tokens.unwrap_or(false),
        };
        if encryption_keys.is_none() && !plaintext_tokens {
            return Err(ConfigError::Missing {
                setting: "encryption_keys",
                env: "LIGHTWIDGET_KEYS",
                why: "token values are encrypted at rest: give `id:base64-32-byte-key[,older...]` \
                      (or set plaintext_tokens = true to store them unencrypted, not recommended)",
            });
        }
        let consumer_app = app(
            pick(file.consumer_app_id, "LIGHTWIDGET_CONSUMER_APP_ID"),
            pick(file.consumer_app_secret, "LIGHTWIDGET_CONSUMER_APP_SECRET"),
            "consumer_app_id",
            "LIGHTWIDGET_CONSUMER_APP_ID",
            "consumer_app_secret",
            "LIGHTWIDGET_CONSUMER_APP_SECRET",
        )?;
        let business_app = app(
            pick(file.business_app_id, "LIGHTWIDGET_BUSINESS_APP_ID"),
            pick(file.business_app_secret, "LIGHTWIDGET_BUSINESS_APP_SECRET"),
            "business_app_id",
            "LIGHTWIDGET_BUSINESS_APP_ID",
            "business_app_secret",
            "LIGHTWIDGET_BUSINESS_APP_SECRET",
        )?;
        let smtp_url = pick(file.smtp_url, "LIGHTWIDGET_SMTP_URL").map(SecretString::from);
        let mail_from = pick(file.mail_from, "LIGHTWIDGET_MAIL_FROM");
        if smtp_url.is_some() && mail_from.is_none() {
            return Err(ConfigError::Missing {
                setting: "mail_from",
                env: "LIGHTWIDGET_MAIL_FROM",
                why: "emails need a From address when smtp_url is set",
            });
        }
        let concurrency = num(
            file.concurrency,
            "concurrency",
            "LIGHTWIDGET_CONCURRENCY",
            1..=1024,
        )?
        .unwrap_or(16);
        let batch_size = num(
            file.batch_size,
            "batch_size",
            "LIGHTWIDGET_BATCH_SIZE",
            1..=10_000,
        )?
        .unwrap_or(200);
        let operator_email = pick(file.operator_email, "LIGHTWIDGET_OPERATOR_EMAIL");
        if operator_email.is_some() && smtp_url.is_none() {
            return Err(ConfigError::Missing {
                setting: "smtp_url",
                env: "LIGHTWIDGET_SMTP_URL",
                why: "operator alerts by email (operator_email) are sent over SMTP",
            });
        }
        let operator_webhook = match url_setting(
            pick(
                file.operator_webhook_url,
                "LIGHTWIDGET_OPERATOR_WEBHOOK_URL",
            ),
            "operator_webhook_url",
            "LIGHTWIDGET_OPERATOR_WEBHOOK_URL",
        )? {
            None => None,
            Some(u) => Some((
                u,
                pick(
                    file.operator_webhook_secret,
                    "LIGHTWIDGET_OPERATOR_WEBHOOK_SECRET",
                )
                .map(SecretString::from)
                .ok_or(ConfigError::Missing {
                    setting: "operator_webhook_secret",
                    env: "LIGHTWIDGET_OPERATOR_WEBHOOK_SECRET",
                    why: "operator alerts are signed so the receiver can trust them",
                })?,
            )),
        };
        let host_webhook = match url_setting(
            pick(file.host_webhook_url, "LIGHTWIDGET_HOST_WEBHOOK_URL"),
            "host_webhook_url",
            "LIGHTWIDGET_HOST_WEBHOOK_URL",
        )? {
            None => None,
            Some(u) => {
                let secrets: Vec<SecretString> = pick(
                    file.host_webhook_secrets,
                    "LIGHTWIDGET_HOST_WEBHOOK_SECRETS",
                )
                .unwrap_or_default()
                .split([',', ' '])
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| SecretString::from(s.to_owned()))
                .collect();
                if secrets.is_empty() {
                    return Err(ConfigError::Missing {
                        setting: "host_webhook_secrets",
                        env: "LIGHTWIDGET_HOST_WEBHOOK_SECRETS",
                        why: "host webhooks are signed (Standard Webhooks): give one or more whsec_ keys, comma-separated",
                    });
                }
                Some((u, secrets))
            }
        };
        let host_webhook_refreshed = match env("LIGHTWIDGET_HOST_WEBHOOK_REFRESHED") {
            Some(v) => match v.trim() {
                "true" | "1" | "yes" => true,
                "false" | "0" | "no" | "" => false,
                other => {
                    return Err(ConfigError::Invalid {
                        setting: "host_webhook_refreshed",
                        env: "LIGHTWIDGET_HOST_WEBHOOK_REFRESHED",
                        message: format!("{:?} is not true or false", truncate(other)),
                    });
                }
            },
            None => file.host_webhook_refreshed.unwrap_or(false),
        };
        let http_listen = pick(file.http_listen, "LIGHTWIDGET_HTTP_LISTEN")
            .map(|s| {
                s.trim().parse().map_err(|_| ConfigError::Invalid {
                    setting: "http_listen",
                    env: "LIGHTWIDGET_HTTP_LISTEN",
                    message: format!("{:?} is not an address like 127.0.0.1:9090", truncate(&s)),
                })
            })
            .transpose()?;
        Ok(Self {
            database_url,
            encryption_keys,
            plaintext_tokens,
            consumer_app,
            business_app,
            redirect_uri: url_setting(
                pick(file.redirect_uri, "LIGHTWIDGET_REDIRECT_URI"),
                "redirect_uri",
                "LIGHTWIDGET_REDIRECT_URI",
            )?,
            graph_version: pick(file.graph_version, "LIGHTWIDGET_GRAPH_VERSION"),
            graph_base_url: url_setting(
                pick(file.graph_base_url, "LIGHTWIDGET_GRAPH_BASE_URL"),
                "graph_base_url",
                "LIGHTWIDGET_GRAPH_BASE_URL",
            )?,
            smtp_url,
            operator_email,
            operator_webhook,
            mail_from,
            eml_dir: env("LIGHTWIDGET_EML_DIR")
                .map(PathBuf::from)
                .or(file.eml_dir),
            link_secret: pick(file.link_secret, "LIGHTWIDGET_LINK_SECRET").map(SecretString::from),
            public_base_url: url_setting(
                pick(file.public_base_url, "LIGHTWIDGET_PUBLIC_BASE_URL"),
                "public_base_url",
                "LIGHTWIDGET_PUBLIC_BASE_URL",
            )?,
            concurrency,
            batch_size,
            poll_interval_secs: num(
                file.poll_interval_secs,
                "poll_interval_secs",
                "LIGHTWIDGET_POLL_INTERVAL_SECS",
                1..=86_400,
            )?
            .unwrap_or(30),
            // 0 is refused like concurrency 0; leave the setting out for no cap.
            rate_limit_per_second: num(
                file.rate_limit_per_second,
                "rate_limit_per_second",
                "LIGHTWIDGET_RATE_LIMIT_PER_SECOND",
                1..=100_000,
            )?,
            check_interval_hours: num(
                file.check_interval_hours,
                "check_interval_hours",
                "LIGHTWIDGET_CHECK_INTERVAL_HOURS",
                1..=24 * 366,
            )?
            .unwrap_or(12),
            lease_secs: num(
                file.lease_secs,
                "lease_secs",
                "LIGHTWIDGET_LEASE_SECS",
                5..=3600,
            )?,
            http_timeout_secs: num(
                file.http_timeout_secs,
                "http_timeout_secs",
                "LIGHTWIDGET_HTTP_TIMEOUT_SECS",
                1..=300,
            )?
            .unwrap_or(20),
            graph_instagram_base_url: url_setting(
                pick(
                    file.graph_instagram_base_url,
                    "LIGHTWIDGET_GRAPH_INSTAGRAM_BASE_URL",
                ),
                "graph_instagram_base_url",
                "LIGHTWIDGET_GRAPH_INSTAGRAM_BASE_URL",
            )?,
            graph_facebook_base_url: url_setting(
                pick(
                    file.graph_facebook_base_url,
                    "LIGHTWIDGET_GRAPH_FACEBOOK_BASE_URL",
                ),
                "graph_facebook_base_url",
                "LIGHTWIDGET_GRAPH_FACEBOOK_BASE_URL",
            )?,
            http_listen,
            api_rate_limit_per_second: num(
                file.api_rate_limit_per_second,
                "api_rate_limit_per_second",
                "LIGHTWIDGET_API_RATE_LIMIT_PER_SECOND",
                1..=1_000_000,
            )?
            .unwrap_or(100),
            host_webhook,
            host_webhook_refreshed,
            return_url: url_setting(
                pick(file.return_url, "LIGHTWIDGET_RETURN_URL"),
                "return_url",
                "LIGHTWIDGET_RETURN_URL",
            )?,
        })
    }
}
