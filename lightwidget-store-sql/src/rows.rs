//! Account rows as stored, read column by column from an [`AnyRow`] or, on SQLite's hot
//! paths, from a rusqlite row (`lite`), then decrypted and parsed in one place.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use lightwidget_core::{
    Account, AccountId, AccountRecord, ConnectionKind, Entitlements, ExpiryReason, OwnerId,
    RetryState, StoreError, Token, TokenState, TokenStatus, Warnings,
};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::Encryption;

/// The columns of `ACCOUNT_COLS`, in order, before decryption and parsing. Text is
/// borrowed from the row where the driver allows it.
pub(crate) struct RawAccount<'a>(
    pub Cow<'a, str>,         // 0 id
    pub Cow<'a, str>,         // 1 owner
    pub Cow<'a, str>,         // 2 kind
    pub Cow<'a, str>,         // 3 ig_user_id
    pub Cow<'a, str>,         // 4 username
    pub Option<Cow<'a, str>>, // 5 page_id
    pub i64,                  // 6 notifications
    pub Vec<u8>,              // 7 token_ct
    pub Cow<'a, str>,         // 8 token_key
    pub i64,                  // 9 issued_at
    pub Option<i64>,          // 10 expires_at
    pub Option<i64>,          // 11 data_access_expires_at
    pub Cow<'a, str>,         // 12 scopes (JSON text)
    pub Cow<'a, str>,         // 13 status
    pub Option<Cow<'a, str>>, // 14 status_reason
    pub Option<i64>,          // 15 status_at
    pub Option<i64>,          // 16 last_checked_at
    pub Option<i64>,          // 17 next_action_at
    pub Cow<'a, str>,         // 18 retry (JSON text)
    pub Cow<'a, str>,         // 19 warnings (JSON text)
    pub i64,                  // 20 episode
    pub i64,                  // 21 refresh_requested
    pub i64,                  // 22 version
);

impl RawAccount<'static> {
    /// Reads `ACCOUNT_COLS` from a row.
    pub fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        let s = |i: usize| row.try_get::<String, _>(i).map(Cow::Owned);
        let os = |i: usize| {
            row.try_get::<Option<String>, _>(i)
                .map(|v| v.map(Cow::Owned))
        };
        Ok(Self(
            s(0)?,
            s(1)?,
            s(2)?,
            s(3)?,
            s(4)?,
            os(5)?,
            row.try_get(6)?,
            row.try_get(7)?,
            s(8)?,
            row.try_get(9)?,
            row.try_get(10)?,
            row.try_get(11)?,
            s(12)?,
            s(13)?,
            os(14)?,
            row.try_get(15)?,
            row.try_get(16)?,
            row.try_get(17)?,
            s(18)?,
            s(19)?,
            row.try_get(20)?,
            row.try_get(21)?,
            row.try_get(22)?,
        ))
    }
}

impl RawAccount<'_> {
    /// Decrypts the token and parses the record. A row that cannot be read is
    /// [`StoreError::Corrupt`] for its account (a bad id is a backend error: no account
    /// to blame).
    pub fn decode(self, enc: &Encryption) -> Result<AccountRecord, StoreError> {
        let RawAccount(
            id_s,
            owner,
            kind_s,
            ig_user_id,
            username,
            page_id,
            notifications,
            ct,
            key_id,
            issued_at,
            expires_at,
            data_access_expires_at,
            scopes,
            status_s,
            reason,
            status_at,
            last_checked_at,
            next_action_at,
            retry,
            warnings,
            episode,
            refresh_requested,
            version,
        ) = self;
        let id: AccountId = id_s.parse().map_err(|_| StoreError::Backend {
            message: format!("bad account id {id_s:?}"),
            source: None,
        })?;
        let kind: ConnectionKind = kind_s
            .parse()
            .map_err(|_| corrupt(id, format!("unknown kind {kind_s:?}")))?;
        let secret = enc.open(&key_id, &ct, &id_s).map_err(|m| corrupt(id, m))?;
        let scopes: Vec<String> =
            serde_json::from_str(&scopes).map_err(|e| corrupt(id, format!("scopes: {e}")))?;
        let mut token = Token::new(secret, from_ms(issued_at)).with_scopes(scopes);
        token.expires_at = expires_at.map(from_ms);
        token.data_access_expires_at = data_access_expires_at.map(from_ms);
        let at = status_at.map(from_ms).unwrap_or_default();
        let status = match status_s.as_ref() {
            "active" => TokenStatus::Active,
            "revoked" => TokenStatus::Revoked { at },
            "expired" => {
                let reason = reason
                    .as_deref()
                    .and_then(ExpiryReason::from_code)
                    .ok_or_else(|| corrupt(id, format!("unknown expiry reason {reason:?}")))?;
                TokenStatus::Expired { reason, at }
            }
            other => return Err(corrupt(id, format!("unknown status {other:?}"))),
        };
        let retry: RetryState =
            serde_json::from_str(&retry).map_err(|e| corrupt(id, format!("retry state: {e}")))?;
        let warnings: Warnings =
            serde_json::from_str(&warnings).map_err(|e| corrupt(id, format!("warnings: {e}")))?;
        Ok(AccountRecord {
            account: Account {
                id,
                owner: OwnerId::new(owner.into_owned()),
                kind,
                ig_user_id: ig_user_id.into_owned(),
                username: username.into_owned(),
                page_id: page_id.map(Cow::into_owned),
                entitlements: Entitlements {
                    notifications: notifications != 0,
                },
            },
            state: TokenState {
                token,
                status,
                last_checked_at: last_checked_at.map(from_ms),
                next_action_at: next_action_at.map(from_ms),
                retry,
                warnings,
                episode: u32::try_from(episode).unwrap_or(u32::MAX),
                refresh_requested: refresh_requested != 0,
            },
            version,
        })
    }
}

pub(crate) fn corrupt(account: AccountId, message: impl Into<String>) -> StoreError {
    StoreError::Corrupt {
        account,
        message: message.into(),
    }
}

pub(crate) fn from_ms(v: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(v).unwrap_or_default()
}
