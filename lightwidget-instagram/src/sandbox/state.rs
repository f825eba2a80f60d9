//! The sandbox's state: users, tokens, codes, scenarios, faults, counters.

use lightwidget_core::sync::{Locked, RwLocked};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use rand::RngCore;

use super::SandboxConfig;

/// Media a new user has.
pub(crate) const DEFAULT_MEDIA_COUNT: usize = 30;
/// The most media a user can have (media ids carry the index in three digits).
pub(crate) const MAX_MEDIA: usize = 999;

/// A sandbox test user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserHandle {
    /// Instagram user id (Instagram-scoped for consumer; IG business account id for business).
    pub id: String,
    /// Username.
    pub username: String,
    /// Facebook Page id (business users).
    pub page_id: Option<String>,
    /// The app-scoped Facebook user id (business users): what `/me` answers for their
    /// Facebook user token, and what Meta's Facebook Login callbacks carry. Differs from
    /// `id`.
    pub fb_user_id: Option<String>,
}

/// What has happened to a user's session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Scenario {
    /// 190/460.
    PasswordChanged,
    /// 190/459.
    Checkpoint,
    /// 190/458.
    AppRemoved,
    /// 190/467.
    SessionInvalidated,
    /// The owner took a permission back from the app: code 10 on every call.
    PermissionRemoved,
    /// Meta throttles this account: code 80002 with `X-Business-Use-Case-Usage` naming
    /// the account and `estimated_time_to_regain_access`.
    RateLimited {
        /// Minutes until access is regained.
        regain_minutes: u64,
    },
}

impl Scenario {
    /// The names `POST /_sandbox/accounts/{id}/break` accepts.
    pub const REASONS: &'static [&'static str] = &[
        "password_changed",
        "checkpoint",
        "app_removed",
        "session_invalidated",
        "permission_removed",
        "rate_limited",
    ];

    /// The scenario for a reason name (`rate_limited` regains after `regain_minutes`).
    pub fn from_reason(reason: &str, regain_minutes: u64) -> Option<Self> {
        Some(match reason {
            "password_changed" => Self::PasswordChanged,
            "checkpoint" => Self::Checkpoint,
            "app_removed" => Self::AppRemoved,
            "session_invalidated" => Self::SessionInvalidated,
            "permission_removed" => Self::PermissionRemoved,
            "rate_limited" => Self::RateLimited { regain_minutes },
            _ => return None,
        })
    }

    pub(crate) fn error(self) -> (i64, Option<i64>, &'static str) {
        match self {
            Self::PermissionRemoved => (
                10,
                None,
                "(#10) Application does not have permission for this action",
            ),
            Self::RateLimited { .. } => (
                80002,
                None,
                "(#80002) There have been too many calls to this Instagram account. Wait a bit and try again.",
            ),
            Self::PasswordChanged => (
                190,
                Some(460),
                "Error validating access token: The session has been invalidated because the user changed their password or Facebook has changed the session for security reasons.",
            ),
            Self::Checkpoint => (
                190,
                Some(459),
                "Error validating access token: You cannot access the app till you log in to www.facebook.com and follow the instructions given.",
            ),
            Self::AppRemoved => (
                190,
                Some(458),
                "Error validating access token: The user has not authorized application.",
            ),
            Self::SessionInvalidated => (
                190,
                Some(467),
                "Error validating access token: The session is invalid because the user logged out.",
            ),
        }
    }
}

/// An injected failure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Respond with this HTTP status and a Graph error (code 2 for 5xx).
    Status(u16),
    /// Wait before answering normally.
    Delay(Duration),
    /// A 200 with a truncated JSON body.
    Malformed,
    /// A rate-limit error with this code (4, 17, 80002, ...) and
    /// `X-Business-Use-Case-Usage` carrying `estimated_time_to_regain_access` minutes.
    RateLimit {
        /// Graph error code.
        code: i64,
        /// Minutes until access is regained.
        regain_minutes: u64,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TokenKind {
    IgShort,
    IgLong,
    FbShort,
    FbLong,
    Page,
}

#[derive(Clone, Debug)]
pub(crate) struct TokenInfo {
    pub user: String,
    pub kind: TokenKind,
    pub issued_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    /// The permissions the person granted at the dialog the token comes from.
    pub scopes: Vec<String>,
    /// Broken for good: the user logged in again after this scenario, which healed their
    /// account but not the tokens issued before.
    pub dead: Option<Scenario>,
}

/// An authorization code the dialog issued: who allowed what.
#[derive(Clone, Debug)]
pub(crate) struct Grant {
    pub user: String,
    pub business: bool,
    pub scopes: Vec<String>,
}

#[derive(Clone, Debug)]
pub(crate) struct User {
    pub handle: UserHandle,
    pub scenario: Option<Scenario>,
    pub data_access_expires_at: DateTime<Utc>,
    /// How many media the user has (the feed endpoints generate them).
    pub media_count: usize,
    /// When the user was created (the newest media's time).
    pub created_at: DateTime<Utc>,
    /// `BUSINESS`, `MEDIA_CREATOR` or `PERSONAL` (what Instagram Login's `/me` says).
    pub account_type: &'static str,
}

pub(crate) struct SandboxState {
    pub cfg: SandboxConfig,
    pub users: RwLock<HashMap<String, User>>,
    pub tokens: RwLock<HashMap<String, TokenInfo>>,
    pub codes: Mutex<HashMap<String, Grant>>,
    /// A business user's current Page token (Meta hands out the same non-expiring Page
    /// token again while it works).
    pub page_tokens: Mutex<HashMap<String, String>>,
    pub login_user: Mutex<Option<String>>,
    /// A Facebook user's further Pages: the Instagram id of the user who logs in → the
    /// Instagram ids of the other business accounts their Pages are linked to.
    pub extra_pages: Mutex<HashMap<String, Vec<String>>>,
    pub faults: Mutex<VecDeque<Fault>>,
    pub app_usage: Mutex<Option<u32>>,
    /// An app-level Graph error every call answers with (code, message) until cleared.
    pub app_error: Mutex<Option<(i64, String)>>,
    /// `http://127.0.0.1:PORT/`, once bound (for CDN and paging URLs).
    pub base: std::sync::OnceLock<String>,
    counters: RwLock<HashMap<&'static str, AtomicU64>>,
    next_id: AtomicU64,
}

impl SandboxState {
    pub fn new(cfg: SandboxConfig) -> Self {
        Self {
            cfg,
            users: RwLock::default(),
            tokens: RwLock::default(),
            codes: Mutex::default(),
            page_tokens: Mutex::default(),
            login_user: Mutex::default(),
            extra_pages: Mutex::default(),
            faults: Mutex::default(),
            app_usage: Mutex::default(),
            app_error: Mutex::default(),
            base: std::sync::OnceLock::new(),
            counters: RwLock::default(),
            next_id: AtomicU64::new(17_841_400_000_000),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.cfg.clock.now()
    }

    pub fn count(&self, endpoint: &str) -> u64 {
        self.counters
            .read_locked()
            .get(endpoint)
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }

    pub fn hit(&self, endpoint: &'static str) {
        if let Some(c) = self.counters.read_locked().get(endpoint) {
            c.fetch_add(1, Ordering::Relaxed);
            return;
        }
        self.counters
            .write_locked()
            .entry(endpoint)
            .or_default()
            .fetch_add(1, Ordering::Relaxed);
    }

    pub fn create_user(&self, username: &str, business: bool) -> UserHandle {
        self.create_user_of_type(username, business, "BUSINESS")
    }

    pub fn create_user_of_type(
        &self,
        username: &str,
        business: bool,
        account_type: &'static str,
    ) -> UserHandle {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed).to_string();
        let handle = UserHandle {
            page_id: business.then(|| format!("page-{id}")),
            fb_user_id: business.then(|| format!("10{}", &id[id.len().saturating_sub(10)..])),
            id: id.clone(),
            username: username.to_owned(),
        };
        let dae = self.now() + TimeDelta::days(90);
        self.users.write_locked().insert(
            id,
            User {
                handle: handle.clone(),
                scenario: None,
                data_access_expires_at: dae,
                media_count: DEFAULT_MEDIA_COUNT,
                created_at: self.now(),
                account_type,
            },
        );
        handle
    }

    /// Gives `owner`'s Facebook user another Page, linked to a new Instagram business
    /// account `username` (same Facebook user id as `owner`).
    pub fn add_business_page(&self, owner: &UserHandle, username: &str) -> UserHandle {
        let mut h = self.create_user(username, true);
        h.fb_user_id = owner.fb_user_id.clone();
        if let Some(u) = self.users.write_locked().get_mut(&h.id) {
            u.handle = h.clone();
        }
        self.extra_pages
            .locked()
            .entry(owner.id.clone())
            .or_default()
            .push(h.id.clone());
        h
    }

    /// The Instagram ids whose Pages the Facebook user of `id` manages: their own, then
    /// the others in the order they were added.
    pub fn pages_of(&self, id: &str) -> Vec<String> {
        let mut all = vec![id.to_owned()];
        if let Some(more) = self.extra_pages.locked().get(id) {
            all.extend(more.iter().cloned());
        }
        all
    }

    pub fn user(&self, id: &str) -> Option<User> {
        self.users.read_locked().get(id).cloned()
    }

    pub fn set_scenario(&self, id: &str, s: Option<Scenario>) {
        if let Some(u) = self.users.write_locked().get_mut(id) {
            u.scenario = s;
        }
    }

    pub fn set_media_count(&self, id: &str, n: usize) {
        if let Some(u) = self.users.write_locked().get_mut(id) {
            u.media_count = n.min(MAX_MEDIA);
        }
    }

    pub fn set_data_access(&self, id: &str, at: DateTime<Utc>) {
        if let Some(u) = self.users.write_locked().get_mut(id) {
            u.data_access_expires_at = at;
        }
    }

    pub fn data_access_expires_at(&self, id: &str) -> Option<DateTime<Utc>> {
        self.user(id).map(|u| u.data_access_expires_at)
    }

    pub fn random(prefix: &str) -> String {
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        let mut b = [0u8; 40];
        rand::rng().fill_bytes(&mut b);
        let mut s = String::with_capacity(prefix.len() + 40);
        s.push_str(prefix);
        s.extend(b.iter().map(|x| A[(*x as usize) % A.len()] as char));
        s
    }

    pub fn mint(
        &self,
        user: &str,
        kind: TokenKind,
        issued_at: DateTime<Utc>,
        expires_at: Option<DateTime<Utc>>,
    ) -> String {
        let scopes = match kind {
            TokenKind::IgShort | TokenKind::IgLong => vec!["instagram_business_basic".into()],
            _ => vec!["instagram_basic".into(), "pages_show_list".into()],
        };
        self.mint_with_scopes(user, kind, issued_at, expires_at, scopes)
    }

    pub fn mint_with_scopes(
        &self,
        user: &str,
        kind: TokenKind,
        issued_at: DateTime<Utc>,
        expires_at: Option<DateTime<Utc>>,
        scopes: Vec<String>,
    ) -> String {
        let prefix = match kind {
            TokenKind::IgShort | TokenKind::IgLong => "IGAA",
            _ => "EAAG",
        };
        let v = Self::random(prefix);
        self.tokens.write_locked().insert(
            v.clone(),
            TokenInfo {
                user: user.to_owned(),
                kind,
                issued_at,
                expires_at,
                scopes,
                dead: None,
            },
        );
        v
    }

    pub fn token(&self, v: &str) -> Option<TokenInfo> {
        self.tokens.read_locked().get(v).cloned()
    }

    /// The user logged in again at a dialog: a broken account (password changed, app
    /// removed, ...) works again from now on, for the new tokens only; every token issued
    /// before stays broken with the same error. A Facebook user's login heals every
    /// account their Pages are linked to.
    pub fn logged_in_again(&self, id: &str) {
        for ig in self.pages_of(id) {
            self.logged_in_again_one(&ig);
        }
    }

    fn logged_in_again_one(&self, id: &str) {
        let Some(scenario) = self.user(id).and_then(|u| u.scenario) else {
            return;
        };
        if matches!(scenario, Scenario::RateLimited { .. }) {
            return; // throttling is Meta's, not the session's: a login does not end it
        }
        for t in self
            .tokens
            .write_locked()
            .values_mut()
            .filter(|t| t.user == id)
        {
            t.dead.get_or_insert(scenario);
        }
        self.page_tokens.locked().remove(id);
        self.set_scenario(id, None);
    }

    /// POSTs Meta's signed deauthorize callback for `user` to `cb`; its HTTP status.
    pub async fn deauthorize_callback(&self, user: &UserHandle, cb: &url::Url) -> Option<u16> {
        let secret = if user.page_id.is_some() {
            &self.cfg.business_app.1
        } else {
            &self.cfg.consumer_app.1
        };
        let now = self.now().timestamp();
        let payload = serde_json::json!({
            "algorithm": "HMAC-SHA256",
            "issued_at": now,
            "expires": now + 3600,
            "user_id": user.id,
        })
        .to_string();
        let sr = crate::signed_request::sign(secret, &payload);
        let r = reqwest::Client::new()
            .post(cb.clone())
            .form(&[("signed_request", sr)])
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .ok()?;
        Some(r.status().as_u16())
    }

    pub fn inject(&self, f: Fault, n: usize) {
        let mut q = self.faults.locked();
        for _ in 0..n {
            q.push_back(f.clone());
        }
    }

    pub fn next_fault(&self) -> Option<Fault> {
        let mut q = self.faults.locked();
        q.pop_front()
    }
}
