//! Encryption at rest of token values: AES-256-GCM, a random 96-bit nonce per value,
//! the key id stored beside the ciphertext, and the account id as associated data so a
//! ciphertext cannot be moved to another row.

use std::fmt;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};

use crate::Error;

/// The key id written for values stored without encryption.
pub const PLAINTEXT_KEY_ID: &str = "plain";

/// A named 256-bit key. `Debug` never shows the key.
#[derive(Clone)]
pub struct Key {
    id: String,
    cipher: Aes256Gcm,
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Key")
            .field("id", &self.id)
            .field("key", &"[REDACTED]")
            .finish()
    }
}

impl Key {
    /// A key from 32 raw bytes. The id names it in stored rows (`[A-Za-z0-9_-]`, ≤ 32 chars).
    pub fn new(id: impl Into<String>, bytes: &[u8]) -> Result<Self, Error> {
        let id = id.into();
        if id.is_empty()
            || id.len() > 32
            || id == PLAINTEXT_KEY_ID
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(Error::Config(format!(
                "key id {id:?} must be 1-32 characters of [A-Za-z0-9_-] and not {PLAINTEXT_KEY_ID:?}"
            )));
        }
        let cipher = Aes256Gcm::new_from_slice(bytes).map_err(|_| {
            Error::Config(format!(
                "key {id:?} must be exactly 32 bytes, got {}",
                bytes.len()
            ))
        })?;
        Ok(Self { id, cipher })
    }

    /// The key id.
    pub fn id(&self) -> &str {
        &self.id
    }
}

/// The current key (used to encrypt) and older keys (still accepted to decrypt), for
/// rotation. Keys come from the host, never from the database.
///
/// ```
/// use lightwidget_store_sql::Keyring;
/// // "id:base64", current first.
/// let spec = "k2:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=,k1:HxwdGhsYGRYXFBUSExAREA4PDA0KCwgJBgcEBQIDAAE=";
/// let ring = Keyring::parse(&spec.to_string().into()).unwrap();
/// assert_eq!(ring.current_id(), "k2");
/// assert!(!format!("{ring:?}").contains("AAECAw"));
/// ```
#[derive(Clone, Debug)]
pub struct Keyring {
    current: Box<Key>,
    older: Vec<Key>,
}

impl Keyring {
    /// A keyring with one key.
    pub fn new(current: Key) -> Self {
        Self {
            current: Box::new(current),
            older: Vec::new(),
        }
    }

    /// Adds a key accepted for decryption only.
    pub fn with_older(mut self, key: Key) -> Self {
        self.older.push(key);
        self
    }

    /// Parses `id:base64key[,id:base64key...]`, the first being current (the format of
    /// `LIGHTWIDGET_KEYS`).
    pub fn parse(spec: &SecretString) -> Result<Self, Error> {
        let mut keys = Vec::new();
        for part in spec
            .expose_secret()
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            let (id, b64) = part.split_once(':').ok_or_else(|| {
                Error::Config("each key must be written `id:base64-of-32-bytes`".into())
            })?;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .map_err(|_| Error::Config(format!("key {id:?} is not valid base64")))?;
            keys.push(Key::new(id.trim(), &bytes)?);
        }
        let mut it = keys.into_iter();
        let current = it
            .next()
            .ok_or_else(|| Error::Config("no encryption key given".into()))?;
        let older: Vec<Key> = it.collect();
        let mut ids: Vec<&str> = older.iter().map(Key::id).collect();
        ids.push(current.id());
        let n = ids.len();
        ids.sort_unstable();
        ids.dedup();
        if ids.len() != n {
            return Err(Error::Config("two keys share an id".into()));
        }
        Ok(Self {
            current: Box::new(current),
            older,
        })
    }

    /// Reads `LIGHTWIDGET_KEYS`.
    pub fn from_env() -> Result<Self, Error> {
        let v = std::env::var("LIGHTWIDGET_KEYS").map_err(|_| {
            Error::Config("LIGHTWIDGET_KEYS is not set (id:base64-32-byte-key[,older...])".into())
        })?;
        Self::parse(&SecretString::from(v))
    }

    /// A fresh random key, base64-encoded (for `keygen`-style tooling and tests).
    pub fn generate_key_b64() -> String {
        let mut k = [0u8; 32];
        rand::rng().fill_bytes(&mut k);
        base64::engine::general_purpose::STANDARD.encode(k)
    }

    /// The id of the key new values are encrypted with.
    pub fn current_id(&self) -> &str {
        self.current.id()
    }

    fn find(&self, id: &str) -> Option<&Key> {
        std::iter::once(&*self.current)
            .chain(&self.older)
            .find(|k| k.id == id)
    }
}

/// How token values are stored.
#[derive(Clone, Debug)]
pub enum Encryption {
    /// AES-256-GCM with the keyring (the default a host should use).
    Keyring(Keyring),
    /// No encryption: token values are stored as plain bytes. Only for throwaway
    /// development databases; anyone who can read the database can use the tokens.
    Plaintext,
}

impl Encryption {
    /// Encrypts `value` for the row `aad`; returns (key id, stored bytes).
    pub(crate) fn seal(&self, value: &str, aad: &str) -> (String, Vec<u8>) {
        match self {
            Self::Plaintext => (PLAINTEXT_KEY_ID.to_owned(), value.as_bytes().to_vec()),
            Self::Keyring(ring) => {
                let mut nonce = [0u8; 12];
                rand::rng().fill_bytes(&mut nonce);
                let ct = ring
                    .current
                    .cipher
                    .encrypt(
                        &Nonce::from(nonce),
                        Payload {
                            msg: value.as_bytes(),
                            aad: aad.as_bytes(),
                        },
                    )
                    .expect("AES-GCM encryption of a short value cannot fail");
                let mut out = Vec::with_capacity(12 + ct.len());
                out.extend_from_slice(&nonce);
                out.extend_from_slice(&ct);
                (ring.current.id.clone(), out)
            }
        }
    }

    /// Decrypts bytes stored under `key_id` for the row `aad`.
    pub(crate) fn open(&self, key_id: &str, stored: &[u8], aad: &str) -> Result<String, String> {
        if key_id == PLAINTEXT_KEY_ID {
            return String::from_utf8(stored.to_vec())
                .map_err(|_| "stored plaintext token is not UTF-8".to_owned());
        }
        let Self::Keyring(ring) = self else {
            return Err(format!(
                "token is encrypted with key {key_id:?} but the store was opened without encryption keys"
            ));
        };
        let key = ring.find(key_id).ok_or_else(|| {
            format!("token is encrypted with key {key_id:?}, which is not in the keyring")
        })?;
        if stored.len() < 12 + 16 {
            return Err("stored ciphertext is truncated".into());
        }
        let (nonce, ct) = stored.split_at(12);
        let nonce: [u8; 12] = nonce.try_into().expect("12 bytes");
        let pt = key
            .cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: ct,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| {
                "token ciphertext failed authentication (tampered, or moved from another row)"
                    .to_owned()
            })?;
        String::from_utf8(pt).map_err(|_| "decrypted token is not UTF-8".to_owned())
    }

    /// Whether a value stored under `key_id` should be re-encrypted by `rotate`.
    pub(crate) fn is_stale(&self, key_id: &str) -> bool {
        match self {
            Self::Keyring(r) => key_id != r.current_id(),
            Self::Plaintext => false,
        }
    }
}
