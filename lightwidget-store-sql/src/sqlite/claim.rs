//! The SQLite claim, as one job on the dedicated connection.

use std::borrow::Cow;

use lightwidget_core::{AccountRecord, StoreError};
use rusqlite::types::{FromSqlError, ValueRef};
use rusqlite::{Connection, TransactionBehavior};

use super::thread::lite_err;
use crate::Encryption;
use crate::codec::{Columns, decode_or_skip, sort_claimed};
use crate::lease::Lease;

const CLAIM: &str = include_str!("../../queries/sqlite/claim.sql");
const CLAIM_MARK: &str = include_str!("../../queries/sqlite/claim_mark.sql");

/// Leases up to `limit` due accounts, earliest first, in one `BEGIN IMMEDIATE`
/// transaction. Rows that do not decode are leased too (so they do not come back in
/// every batch) and skipped with a warning naming the account. If the caller has gone
/// by the end (`gone`), the transaction rolls back: nobody would work those leases.
pub(super) fn claim(
    conn: &mut Connection,
    gone: &dyn Fn() -> bool,
    enc: &Encryption,
    lease: Lease<'_>,
) -> Result<Vec<AccountRecord>, StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(lite_err)?;
    let mut rowids = Vec::with_capacity(lease.limit);
    let mut out = Vec::with_capacity(lease.limit);
    {
        let mut select = tx.prepare_cached(CLAIM).map_err(lite_err)?;
        let limit = i64::try_from(lease.limit).unwrap_or(i64::MAX);
        let mut rows = select.query((lease.now, limit)).map_err(lite_err)?;
        while let Some(row) = rows.next().map_err(lite_err)? {
            rowids.push(row.get::<_, i64>(0).map_err(lite_err)?);
            out.extend(decode_or_skip(&ClaimRow(row), enc));
        }
    }
    {
        let mut mark = tx.prepare_cached(CLAIM_MARK).map_err(lite_err)?;
        for rowid in rowids {
            mark.execute((lease.worker, lease.until, rowid))
                .map_err(lite_err)?;
        }
    }
    if gone() {
        tx.rollback().map_err(lite_err)?;
        return Ok(Vec::new());
    }
    tx.commit().map_err(lite_err)?;
    sort_claimed(&mut out);
    Ok(out)
}

/// A claim row: the rowid, then `ACCOUNT_COLS`, text borrowed from the row.
struct ClaimRow<'r, 's>(&'r rusqlite::Row<'s>);

impl<'r> ClaimRow<'r, '_> {
    fn value(&self, i: usize) -> Result<ValueRef<'r>, String> {
        self.0.get_ref(i + 1).map_err(|e| e.to_string())
    }
}

fn bad(i: usize, e: FromSqlError) -> String {
    format!("column {i}: {e}")
}

impl<'r> Columns<'r> for ClaimRow<'r, '_> {
    fn text(&self, i: usize) -> Result<Cow<'r, str>, String> {
        let v = self.value(i)?;
        v.as_str().map(Cow::Borrowed).map_err(|e| bad(i, e))
    }
    fn opt_text(&self, i: usize) -> Result<Option<Cow<'r, str>>, String> {
        let v = self.value(i)?;
        v.as_str_or_null()
            .map(|o| o.map(Cow::Borrowed))
            .map_err(|e| bad(i, e))
    }
    fn int(&self, i: usize) -> Result<i64, String> {
        self.value(i)?.as_i64().map_err(|e| bad(i, e))
    }
    fn opt_int(&self, i: usize) -> Result<Option<i64>, String> {
        self.value(i)?.as_i64_or_null().map_err(|e| bad(i, e))
    }
    fn blob(&self, i: usize) -> Result<Vec<u8>, String> {
        match self.value(i)? {
            ValueRef::Blob(b) => Ok(b.to_vec()),
            other => Err(format!(
                "column {i}: expected a blob, found {:?}",
                other.data_type()
            )),
        }
    }
}
