//! What every handler shares, held whole behind one `Arc`.

use std::sync::Arc;

use axum::http::HeaderValue;
use chrono::TimeDelta;
use lightwidget_core::{Clock, Keeper};
use lightwidget_instagram::flow::OAuth;
use lightwidget_instagram::state::{BindingCookie, StateSigner};
use lightwidget_notify::LinkSigner;
use secrecy::SecretString;
use url::Url;

use crate::host::Host;
use crate::views::Pages;

/// The app secrets Meta signs its callbacks with (`signed_request`).
pub struct AppSecrets {
    /// Instagram Login app (consumer connections).
    pub consumer: SecretString,
    /// Facebook Login app (business connections).
    pub business: SecretString,
}

impl std::fmt::Debug for AppSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AppSecrets { .. }")
    }
}

/// How long the host's widgets may show an old feed after a renewal, by plan (the
/// renewal page says so). The seeds: 6 hours for free widgets, 30 minutes with the
/// upgrade add-on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheDurations {
    /// Widgets on the free plan.
    pub free: TimeDelta,
    /// Widgets with the upgrade add-on; `None` when the host has no such plan.
    pub upgraded: Option<TimeDelta>,
}

impl Default for CacheDurations {
    fn default() -> Self {
        Self {
            free: TimeDelta::hours(6),
            upgraded: Some(TimeDelta::minutes(30)),
        }
    }
}

/// The web layer's shared state, reached through [`crate::Web`] (its fields are the
/// crate's own).
pub struct Inner {
    pub(crate) keeper: Keeper,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) oauth: OAuth,
    pub(crate) app_secrets: AppSecrets,
    pub(crate) oauth_state: StateSigner,
    pub(crate) links: Arc<LinkSigner>,
    pub(crate) secure_cookies: bool,
    pub(crate) csp: HeaderValue,
    pub(crate) public_url: Url,
    pub(crate) host: Arc<dyn Host>,
    pub(crate) pages: Arc<dyn Pages>,
    pub(crate) cache: CacheDurations,
    pub(crate) messages: crate::Messages,
}

impl Inner {
    /// The cookie that binds an OAuth flow to the browser that started it.
    pub(crate) fn binding_cookie(&self) -> BindingCookie {
        self.oauth_state.binding_cookie(self.secure_cookies)
    }
}
