//! Fresh databases for tests. PostgreSQL / MariaDB come from
//! `LIGHTWIDGET_TEST_POSTGRES_URL` / `LIGHTWIDGET_TEST_MYSQL_URL`; unset, their tests print
//! "skipped" — unless `CI=true`, where a missing database fails the test.
#![allow(dead_code)]

use std::sync::Mutex;

use lightwidget_store_sql::{Encryption, Key, Keyring, SqlStore};
use sqlx::{AnyPool, Executor};

pub fn keyring() -> Keyring {
    Keyring::new(Key::new("k1", &[7u8; 32]).unwrap())
}

pub fn enc() -> Encryption {
    Encryption::Keyring(keyring())
}

/// The server URL for `var`, or `None` (after saying why) when tests should skip.
pub fn server(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Some(v),
        _ => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("{var} is not set but CI=true: the database tests must run in CI");
            }
            eprintln!("skipped: {var} not set");
            None
        }
    }
}

fn with_db(url: &str, db: &str) -> String {
    let mut u = url::Url::parse(url).expect("database URL");
    u.set_path(&format!("/{db}"));
    u.to_string()
}

/// Creates databases on one server and drops them at the end.
pub struct Server {
    url: String,
    admin: AnyPool,
    created: Mutex<Vec<String>>,
    pg: bool,
}

impl Server {
    pub async fn connect(var: &str) -> Option<Self> {
        let url = server(var)?;
        sqlx::any::install_default_drivers();
        let admin = sqlx::any::AnyPoolOptions::new()
            .max_connections(2)
            .connect(&url)
            .await
            .unwrap_or_else(|e| panic!("{var}={url} is set but the server is unreachable: {e}"));
        Some(Self {
            pg: url.starts_with("postgres"),
            url,
            admin,
            created: Mutex::default(),
        })
    }

    /// A fresh empty database; returns its URL.
    pub async fn fresh_url(&self) -> String {
        let name = format!("lw_{}", uuid::Uuid::new_v4().simple());
        self.admin
            .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await
            .expect("create test database");
        self.created.lock().unwrap().push(name.clone());
        with_db(&self.url, &name)
    }

    pub async fn fresh(&self) -> SqlStore {
        SqlStore::builder(self.fresh_url().await)
            .keyring(keyring())
            .max_connections(4)
            .connect()
            .await
            .expect("connect to a fresh database")
    }

    pub async fn cleanup(&self) {
        let names = std::mem::take(&mut *self.created.lock().unwrap());
        for n in names {
            let sql = if self.pg {
                format!("DROP DATABASE IF EXISTS {n} WITH (FORCE)")
            } else {
                format!("DROP DATABASE IF EXISTS {n}")
            };
            let _ = self.admin.execute(sqlx::AssertSqlSafe(sql)).await;
        }
    }
}

pub fn temp_sqlite_path() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("lw-test-{}.db", uuid::Uuid::new_v4().simple()))
}

pub async fn fresh_sqlite() -> SqlStore {
    SqlStore::open_sqlite(temp_sqlite_path(), enc())
        .await
        .expect("open sqlite")
}
