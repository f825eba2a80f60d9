//! Signed, expiring, purpose-bound, single-use OAuth `state`.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::{DateTime, TimeDelta, Utc};
use hmac::{Hmac, KeyInit, Mac};
use lightwidget_core::{ConnectionKind, OwnerId};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// What a `state` is for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "p", rename_all = "snake_case")]
pub enum StatePurpose {
    /// A new connection of this kind for this owner.
    Connect {
        /// Kind.
        kind: ConnectionKind,
        /// Owner.
        owner: OwnerId,
    },
    /// Renewal of an existing account of this kind (no login needed).
    Reconnect {
        /// Kind.
        kind: ConnectionKind,
    },
    /// A developer's invitation: the account connected is attached to `owner`.
    Invitation {
        /// Kind.
        kind: ConnectionKind,
        /// The inviting developer.
        owner: OwnerId,
    },
}

impl StatePurpose {
    /// The connection kind of the flow.
    pub fn kind(&self) -> ConnectionKind {
        match self {
            Self::Connect { kind, .. }
            | Self::Reconnect { kind }
            | Self::Invitation { kind, .. } => *kind,
        }
    }
}

/// Why a state was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum StateError {
    /// Not a state we issued (bad format or signature).
    #[error("the state is forged or corrupted")]
    Forged,
    /// Too old.
    #[error("the state expired; start the connection again")]
    Expired,
    /// Already used.
    #[error("the state was already used (replay)")]
    Replayed,
}

/// Remembers used nonces until they expire. Plug a shared one (Redis, SQL) when several
/// processes serve OAuth callbacks.
pub trait NonceStore: Send + Sync {
    /// Records `nonce` as used until `until`; `false` if it was already used.
    fn use_once(&self, nonce: &str, until: DateTime<Utc>, now: DateTime<Utc>) -> bool;
}

/// In-memory [`NonceStore`], bounded: expired entries are dropped as time passes, and
/// at most `capacity` nonces are kept (default 100 000).
///
/// When more than `capacity` states are used within one state lifetime, the nonce
/// closest to its expiry is forgotten first (its state could then be replayed until it
/// expires); size the capacity above your peak OAuth callbacks per state lifetime.
#[derive(Debug)]
pub struct MemoryNonceStore {
    inner: Mutex<Nonces>,
    capacity: usize,
}

#[derive(Debug, Default)]
struct Nonces {
    by_nonce: HashMap<String, DateTime<Utc>>,
    by_expiry: BTreeSet<(DateTime<Utc>, String)>,
}

impl Default for MemoryNonceStore {
    fn default() -> Self {
        Self::with_capacity(100_000)
    }
}

impl MemoryNonceStore {
    /// A store holding at most `capacity` (at least 1) nonces.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            inner: Mutex::default(),
            capacity: capacity.max(1),
        }
    }

    /// How many nonces are remembered now.
    pub fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .by_nonce
            .len()
    }

    /// Whether no nonce is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl NonceStore for MemoryNonceStore {
    fn use_once(&self, nonce: &str, until: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let m = &mut *g;
        // Drop what has expired (oldest first; amortised O(log n) per call).
        while let Some(first) = m.by_expiry.first()
            && first.0 <= now
        {
            let (_, n) = m.by_expiry.pop_first().expect("checked non-empty");
            m.by_nonce.remove(&n);
        }
        if m.by_nonce.contains_key(nonce) {
            return false;
        }
        while m.by_nonce.len() >= self.capacity {
            let (_, n) = m.by_expiry.pop_first().expect("len >= capacity >= 1");
            m.by_nonce.remove(&n);
        }
        m.by_nonce.insert(nonce.to_owned(), until);
        m.by_expiry.insert((until, nonce.to_owned()));
        true
    }
}

#[derive(Serialize, Deserialize)]
struct Claims {
    #[serde(flatten)]
    purpose: StatePurpose,
    exp: i64,
    n: String,
}

/// Issues and verifies `state` values: `base64url(json).base64url(hmac)`.
///
/// ```
/// use chrono::Utc;
/// use lightwidget_core::ConnectionKind;
/// use lightwidget_instagram::state::{MemoryNonceStore, StatePurpose, StateSigner, StateError};
/// let s = StateSigner::new("a long random host secret".to_string().into(), Box::new(MemoryNonceStore::default()));
/// let now = Utc::now();
/// let st = s.issue(&StatePurpose::Reconnect { kind: ConnectionKind::Consumer }, now);
/// assert_eq!(s.verify(&st, now).unwrap(), StatePurpose::Reconnect { kind: ConnectionKind::Consumer });
/// assert_eq!(s.verify(&st, now), Err(StateError::Replayed));
/// ```
pub struct StateSigner {
    secret: SecretString,
    ttl: TimeDelta,
    nonces: Box<dyn NonceStore>,
}

impl std::fmt::Debug for StateSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateSigner")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl StateSigner {
    /// A signer with a 15-minute lifetime.
    pub fn new(secret: SecretString, nonces: Box<dyn NonceStore>) -> Self {
        Self {
            secret,
            ttl: TimeDelta::minutes(15),
            nonces,
        }
    }

    /// Sets the lifetime.
    pub fn with_ttl(mut self, ttl: TimeDelta) -> Self {
        self.ttl = ttl;
        self
    }

    fn mac(&self) -> Hmac<Sha256> {
        Hmac::<Sha256>::new_from_slice(self.secret.expose_secret().as_bytes())
            .expect("HMAC takes any key length")
    }

    /// A fresh state for `purpose`.
    pub fn issue(&self, purpose: &StatePurpose, now: DateTime<Utc>) -> String {
        let mut n = [0u8; 16];
        rand::rng().fill_bytes(&mut n);
        let claims = Claims {
            purpose: purpose.clone(),
            exp: (now + self.ttl).timestamp(),
            n: B64.encode(n),
        };
        let body = B64.encode(serde_json::to_vec(&claims).expect("plain data"));
        let mut mac = self.mac();
        mac.update(body.as_bytes());
        format!("{body}.{}", B64.encode(mac.finalize().into_bytes()))
    }

    /// Verifies a state from the redirect: signature (constant time), expiry, single use.
    pub fn verify(&self, state: &str, now: DateTime<Utc>) -> Result<StatePurpose, StateError> {
        let (body, sig) = state.split_once('.').ok_or(StateError::Forged)?;
        let sig = B64.decode(sig).map_err(|_| StateError::Forged)?;
        let mut mac = self.mac();
        mac.update(body.as_bytes());
        mac.verify_slice(&sig).map_err(|_| StateError::Forged)?;
        let claims: Claims =
            serde_json::from_slice(&B64.decode(body).map_err(|_| StateError::Forged)?)
                .map_err(|_| StateError::Forged)?;
        let exp = DateTime::from_timestamp(claims.exp, 0).ok_or(StateError::Forged)?;
        if exp <= now {
            return Err(StateError::Expired);
        }
        if !self.nonces.use_once(&claims.n, exp, now) {
            return Err(StateError::Replayed);
        }
        Ok(claims.purpose)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
    }

    #[test]
    fn nonce_is_single_use_until_it_expires() {
        let m = MemoryNonceStore::default();
        assert!(m.use_once("a", t(60), t(0)));
        assert!(!m.use_once("a", t(60), t(30)), "replay refused");
        // After expiry the entry is dropped (the state itself is refused as expired).
        assert!(m.use_once("b", t(200), t(61)));
        assert_eq!(m.len(), 1, "expired nonce forgotten");
    }

    #[test]
    fn store_never_exceeds_its_capacity() {
        let m = MemoryNonceStore::with_capacity(3);
        for (i, n) in ["a", "b", "c", "d", "e"].iter().enumerate() {
            assert!(m.use_once(n, t(100 + i as i64), t(0)));
            assert!(m.len() <= 3);
        }
        // The nonces closest to expiry went first; the newest are still refused.
        assert!(!m.use_once("e", t(200), t(1)));
        assert!(!m.use_once("d", t(200), t(1)));
        assert!(m.use_once("a", t(200), t(1)), "evicted nonce forgotten");
        assert_eq!(m.len(), 3);
    }

    #[test]
    fn purpose_reports_its_connection_kind() {
        let p = StatePurpose::Invitation {
            kind: ConnectionKind::Business,
            owner: OwnerId::from("dev-1"),
        };
        assert_eq!(p.kind(), ConnectionKind::Business);
    }
}
