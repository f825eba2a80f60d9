//! Wiring: store, Graph clients (sandbox or real), keeper, signers, app state.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use lightwidget::instagram::flow::OAuth;
use lightwidget::instagram::sandbox::{Sandbox, SandboxConfig};
use lightwidget::instagram::state::{MemoryNonceStore, StateSigner};
use lightwidget::instagram::{FacebookLogin, GraphConfig, GraphProvider, InstagramLogin};
use lightwidget::notify::LinkSigner;
use lightwidget::store_sql::{Encryption, Key, Keyring, SqlStore};
use lightwidget::*;
use url::Url;

use crate::app::security::content_security_policy;
use crate::app::{AppSecrets, AppState, Inbox, WidgetQueue};
use axum_extra::extract::cookie::Key as CookieKey;
use secrecy::SecretString;

/// Boxed error for setup code.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What the app needs besides the Graph clients.
#[derive(Clone)]
pub struct Options {
    /// Where the app is reachable, ending in `/` (the OAuth redirect is `{public_url}oauth/callback`).
    pub public_url: Url,
    /// Time source for everything.
    pub clock: Arc<dyn Clock>,
    /// SQLite database file.
    pub db_path: PathBuf,
    /// Owners whose plan includes notifications.
    pub entitled: Vec<String>,
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("public_url", &self.public_url)
            .field("db_path", &self.db_path)
            .finish_non_exhaustive()
    }
}

fn random_secret() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// Whether cookies get `Secure` and `__Host-` names: over HTTPS, and on loopback (which
/// browsers treat as a secure context). Plain HTTP elsewhere is for development only.
pub fn secure_cookies(public_url: &Url) -> bool {
    public_url.scheme() == "https"
        || match public_url.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            Some(url::Host::Domain(d)) => d == "localhost",
            None => false,
        }
}

/// The OAuth redirect URI of the app.
pub fn redirect_uri(public_url: &Url) -> Result<Url, BoxError> {
    Ok(public_url.join("oauth/callback")?)
}

/// Starts an in-process Graph API sandbox on loopback and builds the app against it.
pub async fn with_sandbox(opts: &Options) -> Result<(Arc<AppState>, Sandbox), BoxError> {
    let cfg = SandboxConfig {
        clock: opts.clock.clone(),
        ..Default::default()
    };
    let secrets = AppSecrets {
        consumer: cfg.consumer_app.1.clone().into(),
        business: cfg.business_app.1.clone().into(),
    };
    let sandbox = Sandbox::start(cfg).await?;
    let redirect = redirect_uri(&opts.public_url)?;
    let consumer = sandbox
        .consumer_config()
        .redirect_uri(redirect.as_str())
        .clock(opts.clock.clone())
        .build()?;
    let business = sandbox
        .business_config()
        .redirect_uri(redirect.as_str())
        .clock(opts.clock.clone())
        .build()?;
    let mut state = assemble(opts, consumer, business, secrets).await?;
    if let Some(s) = Arc::get_mut(&mut state) {
        s.sandbox = Some(sandbox.base_url());
    }
    Ok((state, sandbox))
}

/// Builds the app against the real Graph API, from `LIGHTWIDGET_CONSUMER_*` and
/// `LIGHTWIDGET_BUSINESS_*` (`APP_ID`, `APP_SECRET`, `REDIRECT_URI`).
pub async fn with_graph(opts: &Options) -> Result<Arc<AppState>, BoxError> {
    let consumer = GraphConfig::from_env("LIGHTWIDGET_CONSUMER")?;
    let business = GraphConfig::from_env("LIGHTWIDGET_BUSINESS")?;
    let secret = |p: &str| -> SecretString {
        std::env::var(format!("{p}_APP_SECRET"))
            .unwrap_or_default()
            .into()
    };
    let secrets = AppSecrets {
        consumer: secret("LIGHTWIDGET_CONSUMER"),
        business: secret("LIGHTWIDGET_BUSINESS"),
    };
    assemble(opts, consumer, business, secrets).await
}

async fn assemble(
    opts: &Options,
    consumer: GraphConfig,
    business: GraphConfig,
    app_secrets: AppSecrets,
) -> Result<Arc<AppState>, BoxError> {
    let clock = opts.clock.clone();
    let consumer = Arc::new(InstagramLogin::new(consumer)?);
    let business = Arc::new(FacebookLogin::new(business)?);
    // Forms may lead (through a redirect) to the OAuth dialogs: allow their origins.
    let dialogs = [
        consumer.authorize_url(&[], "-")?,
        business.authorize_url(&[], "-", false)?,
    ];
    let provider = GraphProvider::new(Some(consumer.clone()), Some(business.clone()))
        .with_clock(clock.clone());
    let key_bytes: Vec<u8> = uuid::Uuid::new_v4()
        .as_bytes()
        .iter()
        .chain(uuid::Uuid::new_v4().as_bytes())
        .copied()
        .collect();
    let key = Key::new("host", &key_bytes)?;
    let store =
        SqlStore::open_sqlite(&opts.db_path, Encryption::Keyring(Keyring::new(key))).await?;
    let links = Arc::new(LinkSigner::new(
        random_secret().into(),
        opts.public_url.clone(),
    ));
    let inbox = Arc::new(Inbox::new(links.clone(), clock.clone()));
    let queue = Arc::new(WidgetQueue::default());
    let keeper = Keeper::builder(Arc::new(store), Arc::new(provider))
        .clock(clock.clone())
        .notifier(inbox.clone())
        .hooks(queue.clone())
        .worker_id("host-app")
        .build()?;
    let oauth = OAuth::new(Some(consumer.clone()), Some(business.clone())).with_scopes(
        ConnectionKind::Business,
        &["instagram_basic", "pages_show_list", "business_management"],
    );
    Ok(Arc::new(AppState {
        keeper,
        clock,
        consumer,
        business,
        oauth,
        app_secrets,
        oauth_state: StateSigner::new(
            random_secret().into(),
            Box::new(MemoryNonceStore::default()),
        ),
        links,
        // Random per process here; a real host loads a 64-byte key from its secret store
        // so sessions survive restarts and are shared by its instances.
        cookie_key: CookieKey::generate(),
        secure_cookies: secure_cookies(&opts.public_url),
        csp: content_security_policy(&dialogs),
        public_url: opts.public_url.clone(),
        entitled: opts.entitled.iter().cloned().collect::<HashSet<_>>(),
        inbox,
        queue,
        sandbox: None,
        sandbox_login: Mutex::new(HashMap::new()),
        sandbox_dialog: Default::default(),
        pending: Default::default(),
        deletions: Mutex::new(HashMap::new()),
    }))
}
