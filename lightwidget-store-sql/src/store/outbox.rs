//! Notices on the pool: acknowledging a delivery attempt (its effect is the pure
//! `Acknowledged::of`'s) and listing an account's notices. Takes are the
//! backend's (`dialect.rs`).

use chrono::{DateTime, Utc};
use lightwidget_core::{AccountId, Acknowledged, Notice, NoticeState, StoreError, TokenEvent};
use sqlx::Row;
use uuid::Uuid;

use super::SqlStore;
use crate::codec::{corrupt, decode_outbox, json, ms};
use crate::db::Classified;

/// A stored notice state.
fn notice_state(s: &str) -> NoticeState {
    match s {
        "pending" => NoticeState::Pending,
        "delivered" => NoticeState::Delivered,
        "suppressed" => NoticeState::Suppressed,
        _ => NoticeState::Failed,
    }
}

impl SqlStore {
    pub(super) async fn ack_outbox_sql(
        &self,
        notice_id: Uuid,
        version: i64,
        ack: &Acknowledged,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let db = self.db();
        let mut tx = db.begin().await?;
        let row = self
            .q(self.sql().outbox_get)
            .bind(notice_id.to_string())
            .fetch_optional(&mut *tx.tx)
            .await
            .classified(db)?
            .ok_or_else(|| StoreError::Backend {
                message: format!("unknown notice {notice_id}"),
                source: None,
            })?;
        let entry = decode_outbox(&row)?;
        let account = entry.notice.account_id;
        let (q, event) = match ack.clone() {
            Acknowledged::Final { state, event } => (
                self.q(self.sql().ack_final).bind(state.as_str()),
                Some(event),
            ),
            Acknowledged::Retry { at, delivered } => {
                let q = self.q(self.sql().ack_retry).bind(json(&delivered));
                (q.bind(ms(at)), None)
            }
        };
        let res = q
            .bind(notice_id.to_string())
            .bind(version)
            .execute(&mut *tx.tx)
            .await
            .classified(db)?;
        if res.rows_affected() == 0 {
            return Err(StoreError::Conflict(account));
        }
        if let Some(kind) = event {
            // The notice's outcome is its owner's.
            let event = TokenEvent::new(now, kind);
            db.write_owner_events(&mut tx, account, &entry.notice.owner, &[event])
                .await?;
        }
        tx.tx.commit().await.classified(db)
    }

    pub(super) async fn notices_sql(
        &self,
        id: AccountId,
    ) -> Result<Vec<(Notice, NoticeState)>, StoreError> {
        let db = self.db();
        let rows = self
            .q(self.sql().notices)
            .bind(id.to_string())
            .fetch_all(self.pool())
            .await
            .classified(db)?;
        rows.iter()
            .map(|r| {
                let n: Notice = serde_json::from_str(&r.try_get::<String, _>(0).classified(db)?)
                    .map_err(|e| corrupt(id, format!("notice: {e}")))?;
                let state: String = r.try_get(1).classified(db)?;
                Ok((n, notice_state(&state)))
            })
            .collect()
    }
}
