//! Held values (`TokenStore::put_held` / `get_held` / `take_held`): short-lived secrets
//! sealed like tokens (AES-256-GCM, the row's key as associated data), taken once.

use chrono::{DateTime, Utc};
use lightwidget_core::StoreError;
use secrecy::{ExposeSecret, SecretString};
use sqlx::Row;

use super::SqlStore;
use crate::codec::{from_ms, ms};
use crate::db::Classified;

fn aad(key: &str) -> String {
    format!("held:{key}")
}

impl SqlStore {
    pub(crate) async fn put_held_sql(
        &self,
        key: &str,
        value: &SecretString,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        lightwidget_core::check_link_id(key)?;
        let db = self.db();
        // Expired rows go as new ones arrive (the table stays small).
        db.q(self.sql().held_prune)
            .bind(ms(now))
            .execute(self.pool())
            .await
            .classified(db)?;
        let (key_id, ct) = db.enc.seal(value.expose_secret(), &aad(key));
        db.q(self.sql().held_put)
            .bind(key.to_owned())
            .bind(key_id)
            .bind(ct)
            .bind(ms(until))
            .execute(self.pool())
            .await
            .classified(db)?;
        Ok(())
    }

    /// The row's value if it is current at `now`.
    async fn read_held(
        &self,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<SecretString>, StoreError> {
        lightwidget_core::check_link_id(key)?;
        let db = self.db();
        let Some(row) = db
            .q(self.sql().held_get)
            .bind(key.to_owned())
            .fetch_optional(self.pool())
            .await
            .classified(db)?
        else {
            return Ok(None);
        };
        let key_id: String = row.try_get(0).classified(db)?;
        let ct: Vec<u8> = row.try_get(1).classified(db)?;
        let until: i64 = row.try_get(2).classified(db)?;
        if from_ms(until) <= now {
            return Ok(None);
        }
        let plain =
            db.enc
                .open(&key_id, &ct, &aad(key))
                .map_err(|message| StoreError::Backend {
                    message: format!("held value unreadable: {message}"),
                    source: None,
                })?;
        Ok(Some(plain.into()))
    }

    pub(crate) async fn get_held_sql(
        &self,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<SecretString>, StoreError> {
        self.read_held(key, now).await
    }

    pub(crate) async fn take_held_sql(
        &self,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<SecretString>, StoreError> {
        let value = self.read_held(key, now).await?;
        let db = self.db();
        // The delete decides: of concurrent takes, only one removes the row.
        let removed = db
            .q(self.sql().held_delete)
            .bind(key.to_owned())
            .execute(self.pool())
            .await
            .classified(db)?
            .rows_affected();
        Ok(if removed == 1 { value } else { None })
    }
}
