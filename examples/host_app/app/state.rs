//! What every handler shares.

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use lightwidget::web::{Web, WebState};
use lightwidget::*;
use url::Url;

use super::session::Sessions;
use lightwidget::notify::Mailbox;

use super::standins::{WidgetQueue, Widgets};

/// Everything the handlers share.
pub struct AppState {
    /// The mounted web layer.
    pub web: Web,
    /// The token keeper.
    pub keeper: Keeper,
    /// The site's sessions.
    pub sessions: Arc<Sessions>,
    /// The stand-in mailbox the notices go to.
    pub inbox: Arc<Mailbox>,
    /// The stand-in widget refresh queues, one per owner.
    pub queue: Arc<WidgetQueue>,
    /// The owners' widgets and the account each shows.
    pub widgets: Arc<Widgets>,
    /// The in-process Graph API sandbox's base URL, when the app runs against it (its
    /// break control is offered on the widget preview).
    pub sandbox: Option<Url>,
    /// Sandbox only: which sandbox user "logs in" at each kind's authorize dialog.
    pub sandbox_login: Arc<Mutex<HashMap<ConnectionKind, String>>>,
    /// Sandbox only: show the dialogs as pages (choose who logs in, untick a permission,
    /// cancel) instead of allowing at once. On in the demo, off in the tests.
    pub sandbox_dialog: Arc<AtomicBool>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").finish_non_exhaustive()
    }
}

/// The web layer's extractors (`Viewer`, `CsrfForm`) work in the app's own handlers.
impl WebState for AppState {
    fn web(&self) -> &Web {
        &self.web
    }
}
