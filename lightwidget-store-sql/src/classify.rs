//! How database errors are classified, by class and never by message text.
//!
//! | class | becomes | who retries |
//! | --- | --- | --- |
//! | [`Class::Transient`]: the database is unreachable, restarting, failing over, full of connections or busy for a while | [`StoreError::Unavailable`] ([`is_transient`](StoreError::is_transient)) | every caller may; the keeper's sweep retries its commits until the lease is lost |
//! | [`Class::Permanent`]: the statement itself is refused and will be again (constraint, value, unknown table, syntax, dropped database) | [`StoreError::Rejected`] ([`is_permanent`](StoreError::is_permanent)) | nobody: the sweep gives the result up at once, and logs it |
//! | [`Class::Unknown`]: anything else (wrong password, missing privilege, an error this table does not know) | [`StoreError::Backend`] | not reported as transient; the sweep still retries its commits while it holds the lease, so a result is never dropped on a guess |
//!
//! Driver-level errors ([`sqlx::Error`]): every I/O error on a database connection
//! (refused, reset, aborted, broken pipe, unexpected end of stream, timed out — whatever
//! its [`std::io::ErrorKind`]), a TLS failure, a pool that timed out or was closed and a
//! crashed driver worker are transient; errors decoding or binding values and bad
//! configuration are permanent; a protocol error is unknown. Database errors are
//! classified per dialect by the tables below: [`postgres`] (SQLSTATE), [`mysql`] (the
//! server's error number: sqlx's `code()` is the SQLSTATE there, `HY000` for most of
//! them) and [`sqlite`] (the extended result code).
//!
//! Decisions worth stating:
//! - *Account locked* (MySQL 3118, MariaDB 4151) is transient: an administrator locking
//!   the store's user is what a planned failover or maintenance does, and unlocking it
//!   ends the outage. *Access denied* (1044, 1045, 1142, 1143; PostgreSQL 28000, 28P01,
//!   42501) is unknown rather than permanent: a password or privilege changed under a
//!   running keeper is an operator's decision the keeper cannot judge, so its commits
//!   are kept and retried while it holds the lease, but callers are not told "retry".
//! - *Read-only* (PostgreSQL 25006, MySQL 1290 / 1836) is transient: during a failover the
//!   old primary, or a replica the address still points to, refuses writes until the
//!   address moves.
//! - *Statement and lock timeouts* and cancellations (PostgreSQL 57014, 55P03; MySQL 1205,
//!   1317, 1969, 3024) are transient: the same statement succeeds once the blocker is gone.
//! - *A database not accepting connections* (PostgreSQL 55000, `ALLOW_CONNECTIONS false`,
//!   57P03 while starting) and *terminated connections* (57P01 administrator command or
//!   shutdown, 57P02 crash, 1053, 1927) are transient. A *dropped database* (57P04,
//!   3D000, 1049) is permanent.

use lightwidget_core::StoreError;
use sqlx::error::DatabaseError;

/// What a database error says about retrying. See the [module docs](self).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Class {
    /// May pass: retry.
    Transient,
    /// Will not pass: the statement is refused.
    Permanent,
    /// Not known either way.
    Unknown,
}

/// A dialect's classification of its database's own errors.
pub(crate) type Classify = fn(&dyn DatabaseError) -> Class;

/// Classifies a driver error, the database's own errors by `database`.
pub(crate) fn sqlx_error(e: &sqlx::Error, database: Classify) -> Class {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => Class::Transient,
        sqlx::Error::Database(d) => database(d.as_ref()),
        sqlx::Error::Configuration(_)
        | sqlx::Error::InvalidArgument(_)
        | sqlx::Error::RowNotFound
        | sqlx::Error::TypeNotFound { .. }
        | sqlx::Error::ColumnIndexOutOfBounds { .. }
        | sqlx::Error::ColumnNotFound(_)
        | sqlx::Error::ColumnDecode { .. }
        | sqlx::Error::Encode(_)
        | sqlx::Error::Decode(_) => Class::Permanent,
        _ => Class::Unknown,
    }
}

/// A classified error as the store reports it (see the table in the [module docs](self)).
pub(crate) fn store_error(
    e: impl std::error::Error + Send + Sync + 'static,
    class: Class,
) -> StoreError {
    let message = e.to_string();
    let source: Option<Box<dyn std::error::Error + Send + Sync>> = Some(Box::new(e));
    match class {
        Class::Transient => StoreError::Unavailable { message, source },
        Class::Permanent => StoreError::Rejected { message, source },
        Class::Unknown => StoreError::Backend { message, source },
    }
}

/// PostgreSQL, by SQLSTATE (exact codes first, then the two-character class).
///
/// | SQLSTATE | meaning | class |
/// | --- | --- | --- |
/// | `08…` | connection exception (refused, lost, failed to establish) | transient |
/// | `40001`, `40P01`, `40003` | serialization failure, deadlock, completion unknown | transient |
/// | `53000`, `53100`, `53200`, `53300`, `53400` | insufficient resources: disk full, out of memory, too many connections, configuration limit | transient |
/// | `55000` | object not in prerequisite state: the database is not accepting connections (`ALLOW_CONNECTIONS false`) | transient |
/// | `55006`, `55P03` | object in use, lock not available (`lock_timeout`, `NOWAIT`) | transient |
/// | `57014` | query canceled (`statement_timeout`, `pg_cancel_backend`) | transient |
/// | `57P01`, `57P02`, `57P03`, `57P05` | terminated by administrator command or shutdown, crash shutdown, cannot connect now (starting, failover), idle session timeout | transient |
/// | `25006`, `25P03` | read-only transaction (a standby, during failover), idle-in-transaction timeout | transient |
/// | `58000`, `58030`, `72000` | system error, I/O error, snapshot too old | transient |
/// | `28000`, `28P01`, `42501` | invalid authorization, wrong password, insufficient privilege | unknown |
/// | `57P04`, `3D000`, `3F000` | database dropped, database or schema does not exist | permanent |
/// | `0A…`, `21…`, `22…`, `23…`, `42…`, `XX…` | not supported, cardinality, data exception, integrity constraint, syntax or undefined object, internal error (corruption) | permanent |
/// | anything else | | unknown |
pub(crate) fn postgres(e: &dyn DatabaseError) -> Class {
    e.code()
        .map_or(Class::Unknown, |c| postgres_sqlstate(c.as_ref()))
}

/// [`postgres`] for one SQLSTATE.
pub(crate) fn postgres_sqlstate(code: &str) -> Class {
    match code {
        "40001" | "40P01" | "40003" | "53000" | "53100" | "53200" | "53300" | "53400" | "55000"
        | "55006" | "55P03" | "57014" | "57P01" | "57P02" | "57P03" | "57P05" | "25006"
        | "25P03" | "58000" | "58030" | "72000" => Class::Transient,
        "28000" | "28P01" | "42501" => Class::Unknown,
        "57P04" | "3D000" | "3F000" => Class::Permanent,
        _ => match code.get(..2) {
            Some("08") => Class::Transient,
            Some("0A" | "21" | "22" | "23" | "42" | "XX") => Class::Permanent,
            _ => Class::Unknown,
        },
    }
}

/// MySQL 8 / MariaDB, by the server's error number.
///
/// | number | meaning | class |
/// | --- | --- | --- |
/// | 1040, 1203, 1226 | too many connections, user's `max_user_connections`, user's resource limit | transient |
/// | 1053, 1152, 1927, 4031 | server shutting down, aborted connection, connection killed (`KILL`), disconnected for inactivity | transient |
/// | 1158–1161 | network read / write error or timeout | transient |
/// | 1205, 1213, 1180, 1181 | lock wait timeout (`innodb_lock_wait_timeout`, `lock_wait_timeout`), deadlock, error during commit / rollback | transient |
/// | 1317, 1969, 3024 | query interrupted (`KILL QUERY`), statement timeout (MariaDB `max_statement_time`), execution time exceeded (MySQL `max_execution_time`) | transient |
/// | 1290, 1836 | read-only (`--read-only`, a replica during failover) | transient |
/// | 3118, 4151 | account locked (MySQL, MariaDB) | transient |
/// | 1021, 1037, 1038, 1041, 1129, 1615, 1637, 1412, 1047 | disk full, out of memory, out of resources, host blocked, statement to re-prepare, too many concurrent transactions, table definition changed, Galera node not ready (`WSREP has not yet prepared node`) | transient |
/// | 2002, 2003, 2006, 2013 | client-side: cannot connect, server gone away, lost connection (sqlx reports these as I/O errors; listed for drivers that use the numbers) | transient |
/// | 1044, 1045, 1142, 1143 | access denied (database, user, command, column) | unknown |
/// | 1048, 1049, 1050, 1054, 1060–1062, 1064, 1091, 1118, 1136, 1146, 1153, 1264, 1265, 1292, 1364, 1366, 1406, 1451, 1452 | bad NULL, unknown database, table exists, unknown column, duplicate column / key / entry, syntax, cannot drop, row too large, column count, no such table, packet too large, out of range, truncated, incorrect value, no default, data too long, foreign key | permanent |
/// | anything else | | unknown |
pub(crate) fn mysql(e: &dyn DatabaseError) -> Class {
    #[cfg(feature = "mysql")]
    if let Some(m) = e.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>() {
        return mysql_number(m.number());
    }
    let _ = e;
    Class::Unknown
}

/// [`mysql`] for one error number.
pub(crate) fn mysql_number(n: u16) -> Class {
    match n {
        1040
        | 1203
        | 1226
        | 1053
        | 1152
        | 1927
        | 4031
        | 1158..=1161
        | 1205
        | 1213
        | 1180
        | 1181
        | 1317
        | 1969
        | 3024
        | 1290
        | 1836
        | 3118
        | 4151
        | 1021
        | 1037
        | 1038
        | 1041
        | 1129
        | 1615
        | 1637
        | 1412
        | 1047
        | 2002
        | 2003
        | 2006
        | 2013 => Class::Transient,
        1044 | 1045 | 1142 | 1143 => Class::Unknown,
        1048
        | 1049
        | 1050
        | 1054
        | 1060..=1062
        | 1064
        | 1091
        | 1118
        | 1136
        | 1146
        | 1153
        | 1264
        | 1265
        | 1292
        | 1364
        | 1366
        | 1406
        | 1451
        | 1452 => Class::Permanent,
        _ => Class::Unknown,
    }
}

/// SQLite, by extended result code (the primary code is its low byte).
///
/// | code | meaning | class |
/// | --- | --- | --- |
/// | 5 `BUSY` (and 261 `BUSY_RECOVERY`, 517 `BUSY_SNAPSHOT`, 773 `BUSY_TIMEOUT`) | another connection or process holds the lock past the busy timeout | transient |
/// | 6 `LOCKED` (262 `LOCKED_SHAREDCACHE`, 518 `LOCKED_VTAB`) | a conflict inside one connection or shared cache | transient |
/// | 7 `NOMEM`, 9 `INTERRUPT`, 13 `FULL`, 14 `CANTOPEN`, 15 `PROTOCOL` | out of memory, interrupted, disk full, cannot open (file moved back, directory remounted), WAL lock race | transient |
/// | 264 `READONLY_RECOVERY`, 520 `READONLY_CANTLOCK`, 776 `READONLY_ROLLBACK` | read-only until another connection recovers or releases | transient |
/// | 1 `ERROR`, 11 `CORRUPT`, 18 `TOOBIG`, 19 `CONSTRAINT…`, 20 `MISMATCH`, 21 `MISUSE`, 25 `RANGE`, 26 `NOTADB` | SQL error (no such table, syntax), corruption, too big, constraint, type mismatch, misuse, range, not a database | permanent |
/// | anything else (8 `READONLY` file permissions, 10 `IOERR…`, 23 `AUTH`, …) | | unknown |
pub(crate) fn sqlite(e: &dyn DatabaseError) -> Class {
    e.code()
        .and_then(|c| c.parse::<i32>().ok())
        .map_or(Class::Unknown, sqlite_code)
}

/// [`sqlite`] for one extended result code.
pub(crate) fn sqlite_code(code: i32) -> Class {
    match code {
        264 | 520 | 776 => Class::Transient,
        _ => match code & 0xff {
            5 | 6 | 7 | 9 | 13 | 14 | 15 => Class::Transient,
            1 | 11 | 18 | 19 | 20 | 21 | 25 | 26 => Class::Permanent,
            _ => Class::Unknown,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::Class::{Permanent, Transient, Unknown};
    use super::*;

    /// Every unavailability class of the issue maps to transient, on each database; the
    /// statement's own faults map to permanent; authorization stays unknown.
    #[test]
    fn postgres_classes() {
        for (code, class) in [
            ("08006", Transient), // connection failure
            ("08001", Transient), // unable to establish
            ("57P01", Transient), // terminated: administrator command, shutdown
            ("57P02", Transient), // crash shutdown
            ("57P03", Transient), // cannot connect now
            ("55000", Transient), // database not accepting connections
            ("53300", Transient), // too many connections
            ("25006", Transient), // read-only (failover)
            ("55P03", Transient), // lock_timeout
            ("57014", Transient), // statement_timeout
            ("40001", Transient),
            ("40P01", Transient),
            ("28P01", Unknown),
            ("42501", Unknown),
            ("P0001", Unknown),
            ("23505", Permanent),
            ("22001", Permanent),
            ("42P01", Permanent),
            ("42601", Permanent),
            ("57P04", Permanent),
            ("3D000", Permanent),
            ("XX001", Permanent),
        ] {
            assert_eq!(postgres_sqlstate(code), class, "{code}");
        }
    }

    #[test]
    fn mysql_classes() {
        for (n, class) in [
            (1040, Transient), // too many connections
            (1203, Transient), // max_user_connections
            (1053, Transient), // shutdown
            (1927, Transient), // connection killed
            (1290, Transient), // read-only
            (1836, Transient), // read-only mode
            (1205, Transient), // lock wait timeout
            (1213, Transient), // deadlock
            (1969, Transient), // max_statement_time
            (3024, Transient), // max_execution_time
            (3118, Transient), // account locked (MySQL)
            (4151, Transient), // account locked (MariaDB)
            (2013, Transient),
            (1045, Unknown),
            (1044, Unknown),
            (1062, Permanent),
            (1064, Permanent),
            (1146, Permanent),
            (1406, Permanent),
            (9999, Unknown),
        ] {
            assert_eq!(mysql_number(n), class, "{n}");
        }
    }

    #[test]
    fn sqlite_classes() {
        for (code, class) in [
            (5, Transient),   // BUSY
            (261, Transient), // BUSY_RECOVERY
            (517, Transient), // BUSY_SNAPSHOT
            (773, Transient), // BUSY_TIMEOUT
            (6, Transient),   // LOCKED
            (262, Transient), // LOCKED_SHAREDCACHE
            (14, Transient),  // CANTOPEN
            (13, Transient),  // FULL
            (520, Transient), // READONLY_CANTLOCK
            (8, Unknown),     // READONLY (permissions)
            (10, Unknown),    // IOERR
            (1, Permanent),
            (19, Permanent),
            (2067, Permanent), // CONSTRAINT_UNIQUE
            (11, Permanent),
        ] {
            assert_eq!(sqlite_code(code), class, "{code}");
        }
    }

    #[test]
    fn driver_errors() {
        let never = |_: &dyn DatabaseError| Class::Unknown;
        for kind in [
            std::io::ErrorKind::ConnectionRefused,
            std::io::ErrorKind::ConnectionReset,
            std::io::ErrorKind::ConnectionAborted,
            std::io::ErrorKind::BrokenPipe,
            std::io::ErrorKind::UnexpectedEof,
            std::io::ErrorKind::TimedOut,
        ] {
            let e = sqlx::Error::Io(std::io::Error::from(kind));
            assert_eq!(sqlx_error(&e, never), Transient, "{kind:?}");
        }
        assert_eq!(sqlx_error(&sqlx::Error::PoolTimedOut, never), Transient);
        assert_eq!(sqlx_error(&sqlx::Error::RowNotFound, never), Permanent);
        assert_eq!(
            sqlx_error(&sqlx::Error::Protocol("odd".into()), never),
            Unknown
        );
        let e = store_error(sqlx::Error::PoolTimedOut, Transient);
        assert!(e.is_transient() && !e.is_permanent());
        let e = store_error(sqlx::Error::RowNotFound, Permanent);
        assert!(!e.is_transient() && e.is_permanent());
        let e = store_error(sqlx::Error::Protocol("odd".into()), Unknown);
        assert!(!e.is_transient() && !e.is_permanent());
    }
}
