//! SQLite batched commits, encoded on the async side ([`CommitRow`]) and written as one
//! job on the dedicated connection ([`commit`]).

use std::sync::LazyLock;

use lightwidget_core::StoreError;
use rusqlite::{Connection, TransactionBehavior};

use super::thread::lite_err;
use crate::codec::{CommitRow, corrupt, json, ms};

const PRIOR: &str = include_str!("../../queries/sqlite/commit_prior.sql");
const INSERT_HISTORY: &str = include_str!("../../queries/sqlite/insert_history.sql");
const INSERT_NOTICE: &str = include_str!("../../queries/sqlite/commit_notice.sql");

/// The eight commit statements, by [`Cols::index`].
static COMMIT_SQL: LazyLock<Vec<String>> =
    LazyLock::new(|| (0..8).map(|i| commit_sql(Cols::from_index(i))).collect());

/// Which column groups a commit writes besides the state: the token (only when it
/// changed), the account metadata (owner, user and Facebook user carry indexes; a new
/// Facebook user id only when the transition carries one) and the status
/// (indexed). SQLite rewrites every index whose column is named in `SET`, changed or
/// not, so a commit names only what differs from the stored row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Cols {
    pub token: bool,
    pub account: bool,
    pub status: bool,
}

impl Cols {
    fn index(self) -> usize {
        usize::from(self.token) | usize::from(self.account) << 1 | usize::from(self.status) << 2
    }
    fn from_index(i: usize) -> Self {
        Self {
            token: i & 1 != 0,
            account: i & 2 != 0,
            status: i & 4 != 0,
        }
    }
}

/// The fenced-by-read UPDATE of one variant; the row is addressed by rowid.
fn commit_sql(c: Cols) -> String {
    let mut cols: Vec<&str> = Vec::new();
    if c.token {
        cols.extend(["token_ct", "token_key"]);
    }
    if c.account {
        cols.extend([
            "owner",
            "kind",
            "ig_user_id",
            "username",
            "page_id",
            "notifications",
            "fb_user_id",
        ]);
    }
    cols.extend([
        "issued_at",
        "expires_at",
        "data_access_expires_at",
        "scopes",
    ]);
    if c.status {
        cols.extend(["status", "status_reason", "status_at"]);
    }
    cols.extend([
        "last_checked_at",
        "next_action_at",
        "retry",
        "warnings",
        "episode",
        "refresh_requested",
    ]);
    let set: Vec<String> = cols
        .iter()
        .enumerate()
        .map(|(i, c)| match *c {
            // `None` keeps the stored Facebook user id.
            "fb_user_id" => format!("{c} = COALESCE(?{}, {c})", i + 1),
            _ => format!("{c} = ?{}", i + 1),
        })
        .collect();
    format!(
        "UPDATE lw_accounts SET {}, version = version + 1, lease_owner = NULL, \
         lease_until = NULL WHERE rowid = ?{}",
        set.join(", "),
        cols.len() + 1
    )
}

/// Commits `rows` in order in one `BEGIN IMMEDIATE` transaction: for each, a read of
/// its version, metadata and status by id (unknown account / stale version are refused
/// on their own), then the UPDATE of the columns that change, its history and its
/// notices. A repeated account sees the first copy's version. A failing statement fails
/// the whole batch (nothing is written). A commit completes even if its caller has gone:
/// a refreshed token is kept.
pub(super) fn commit(
    conn: &mut Connection,
    rows: &[CommitRow],
) -> Result<Vec<Result<(), StoreError>>, StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(lite_err)?;
    let mut out = Vec::with_capacity(rows.len());
    {
        let mut prior = tx.prepare_cached(PRIOR).map_err(lite_err)?;
        let mut history = tx.prepare_cached(INSERT_HISTORY).map_err(lite_err)?;
        for r in rows {
            let found = {
                let mut q = prior.query([&r.id]).map_err(lite_err)?;
                q.next()
                    .map_err(lite_err)?
                    .map(|p| compare(p, r).map_err(|m| corrupt(r.account, m)))
            };
            let (rowid, cols) = match found {
                None => {
                    out.push(Err(StoreError::UnknownAccount(r.account)));
                    continue;
                }
                Some(Err(e)) => {
                    out.push(Err(e));
                    continue;
                }
                Some(Ok((_, version, _))) if version != r.expected_version => {
                    out.push(Err(StoreError::Conflict(r.account)));
                    continue;
                }
                Some(Ok((rowid, _, cols))) => (rowid, cols),
            };
            let mut up = tx
                .prepare_cached(&COMMIT_SQL[cols.index()])
                .map_err(lite_err)?;
            bind_row(&mut up, r, cols, rowid).map_err(lite_err)?;
            let n = up.raw_execute().map_err(lite_err)?;
            if n != 1 {
                return Err(StoreError::Backend {
                    message: format!("commit wrote {n} rows for one account under the write lock"),
                    source: None,
                });
            }
            for (at, event) in &r.events {
                history.execute((&r.id, at, event)).map_err(lite_err)?;
            }
            if !r.notices.is_empty() {
                // As given: the keeper made one copy per owner.
                let mut notice = tx.prepare_cached(INSERT_NOTICE).map_err(lite_err)?;
                for n in &r.notices {
                    notice
                        .execute((
                            n.id.to_string(),
                            &n.dedupe_key,
                            &r.id,
                            ms(n.created_at),
                            json(n),
                        ))
                        .map_err(lite_err)?;
                }
            }
            out.push(Ok(()));
        }
    }
    tx.commit().map_err(lite_err)?;
    Ok(out)
}

/// The stored row against the commit: `(rowid, version, columns to write)`.
fn compare(p: &rusqlite::Row<'_>, r: &CommitRow) -> Result<(i64, i64, Cols), String> {
    let v = |i: usize| p.get_ref(i).map_err(|e| e.to_string());
    let bad = |i: usize, e: rusqlite::types::FromSqlError| format!("column {i}: {e}");
    let s = |i: usize| v(i)?.as_str().map_err(|e| bad(i, e));
    let os = |i: usize| v(i)?.as_str_or_null().map_err(|e| bad(i, e));
    let n = |i: usize| v(i)?.as_i64().map_err(|e| bad(i, e));
    let on = |i: usize| v(i)?.as_i64_or_null().map_err(|e| bad(i, e));
    let account = s(2)? != r.owner
        || s(3)? != r.kind
        || s(4)? != r.ig_user_id
        || s(5)? != r.username
        || os(6)? != r.page_id.as_deref()
        || n(7)? != r.notifications
        || (r.fb_user_id.is_some() && os(11)? != r.fb_user_id.as_deref());
    let status =
        s(8)? != r.status || os(9)? != r.status_reason.as_deref() || on(10)? != r.status_at;
    Ok((
        n(0)?,
        n(1)?,
        Cols {
            token: r.token.is_some(),
            account,
            status,
        },
    ))
}

/// Binds a commit row in the order of [`commit_sql`].
fn bind_row(
    st: &mut rusqlite::Statement<'_>,
    r: &CommitRow,
    cols: Cols,
    rowid: i64,
) -> rusqlite::Result<()> {
    let mut i = 0;
    let mut bind = |st: &mut rusqlite::Statement<'_>, v: &dyn rusqlite::ToSql| {
        i += 1;
        st.raw_bind_parameter(i, v)
    };
    if let Some((key, ct)) = &r.token {
        bind(st, ct)?;
        bind(st, key)?;
    }
    if cols.account {
        bind(st, &r.owner)?;
        bind(st, &r.kind)?;
        bind(st, &r.ig_user_id)?;
        bind(st, &r.username)?;
        bind(st, &r.page_id)?;
        bind(st, &r.notifications)?;
        bind(st, &r.fb_user_id)?;
    }
    bind(st, &r.issued_at)?;
    bind(st, &r.expires_at)?;
    bind(st, &r.data_access_expires_at)?;
    bind(st, &r.scopes)?;
    if cols.status {
        bind(st, &r.status)?;
        bind(st, &r.status_reason)?;
        bind(st, &r.status_at)?;
    }
    bind(st, &r.last_checked_at)?;
    bind(st, &r.next_action_at)?;
    bind(st, &r.retry)?;
    bind(st, &r.warnings)?;
    bind(st, &r.episode)?;
    bind(st, &r.refresh_requested)?;
    bind(st, &rowid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_statements_bind_as_many_values_as_they_name() {
        for i in 0..8 {
            let c = Cols::from_index(i);
            assert_eq!(c.index(), i);
            let sql = commit_sql(c);
            let marks = sql.matches('?').count();
            let expected = 10
                + 1
                + 2 * usize::from(c.token)
                + 7 * usize::from(c.account)
                + 3 * usize::from(c.status);
            assert_eq!(marks, expected, "{sql}");
            assert!(sql.ends_with(&format!("WHERE rowid = ?{marks}")), "{sql}");
        }
    }
}
