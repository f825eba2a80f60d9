//! New accounts in bulk (`SqlStore::insert_many`) as one job on the dedicated connection:
//! one `BEGIN IMMEDIATE`, two prepared statements, values bound in place. Through the sqlx
//! pool the same batch went through the `Any` layer statement by statement (~10k
//! accounts/s at 100k rows).

use lightwidget_core::StoreError;
use rusqlite::{Connection, TransactionBehavior};

use super::thread::lite_err;
use crate::codec::CommitRow;

const INSERT_ACCOUNT: &str = include_str!("../../queries/sqlite/insert_account.sql");
const INSERT_MEMBER: &str = include_str!("../../queries/sqlite/member_insert.sql");

/// Inserts `rows` (encoded by [`CommitRow::inserted`]) and their owners as their only
/// members, seeing all the history, in one transaction: any failure (a duplicate) writes
/// nothing, and nor does a caller that has gone (`gone`) before the commit.
pub(super) fn insert(
    conn: &mut Connection,
    gone: &dyn Fn() -> bool,
    rows: &[CommitRow],
) -> Result<(), StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(lite_err)?;
    {
        let mut account = tx.prepare_cached(INSERT_ACCOUNT).map_err(lite_err)?;
        let mut member = tx.prepare_cached(INSERT_MEMBER).map_err(lite_err)?;
        for r in rows {
            let (key, ct) = r.token.as_ref().map(|(k, c)| (k, c)).unzip();
            account
                .execute(rusqlite::params![
                    r.id,
                    r.owner,
                    r.kind,
                    r.ig_user_id,
                    r.username,
                    r.page_id,
                    r.notifications,
                    ct,
                    key,
                    r.issued_at,
                    r.expires_at,
                    r.data_access_expires_at,
                    r.scopes,
                    r.status,
                    r.status_reason,
                    r.status_at,
                    r.last_checked_at,
                    r.next_action_at,
                    r.retry,
                    r.warnings,
                    r.episode,
                    r.refresh_requested,
                    r.expected_version,
                    r.fb_user_id,
                ])
                .map_err(lite_err)?;
            member
                .execute((
                    &r.id,
                    &r.owner,
                    r.notifications,
                    r.last_checked_at.unwrap_or(r.issued_at),
                    0i64,
                ))
                .map_err(lite_err)?;
        }
    }
    // Dropping an uncommitted transaction rolls it back.
    if gone() {
        return Err(StoreError::Unavailable {
            message: "the caller of insert_many went away; nothing was inserted".into(),
            source: None,
        });
    }
    tx.commit().map_err(lite_err)
}
