//! Wiring: store, Graph clients (sandbox or real), keeper, signers, app state.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use lightwidget::instagram::flow::OAuth;
use lightwidget::instagram::sandbox::{Sandbox, SandboxConfig};
use lightwidget::instagram::state::{MemoryNonceStore, StateSigner};
use lightwidget::instagram::{FacebookLogin, GraphConfig, GraphProvider, InstagramLogin};
use lightwidget::notify::LinkSigner;
use lightwidget::store_sql::{Encryption, Key, Keyring, SqlStore};
use lightwidget::*;
use url::Url;

use crate::app::session::{Sessions, SiteHost};
use crate::app::standins::Widgets;
use crate::app::views::SitePages;
use crate::app::{AppState, WidgetQueue};
use lightwidget::notify::Mailbox;
use lightwidget::web::{Web, secure_cookies};
use secrecy::SecretString;

/// The app secrets Meta signs its callbacks with.
struct AppSecrets {
    consumer: SecretString,
    business: SecretString,
}

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
    let state = assemble(opts, consumer, business, secrets, Some(sandbox.base_url())).await?;
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
    assemble(opts, consumer, business, secrets, None).await
}

async fn assemble(
    opts: &Options,
    consumer: GraphConfig,
    business: GraphConfig,
    app_secrets: AppSecrets,
    sandbox: Option<Url>,
) -> Result<Arc<AppState>, BoxError> {
    let clock = opts.clock.clone();
    let consumer = Arc::new(InstagramLogin::new(consumer)?);
    let business = Arc::new(FacebookLogin::new(business)?);
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
    let inbox = Arc::new(Mailbox::new(links.clone(), clock.clone()));
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
    let secure = secure_cookies(&opts.public_url);
    let sessions = Arc::new(Sessions::new(secure));
    let sandbox_login = Arc::new(Mutex::new(HashMap::new()));
    let sandbox_dialog = Arc::new(AtomicBool::new(false));
    let host = SiteHost {
        sessions: sessions.clone(),
        entitled: opts.entitled.iter().cloned().collect::<HashSet<_>>(),
        queue: queue.clone(),
        sandbox_login: sandbox_login.clone(),
        sandbox_dialog: sandbox_dialog.clone(),
        sandbox: sandbox.is_some(),
    };
    let web = Web::builder(keeper.clone(), oauth, links, opts.public_url.clone())
        .clock(clock.clone())
        .app_secrets(app_secrets.consumer, app_secrets.business)
        .state_signer(StateSigner::new(
            random_secret().into(),
            Box::new(MemoryNonceStore::default()),
        ))
        .host(Arc::new(host))
        .pages(Arc::new(SitePages))
        .build()?;
    Ok(Arc::new(AppState {
        web,
        keeper,
        sessions,
        inbox,
        queue,
        widgets: Arc::new(Widgets::default()),
        sandbox,
        sandbox_login,
        sandbox_dialog,
    }))
}
