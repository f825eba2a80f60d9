//! Command line of the keeper daemon.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// lightwidget keeper: keeps Instagram / Facebook access tokens alive.
///
/// With no configuration (no --config, no LIGHTWIDGET_DATABASE_URL) it runs a
/// self-contained demo against the in-process Graph sandbox and a local SQLite file.
#[derive(Parser, Debug)]
#[command(name = "keeper", version, about)]
pub struct Cli {
    /// TOML config file (environment variables LIGHTWIDGET_* override it).
    #[arg(long, short, global = true, env = "LIGHTWIDGET_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// The self-contained demo (the default with no configuration).
    Demo {
        /// Accounts to simulate.
        #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u32).range(1..=100_000))]
        accounts: u32,
        /// Simulated days.
        #[arg(long, default_value_t = 120, value_parser = clap::value_parser!(i64).range(1..=3650))]
        days: i64,
        /// Folder for the SQLite file and the .eml notices.
        #[arg(long, default_value = "lightwidget-demo")]
        out: PathBuf,
    },
    /// Run the keeper until SIGTERM / Ctrl-C.
    Run {
        /// Serve /metrics, /healthz and /readyz on this address (overrides
        /// `http_listen` / LIGHTWIDGET_HTTP_LISTEN), e.g. 127.0.0.1:9090.
        #[arg(long)]
        listen: Option<SocketAddr>,
    },
    /// Connect an account from a long-lived token read from $LIGHTWIDGET_TOKEN or stdin
    /// (never from the command line, where `ps` would show it).
    Connect {
        /// consumer (Instagram Login) or business (Facebook Login).
        #[arg(long, value_enum)]
        kind: Kind,
        /// Instagram user id.
        #[arg(long)]
        ig_user_id: String,
        /// Instagram username.
        #[arg(long)]
        username: String,
        /// The host user who owns the account.
        #[arg(long)]
        owner: String,
        /// Facebook Page id (business).
        #[arg(long)]
        page_id: Option<String>,
        /// Days until the token expires, counted from --issued-at (omit both this and
        /// --expires-at for tokens that never expire, e.g. Page tokens).
        #[arg(long, conflicts_with = "expires_at", value_parser = clap::value_parser!(u32).range(1..=3650))]
        expires_in_days: Option<u32>,
        /// When the token expires (RFC 3339, e.g. 2027-01-31T12:00:00Z).
        #[arg(long, value_parser = rfc3339)]
        expires_at: Option<chrono::DateTime<chrono::Utc>>,
        /// When the token was issued (RFC 3339; default now): an existing token keeps its
        /// real age, so it is not refreshed before it is 24 h old, nor late. A token
        /// issued before the one the account holds is refused unless --force.
        #[arg(long, value_parser = rfc3339)]
        issued_at: Option<chrono::DateTime<chrono::Utc>>,
        /// Allow notices for this account (the host's entitlement flag).
        #[arg(long)]
        notifications: bool,
        /// The app-scoped Facebook user id (business): what Meta's deauthorize and
        /// data-deletion callbacks name.
        #[arg(long)]
        fb_user_id: Option<String>,
        /// Granted permissions, comma-separated.
        #[arg(long, value_delimiter = ',')]
        scopes: Vec<String>,
        /// When data access lapses (Facebook Login; RFC 3339).
        #[arg(long, value_parser = rfc3339)]
        data_access_expires_at: Option<chrono::DateTime<chrono::Utc>>,
        /// Install the token even if it is older than the one the account holds (a
        /// deliberate roll-back; refused otherwise).
        #[arg(long)]
        force: bool,
    },
    /// Status of an account, or of all of an owner's accounts.
    Status {
        /// Account id.
        #[arg(long, conflicts_with = "owner")]
        account: Option<String>,
        /// Owner id.
        #[arg(long)]
        owner: Option<String>,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// App-wide incidents (failures that hit many accounts at once): the open ones, or
    /// the last 100 with --all.
    Incidents {
        /// Resolved ones too.
        #[arg(long)]
        all: bool,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// History of an account, newest first.
    History {
        /// Account id.
        account: String,
        /// How many entries.
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=10_000))]
        limit: u32,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Refresh an account's token at the next sweep (once it is at least 24 h old).
    Refresh {
        /// Account id.
        account: String,
    },
    /// Show an owner's notice preferences, or change them (any of the --set options).
    Preferences {
        /// Owner id.
        #[arg(long)]
        owner: String,
        /// Topics to opt in to, replacing the current ones: a comma-separated list of
        /// expired, revoked, expiring_soon, data_access_expiring; or `all`, or `none`.
        #[arg(long)]
        topics: Option<String>,
        /// An email address to send notices to (repeat for several; replaces the current ones).
        #[arg(long)]
        email: Vec<String>,
        /// A webhook URL to send notices to (repeat for several; replaces the current ones).
        #[arg(long)]
        webhook: Vec<String>,
        /// Remove every recipient.
        #[arg(long, conflicts_with_all = ["email", "webhook"])]
        no_recipients: bool,
        /// Whether the owner's plan allows notices (sets the entitlement of each of their accounts).
        #[arg(long)]
        entitled: Option<bool>,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Import existing tokens from a file of JSON lines or CSV (with a header row):
    /// fields kind, ig_user_id, username, owner, token, and optionally issued_at,
    /// expires_at, data_access_expires_at (RFC 3339), scopes (a list, or comma- or
    /// space-separated), page_id, fb_user_id, notifications. Each line is validated and
    /// connected on its own; refused lines are reported with the reason and the rest
    /// go on. A token older than the one an account holds is refused (by issued_at, or
    /// by expires_at when the line has none) unless --force; the token held already
    /// changes nothing, so re-running a file is harmless. Exit code 1 if any line was
    /// refused.
    Import {
        /// The file (`-` for stdin).
        file: PathBuf,
        /// Input format (default: from the extension, .csv or else JSON lines).
        #[arg(long, value_enum)]
        format: Option<Format>,
        /// Install tokens older than the ones held (a deliberate roll-back).
        #[arg(long)]
        force: bool,
    },
    /// API keys for the management API under /v1 (kept hashed in the database).
    Keys {
        #[command(subcommand)]
        action: KeysAction,
    },
}

/// What `keys` does.
#[derive(Subcommand, Debug)]
pub enum KeysAction {
    /// Create a key and print it (shown once: only its hash is kept).
    Create {
        /// A name for people, e.g. the backend that uses it.
        #[arg(long)]
        name: String,
        /// read (status, history, feed), write (also connect, disconnect, links,
        /// preferences) or admin (also incidents, deleting data).
        #[arg(long, value_enum, default_value = "read")]
        scope: ScopeArg,
    },
    /// List the keys (ids, names, scopes; never the keys).
    List {
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key by id (as `keys list` shows): refused at once here, within
    /// seconds by every running daemon.
    Revoke {
        /// The key's id (16 hex digits).
        id: String,
    },
}

/// A key's scope.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ScopeArg {
    /// Read only.
    Read,
    /// Read and change.
    Write,
    /// Everything.
    Admin,
}

/// Import file formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// One JSON object per line.
    Jsonl,
    /// Comma-separated values with a header row.
    Csv,
}

fn rfc3339(s: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|e| format!("not an RFC 3339 time like 2027-01-31T12:00:00Z ({e})"))
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Kind {
    Consumer,
    Business,
}

impl From<Kind> for lightwidget::ConnectionKind {
    fn from(k: Kind) -> Self {
        match k {
            Kind::Consumer => Self::Consumer,
            Kind::Business => Self::Business,
        }
    }
}
