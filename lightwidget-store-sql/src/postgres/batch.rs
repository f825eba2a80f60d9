//! `commit_many` on PostgreSQL in a handful of statements instead of two or three per
//! transition. Per run of distinct accounts: the fenced updates as `UPDATE … FROM (VALUES
//! …) RETURNING id` in power-of-two chunks of up to 256 rows, then the history of every
//! written row as multi-row INSERTs, in order. Each transition is fenced on its own: a
//! row the UPDATE did not return had another version (`Conflict`) or does not exist
//! (`UnknownAccount`; one lookup each, only for those). An account appearing twice is
//! committed in order (a new run starts at the repeat, so the second sees the first's
//! version).

use std::collections::HashSet;
use std::sync::LazyLock;

use lightwidget_core::{StoreError, TokenEvent, Transition};

use crate::codec::{json, ms};
use crate::db::{Db, WriteTx, bind_account_cols};

/// Largest batch statement: 2^8 = 256 rows (≤ 5,888 parameters, far below PostgreSQL's
/// 65,535).
const MAX_ROWS_LOG2: usize = 8;

/// Columns of one row of the batched commit, with their types (a `VALUES` list of
/// untyped parameters would otherwise resolve to `text`): `ACCOUNT_COLS` in order, the
/// version being the expected one.
const BATCH_COLS: [&str; 23] = [
    "text", "text", "text", "text", "text", "text", "bigint", "bytea", "text", "bigint", "bigint",
    "bigint", "text", "text", "text", "bigint", "bigint", "bigint", "text", "text", "bigint",
    "bigint", "bigint",
];

/// `COMMIT_TEMPLATE` with `{values}` replaced by 2^k rows, for k = 0..=8.
static COMMIT: LazyLock<Vec<String>> = LazyLock::new(|| {
    statements(
        include_str!("../../queries/postgres/commit_batch.sql"),
        &BATCH_COLS,
    )
});

/// `HISTORY_TEMPLATE` likewise.
static HISTORY: LazyLock<Vec<String>> = LazyLock::new(|| {
    statements(
        include_str!("../../queries/postgres/history_batch.sql"),
        &["text", "bigint", "text"],
    )
});

/// The template with its `{values}` as 2^k rows of `$n::type` parameters, per k.
fn statements(template: &str, types: &[&str]) -> Vec<String> {
    (0..=MAX_ROWS_LOG2)
        .map(|k| {
            let mut n = 0;
            let rows: Vec<String> = (0..1usize << k)
                .map(|_| {
                    let row: Vec<String> = types
                        .iter()
                        .map(|ty| {
                            n += 1;
                            format!("${n}::{ty}")
                        })
                        .collect();
                    format!("({})", row.join(", "))
                })
                .collect();
            template.replace("{values}", &rows.join(", "))
        })
        .collect()
}

/// Splits `start..end` into consecutive runs of 2^k rows, largest first, k ≤
/// [`MAX_ROWS_LOG2`]: `(first index, k)`. At most nine statement shapes exist, so each
/// stays in the connection's prepared-statement cache.
fn pieces(start: usize, end: usize) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut at = start;
    while at < end {
        let left = end - at;
        let k = (usize::BITS - 1 - left.leading_zeros()) as usize;
        let k = k.min(MAX_ROWS_LOG2);
        out.push((at, k));
        at += 1 << k;
    }
    out
}

/// Commits `ts` inside `tx` (see the module's documentation).
pub(super) async fn commit(
    db: &Db,
    tx: &mut WriteTx,
    ts: &[Transition],
) -> Result<Vec<Result<(), StoreError>>, StoreError> {
    let ids: Vec<String> = ts.iter().map(|t| t.account.id.to_string()).collect();
    let mut out: Vec<Option<Result<(), StoreError>>> = (0..ts.len()).map(|_| None).collect();
    let mut start = 0;
    while start < ts.len() {
        let mut seen = HashSet::new();
        let mut end = start;
        while end < ts.len() && seen.insert(ts[end].account.id) {
            end += 1;
        }
        let mut written: Vec<usize> = Vec::with_capacity(end - start);
        for (from, k) in pieces(start, end) {
            let chunk = from..from + (1 << k);
            let mut q = db.q(&COMMIT[k]);
            for i in chunk.clone() {
                let t = &ts[i];
                let sealed = t
                    .token_changed
                    .then(|| db.enc.seal(t.state.token.secret(), &ids[i]));
                q = bind_account_cols(q, &ids[i], &t.account, &t.state, sealed, t.expected_version);
            }
            let done: HashSet<String> = db.ids(q, tx).await?.into_iter().collect();
            for i in chunk {
                if done.contains(&ids[i]) {
                    written.push(i);
                } else {
                    out[i] = Some(Err(db.refused(tx, ts[i].account.id).await?));
                }
            }
        }
        let events: Vec<(usize, &TokenEvent)> = written
            .iter()
            .flat_map(|&i| ts[i].events.iter().map(move |e| (i, e)))
            .collect();
        for (from, k) in pieces(0, events.len()) {
            let mut q = db.q(&HISTORY[k]);
            for &(i, e) in &events[from..from + (1 << k)] {
                q = q.bind(ids[i].clone()).bind(ms(e.at)).bind(json(&e.kind));
            }
            q.execute(&mut *tx.tx).await.map_err(|e| db.err(e))?;
        }
        for &i in &written {
            db.insert_notices(tx, &ids[i], &ts[i].notices).await?;
            out[i] = Some(Ok(()));
        }
        start = end;
    }
    Ok(out
        .into_iter()
        .map(|r| r.expect("every transition gets a result"))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_cover_the_range_in_power_of_two_runs_largest_first() {
        for n in [0usize, 1, 2, 3, 7, 255, 256, 257, 500, 513, 1000] {
            let p = pieces(5, 5 + n);
            let mut at = 5;
            for &(from, k) in &p {
                assert_eq!(from, at, "contiguous for n={n}");
                assert!(k <= MAX_ROWS_LOG2);
                at += 1 << k;
            }
            assert_eq!(at, 5 + n, "covers exactly n={n}");
            assert!(
                p.windows(2).all(|w| w[0].1 >= w[1].1),
                "largest first: {p:?}"
            );
        }
        assert_eq!(
            pieces(0, 500),
            vec![(0, 8), (256, 7), (384, 6), (448, 5), (480, 4), (496, 2)]
        );
    }

    #[test]
    fn batch_statements_number_every_parameter() {
        assert_eq!(COMMIT[1].matches("::").count(), 46);
        assert!(COMMIT[1].contains("($24::text, "), "{}", COMMIT[1]);
        assert!(
            HISTORY[0].ends_with("($1::text, $2::bigint, $3::text)\n")
                || HISTORY[0].contains("($1::text, $2::bigint, $3::text)")
        );
    }
}
