//! Bulk work on a [`SqlStore`] beyond the [`TokenStore`](lightwidget_core::TokenStore)
//! trait: seeding many accounts, re-encrypting under the current key.

use lightwidget_core::{AccountRecord, StoreError};
use sqlx::Row;

use crate::db::{Classified, bind_account_cols};
use crate::{Encryption, SqlStore};

impl SqlStore {
    /// Inserts many new accounts in one transaction (imports, seeding). Each record is
    /// encrypted like [`TokenStore::insert`](lightwidget_core::TokenStore::insert); a duplicate fails the whole batch.
    ///
    /// On PostgreSQL a batch is one statement over arrays (one round trip); on SQLite one
    /// job on the store's dedicated connection with prepared statements; on MySQL/MariaDB
    /// one statement per row, in one transaction.
    pub async fn insert_many(&self, records: &[AccountRecord]) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        if let Some(done) = self
            .inner
            .backend
            .insert_batch(&self.inner.db, records)
            .await
        {
            return done;
        }
        let mut tx = self.inner.db.begin().await?;
        for record in records {
            let a = &record.account;
            let s = &record.state;
            let id_s = a.id.to_string();
            let sealed = self.inner.db.enc.seal(s.token.secret(), &id_s);
            let q = self.q(self.sql().insert_account);
            bind_account_cols(q, &id_s, a, s, Some(sealed), record.version)
                .execute(&mut *tx.tx)
                .await
                .classified(self.db())?;
            // Its owner is its only member, seeing all of its history.
            self.q(self.sql().member_insert)
                .bind(id_s)
                .bind(a.owner.as_str().to_owned())
                .bind(i64::from(a.entitlements.notifications))
                .bind(crate::codec::ms(
                    s.last_checked_at.unwrap_or(s.token.issued_at),
                ))
                .bind(0i64)
                .execute(&mut *tx.tx)
                .await
                .classified(self.db())?;
        }
        tx.tx.commit().await.classified(self.db())
    }

    /// Re-encrypts, in batches of `batch`, every token still under an older key with
    /// the current key. Returns how many rows were rewritten. Safe to run while keepers
    /// work: a row changed meanwhile is skipped and picked up by the next run.
    pub async fn rotate(&self, batch: usize) -> Result<u64, StoreError> {
        let Encryption::Keyring(ring) = &self.inner.db.enc else {
            return Ok(0);
        };
        let current = ring.current_id().to_owned();
        let mut after = String::new();
        let mut done = 0;
        loop {
            let rows = self
                .q(self.sql().stale_keys)
                .bind(current.clone())
                .bind(after.clone())
                .bind(batch.max(1) as i64)
                .fetch_all(&self.inner.db.pool)
                .await
                .classified(self.db())?;
            if rows.is_empty() {
                break;
            }
            let mut tx = self.inner.db.begin().await?;
            for r in &rows {
                let id: String = r.try_get(0).classified(self.db())?;
                let key: String = r.try_get(1).classified(self.db())?;
                let ct: Vec<u8> = r.try_get(2).classified(self.db())?;
                after = id.clone();
                if !self.inner.db.enc.is_stale(&key) {
                    continue;
                }
                let plain = match self.inner.db.enc.open(&key, &ct, &id) {
                    Ok(p) => p,
                    Err(m) => {
                        tracing::warn!(account_id = %id, error = %m, "cannot rotate an unreadable token");
                        continue;
                    }
                };
                let (k, c) = self.inner.db.enc.seal(&plain, &id);
                let res = self
                    .q(self.sql().rewrite_token)
                    .bind(c)
                    .bind(k)
                    .bind(id)
                    .bind(key)
                    .execute(&mut *tx.tx)
                    .await
                    .classified(self.db())?;
                done += res.rows_affected();
            }
            tx.tx.commit().await.classified(self.db())?;
        }
        Ok(done)
    }
}
