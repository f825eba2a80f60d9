//! [`Connect`]: the checked settings a backend opens its database with, below the
//! builder that makes them and the backends that use them.

use std::time::Duration;

use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;

use crate::dialect::Dialect;
use crate::{Encryption, Error};

/// The URL with its password hidden.
pub(crate) fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("****"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

/// The checked settings a backend connects with.
pub(crate) struct Connect {
    pub dialect: Dialect,
    pub url: String,
    pub enc: Encryption,
    pub migrate: bool,
    pub max_connections: u32,
    pub acquire_timeout: Duration,
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    pub checkpoint_every: Duration,
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    pub wal_limit: u64,
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    pub read_ahead: bool,
}

impl Connect {
    /// The encryption to use.
    pub fn enc(&self) -> Encryption {
        self.enc.clone()
    }

    /// The error for a connection to the configured URL that failed.
    pub fn connect_error(&self, source: sqlx::Error) -> Error {
        Error::Connect {
            url: redact(&self.url),
            source,
        }
    }

    /// `opts` with the configured pool size and acquire timeout.
    pub fn sized<DB: sqlx::Database>(
        &self,
        opts: sqlx::pool::PoolOptions<DB>,
    ) -> sqlx::pool::PoolOptions<DB> {
        opts.max_connections(self.max_connections)
            .acquire_timeout(self.acquire_timeout)
    }

    /// Opens the pool at `url` (the configured one, maybe with options added), sized, on
    /// top of `opts`.
    pub async fn pool(&self, opts: AnyPoolOptions, url: &str) -> Result<AnyPool, Error> {
        self.sized(opts)
            .connect(url)
            .await
            .map_err(|e| self.connect_error(e))
    }

    /// Runs `m` unless migrations are turned off, under the database-wide lock of the
    /// dialect (see [`crate::migrate`]): any number of processes may start at once.
    pub async fn migrate(&self, pool: &AnyPool, m: sqlx::migrate::Migrator) -> Result<(), Error> {
        if self.migrate {
            crate::migrate::run(self.dialect, pool, m).await?;
        }
        Ok(())
    }
}
