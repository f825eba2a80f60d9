//! Accounts on the pool: insert (with the first member), lookups, metadata updates and
//! deletion with everything that belongs to the account.

use lightwidget_core::{Account, AccountId, AccountRecord, Lookup, StoreError, TokenEvent};

use super::SqlStore;
use crate::codec::ms;
use crate::db::{Classified, WriteTx, bind_account_cols};

impl SqlStore {
    pub(super) async fn insert_sql(
        &self,
        record: &AccountRecord,
        events: &[TokenEvent],
    ) -> Result<(), StoreError> {
        let a = &record.account;
        let s = &record.state;
        let id_s = a.id.to_string();
        let sealed = self.inner.db.enc.seal(s.token.secret(), &id_s);
        let mut tx = self.inner.db.begin().await?;
        let q = self.q(self.sql().insert_account);
        let res = bind_account_cols(q, &id_s, a, s, Some(sealed), record.version)
            .execute(&mut *tx.tx)
            .await;
        if let Err(sqlx::Error::Database(d)) = &res
            && d.is_unique_violation()
        {
            return Err(StoreError::Duplicate {
                kind: a.kind,
                ig_user_id: a.ig_user_id.clone(),
            });
        }
        res.classified(self.db())?;
        // The first owner, seeing the whole history (joined_seq 0).
        let joined_at = events
            .first()
            .map(|e| e.at)
            .or(s.last_checked_at)
            .unwrap_or(s.token.issued_at);
        self.q(self.sql().member_insert)
            .bind(id_s.clone())
            .bind(a.owner.as_str().to_owned())
            .bind(i64::from(a.entitlements.notifications))
            .bind(ms(joined_at))
            .bind(0i64)
            .execute(&mut *tx.tx)
            .await
            .classified(self.db())?;
        self.inner.db.write_events(&mut tx, a.id, events).await?;
        tx.tx.commit().await.classified(self.db())
    }

    /// Deletes an account with its token, members, history and notices, inside `tx`.
    pub(super) async fn delete_in(
        &self,
        tx: &mut WriteTx,
        id: AccountId,
    ) -> Result<bool, StoreError> {
        let sql = self.sql();
        // The account's row first: its lock orders this delete after a commit in flight
        // (which then writes nothing) or before it (whose fenced update then matches no
        // row), so no history or notice of a deleted account is left behind.
        let deleted = self
            .q(sql.delete_account)
            .bind(id.to_string())
            .execute(&mut *tx.tx)
            .await
            .classified(self.db())?
            .rows_affected();
        for q in [sql.delete_history, sql.delete_outbox, sql.delete_members] {
            self.q(q)
                .bind(id.to_string())
                .execute(&mut *tx.tx)
                .await
                .classified(self.db())?;
        }
        Ok(deleted > 0)
    }

    pub(super) async fn lookup_sql(
        &self,
        lookup: &Lookup,
    ) -> Result<Vec<AccountRecord>, StoreError> {
        let sql = self.sql();
        let q = match lookup {
            Lookup::Id(id) => self.q(sql.get).bind(id.to_string()),
            Lookup::Key { kind, ig_user_id } => self
                .q(sql.find)
                .bind(kind.as_str())
                .bind(ig_user_id.to_string()),
            Lookup::Owner(owner) => self.q(sql.list_by_owner).bind(owner.as_str().to_owned()),
            Lookup::FbUser(fb) => self.q(sql.find_by_fb_user).bind(fb.to_string()),
            Lookup::Username { kind, username } => {
                // SQL narrows by LOWER(username); the ASCII-case-insensitive comparison
                // that decides is the same on every backend (MariaDB's collation,
                // PostgreSQL's Unicode LOWER and SQLite's ASCII one differ beyond ASCII).
                let q = self.q(sql.find_by_username).bind(kind.as_str());
                let mut found = self.accounts(q.bind(username.to_lowercase())).await?;
                found.retain(|r| r.account.username.eq_ignore_ascii_case(username));
                return Ok(found);
            }
            _ => {
                return Err(StoreError::Backend {
                    message: format!("this store does not know the lookup {lookup:?}"),
                    source: None,
                });
            }
        };
        self.accounts(q).await
    }

    pub(super) async fn update_account_sql(&self, a: &Account) -> Result<(), StoreError> {
        let q = self
            .q(self.sql().update_account)
            .bind(a.owner.as_str().to_owned())
            .bind(a.kind.as_str())
            .bind(a.ig_user_id.to_string())
            .bind(a.username.clone())
            .bind(a.page_id.clone().map(String::from))
            .bind(i64::from(a.entitlements.notifications))
            .bind(a.fb_user_id.clone().map(String::from))
            .bind(a.id.to_string());
        if self.run(q).await? == 0 {
            return Err(StoreError::UnknownAccount(a.id));
        }
        let q = self
            .q(self.sql().member_update)
            .bind(i64::from(a.entitlements.notifications))
            .bind(a.id.to_string())
            .bind(a.owner.as_str().to_owned());
        self.run(q).await.map(drop)
    }
}
