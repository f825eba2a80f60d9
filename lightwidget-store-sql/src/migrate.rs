//! Migrations that any number of processes can start at once, on every backend.
//!
//! Each backend migrates under a database-wide lock held on one connection for the whole
//! run; a process that finds the schema being migrated waits, then finds it done:
//! - PostgreSQL: sqlx's advisory lock (`pg_advisory_lock`, per database).
//! - MySQL / MariaDB: `GET_LOCK('lightwidget_migrate_<md5 of the database name>', …)`,
//!   asked again until granted. (sqlx's own lock asks with a timeout of -1, which MariaDB
//!   answers with NULL, granting nothing.) The lock ends with the session, so a process
//!   killed while migrating frees it.
//! - SQLite: the whole run is one `BEGIN IMMEDIATE` transaction: SQLite's write lock on
//!   the file, which every process opening it honours; waiting past the busy timeout is
//!   asked again. (An in-memory database is refused before this.)
//!
//! PostgreSQL and SQLite apply each migration in a transaction, so one interrupted
//! half-way left nothing behind. MySQL / MariaDB commit DDL statement by statement: a
//! process killed in the middle of a migration leaves it recorded as not successful
//! (`_sqlx_migrations.success = FALSE`), and sqlx then refuses every start. Here such a
//! migration is completed instead: its statements are run again in order, each one that
//! fails because it was already done (table, column, index or row already there, or
//! already gone) is skipped, and the migration is marked successful. What cannot be
//! completed that way is reported as [`Error::MigrationInterrupted`] with the statement
//! that failed and the exact repair. MySQL migrations are written for this: every
//! statement is atomic, and running it a second time either fails as "already done" or
//! changes nothing.

use std::time::{Duration, Instant};

use sqlx::AnyConnection;
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Connection, Executor, Row};

use crate::Error;
use crate::dialect::Dialect;

/// How long one wait for the lock lasts before it is logged and asked again.
const LOCK_WAIT: Duration = Duration::from_secs(10);

/// Runs `m` on `pool` under the database-wide lock of `dialect`.
pub(crate) async fn run(dialect: Dialect, pool: &AnyPool, mut m: Migrator) -> Result<(), Error> {
    match dialect {
        Dialect::Postgres => m.run(pool).await.map_err(Error::Migrate),
        Dialect::Mysql => {
            m.set_locking(false);
            let mut conn = pool.acquire().await.map_err(migrate_err)?;
            let out = mysql(&mut conn, &m).await;
            // The lock is the session's: closing the connection ends both, whatever
            // happened above.
            let _ = conn.close().await;
            out
        }
        Dialect::Sqlite => {
            m.set_locking(false);
            let mut conn = pool.acquire().await.map_err(migrate_err)?;
            sqlite(&mut conn, &m).await
        }
    }
}

fn migrate_err(e: sqlx::Error) -> Error {
    Error::Migrate(sqlx::migrate::MigrateError::Execute(e))
}

/// The lock, the completion of an interrupted migration, then the others.
async fn mysql(conn: &mut AnyConnection, m: &Migrator) -> Result<(), Error> {
    let started = Instant::now();
    let wait = i64::try_from(LOCK_WAIT.as_secs()).unwrap_or(10);
    loop {
        let got: Option<i64> =
            sqlx::query("SELECT GET_LOCK(CONCAT('lightwidget_migrate_', MD5(DATABASE())), ?)")
                .bind(wait)
                .fetch_one(&mut *conn)
                .await
                .and_then(|r| r.try_get(0))
                .map_err(migrate_err)?;
        match got {
            Some(1) => break,
            Some(_) => tracing::info!(
                waited_s = started.elapsed().as_secs(),
                "another process is migrating this database; waiting for it"
            ),
            None => {
                return Err(Error::Config(
                    "GET_LOCK for the migration lock returned NULL".into(),
                ));
            }
        }
    }
    complete_interrupted(conn, m).await?;
    run_on(m, conn).await
}

/// Runs `m` on `conn` (whose lock the caller holds). `Migrator::run` on a connection
/// makes the caller's future fail to be `Send` for every lifetime (its `Acquire` bound;
/// the caller may be spawned), so this calls what it calls.
async fn run_on(m: &Migrator, conn: &mut AnyConnection) -> Result<(), Error> {
    m.run_direct(None, conn, false)
        .await
        .map_err(Error::Migrate)
}

/// MySQL / MariaDB error numbers that say a statement of a migration was already done:
/// table exists (1050), duplicate column (1060), duplicate key name (1061), duplicate
/// entry (1062), cannot drop: does not exist (1091), duplicate foreign key (1826, 1022).
const ALREADY_DONE: [u16; 7] = [1050, 1060, 1061, 1062, 1091, 1826, 1022];

/// Completes the migrations recorded as not successful (interrupted half-way), see the
/// [module docs](self).
async fn complete_interrupted(conn: &mut AnyConnection, m: &Migrator) -> Result<(), Error> {
    let dirty =
        sqlx::query("SELECT version FROM _sqlx_migrations WHERE success = FALSE ORDER BY version")
            .fetch_all(&mut *conn)
            .await;
    let dirty: Vec<i64> = match dirty {
        Ok(rows) => rows
            .iter()
            .map(|r| r.try_get::<i64, _>(0))
            .collect::<Result<_, _>>()
            .map_err(migrate_err)?,
        // No migrations table yet: a fresh database.
        Err(sqlx::Error::Database(d)) if mysql_number(d.as_ref()) == Some(1146) => return Ok(()),
        Err(e) => return Err(migrate_err(e)),
    };
    for version in dirty {
        let repair_tail = format!(
            "then run `UPDATE _sqlx_migrations SET success = TRUE WHERE version = {version}` and start again"
        );
        let Some(mig) = m.iter().find(|x| x.version == version) else {
            return Err(Error::MigrationInterrupted {
                version,
                description: String::new(),
                cause: "this version of lightwidget does not know that migration (a newer one started it)".into(),
                repair: format!("finish it with the version of lightwidget that started it, or complete its statements by hand, {repair_tail}"),
            });
        };
        tracing::warn!(
            version,
            description = %mig.description,
            "migration was interrupted half-way (MySQL / MariaDB DDL is not transactional); completing it"
        );
        let statements = split_statements(mig.sql.as_str());
        for (i, stmt) in statements.iter().enumerate() {
            match conn.execute(sqlx::AssertSqlSafe(stmt.to_string())).await {
                Ok(_) => {}
                Err(sqlx::Error::Database(d))
                    if mysql_number(d.as_ref()).is_some_and(|n| ALREADY_DONE.contains(&n)) => {}
                Err(e) => {
                    return Err(Error::MigrationInterrupted {
                        version,
                        description: mig.description.to_string(),
                        cause: format!("statement {} of {} failed: {e}", i + 1, statements.len()),
                        repair: format!(
                            "run statements {} to {} of migration {version} ({}) by hand, starting with `{}`; {repair_tail}",
                            i + 1,
                            statements.len(),
                            mig.description,
                            first_line(stmt)
                        ),
                    });
                }
            }
        }
        sqlx::query("UPDATE _sqlx_migrations SET success = TRUE WHERE version = ?")
            .bind(version)
            .execute(&mut *conn)
            .await
            .map_err(migrate_err)?;
        tracing::info!(version, "interrupted migration completed");
    }
    Ok(())
}

fn first_line(stmt: &str) -> &str {
    stmt.lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or(stmt)
        .trim()
}

fn mysql_number(d: &dyn sqlx::error::DatabaseError) -> Option<u16> {
    #[cfg(feature = "mysql")]
    if let Some(m) = d.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>() {
        return Some(m.number());
    }
    let _ = d;
    None
}

/// The run in one `BEGIN IMMEDIATE` transaction: waits for the write lock as long as
/// another process holds it.
async fn sqlite(conn: &mut AnyConnection, m: &Migrator) -> Result<(), Error> {
    let started = Instant::now();
    let mut tx = loop {
        match conn.begin_with("BEGIN IMMEDIATE").await {
            Ok(tx) => break tx,
            Err(sqlx::Error::Database(d))
                if crate::classify::sqlite(d.as_ref()) == crate::classify::Class::Transient =>
            {
                tracing::info!(
                    waited_s = started.elapsed().as_secs(),
                    "another process is writing this database (migrating?); waiting for it"
                );
            }
            Err(e) => return Err(migrate_err(e)),
        }
    };
    run_on(m, &mut tx).await?;
    tx.commit().await.map_err(migrate_err)
}

/// Splits a migration into its statements at the `;` that end them (not those inside
/// quotes or backticks); comments are left out.
pub(crate) fn split_statements(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = sql.chars().peekable();
    let mut has_code = false;
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' | '`' => {
                has_code = true;
                cur.push(c);
                while let Some(d) = chars.next() {
                    cur.push(d);
                    if d == '\\' && c != '`' {
                        if let Some(e) = chars.next() {
                            cur.push(e);
                        }
                    } else if d == c {
                        if chars.peek() == Some(&c) {
                            cur.push(chars.next().unwrap_or(c));
                        } else {
                            break;
                        }
                    }
                }
            }
            '-' if chars.peek() == Some(&'-') => skip_line(&mut chars, &mut cur),
            '#' => skip_line(&mut chars, &mut cur),
            '/' if chars.peek() == Some(&'*') => {
                cur.push(' ');
                let mut prev = ' ';
                for d in chars.by_ref() {
                    if prev == '*' && d == '/' {
                        break;
                    }
                    prev = d;
                }
            }
            ';' => {
                if has_code {
                    out.push(cur.trim().to_owned());
                }
                cur.clear();
                has_code = false;
            }
            _ => {
                has_code |= !c.is_whitespace();
                cur.push(c);
            }
        }
    }
    if has_code {
        out.push(cur.trim().to_owned());
    }
    out
}

/// Skips a line comment (keeping its line break).
fn skip_line(chars: &mut std::iter::Peekable<std::str::Chars<'_>>, cur: &mut String) {
    for d in chars.by_ref() {
        if d == '\n' {
            cur.push(d);
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::split_statements;

    #[test]
    fn statements_split_at_semicolons_outside_quotes_and_comments() {
        let sql = "-- a comment; not a statement\nCREATE TABLE t (a TEXT DEFAULT 'x;y');\n\
                   /* block; comment */ INSERT INTO t VALUES ('it''s; fine', \"q;\", `c;`);\n\
                   # hash comment;\nALTER TABLE t ADD COLUMN b INT\n";
        let s = split_statements(sql);
        assert_eq!(s.len(), 3, "{s:#?}");
        assert!(s[0].ends_with("DEFAULT 'x;y')"), "{}", s[0]);
        assert!(
            s[1].contains("'it''s; fine'") && s[1].ends_with("`c;`)"),
            "{}",
            s[1]
        );
        assert!(s[2].ends_with("ADD COLUMN b INT"), "{}", s[2]);
        assert!(split_statements("-- only a comment;\n  ;").is_empty());
    }

    /// Every embedded MySQL migration splits into statements that each start with SQL.
    #[test]
    fn the_mysql_migrations_split() {
        let m = sqlx::migrate!("migrations/mysql");
        for mig in m.iter() {
            let s = split_statements(mig.sql.as_str());
            assert!(!s.is_empty(), "{}", mig.version);
        }
        let init = m.iter().find(|x| x.version == 1).unwrap();
        let n = split_statements(init.sql.as_str()).len();
        assert!(n >= 10, "0001 has its tables and indexes: {n}");
    }
}
