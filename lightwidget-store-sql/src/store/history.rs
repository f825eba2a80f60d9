//! History pages on the pool: every event of an account (operators), or as one owner
//! sees it (token events from when they joined, and their own).

use lightwidget_core::{
    AccountId, HistoryEntry, HistoryQuery, OwnerId, StoreError, TokenEvent, TokenEventKind,
};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::SqlStore;
use crate::codec::{corrupt, from_ms};
use crate::db::Classified;

impl SqlStore {
    pub(super) async fn read_history_sql(
        &self,
        id: AccountId,
        owner: Option<&OwnerId>,
        query: HistoryQuery,
    ) -> Result<Vec<HistoryEntry>, StoreError> {
        let sql = self.sql();
        let q = match owner {
            None => {
                if !self.exists(id).await? {
                    return Err(StoreError::UnknownAccount(id));
                }
                match query.before {
                    Some(b) => self.q(sql.history_before).bind(id.to_string()).bind(b),
                    None => self.q(sql.history).bind(id.to_string()),
                }
            }
            Some(owner) => {
                let since: i64 = self
                    .q(sql.member_seq)
                    .bind(id.to_string())
                    .bind(owner.as_str().to_owned())
                    .fetch_optional(self.pool())
                    .await
                    .classified(self.db())?
                    .ok_or(StoreError::UnknownAccount(id))?
                    .try_get(0)
                    .classified(self.db())?;
                let q = self.q(match query.before {
                    Some(_) => sql.history_for_before,
                    None => sql.history_for,
                });
                let q = q
                    .bind(id.to_string())
                    .bind(since)
                    .bind(owner.as_str().to_owned());
                match query.before {
                    Some(b) => q.bind(b),
                    None => q,
                }
            }
        };
        let rows = q
            .bind(i64::from(query.limit))
            .fetch_all(self.pool())
            .await
            .classified(self.db())?;
        rows.iter().map(|r| self.history_row(id, r)).collect()
    }

    /// A history row (seq, at, event, owner) of `id`.
    fn history_row(&self, id: AccountId, r: &AnyRow) -> Result<HistoryEntry, StoreError> {
        let db = self.db();
        let kind: TokenEventKind = serde_json::from_str(&r.try_get::<String, _>(2).classified(db)?)
            .map_err(|e| corrupt(id, format!("history event: {e}")))?;
        Ok(HistoryEntry {
            seq: r.try_get(0).classified(db)?,
            event: TokenEvent::new(from_ms(r.try_get(1).classified(db)?), kind),
            owner: r
                .try_get::<Option<String>, _>(3)
                .classified(db)?
                .map(OwnerId::new),
        })
    }
}
