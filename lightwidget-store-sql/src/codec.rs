//! Rows as stored, in every dialect: an account row read column by column into a
//! [`RawAccount`] (from an sqlx row or, on SQLite's hot paths, a rusqlite row), then
//! decrypted and parsed in one place; outbox rows; time and JSON conversions.

use std::borrow::Cow;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use lightwidget_core::{
    Account, AccountId, AccountRecord, ConnectionKind, Entitlements, ExpiryReason, Notice,
    OutboxEntry, OwnerId, RetryState, StoreError, Token, TokenState, TokenStatus, Transition,
    Warnings,
};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::Encryption;

/// Milliseconds since the epoch, as every dialect stores time.
pub(crate) fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// [`ms`] of an optional time.
pub(crate) fn oms(t: Option<DateTime<Utc>>) -> Option<i64> {
    t.map(ms)
}

/// The time of a stored millisecond count.
pub(crate) fn from_ms(v: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(v).unwrap_or_default()
}

/// When a lease of `lease` taken at `now` ends (a year if `lease` does not fit).
pub(crate) fn lease_end(now: DateTime<Utc>, lease: Duration) -> DateTime<Utc> {
    now + TimeDelta::from_std(lease).unwrap_or(TimeDelta::days(365))
}

/// A JSON column's text.
pub(crate) fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("serialising plain data cannot fail")
}

/// `(status, status_reason, status_at)` as stored.
pub(crate) fn status_cols(s: &TokenStatus) -> (&'static str, Option<String>, Option<i64>) {
    match s {
        TokenStatus::Active => ("active", None, None),
        TokenStatus::Expired { reason, at } => ("expired", Some(reason.code()), Some(ms(*at))),
        TokenStatus::Revoked { at } => ("revoked", None, Some(ms(*at))),
    }
}

/// A stored value of `account` that cannot be read.
pub(crate) fn corrupt(account: AccountId, message: impl Into<String>) -> StoreError {
    StoreError::Corrupt {
        account,
        message: message.into(),
    }
}

/// A row a [`RawAccount`] can be read from: column `i` of `ACCOUNT_COLS` order, as the
/// stored type, text borrowed where the driver allows it. Errors name the column.
pub(crate) trait Columns<'r> {
    /// A text column.
    fn text(&self, i: usize) -> Result<Cow<'r, str>, String>;
    /// A nullable text column.
    fn opt_text(&self, i: usize) -> Result<Option<Cow<'r, str>>, String>;
    /// A BIGINT column.
    fn int(&self, i: usize) -> Result<i64, String>;
    /// A nullable BIGINT column.
    fn opt_int(&self, i: usize) -> Result<Option<i64>, String>;
    /// A blob column.
    fn blob(&self, i: usize) -> Result<Vec<u8>, String>;
}

/// The columns of `ACCOUNT_COLS` before decryption and parsing.
pub(crate) struct RawAccount<'a> {
    pub id: Cow<'a, str>,
    pub owner: Cow<'a, str>,
    pub kind: Cow<'a, str>,
    pub ig_user_id: Cow<'a, str>,
    pub username: Cow<'a, str>,
    pub page_id: Option<Cow<'a, str>>,
    pub notifications: i64,
    pub token_ct: Vec<u8>,
    pub token_key: Cow<'a, str>,
    pub issued_at: i64,
    pub expires_at: Option<i64>,
    pub data_access_expires_at: Option<i64>,
    /// JSON text.
    pub scopes: Cow<'a, str>,
    pub status: Cow<'a, str>,
    pub status_reason: Option<Cow<'a, str>>,
    pub status_at: Option<i64>,
    pub last_checked_at: Option<i64>,
    pub next_action_at: Option<i64>,
    /// JSON text.
    pub retry: Cow<'a, str>,
    /// JSON text.
    pub warnings: Cow<'a, str>,
    pub episode: i64,
    pub refresh_requested: i64,
    pub version: i64,
    pub fb_user_id: Option<Cow<'a, str>>,
}

impl<'r> RawAccount<'r> {
    /// Reads `ACCOUNT_COLS`, in order, from `row`.
    pub fn read(row: &impl Columns<'r>) -> Result<Self, String> {
        Ok(Self {
            id: row.text(0)?,
            owner: row.text(1)?,
            kind: row.text(2)?,
            ig_user_id: row.text(3)?,
            username: row.text(4)?,
            page_id: row.opt_text(5)?,
            notifications: row.int(6)?,
            token_ct: row.blob(7)?,
            token_key: row.text(8)?,
            issued_at: row.int(9)?,
            expires_at: row.opt_int(10)?,
            data_access_expires_at: row.opt_int(11)?,
            scopes: row.text(12)?,
            status: row.text(13)?,
            status_reason: row.opt_text(14)?,
            status_at: row.opt_int(15)?,
            last_checked_at: row.opt_int(16)?,
            next_action_at: row.opt_int(17)?,
            retry: row.text(18)?,
            warnings: row.text(19)?,
            episode: row.int(20)?,
            refresh_requested: row.int(21)?,
            version: row.int(22)?,
            fb_user_id: row.opt_text(23)?,
        })
    }

    /// Decrypts the token and parses the record. A row that cannot be read is
    /// [`StoreError::Corrupt`] for its account (a bad id is a backend error: no account
    /// to blame).
    pub fn decode(self, enc: &Encryption) -> Result<AccountRecord, StoreError> {
        let id: AccountId = self.id.parse().map_err(|_| StoreError::Backend {
            message: format!("bad account id {:?}", self.id),
            source: None,
        })?;
        let kind: ConnectionKind = self
            .kind
            .parse()
            .map_err(|_| corrupt(id, format!("unknown kind {:?}", self.kind)))?;
        let secret = enc
            .open(&self.token_key, &self.token_ct, &self.id)
            .map_err(|m| corrupt(id, m))?;
        let scopes: Vec<String> = parse(id, "scopes", &self.scopes)?;
        let mut token = Token::new(secret, from_ms(self.issued_at)).with_scopes(scopes);
        token.expires_at = self.expires_at.map(from_ms);
        token.data_access_expires_at = self.data_access_expires_at.map(from_ms);
        let status = status(
            id,
            &self.status,
            self.status_reason.as_deref(),
            self.status_at,
        )?;
        Ok(AccountRecord {
            account: Account {
                id,
                owner: OwnerId::new(self.owner.into_owned()),
                kind,
                ig_user_id: self.ig_user_id.into_owned().into(),
                username: self.username.into_owned(),
                page_id: self.page_id.map(|p| p.into_owned().into()),
                fb_user_id: self.fb_user_id.map(|f| f.into_owned().into()),
                entitlements: Entitlements {
                    notifications: self.notifications != 0,
                },
            },
            state: {
                let retry = parse::<RetryColumnIn>(id, "retry state", &self.retry)?;
                let last_checked_at = self.last_checked_at.map(from_ms);
                TokenState {
                    token,
                    status,
                    last_checked_at,
                    next_action_at: self.next_action_at.map(from_ms),
                    retry: retry.retry,
                    warnings: parse::<Warnings>(id, "warnings", &self.warnings)?,
                    episode: u32::try_from(self.episode).unwrap_or(u32::MAX),
                    refresh_requested: self.refresh_requested != 0,
                    verified_at: retry.verified_at.or(last_checked_at),
                    hold: retry.hold,
                }
            },
            version: self.version,
        })
    }
}

/// The `retry` column holds, besides the retry bookkeeping, when Graph last confirmed the
/// token and why it is held (if it is): JSON, so rows written before these existed read
/// as "confirmed at the last successful check" and "not held".
#[derive(serde::Serialize)]
struct RetryColumnOut<'a> {
    #[serde(flatten)]
    retry: &'a RetryState,
    #[serde(skip_serializing_if = "Option::is_none")]
    verified_at: Option<chrono::DateTime<chrono::Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    hold: Option<&'a lightwidget_core::Hold>,
}

#[derive(serde::Deserialize)]
struct RetryColumnIn {
    #[serde(flatten)]
    retry: RetryState,
    #[serde(default)]
    verified_at: Option<chrono::DateTime<chrono::Utc>>,
    #[serde(default)]
    hold: Option<lightwidget_core::Hold>,
}

/// The `retry` column of a state.
pub(crate) fn retry_column(s: &TokenState) -> String {
    json(&RetryColumnOut {
        retry: &s.retry,
        verified_at: s.verified_at,
        hold: s.hold.as_ref(),
    })
}

/// The `LIKE` pattern of the `retry` column of accounts held by `incident`.
pub(crate) fn held_by_pattern(incident: lightwidget_core::IncidentId) -> String {
    format!("%\"incident\":\"{incident}\"%")
}

fn parse<T: serde::de::DeserializeOwned>(
    id: AccountId,
    what: &str,
    text: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| corrupt(id, format!("{what}: {e}")))
}

fn status(
    id: AccountId,
    status: &str,
    reason: Option<&str>,
    at: Option<i64>,
) -> Result<TokenStatus, StoreError> {
    let at = at.map(from_ms).unwrap_or_default();
    match status {
        "active" => Ok(TokenStatus::Active),
        "revoked" => Ok(TokenStatus::Revoked { at }),
        "expired" => {
            let reason = reason
                .and_then(ExpiryReason::from_code)
                .ok_or_else(|| corrupt(id, format!("unknown expiry reason {reason:?}")))?;
            Ok(TokenStatus::Expired { reason, at })
        }
        other => Err(corrupt(id, format!("unknown status {other:?}"))),
    }
}

/// An sqlx row (the pool's [`AnyRow`] or a driver's own), read in place.
pub(crate) struct SqlxRow<'r, R>(pub &'r R);

impl<'r, R: Row> SqlxRow<'r, R>
where
    usize: sqlx::ColumnIndex<R>,
{
    fn get<T>(&self, i: usize) -> Result<T, String>
    where
        T: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    {
        self.0.try_get(i).map_err(|e| format!("column {i}: {e}"))
    }
}

impl<'r, R: Row> Columns<'r> for SqlxRow<'r, R>
where
    usize: sqlx::ColumnIndex<R>,
    &'r str: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    &'r [u8]: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    fn text(&self, i: usize) -> Result<Cow<'r, str>, String> {
        self.get::<&str>(i).map(Cow::Borrowed)
    }
    fn opt_text(&self, i: usize) -> Result<Option<Cow<'r, str>>, String> {
        self.get::<Option<&str>>(i).map(|v| v.map(Cow::Borrowed))
    }
    fn int(&self, i: usize) -> Result<i64, String> {
        self.get(i)
    }
    fn opt_int(&self, i: usize) -> Result<Option<i64>, String> {
        self.get(i)
    }
    fn blob(&self, i: usize) -> Result<Vec<u8>, String> {
        self.get::<&[u8]>(i).map(<[u8]>::to_vec)
    }
}

/// Decodes an account row of the pool (`ACCOUNT_COLS`).
pub(crate) fn decode_account(row: &AnyRow, enc: &Encryption) -> Result<AccountRecord, StoreError> {
    RawAccount::read(&SqlxRow(row))
        .map_err(|e| StoreError::Backend {
            message: format!("unexpected row shape: {e}"),
            source: None,
        })?
        .decode(enc)
}

/// Decodes a claimed row; an unreadable row is logged and skipped (`None`) so one bad
/// row never blocks the batch (its lease simply runs out).
pub(crate) fn decode_or_skip<'r>(
    row: &impl Columns<'r>,
    enc: &Encryption,
) -> Option<AccountRecord> {
    match RawAccount::read(row).map(|raw| raw.decode(enc)) {
        Ok(Ok(rec)) => Some(rec),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "skipping unreadable account row");
            None
        }
        Err(e) => {
            let account = row.text(0).ok();
            tracing::warn!(account = account.as_deref(), error = %e, "skipping unreadable account row");
            None
        }
    }
}

/// Decodes claimed rows with [`decode_or_skip`], earliest first.
#[cfg_attr(not(any(feature = "postgres", feature = "mysql")), allow(dead_code))]
pub(crate) fn decode_claimed<'r, R: Row>(rows: &'r [R], enc: &Encryption) -> Vec<AccountRecord>
where
    SqlxRow<'r, R>: Columns<'r>,
{
    let mut out: Vec<AccountRecord> = rows
        .iter()
        .filter_map(|r| decode_or_skip(&SqlxRow(r), enc))
        .collect();
    sort_claimed(&mut out);
    out
}

/// Claimed records in the order every store hands them out.
pub(crate) fn sort_claimed(out: &mut [AccountRecord]) {
    out.sort_by_key(|r| (r.state.next_action_at, r.account.id));
}

/// Decodes an outbox row (`notice, attempts, delivered, version, created_at, id`).
pub(crate) fn decode_outbox(row: &AnyRow) -> Result<OutboxEntry, StoreError> {
    let row = SqlxRow(row);
    let bad = |e: &dyn std::fmt::Display| StoreError::Backend {
        message: format!("unreadable outbox row: {e}"),
        source: None,
    };
    let notice: Notice =
        serde_json::from_str(&row.text(0).map_err(|e| bad(&e))?).map_err(|e| bad(&e))?;
    Ok(OutboxEntry {
        notice,
        attempts: u32::try_from(row.int(1).map_err(|e| bad(&e))?).unwrap_or(u32::MAX),
        delivered: serde_json::from_str(&row.text(2).map_err(|e| bad(&e))?).map_err(|e| bad(&e))?,
        version: row.int(3).map_err(|e| bad(&e))?,
    })
}

/// Outbox rows in the order they are handed out: oldest first, then by id.
pub(crate) fn sort_outbox(rows: &mut [AnyRow]) {
    rows.sort_by_key(|r| {
        (
            r.try_get::<i64, _>(4).unwrap_or_default(),
            r.try_get::<String, _>(5).unwrap_or_default(),
        )
    });
}

/// One transition as the batched commits write it (SQLite's and PostgreSQL's): encoded
/// on the async side (encryption and JSON there, in parallel) and owned.
#[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
pub(crate) struct CommitRow {
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    pub account: AccountId,
    pub id: String,
    pub expected_version: i64,
    /// `(key id, ciphertext)` when the token changed.
    pub token: Option<(String, Vec<u8>)>,
    pub owner: String,
    pub kind: &'static str,
    pub ig_user_id: String,
    pub username: String,
    pub page_id: Option<String>,
    pub notifications: i64,
    /// A new Facebook user id (a reconnect's); `None` keeps the stored one.
    pub fb_user_id: Option<String>,
    pub issued_at: i64,
    pub expires_at: Option<i64>,
    pub data_access_expires_at: Option<i64>,
    pub scopes: String,
    pub status: &'static str,
    pub status_reason: Option<String>,
    pub status_at: Option<i64>,
    pub last_checked_at: Option<i64>,
    pub next_action_at: Option<i64>,
    pub retry: String,
    pub warnings: String,
    pub episode: i64,
    pub refresh_requested: i64,
    /// `(at, event JSON)`.
    pub events: Vec<(i64, String)>,
    /// The transition's notices, enqueued as given (the keeper made one copy per owner).
    pub notices: Vec<Notice>,
}

#[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
impl CommitRow {
    /// Encodes `t`: seals the token if it changed, serialises the JSON columns.
    pub fn new(t: &Transition, enc: &Encryption) -> Self {
        let mut row = Self::of(
            &t.account,
            &t.state,
            t.expected_version,
            t.token_changed,
            enc,
        );
        row.events = t.events.iter().map(|e| (ms(e.at), json(&e.kind))).collect();
        row.notices = t.notices.clone();
        row
    }

    /// Encodes a new account for an insert: its token sealed, its version as given, no
    /// history and no notices.
    pub fn inserted(r: &AccountRecord, enc: &Encryption) -> Self {
        Self::of(&r.account, &r.state, r.version, true, enc)
    }

    fn of(a: &Account, s: &TokenState, version: i64, seal: bool, enc: &Encryption) -> Self {
        let id = a.id.to_string();
        let token = seal.then(|| enc.seal(s.token.secret(), &id));
        let (status, status_reason, status_at) = status_cols(&s.status);
        Self {
            account: a.id,
            expected_version: version,
            token,
            owner: a.owner.as_str().to_owned(),
            kind: a.kind.as_str(),
            ig_user_id: a.ig_user_id.to_string(),
            username: a.username.clone(),
            page_id: a.page_id.clone().map(String::from),
            notifications: i64::from(a.entitlements.notifications),
            fb_user_id: a.fb_user_id.clone().map(String::from),
            issued_at: ms(s.token.issued_at),
            expires_at: s.token.expires_at.map(ms),
            data_access_expires_at: s.token.data_access_expires_at.map(ms),
            scopes: json(&s.token.scopes),
            status,
            status_reason,
            status_at,
            last_checked_at: s.last_checked_at.map(ms),
            next_action_at: s.next_action_at.map(ms),
            retry: retry_column(s),
            warnings: json(&s.warnings),
            episode: i64::from(s.episode),
            refresh_requested: i64::from(s.refresh_requested),
            events: Vec::new(),
            notices: Vec::new(),
            id,
        }
    }
}
