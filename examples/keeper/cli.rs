//! Command line of the keeper daemon.

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
        #[arg(long, default_value_t = 300)]
        accounts: usize,
        /// Simulated days.
        #[arg(long, default_value_t = 150)]
        days: i64,
        /// Folder for the SQLite file and the .eml notices.
        #[arg(long, default_value = "lightwidget-demo")]
        out: PathBuf,
    },
    /// Run the keeper until SIGTERM / Ctrl-C.
    Run,
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
        /// Days until the token expires (omit for tokens that never expire).
        #[arg(long)]
        expires_in_days: Option<i64>,
        /// Allow notices for this account (the host's entitlement flag).
        #[arg(long)]
        notifications: bool,
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
    /// History of an account, newest first.
    History {
        /// Account id.
        account: String,
        /// How many entries.
        #[arg(long, default_value_t = 50)]
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
