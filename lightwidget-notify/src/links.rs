//! Signed renewal links (they expire) and one-click unsubscribe links (they do not, and
//! work once: the host records their use through `Keeper::unsubscribe`).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::{DateTime, TimeDelta, Utc};
use hmac::{Hmac, KeyInit, Mac};
use lightwidget_core::{AccountId, ConnectionKind, Notice, NoticeTopic, OwnerId};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use url::Url;

/// Why a link was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum LinkError {
    /// Missing, malformed, or signed with another secret.
    #[error("the link is forged or damaged")]
    Forged,
    /// Past its expiry (renewal links).
    #[error("the link has expired")]
    Expired,
    /// A valid link of another kind (e.g. an unsubscribe token used to renew).
    #[error("the link is not meant for this page")]
    WrongPurpose,
}

/// A verified renewal link: start the OAuth flow of `kind` for `account`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RenewalLink {
    /// The account to renew.
    pub account: AccountId,
    /// Its connection kind (which OAuth flow to start).
    pub kind: ConnectionKind,
    /// The owner.
    pub owner: OwnerId,
}

/// A verified unsubscribe link. Its signature says who it is for and what it names;
/// whether it was used already is the store's to say: pass it to
/// `Keeper::unsubscribe(&link.link_id, &link.owner, link.topic)`, which makes it
/// single-use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnsubscribeLink {
    /// The owner to opt out.
    pub owner: OwnerId,
    /// The topic of the email the link came in, or everything (`None`).
    pub topic: Option<NoticeTopic>,
    /// This link's own id (random, unique per link): what makes it single-use.
    pub link_id: String,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "p", rename_all = "snake_case")]
enum Claims {
    Renew {
        a: AccountId,
        k: ConnectionKind,
        o: OwnerId,
        exp: i64,
        n: String,
    },
    Unsub {
        o: OwnerId,
        t: Option<NoticeTopic>,
        /// Links signed before unsubscribe links stopped expiring carry one; it is
        /// no longer checked.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        exp: Option<i64>,
        n: String,
    },
}

/// Signs and verifies the links notices carry (HMAC-SHA256 with a host secret).
///
/// ```
/// use chrono::Utc;
/// use lightwidget_notify::LinkSigner;
/// let s = LinkSigner::new("a long random secret".to_string().into(), "https://host.example".parse().unwrap());
/// use lightwidget_core::NoticeTopic;
/// let url = s.unsubscribe_url(&"owner-1".into(), Some(NoticeTopic::Expired), Utc::now());
/// let token = url.query_pairs().find(|(k, _)| k == "token").unwrap().1.into_owned();
/// let link = s.verify_unsubscribe(&token, Utc::now()).unwrap();
/// assert_eq!((link.owner.as_str(), link.topic), ("owner-1", Some(NoticeTopic::Expired)));
/// ```
pub struct LinkSigner {
    secret: SecretString,
    base: Url,
    renew_path: String,
    unsubscribe_path: String,
    ttl: TimeDelta,
}

impl std::fmt::Debug for LinkSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkSigner")
            .field("base", &self.base)
            .field("secret", &"[REDACTED]")
            .finish_non_exhaustive()
    }
}

impl LinkSigner {
    /// Links under `base` (`/renew`, `/unsubscribe`). Renewal links are valid 30 days;
    /// unsubscribe links never expire (an opt-out must work for as long as the email
    /// may be read, RFC 8058).
    pub fn new(secret: SecretString, base: Url) -> Self {
        Self {
            secret,
            base,
            renew_path: "renew".into(),
            unsubscribe_path: "unsubscribe".into(),
            ttl: TimeDelta::days(30),
        }
    }
    /// Sets the renewal path (relative to base).
    pub fn with_renew_path(mut self, p: impl Into<String>) -> Self {
        self.renew_path = p.into();
        self
    }
    /// Sets the unsubscribe path (relative to base).
    pub fn with_unsubscribe_path(mut self, p: impl Into<String>) -> Self {
        self.unsubscribe_path = p.into();
        self
    }
    /// Sets how long renewal links stay valid (unsubscribe links never expire).
    pub fn with_ttl(mut self, ttl: TimeDelta) -> Self {
        self.ttl = ttl;
        self
    }

    fn mac(&self) -> Hmac<Sha256> {
        Hmac::<Sha256>::new_from_slice(self.secret.expose_secret().as_bytes())
            .expect("any key length")
    }

    fn nonce() -> String {
        let mut n = [0u8; 12];
        rand::rng().fill_bytes(&mut n);
        B64.encode(n)
    }

    fn seal(&self, c: &Claims) -> String {
        let body = B64.encode(serde_json::to_vec(c).expect("plain data"));
        let mut m = self.mac();
        m.update(body.as_bytes());
        format!("{body}.{}", B64.encode(m.finalize().into_bytes()))
    }

    fn open(&self, token: &str) -> Result<Claims, LinkError> {
        let (body, sig) = token.split_once('.').ok_or(LinkError::Forged)?;
        let sig = B64.decode(sig).map_err(|_| LinkError::Forged)?;
        let mut m = self.mac();
        m.update(body.as_bytes());
        m.verify_slice(&sig).map_err(|_| LinkError::Forged)?;
        serde_json::from_slice(&B64.decode(body).map_err(|_| LinkError::Forged)?)
            .map_err(|_| LinkError::Forged)
    }

    fn url(&self, path: &str, token: String) -> Url {
        // A base with a path (`https://host/app`) keeps it, with or without a trailing slash.
        let mut dir = self.base.clone();
        if !dir.path().ends_with('/') {
            dir.set_path(&format!("{}/", self.base.path()));
        }
        let mut u = dir.join(path).unwrap_or(dir);
        u.query_pairs_mut().append_pair("token", &token);
        u
    }

    /// The renewal link of a notice: leads into the OAuth flow of its connection kind.
    pub fn renewal_url(&self, n: &Notice, now: DateTime<Utc>) -> Url {
        self.renewal_url_for(n.account_id, n.connection, &n.owner, now)
    }

    /// The renewal link of one account of `owner` (what a notice carries, for pages and
    /// APIs that offer the same link).
    pub fn renewal_url_for(
        &self,
        account: AccountId,
        kind: ConnectionKind,
        owner: &OwnerId,
        now: DateTime<Utc>,
    ) -> Url {
        let c = Claims::Renew {
            a: account,
            k: kind,
            o: owner.clone(),
            // A huge TTL saturates instead of overflowing.
            exp: now
                .checked_add_signed(self.ttl)
                .unwrap_or(DateTime::<Utc>::MAX_UTC)
                .timestamp(),
            n: Self::nonce(),
        };
        self.url(&self.renew_path, self.seal(&c))
    }

    /// A one-click unsubscribe link for one topic or everything. It never expires;
    /// `now` is kept for symmetry with [`renewal_url`](Self::renewal_url).
    pub fn unsubscribe_url(
        &self,
        owner: &OwnerId,
        topic: Option<NoticeTopic>,
        _now: DateTime<Utc>,
    ) -> Url {
        let c = Claims::Unsub {
            o: owner.clone(),
            t: topic,
            exp: None,
            n: Self::nonce(),
        };
        self.url(&self.unsubscribe_path, self.seal(&c))
    }

    fn check_exp(exp: i64, now: DateTime<Utc>) -> Result<DateTime<Utc>, LinkError> {
        let e = DateTime::from_timestamp(exp, 0).ok_or(LinkError::Forged)?;
        if e <= now {
            return Err(LinkError::Expired);
        }
        Ok(e)
    }

    /// Verifies the `token` query parameter of a renewal link.
    pub fn verify_renewal(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<RenewalLink, LinkError> {
        match self.open(token)? {
            Claims::Renew { a, k, o, exp, .. } => {
                Self::check_exp(exp, now)?;
                Ok(RenewalLink {
                    account: a,
                    kind: k,
                    owner: o,
                })
            }
            Claims::Unsub { .. } => Err(LinkError::WrongPurpose),
        }
    }

    /// Verifies the `token` of an unsubscribe link (signature and purpose; such links do
    /// not expire). It does not spend the link: `Keeper::unsubscribe` records its use.
    pub fn verify_unsubscribe(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<UnsubscribeLink, LinkError> {
        // Kept for symmetry with `verify_renewal`: unsubscribe links never expire.
        let _ = now;
        match self.open(token)? {
            Claims::Unsub { o, t, n, .. } => Ok(UnsubscribeLink {
                owner: o,
                topic: t,
                link_id: n,
            }),
            Claims::Renew { .. } => Err(LinkError::WrongPurpose),
        }
    }
}
