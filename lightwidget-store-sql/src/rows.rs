//! Account rows as stored, read either column by column from an [`AnyRow`] or, on
//! SQLite's hot paths, from one JSON array per batch (`json_group_array`): sqlx's SQLite
//! driver hands every result row from its worker thread to the async side through a
//! channel, and at 500 rows per claim those hand-offs cost more than the query.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use lightwidget_core::{
    Account, AccountId, AccountRecord, ConnectionKind, Entitlements, ExpiryReason, OwnerId,
    RetryState, StoreError, Token, TokenState, TokenStatus, Warnings,
};
use serde::Deserialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::Encryption;

/// The columns of `ACCOUNT_COLS`, in order, before decryption and parsing. Text is
/// borrowed from a JSON batch where it needs no unescaping.
#[derive(Deserialize)]
pub(crate) struct RawAccount<'a>(
    #[serde(borrow)] pub Cow<'a, str>,                   // 0 id
    #[serde(borrow)] pub Cow<'a, str>,                   // 1 owner
    #[serde(borrow)] pub Cow<'a, str>,                   // 2 kind
    #[serde(borrow)] pub Cow<'a, str>,                   // 3 ig_user_id
    #[serde(borrow)] pub Cow<'a, str>,                   // 4 username
    #[serde(borrow)] pub Option<Cow<'a, str>>,           // 5 page_id
    pub i64,                                             // 6 notifications
    #[serde(deserialize_with = "from_hex")] pub Vec<u8>, // 7 token_ct (hex in JSON)
    #[serde(borrow)] pub Cow<'a, str>,                   // 8 token_key
    pub i64,                                             // 9 issued_at
    pub Option<i64>,                                     // 10 expires_at
    pub Option<i64>,                                     // 11 data_access_expires_at
    #[serde(borrow)] pub Cow<'a, str>,                   // 12 scopes (JSON text)
    #[serde(borrow)] pub Cow<'a, str>,                   // 13 status
    #[serde(borrow)] pub Option<Cow<'a, str>>,           // 14 status_reason
    pub Option<i64>,                                     // 15 status_at
    pub Option<i64>,                                     // 16 last_checked_at
    pub Option<i64>,                                     // 17 next_action_at
    #[serde(borrow)] pub Cow<'a, str>,                   // 18 retry (JSON text)
    #[serde(borrow)] pub Cow<'a, str>,                   // 19 warnings (JSON text)
    pub i64,                                             // 20 episode
    pub i64,                                             // 21 refresh_requested
    pub i64,                                             // 22 version
);

/// Hex text (SQLite's `hex()`: upper case, never escaped, so borrowed) to bytes.
fn from_hex<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    let s = <&'de str>::deserialize(d)?;
    let mut out = vec![0u8; s.len() / 2];
    hex::decode_to_slice(s, &mut out).map_err(serde::de::Error::custom)?;
    Ok(out)
}

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

/// An element of a JSON batch that did not parse: its id if one could be found, and why.
pub(crate) type Unreadable = (Option<String>, String);

/// Parses a `json_group_array` of account rows. An element that does not parse is
/// reported with its id when one can be found (the first field), so the caller can
/// still lease and skip it; otherwise without.
pub(crate) fn parse_accounts(
    json: &str,
) -> Result<Vec<Result<RawAccount<'_>, Unreadable>>, StoreError> {
    // One pass when every row parses (the normal case), row by row otherwise.
    if let Ok(all) = serde_json::from_str::<Vec<RawAccount>>(json) {
        return Ok(all.into_iter().map(Ok).collect());
    }
    let elems: Vec<&serde_json::value::RawValue> =
        serde_json::from_str(json).map_err(|e| StoreError::Backend {
            message: format!("unreadable claim batch: {e}"),
            source: None,
        })?;
    Ok(elems
        .into_iter()
        .map(|e| {
            serde_json::from_str::<RawAccount>(e.get()).map_err(|err| {
                let id = serde_json::from_str::<Vec<serde_json::Value>>(e.get())
                    .ok()
                    .and_then(|v| v.first().and_then(|x| x.as_str()).map(str::to_owned));
                (id, err.to_string())
            })
        })
        .collect())
}

/// What a batched commit compares against: version, account metadata and status.
#[derive(Deserialize)]
pub(crate) struct Prior<'a>(
    #[serde(borrow)] pub Cow<'a, str>,         // id
    pub i64,                                   // version
    #[serde(borrow)] pub Cow<'a, str>,         // owner
    #[serde(borrow)] pub Cow<'a, str>,         // kind
    #[serde(borrow)] pub Cow<'a, str>,         // ig_user_id
    #[serde(borrow)] pub Cow<'a, str>,         // username
    #[serde(borrow)] pub Option<Cow<'a, str>>, // page_id
    pub i64,                                   // notifications
    #[serde(borrow)] pub Cow<'a, str>,         // status
    #[serde(borrow)] pub Option<Cow<'a, str>>, // status_reason
    pub Option<i64>,                           // status_at
);

impl Prior<'static> {
    /// Reads the `prior_batch` columns from a row.
    pub fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        let s = |i: usize| row.try_get::<String, _>(i).map(Cow::Owned);
        let os = |i: usize| {
            row.try_get::<Option<String>, _>(i)
                .map(|v| v.map(Cow::Owned))
        };
        Ok(Self(
            s(0)?,
            row.try_get(1)?,
            s(2)?,
            s(3)?,
            s(4)?,
            s(5)?,
            os(6)?,
            row.try_get(7)?,
            s(8)?,
            os(9)?,
            row.try_get(10)?,
        ))
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
