//! API keys: created and revoked from the CLI (`lightwidget-keeper keys …`), kept in the
//! token store (sealed like tokens, through [`Keeper::hold`]), only their SHA-256 hash.
//!
//! A key reads `lwk_<id>_<secret>`: `id` (16 hex digits) names the record, `secret`
//! (32 random bytes, base64url) is checked against the stored hash in constant time.
//! The secret is shown once, when the key is created.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use chrono::{DateTime, Utc};
use lightwidget::Keeper;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// What a key may do; each scope includes the ones before it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Read status, history, owners, the feed.
    Read,
    /// Also connect, import, disconnect, refresh, change preferences, hand out links.
    Write,
    /// Also incidents and deleting an account's data.
    Admin,
}

impl Scope {
    /// `read`, `write` or `admin`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
            Self::Admin => "admin",
        }
    }
}

impl FromStr for Scope {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "read" => Ok(Self::Read),
            "write" => Ok(Self::Write),
            "admin" => Ok(Self::Admin),
            other => Err(format!(
                "{:?} is not a scope: give read, write or admin",
                other.chars().take(32).collect::<String>()
            )),
        }
    }
}

/// A key's stored record (the hash, never the secret).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct KeyRecord {
    /// The key's public id.
    pub id: String,
    /// A name for people ("php-frontend").
    pub name: String,
    /// What it may do.
    pub scope: Scope,
    /// SHA-256 of the secret part, hex.
    pub sha256: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

/// The index of keys (ids, names, scopes; no hashes), for `keys list`.
const INDEX: &str = "api-keys.index";
/// Held records last until this far ahead (a key lives until it is revoked).
const FOREVER_DAYS: i64 = 365 * 200;

fn record_key(id: &str) -> String {
    format!("api-key.{id}")
}

fn forever() -> DateTime<Utc> {
    Utc::now() + chrono::TimeDelta::days(FOREVER_DAYS)
}

fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Splits `lwk_<id>_<secret>`; `None` for anything else.
pub fn parse(presented: &str) -> Option<(&str, &str)> {
    let rest = presented.strip_prefix("lwk_")?;
    let (id, secret) = rest.split_once('_')?;
    let id_ok = id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit());
    let secret_ok = (20..=128).contains(&secret.len())
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    (id_ok && secret_ok).then_some((id, secret))
}

/// Checks `secret` against a record in constant time.
pub fn matches(record: &KeyRecord, secret: &str) -> bool {
    let mut stored = [0u8; 32];
    if record.sha256.len() != 64 || !record.sha256.is_ascii() {
        return false;
    }
    for (i, b) in stored.iter_mut().enumerate() {
        match u8::from_str_radix(&record.sha256[2 * i..2 * i + 2], 16) {
            Ok(v) => *b = v,
            Err(_) => return false,
        }
    }
    bool::from(digest(secret).ct_eq(&stored))
}

async fn read_json<T: serde::de::DeserializeOwned>(
    keeper: &Keeper,
    key: &str,
) -> Result<Option<T>, lightwidget::Error> {
    match keeper.held(key).await? {
        None => Ok(None),
        Some(v) => serde_json::from_str(v.expose_secret())
            .map(Some)
            .map_err(|e| lightwidget::Error::InvalidInput(format!("stored {key} unreadable: {e}"))),
    }
}

async fn write_json<T: Serialize>(
    keeper: &Keeper,
    key: &str,
    value: &T,
) -> Result<(), lightwidget::Error> {
    let json = serde_json::to_string(value)
        .map_err(|e| lightwidget::Error::InvalidInput(e.to_string()))?;
    keeper.hold(key, &SecretString::from(json), forever()).await
}

/// One row of `keys list`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Listed {
    /// The key's id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its scope.
    pub scope: Scope,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

/// Creates a key; returns it whole (shown once) and its record.
pub async fn create(
    keeper: &Keeper,
    name: &str,
    scope: Scope,
) -> Result<(SecretString, KeyRecord), lightwidget::Error> {
    let name = name.trim();
    if name.is_empty() || name.len() > 100 || name.chars().any(char::is_control) {
        return Err(lightwidget::Error::InvalidInput(
            "a key's name has 1 to 100 printable characters".into(),
        ));
    }
    let mut rng = rand::rng();
    let mut id = [0u8; 8];
    rng.fill_bytes(&mut id);
    let mut secret = [0u8; 32];
    rng.fill_bytes(&mut secret);
    let id = hex(&id);
    let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret);
    let record = KeyRecord {
        id: id.clone(),
        name: name.to_owned(),
        scope,
        sha256: hex(&digest(&secret)),
        created_at: Utc::now(),
    };
    // The index first: a key is never valid without being listed (so it can be revoked).
    let listed = Listed {
        id: id.clone(),
        name: record.name.clone(),
        scope,
        created_at: record.created_at,
    };
    update_index(
        keeper,
        |index| {
            if !index.iter().any(|l| l.id == listed.id) {
                index.push(listed.clone());
            }
        },
        |index| index.iter().any(|l| l.id == id),
    )
    .await?;
    write_json(keeper, &record_key(&id), &record).await?;
    Ok((SecretString::from(format!("lwk_{id}_{secret}")), record))
}

/// Read-modify-write of the index, re-read until `done` holds: the store has no
/// compare-and-swap for held values, so of two CLIs writing at once one may overwrite
/// the other; each then finds its change missing and makes it again.
async fn update_index(
    keeper: &Keeper,
    change: impl Fn(&mut Vec<Listed>),
    done: impl Fn(&[Listed]) -> bool,
) -> Result<(), lightwidget::Error> {
    for _ in 0..10 {
        let mut index: Vec<Listed> = read_json(keeper, INDEX).await?.unwrap_or_default();
        change(&mut index);
        write_json(keeper, INDEX, &index).await?;
        let pause = 20 + u64::from(rand::random::<u8>());
        tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
        let now: Vec<Listed> = read_json(keeper, INDEX).await?.unwrap_or_default();
        if done(&now) {
            return Ok(());
        }
    }
    Err(lightwidget::Error::InvalidInput(
        "the key list kept changing under concurrent updates; run the command again".into(),
    ))
}

/// The keys that exist (the index, checked against the records).
pub async fn list(keeper: &Keeper) -> Result<Vec<Listed>, lightwidget::Error> {
    let index: Vec<Listed> = read_json(keeper, INDEX).await?.unwrap_or_default();
    let mut out = Vec::new();
    for l in index {
        if keeper.held(&record_key(&l.id)).await?.is_some() {
            out.push(l);
        }
    }
    Ok(out)
}

/// Revokes the key `id`: `false` if there was none. Takes effect at once on this
/// process and within [`CACHE_TTL`] on every other.
pub async fn revoke(keeper: &Keeper, id: &str) -> Result<bool, lightwidget::Error> {
    let id = id.trim();
    if id.len() != 16 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(lightwidget::Error::InvalidInput(format!(
            "{:?} is not a key id (16 hex digits, as `keys list` shows)",
            id.chars().take(40).collect::<String>()
        )));
    }
    // The record first: the key stops working before it leaves the list.
    let gone = keeper.take_held(&record_key(id)).await?.is_some();
    update_index(
        keeper,
        |index| index.retain(|l| l.id != id),
        |index| !index.iter().any(|l| l.id == id),
    )
    .await?;
    Ok(gone)
}

/// How long a looked-up key (or its absence) is reused before the store is asked again.
pub const CACHE_TTL: Duration = Duration::from_secs(5);
const CACHE_MAX: usize = 10_000;

/// Store reads for keys not in the cache, per second, for all callers together (bursts of
/// twice that): made-up keys cannot turn into a flood of store reads.
pub const MISSES_PER_SECOND: u32 = 100;

/// Looks keys up in the store, with a short cache.
pub struct Keys {
    cache: Mutex<HashMap<String, (Instant, Option<KeyRecord>)>>,
    misses: governor::DefaultDirectRateLimiter,
}

impl Default for Keys {
    fn default() -> Self {
        let rate =
            std::num::NonZeroU32::new(MISSES_PER_SECOND).unwrap_or(std::num::NonZeroU32::MIN);
        Self {
            cache: Mutex::new(HashMap::new()),
            misses: governor::RateLimiter::direct(
                governor::Quota::per_second(rate)
                    .allow_burst(rate.saturating_mul(std::num::NonZeroU32::MIN.saturating_add(1))),
            ),
        }
    }
}

/// Why a presented key was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// No key, or not one of ours.
    Unknown,
    /// Too many keys not in the cache were presented just now: retry.
    Busy,
    /// The store could not be read.
    Unavailable(String),
}

impl Keys {
    /// The record of a presented key, if it is valid.
    pub async fn check(&self, keeper: &Keeper, presented: &str) -> Result<KeyRecord, Refused> {
        let (id, secret) = parse(presented).ok_or(Refused::Unknown)?;
        let cached = {
            let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            cache
                .get(id)
                .filter(|(at, _)| at.elapsed() < CACHE_TTL)
                .map(|(_, r)| r.clone())
        };
        let record = match cached {
            Some(r) => r,
            None => {
                if self.misses.check().is_err() {
                    return Err(Refused::Busy);
                }
                let r: Option<KeyRecord> = read_json(keeper, &record_key(id))
                    .await
                    .map_err(|e| Refused::Unavailable(e.to_string()))?;
                let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
                if cache.len() >= CACHE_MAX {
                    cache.retain(|_, (at, _)| at.elapsed() < CACHE_TTL);
                }
                if cache.len() >= CACHE_MAX {
                    // Full of live entries: made-up ids give way to real keys.
                    cache.retain(|_, (_, r)| r.is_some());
                }
                if cache.len() < CACHE_MAX {
                    cache.insert(id.to_owned(), (Instant::now(), r.clone()));
                }
                r
            }
        };
        match record {
            Some(r) if matches(&r, secret) => Ok(r),
            _ => Err(Refused::Unknown),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(secret: &str) -> KeyRecord {
        KeyRecord {
            id: "0123456789abcdef".into(),
            name: "t".into(),
            scope: Scope::Read,
            sha256: hex(&digest(secret)),
            created_at: Utc::now(),
        }
    }

    #[test]
    fn keys_parse_only_in_their_format() {
        let secret = "A".repeat(43);
        let k = format!("lwk_0123456789abcdef_{secret}");
        assert_eq!(parse(&k), Some(("0123456789abcdef", secret.as_str())));
        for bad in [
            "",
            "lwk_",
            "lwk_0123_abc",
            "lwk_0123456789abcdeg_AAAAAAAAAAAAAAAAAAAAAAAA",
            "Bearer lwk_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAA",
            "lwk_0123456789abcdef_AAAA AAAAAAAAAAAAAAAAAAAAAAAA",
            "lwk_0123456789abcdef_ÄAAAAAAAAAAAAAAAAAAAAAAAAAA",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
        assert_eq!(
            parse(&format!("lwk_0123456789abcdef_{}", "A".repeat(200))),
            None
        );
    }

    #[test]
    fn only_the_right_secret_matches() {
        let r = record("right-secret-of-some-length");
        assert!(matches(&r, "right-secret-of-some-length"));
        assert!(!matches(&r, "wrong-secret-of-some-length"));
        assert!(!matches(&r, ""));
        let mut broken = r.clone();
        broken.sha256 = "zz".repeat(32);
        assert!(!matches(&broken, "right-secret-of-some-length"));
        broken.sha256 = "ab".into();
        assert!(!matches(&broken, "right-secret-of-some-length"));
    }

    #[test]
    fn scopes_nest_and_parse() {
        assert!(Scope::Admin > Scope::Write && Scope::Write > Scope::Read);
        assert_eq!("write".parse::<Scope>(), Ok(Scope::Write));
        assert!(
            "root"
                .parse::<Scope>()
                .unwrap_err()
                .contains("read, write or admin")
        );
    }
}
