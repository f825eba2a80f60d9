//! Used `state` nonces, remembered until they expire: the [`NonceStore`] port that
//! makes a state single-use, and its bounded in-memory [`MemoryNonceStore`].

use lightwidget_core::sync::Locked;
use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use chrono::{DateTime, Utc};

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
        self.inner.locked().by_nonce.len()
    }

    /// Whether no nonce is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl NonceStore for MemoryNonceStore {
    fn use_once(&self, nonce: &str, until: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        let mut g = self.inner.locked();
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
