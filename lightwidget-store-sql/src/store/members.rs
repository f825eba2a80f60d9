//! The owners of shared accounts (`lw_members`): join and leave take the account's row
//! lock, one after the other, and write the membership, the account's primary-owner
//! columns and the owner's history event in one transaction. Who succeeds a primary
//! owner who leaves is the pure `Succession::after_leave`'s answer.

use chrono::{DateTime, Utc};
use lightwidget_core::{
    AccountId, Departure, Entitlements, Membership, OwnerId, StoreError, Succession, TokenEvent,
    TokenEventKind,
};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::SqlStore;
use crate::codec::{from_ms, ms};
use crate::db::{Classified, WriteTx};

impl SqlStore {
    /// Locks the account's row for the rest of `tx` (SQLite: the write lock is already
    /// held) and returns its primary owner; unknown accounts are refused.
    async fn lock_account(&self, tx: &mut WriteTx, id: AccountId) -> Result<String, StoreError> {
        self.q(self.sql().lock_account)
            .bind(id.to_string())
            .fetch_optional(&mut *tx.tx)
            .await
            .classified(self.db())?
            .ok_or(StoreError::UnknownAccount(id))?
            .try_get(0)
            .classified(self.db())
    }

    /// A `members.sql` row: owner, notifications, joined_at.
    fn membership(&self, r: &AnyRow) -> Result<Membership, StoreError> {
        let db = self.db();
        Ok(Membership {
            owner: OwnerId::new(r.try_get::<String, _>(0).classified(db)?),
            entitlements: Entitlements {
                notifications: r.try_get::<i64, _>(1).classified(db)? != 0,
            },
            joined_at: from_ms(r.try_get(2).classified(db)?),
        })
    }

    /// The members of `id`, in join order, read inside `tx`.
    async fn members_in(
        &self,
        tx: &mut WriteTx,
        id: AccountId,
    ) -> Result<Vec<Membership>, StoreError> {
        let rows = self
            .q(self.sql().members)
            .bind(id.to_string())
            .fetch_all(&mut *tx.tx)
            .await
            .classified(self.db())?;
        rows.iter().map(|r| self.membership(r)).collect()
    }

    /// Makes `m` the account's primary owner (its owner and entitlements columns).
    async fn set_primary(
        &self,
        tx: &mut WriteTx,
        id: AccountId,
        m: &Membership,
    ) -> Result<(), StoreError> {
        self.q(self.sql().primary_update)
            .bind(m.owner.as_str().to_owned())
            .bind(i64::from(m.entitlements.notifications))
            .bind(id.to_string())
            .execute(&mut *tx.tx)
            .await
            .classified(self.db())
            .map(drop)
    }

    pub(super) async fn owners_sql(&self, id: AccountId) -> Result<Vec<Membership>, StoreError> {
        if !self.exists(id).await? {
            return Err(StoreError::UnknownAccount(id));
        }
        let rows = self
            .q(self.sql().members)
            .bind(id.to_string())
            .fetch_all(self.pool())
            .await
            .classified(self.db())?;
        rows.iter().map(|r| self.membership(r)).collect()
    }

    pub(super) async fn join_sql(
        &self,
        id: AccountId,
        member: &Membership,
    ) -> Result<bool, StoreError> {
        let sql = self.sql();
        let id_s = id.to_string();
        let owner = member.owner.as_str().to_owned();
        let db = self.db();
        let mut tx = db.begin().await?;
        // Joins and leaves of one account take its row lock, one after the other.
        let primary = self.lock_account(&mut tx, id).await?;
        if primary == owner {
            // The account carries its primary owner's entitlements.
            self.set_primary(&mut tx, id, member).await?;
        }
        let known = self
            .q(sql.member_seq)
            .bind(id_s.clone())
            .bind(owner.clone())
            .fetch_optional(&mut *tx.tx)
            .await
            .classified(db)?
            .is_some();
        let notifications = i64::from(member.entitlements.notifications);
        if known {
            self.q(sql.member_update)
                .bind(notifications)
                .bind(id_s)
                .bind(owner)
                .execute(&mut *tx.tx)
                .await
                .classified(db)?;
            tx.tx.commit().await.classified(db)?;
            return Ok(false);
        }
        let joined = TokenEventKind::Joined {
            owner: member.owner.clone(),
        };
        let event = TokenEvent::new(member.joined_at, joined);
        db.write_owner_events(&mut tx, id, &member.owner, &[event])
            .await?;
        let seq: Option<i64> = self
            .q(sql.owner_last_seq)
            .bind(id_s.clone())
            .bind(owner.clone())
            .fetch_one(&mut *tx.tx)
            .await
            .and_then(|r| r.try_get(0))
            .classified(db)?;
        self.q(sql.member_insert)
            .bind(id_s)
            .bind(owner)
            .bind(notifications)
            .bind(ms(member.joined_at))
            .bind(seq.unwrap_or(0))
            .execute(&mut *tx.tx)
            .await
            .classified(db)?;
        tx.tx.commit().await.classified(db)?;
        Ok(true)
    }

    pub(super) async fn leave_sql(
        &self,
        id: AccountId,
        owner: &OwnerId,
        at: DateTime<Utc>,
    ) -> Result<Departure, StoreError> {
        let db = self.db();
        let mut tx = db.begin().await?;
        let primary = OwnerId::new(self.lock_account(&mut tx, id).await?);
        let gone = self
            .q(self.sql().member_delete)
            .bind(id.to_string())
            .bind(owner.as_str().to_owned())
            .execute(&mut *tx.tx)
            .await
            .classified(db)?
            .rows_affected();
        if gone == 0 {
            return Ok(Departure::NotAMember);
        }
        let rest = self.members_in(&mut tx, id).await?;
        match Succession::after_leave(&primary, owner, &rest) {
            Succession::Delete => {
                self.delete_in(&mut tx, id).await?;
                tx.tx.commit().await.classified(db)?;
                return Ok(Departure::Deleted);
            }
            Succession::Remain {
                primary: Some(next),
            } => {
                self.set_primary(&mut tx, id, &next).await?;
            }
            Succession::Remain { primary: None } => {}
        }
        let left = TokenEventKind::Left {
            owner: owner.clone(),
        };
        db.write_owner_events(&mut tx, id, owner, &[TokenEvent::new(at, left)])
            .await?;
        tx.tx.commit().await.classified(db)?;
        Ok(Departure::Left)
    }
}
