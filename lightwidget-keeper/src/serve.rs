//! The daemon's HTTP side (`--listen` / `LIGHTWIDGET_HTTP_LISTEN`):
//!
//! - `GET /metrics`: Prometheus text exposition, rendered by `metrics-exporter-prometheus`
//!   (the `metrics` facade's exporter, so the library's own metrics land here too);
//! - `GET /healthz`: 200 while the process serves requests;
//! - `/v1/…`: the management API (`api`), `/v1/openapi.json` its document;
//! - the owners' pages of `lightwidget-web` (renewal and invitation links, the OAuth
//!   callback, Meta's deauthorize and data-deletion callbacks, unsubscribe) when
//!   `public_base_url`, `link_secret` and an app are configured;
//! - `GET /readyz`: 200 when the store answers, some keeper's last sweep is younger
//!   than [`ready_max_age`] (and not dated in the future) and no app-wide incident is
//!   open; 503 with the reason otherwise (an open incident: the keeper works, Graph or
//!   the app does not, and accounts are held).

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use std::sync::Arc;

use lightwidget::Keeper;
use lightwidget::instagram::flow::OAuth;
use lightwidget::instagram::state::{MemoryNonceStore, StateSigner};
use lightwidget::instagram::{FacebookLogin, InstagramLogin};
use lightwidget::notify::LinkSigner;
use lightwidget_web::{Host, HostError, SocialSignIn, Step, Viewer, Web};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use secrecy::{ExposeSecret, SecretString};

use super::Fail;
use super::config::Config;

/// Allowed clock skew between keepers for a sweep time "in the future".
const FUTURE_SKEW: chrono::TimeDelta = chrono::TimeDelta::seconds(5);

/// The oldest last sweep that is still ready: three poll intervals plus a minute (a
/// sweep that claims nothing still records itself every poll).
pub fn ready_max_age(poll_interval_secs: u64) -> Duration {
    Duration::from_secs(poll_interval_secs.saturating_mul(3).saturating_add(60))
}

#[derive(Clone)]
struct App {
    keeper: Keeper,
    prometheus: PrometheusHandle,
    max_age: Duration,
}

/// A running server.
pub struct Server {
    /// The bound address (useful with port 0).
    pub addr: SocketAddr,
    /// Whether the owners' pages are served.
    pub web: bool,
}

/// The web layer's host for a daemon: it has no sessions of its own (its pages are
/// reached through signed links), and sends the browser back to the host's site. A
/// social login ends at `return_url?lw_login=<code>`: the host's backend redeems the
/// code once (`POST /v1/logins/{code}`) for who logged in.
struct DaemonHost {
    keeper: Keeper,
    return_url: Option<url::Url>,
}

/// How long a login code can be redeemed.
pub const LOGIN_CODE_TTL: chrono::TimeDelta = chrono::TimeDelta::minutes(5);

/// The held-value key of a login code.
pub fn login_key(code: &str) -> String {
    format!("login.{code}")
}

#[lightwidget_web::async_trait]
impl Host for DaemonHost {
    async fn viewer(&self, _request: &axum::http::request::Parts) -> Option<Viewer> {
        None
    }
    async fn sign_in(
        &self,
        _request: &axum::http::request::Parts,
        who: &SocialSignIn,
    ) -> Result<axum::http::HeaderMap, HostError> {
        let Some(ret) = &self.return_url else {
            return Err(
                "social login through the daemon needs `return_url` (where the code goes)".into(),
            );
        };
        let code = {
            use base64::Engine as _;
            use rand::RngCore;
            let mut b = [0u8; 32];
            rand::rng().fill_bytes(&mut b);
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
        };
        let value = serde_json::json!({
            "owner": who.owner.to_string(),
            "account_id": who.identity.account.to_string(),
            "username": who.identity.username,
            "kind": who.identity.kind.to_string(),
        });
        self.keeper
            .hold(
                &login_key(&code),
                &SecretString::from(value.to_string()),
                chrono::Utc::now() + LOGIN_CODE_TTL,
            )
            .await
            .map_err(|e| HostError::from(e.to_string()))?;
        let mut to = ret.clone();
        to.query_pairs_mut().append_pair("lw_login", &code);
        let mut h = axum::http::HeaderMap::new();
        // The web layer's redirect after a login, replaced by this one (see Host::sign_in).
        h.insert(
            axum::http::header::LOCATION,
            axum::http::HeaderValue::from_str(to.as_str())
                .map_err(|e| HostError::from(e.to_string()))?,
        );
        Ok(h)
    }
    fn redirect(&self, _step: Step) -> String {
        match &self.return_url {
            Some(u) => u.to_string(),
            None => "/access-token".into(),
        }
    }
}

/// A key derived from the link secret for one purpose (so one secret in the settings
/// serves links and OAuth `state` without the two ever sharing a key).
fn derived(secret: &SecretString, purpose: &str) -> SecretString {
    use hmac::{KeyInit, Mac};
    let mut mac =
        <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(secret.expose_secret().as_bytes())
            .expect("HMAC takes any key length");
    mac.update(purpose.as_bytes());
    let bytes = mac.finalize().into_bytes();
    SecretString::from(bytes.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

/// The owners' pages, served by the daemon for the links the API hands out.
pub fn web(
    cfg: &Config,
    base: &url::Url,
    secret: &SecretString,
    keeper: Keeper,
    consumer: Option<Arc<InstagramLogin>>,
    business: Option<Arc<FacebookLogin>>,
) -> Result<Web, Fail> {
    let links = Arc::new(LinkSigner::new(secret.clone(), base.clone()));
    let oauth = OAuth::new(consumer, business);
    let app_secret = |a: &Option<(String, SecretString)>| {
        a.as_ref()
            .map(|a| a.1.clone())
            .unwrap_or_else(|| SecretString::from(""))
    };
    Web::builder(keeper.clone(), oauth, links, base.clone())
        .app_secrets(app_secret(&cfg.consumer_app), app_secret(&cfg.business_app))
        .state_signer(StateSigner::new(
            derived(secret, "lightwidget oauth state"),
            Box::new(MemoryNonceStore::default()),
        ))
        .host(Arc::new(DaemonHost {
            keeper: keeper.clone(),
            return_url: cfg.return_url.clone(),
        }))
        .build()
        .map_err(|e| Fail::BadConfig(format!("setting `public_base_url`: {e}")))
}

/// Installs the Prometheus recorder and serves on `addr` in the background.
pub async fn start(
    addr: SocketAddr,
    keeper: Keeper,
    cfg: &Config,
    web: Option<Web>,
) -> Result<Server, Fail> {
    let prometheus = PrometheusBuilder::new()
        .install_recorder()
        .map_err(|e| Fail::Other(format!("cannot install the metrics recorder: {e}")))?;
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        Fail::BadConfig(format!(
            "setting `http_listen` (env LIGHTWIDGET_HTTP_LISTEN, --listen): cannot listen on {addr}: {e}"
        ))
    })?;
    let addr = listener
        .local_addr()
        .map_err(|e| Fail::Other(format!("listener address: {e}")))?;
    let public = cfg.public_base_url.clone().unwrap_or_else(|| {
        format!("http://{addr}/")
            .parse()
            .expect("an address is a URL")
    });
    let api = super::api::ApiState::new(
        keeper.clone(),
        cfg.api_rate_limit_per_second,
        web.clone(),
        public,
    );
    let has_web = web.is_some();
    let app = App {
        keeper,
        prometheus,
        max_age: ready_max_age(cfg.poll_interval_secs),
    };
    let router = axum::Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(app)
        .merge(super::api::router(api));
    let router = match web {
        Some(w) => router.merge(w.router()).merge(
            w.protect(
                axum::Router::new()
                    .route("/login/{kind}", get(login_start))
                    .with_state(w.clone()),
            ),
        ),
        None => router,
    };
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::error!(error = %e, "metrics/health server stopped");
        }
    });
    Ok(Server { addr, web: has_web })
}

async fn metrics(State(app): State<App>) -> impl IntoResponse {
    // Gauges that are a property of the store, read at scrape time.
    match app.keeper.health(app.max_age).await {
        Ok(h) => {
            for (status, n) in [
                ("active", h.counts.active),
                ("expired", h.counts.expired),
                ("revoked", h.counts.revoked),
            ] {
                metrics::gauge!("lightwidget_accounts", "status" => status).set(n as f64);
            }
            if let Some(at) = h.last_sweep_at {
                let age = (chrono::Utc::now() - at).num_milliseconds() as f64 / 1000.0;
                metrics::gauge!("lightwidget_last_sweep_age_seconds").set(age);
            }
            metrics::gauge!("lightwidget_store_up").set(1.0);
            let app_wide = h
                .incidents
                .iter()
                .filter(|i| i.kind == lightwidget::IncidentKind::AppWide)
                .count();
            metrics::gauge!("lightwidget_incidents_open").set(app_wide as f64);
        }
        Err(e) => {
            tracing::warn!(error = %e, "store unreachable while scraping");
            metrics::gauge!("lightwidget_store_up").set(0.0);
        }
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        app.prometheus.render(),
    )
}

async fn readyz(State(app): State<App>) -> (StatusCode, String) {
    let now = chrono::Utc::now();
    match app.keeper.last_sweep().await {
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: store unreachable ({e})\n"),
        ),
        Ok(None) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: no sweep yet\n".into(),
        ),
        Ok(Some((worker, at))) if at > now + FUTURE_SKEW => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "not ready: the last sweep ({worker}) is dated in the future, {} (check the clocks)\n",
                at.to_rfc3339()
            ),
        ),
        Ok(Some((worker, at))) => {
            let age = (now - at).to_std().unwrap_or_default();
            if age > app.max_age {
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!(
                        "not ready: the last sweep ({worker}) was {}s ago, more than {}s\n",
                        age.as_secs(),
                        app.max_age.as_secs()
                    ),
                )
            } else {
                let open = app.keeper.incidents(true, 10).await.map(|v| {
                    v.into_iter()
                        .filter(|i| i.kind == lightwidget::IncidentKind::AppWide)
                        .collect::<Vec<_>>()
                });
                match open {
                    Ok(open) if !open.is_empty() => {
                        let i = &open[0];
                        (
                            StatusCode::SERVICE_UNAVAILABLE,
                            format!(
                                "not ready: app-wide incident {} on the {} app open since {} ({} account(s) held): {}\n",
                                i.id,
                                i.connection,
                                i.opened_at.to_rfc3339(),
                                i.accounts,
                                i.error
                            ),
                        )
                    }
                    Err(e) => (
                        StatusCode::SERVICE_UNAVAILABLE,
                        format!("not ready: store unreachable ({e})\n"),
                    ),
                    Ok(_) => (
                        StatusCode::OK,
                        format!("ready: last sweep {}s ago by {worker}\n", age.as_secs()),
                    ),
                }
            }
        }
    }
}

/// `GET /login/{consumer,business}`: "Log in with Instagram / Facebook" for a host that
/// hands its visitor to the daemon (the link `POST /v1/owners/{owner}/links` gives with
/// `"purpose": "login"`); the flow ends at `return_url?lw_login=<code>`.
async fn login_start(
    State(web): State<Web>,
    axum::extract::Path(kind): axum::extract::Path<String>,
    headers: axum::http::HeaderMap,
) -> axum::response::Response {
    // Like the web layer's own flow starts: no page of another site starts one (the
    // `state` is bound to this browser either way; this keeps its flow cookie its own).
    if headers
        .get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes() == b"cross-site")
    {
        return (
            StatusCode::FORBIDDEN,
            "Start the login from the site you are signing in to.\n",
        )
            .into_response();
    }
    let kind = match kind.as_str() {
        "consumer" => lightwidget::ConnectionKind::Consumer,
        "business" => lightwidget::ConnectionKind::Business,
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    web.start_login(kind).await
}
