//! Fresh databases for tests. PostgreSQL / MariaDB are the standard local services
//! unless `LIGHTWIDGET_TEST_POSTGRES_URL` / `LIGHTWIDGET_TEST_MYSQL_URL` say otherwise.
//! Their tests are `#[ignore = "needs …"]`: plain `cargo test` lists them as ignored, and
//! `cargo test -- --include-ignored` runs them — and fails, naming the service and how to
//! start it, when the server is not there. A test that did not run never passes.
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

/// The server URL for `var`, or the standard local service.
pub fn server(var: &str) -> String {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => v,
        _ if var.contains("POSTGRES") => "postgres://postgres@127.0.0.1:5432/test".into(),
        _ => "mysql://root@127.0.0.1:3306/test".into(),
    }
}

fn how_to_start(url: &str) -> &'static str {
    if url.starts_with("postgres") {
        "start PostgreSQL (e.g. `pg_ctlcluster 15 main start`) or point LIGHTWIDGET_TEST_POSTGRES_URL at one"
    } else {
        "start MariaDB (e.g. `start-stop-daemon --start --background --exec /usr/sbin/mariadbd`) or point LIGHTWIDGET_TEST_MYSQL_URL at one"
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
    /// Connects to the server of `var`; panics, naming the service, if it is not there.
    pub async fn connect(var: &str) -> Self {
        let url = server(var);
        sqlx::any::install_default_drivers();
        let admin = sqlx::any::AnyPoolOptions::new()
            .max_connections(2)
            .connect(&url)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "this test needs the database at {url} ({var}), which is unreachable: {e}; {}",
                    how_to_start(&url)
                )
            });
        Self {
            pg: url.starts_with("postgres"),
            url,
            admin,
            created: Mutex::default(),
        }
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
