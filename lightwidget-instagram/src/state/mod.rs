//! Signed, expiring, purpose-bound, single-use OAuth `state`, bound to the browser that
//! started the flow; and signed developer invitation tokens.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::{DateTime, TimeDelta, Utc};
use hmac::{Hmac, KeyInit, Mac};
use lightwidget_core::{ConnectionKind, OwnerId};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

mod nonces;

pub use nonces::{MemoryNonceStore, NonceStore};

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
    /// "Log in with Instagram / Facebook": the person signs in to the host with the
    /// connection itself. Who they are comes from Meta's answer to the code exchange
    /// (see `Keeper::login`), never from the state or anything else the browser sends.
    Login {
        /// Kind: Instagram Login (consumer) or Facebook Login (business).
        kind: ConnectionKind,
    },
}

impl StatePurpose {
    /// The connection kind of the flow.
    pub fn kind(&self) -> ConnectionKind {
        match self {
            Self::Connect { kind, .. }
            | Self::Reconnect { kind }
            | Self::Invitation { kind, .. }
            | Self::Login { kind } => *kind,
        }
    }
}

/// Why a state (or an invitation) was refused.
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
    /// Presented by a browser that did not start the flow: its binding cookie is missing
    /// or belongs to another browser (login CSRF on the OAuth callback).
    #[error("the connection was started in another browser; start it again from this one")]
    WrongBrowser,
}

#[derive(Serialize, Deserialize)]
struct Claims {
    #[serde(flatten)]
    purpose: StatePurpose,
    exp: i64,
    n: String,
    /// MAC of the browser binding (the binding itself lives only in the cookie).
    b: String,
}

#[derive(Serialize, Deserialize)]
struct InvitationClaims {
    o: OwnerId,
    exp: i64,
}

/// Domain labels, so a value signed for one use never verifies for another.
const STATE_LABEL: &[u8] = b"lightwidget/state\0";
const INVITATION_LABEL: &[u8] = b"lightwidget/invitation\0";
const BINDING_LABEL: &[u8] = b"lightwidget/binding\0";

/// The browser binding of an issued state: a random secret the host puts in a cookie
/// (see [`BindingCookie`]) and hands back to [`StateSigner::verify`] on the callback.
/// `Debug` never shows it.
#[derive(Clone)]
pub struct BrowserBinding(SecretString);

impl std::fmt::Debug for BrowserBinding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BrowserBinding([REDACTED])")
    }
}

impl BrowserBinding {
    /// The cookie value.
    pub fn expose_secret(&self) -> &str {
        self.0.expose_secret()
    }
}

/// What [`StateSigner::issue`] returns: the `state` for the authorize URL, and the
/// binding for the browser's cookie.
#[derive(Debug)]
#[non_exhaustive]
pub struct IssuedState {
    /// The `state` query parameter of the authorize URL (not secret).
    pub state: String,
    /// The secret the browser keeps in the binding cookie.
    pub binding: BrowserBinding,
}

/// The cookie that carries a [`BrowserBinding`]: `__Host-` prefixed, `HttpOnly`,
/// `Secure`, `SameSite=Lax` (the callback is a top-level redirect from Instagram or
/// Facebook, which Lax cookies survive), `Path=/`, and a `Max-Age` of the state lifetime.
///
/// Browsers only keep `Secure` and `__Host-` cookies from HTTPS origins (and loopback);
/// for plain-HTTP development on another host, [`BindingCookie::insecure`] drops both.
#[derive(Clone, Copy, Debug)]
pub struct BindingCookie {
    secure: bool,
    max_age: TimeDelta,
}

impl BindingCookie {
    /// The cookie's name over HTTPS.
    pub const NAME: &'static str = "__Host-lw-oauth";
    /// The cookie's name without `Secure` (plain-HTTP development only).
    pub const INSECURE_NAME: &'static str = "lw-oauth";

    /// The secure cookie (`__Host-`, `Secure`) lasting `max_age`.
    pub fn secure(max_age: TimeDelta) -> Self {
        Self {
            secure: true,
            max_age,
        }
    }

    /// Without `Secure` or the `__Host-` prefix: only for plain-HTTP development.
    pub fn insecure(max_age: TimeDelta) -> Self {
        Self {
            secure: false,
            max_age,
        }
    }

    /// The cookie's name.
    pub fn name(&self) -> &'static str {
        if self.secure {
            Self::NAME
        } else {
            Self::INSECURE_NAME
        }
    }

    /// Whether the cookie is `Secure`.
    pub fn is_secure(&self) -> bool {
        self.secure
    }

    /// How long the cookie lives.
    pub fn max_age(&self) -> TimeDelta {
        self.max_age
    }

    fn attributes(&self, max_age: i64) -> String {
        format!(
            "; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{}",
            if self.secure { "; Secure" } else { "" }
        )
    }

    /// The `Set-Cookie` header value that stores `binding` in the browser.
    pub fn set_cookie(&self, binding: &BrowserBinding) -> String {
        format!(
            "{}={}{}",
            self.name(),
            binding.expose_secret(),
            self.attributes(self.max_age.num_seconds().max(1))
        )
    }

    /// The `Set-Cookie` header value that removes the cookie (send it with the
    /// callback's answer: a binding serves one flow).
    pub fn clear_cookie(&self) -> String {
        format!("{}={}", self.name(), self.attributes(0))
    }

    /// The binding in a request's `Cookie` header value(s), if any.
    pub fn find<'a>(&self, cookie_headers: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
        let name = self.name();
        cookie_headers
            .into_iter()
            .flat_map(|h| h.split(';'))
            .filter_map(|c| c.trim().split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    }
}

/// Issues and verifies `state` values (`base64url(json).base64url(hmac)`), bound to the
/// browser that started the flow, and developer invitation tokens.
///
/// A state verifies once, before it expires, for the purpose it was issued for, and
/// only together with the [`BrowserBinding`] issued with it: the host keeps that in a
/// cookie ([`BindingCookie`]), so a state sent to someone else's browser (an attacker's
/// authorize link sent to a victim) is refused with [`StateError::WrongBrowser`].
///
/// The whole recipe: issue, set the cookie, redirect; on the callback read the cookie,
/// verify, clear the cookie.
///
/// ```
/// use chrono::Utc;
/// use lightwidget_core::ConnectionKind;
/// use lightwidget_instagram::state::{MemoryNonceStore, StateError, StatePurpose, StateSigner};
///
/// let signer = StateSigner::new(
///     "a long random host secret".to_string().into(),
///     Box::new(MemoryNonceStore::default()),
/// );
/// // Served over HTTPS: `__Host-` cookie, Secure, HttpOnly, SameSite=Lax, Max-Age = TTL.
/// let cookie = signer.binding_cookie(true);
/// let now = Utc::now();
/// let purpose = StatePurpose::Reconnect { kind: ConnectionKind::Consumer };
///
/// // 1. Starting the flow: the state goes into the authorize URL, the binding into a
/// //    cookie on the redirect (`Set-Cookie: <set_cookie>`, `Location: <authorize URL>`).
/// let issued = signer.issue(&purpose, now);
/// let set_cookie = cookie.set_cookie(&issued.binding);
/// assert!(set_cookie.starts_with("__Host-lw-oauth="));
/// assert!(set_cookie.contains("HttpOnly") && set_cookie.contains("Secure"));
/// assert!(set_cookie.contains("SameSite=Lax") && set_cookie.contains("Max-Age=900"));
///
/// // 2. The callback, in the same browser: the request's `Cookie` header brings it back.
/// let request_cookies = format!("theme=dark; {}", set_cookie.split(';').next().unwrap());
/// let binding = cookie.find([request_cookies.as_str()]);
/// assert_eq!(signer.verify(&issued.state, binding, now), Ok(purpose.clone()));
/// // Answer with `Set-Cookie: <clear_cookie>`: one binding serves one flow.
/// assert!(cookie.clear_cookie().contains("Max-Age=0"));
///
/// // The same state again is a replay; in a browser without the cookie, or with another
/// // browser's cookie, it is refused.
/// assert_eq!(signer.verify(&issued.state, binding, now), Err(StateError::Replayed));
/// let attackers = signer.issue(&purpose, now);
/// let victims = signer.issue(&purpose, now);
/// assert_eq!(signer.verify(&attackers.state, None, now), Err(StateError::WrongBrowser));
/// assert_eq!(
///     signer.verify(&attackers.state, Some(victims.binding.expose_secret()), now),
///     Err(StateError::WrongBrowser)
/// );
/// ```
pub struct StateSigner {
    secret: SecretString,
    ttl: TimeDelta,
    invitation_ttl: TimeDelta,
    nonces: Box<dyn NonceStore>,
}

impl std::fmt::Debug for StateSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateSigner")
            .field("ttl", &self.ttl)
            .field("invitation_ttl", &self.invitation_ttl)
            .finish_non_exhaustive()
    }
}

fn random_b64(bytes: usize) -> String {
    let mut n = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut n);
    B64.encode(n)
}

impl StateSigner {
    /// A signer with a 15-minute state lifetime and 7-day invitations.
    pub fn new(secret: SecretString, nonces: Box<dyn NonceStore>) -> Self {
        Self {
            secret,
            ttl: TimeDelta::minutes(15),
            invitation_ttl: TimeDelta::days(7),
            nonces,
        }
    }

    /// The shortest lifetime [`with_ttl`](Self::with_ttl) and
    /// [`with_invitation_ttl`](Self::with_invitation_ttl) keep: 1 second.
    pub const MIN_TTL: TimeDelta = TimeDelta::seconds(1);
    /// The longest lifetime they keep: 400 days (browsers cap cookies there too).
    pub const MAX_TTL: TimeDelta = TimeDelta::days(400);

    fn clamp_ttl(ttl: TimeDelta) -> TimeDelta {
        ttl.clamp(Self::MIN_TTL, Self::MAX_TTL)
    }

    /// Sets the state lifetime (and so the binding cookie's `Max-Age`), clamped to
    /// [`MIN_TTL`](Self::MIN_TTL)..=[`MAX_TTL`](Self::MAX_TTL): a zero, negative or
    /// out-of-range duration never makes [`issue`](Self::issue) overflow.
    pub fn with_ttl(mut self, ttl: TimeDelta) -> Self {
        self.ttl = Self::clamp_ttl(ttl);
        self
    }

    /// Sets how long an invitation link stays valid, clamped like
    /// [`with_ttl`](Self::with_ttl).
    pub fn with_invitation_ttl(mut self, ttl: TimeDelta) -> Self {
        self.invitation_ttl = Self::clamp_ttl(ttl);
        self
    }

    /// `now + ttl` as unix seconds, saturating at the end of time (an extreme `now`
    /// does not overflow).
    fn expiry(now: DateTime<Utc>, ttl: TimeDelta) -> i64 {
        now.checked_add_signed(ttl)
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
            .timestamp()
    }

    /// The state lifetime.
    pub fn ttl(&self) -> TimeDelta {
        self.ttl
    }

    /// The binding cookie for this signer's states: `secure` when the host is served over
    /// HTTPS (or loopback), see [`BindingCookie`].
    pub fn binding_cookie(&self, secure: bool) -> BindingCookie {
        if secure {
            BindingCookie::secure(self.ttl)
        } else {
            BindingCookie::insecure(self.ttl)
        }
    }

    fn mac(&self, label: &[u8]) -> Hmac<Sha256> {
        let mut m = Hmac::<Sha256>::new_from_slice(self.secret.expose_secret().as_bytes())
            .expect("HMAC takes any key length");
        m.update(label);
        m
    }

    fn binding_mac(&self, binding: &str) -> Hmac<Sha256> {
        let mut m = self.mac(BINDING_LABEL);
        m.update(binding.as_bytes());
        m
    }

    fn seal(&self, label: &[u8], claims: &impl Serialize) -> String {
        let body = B64.encode(serde_json::to_vec(claims).expect("plain data"));
        let mut mac = self.mac(label);
        mac.update(body.as_bytes());
        format!("{body}.{}", B64.encode(mac.finalize().into_bytes()))
    }

    fn open<T: serde::de::DeserializeOwned>(
        &self,
        label: &[u8],
        token: &str,
    ) -> Result<T, StateError> {
        let (body, sig) = token.split_once('.').ok_or(StateError::Forged)?;
        let sig = B64.decode(sig).map_err(|_| StateError::Forged)?;
        let mut mac = self.mac(label);
        mac.update(body.as_bytes());
        mac.verify_slice(&sig).map_err(|_| StateError::Forged)?;
        serde_json::from_slice(&B64.decode(body).map_err(|_| StateError::Forged)?)
            .map_err(|_| StateError::Forged)
    }

    /// A fresh state for `purpose`, and the browser binding to store in the cookie.
    pub fn issue(&self, purpose: &StatePurpose, now: DateTime<Utc>) -> IssuedState {
        let binding = random_b64(32);
        let claims = Claims {
            purpose: purpose.clone(),
            exp: Self::expiry(now, self.ttl),
            n: random_b64(16),
            b: B64.encode(self.binding_mac(&binding).finalize().into_bytes()),
        };
        IssuedState {
            state: self.seal(STATE_LABEL, &claims),
            binding: BrowserBinding(binding.into()),
        }
    }

    /// Verifies a state from the redirect together with the browser's binding (the
    /// binding cookie's value, `None` when the request carries none): signature and
    /// binding compared in constant time, then expiry, then single use. A refused
    /// binding does not spend the state.
    pub fn verify(
        &self,
        state: &str,
        binding: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<StatePurpose, StateError> {
        let claims: Claims = self.open(STATE_LABEL, state)?;
        let exp = DateTime::from_timestamp(claims.exp, 0).ok_or(StateError::Forged)?;
        if exp <= now {
            return Err(StateError::Expired);
        }
        let expected = B64.decode(&claims.b).map_err(|_| StateError::Forged)?;
        let binding = binding.ok_or(StateError::WrongBrowser)?;
        self.binding_mac(binding)
            .verify_slice(&expected)
            .map_err(|_| StateError::WrongBrowser)?;
        if !self.nonces.use_once(&claims.n, exp, now) {
            return Err(StateError::Replayed);
        }
        Ok(claims.purpose)
    }

    /// A developer's invitation token for `owner`: signed, valid for the invitation
    /// lifetime and usable many times (each use starts a flow with a state of its own,
    /// [`StatePurpose::Invitation`]). Never verifies as a state, nor a state as one.
    pub fn invitation(&self, owner: &OwnerId, now: DateTime<Utc>) -> String {
        self.seal(
            INVITATION_LABEL,
            &InvitationClaims {
                o: owner.clone(),
                exp: Self::expiry(now, self.invitation_ttl),
            },
        )
    }

    /// The inviting owner of an invitation token, if it is ours and not expired.
    pub fn verify_invitation(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<OwnerId, StateError> {
        let claims: InvitationClaims = self.open(INVITATION_LABEL, token)?;
        let exp = DateTime::from_timestamp(claims.exp, 0).ok_or(StateError::Forged)?;
        if exp <= now {
            return Err(StateError::Expired);
        }
        Ok(claims.o)
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
    fn a_login_state_is_signed_single_use_expiring_and_bound_like_the_others() {
        let signer = StateSigner::new("k".repeat(32).into(), Box::new(MemoryNonceStore::default()));
        let login = StatePurpose::Login {
            kind: ConnectionKind::Consumer,
        };
        let issued = signer.issue(&login, t(0));
        let b = Some(issued.binding.expose_secret());
        assert_eq!(
            signer.verify(&issued.state, None, t(1)),
            Err(StateError::WrongBrowser)
        );
        assert_eq!(signer.verify(&issued.state, b, t(1)), Ok(login.clone()));
        assert_eq!(
            signer.verify(&issued.state, b, t(2)),
            Err(StateError::Replayed)
        );
        let late = signer.issue(&login, t(0));
        assert_eq!(
            signer.verify(&late.state, Some(late.binding.expose_secret()), t(16 * 60)),
            Err(StateError::Expired)
        );
        // A login state is not a connect state for anyone.
        let (body, _) = issued.state.split_once('.').unwrap();
        let json = String::from_utf8(B64.decode(body).unwrap()).unwrap();
        assert!(json.contains("\"p\":\"login\""), "{json}");
        assert!(!json.contains("owner"), "{json}");
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
