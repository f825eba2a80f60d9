//! In-memory stand-ins for what a real host already has: its widget refresh queue and
//! its widgets table, kept per owner: nobody sees another owner's jobs. (The mailbox is
//! the library's `notify::Mailbox`.)

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use async_trait::async_trait;
use lightwidget::*;

use lightwidget::sync::Locked;

/// The widget refresh queues (a visible stand-in), one per owner: renewed accounts go
/// first in their owner's queue.
#[derive(Debug, Default)]
pub struct WidgetQueue {
    by_owner: Mutex<HashMap<OwnerId, VecDeque<String>>>,
}

impl WidgetQueue {
    /// Appends a job at the back of `owner`'s queue (normal scheduling).
    pub fn push_back(&self, owner: &OwnerId, job: impl Into<String>) {
        self.by_owner
            .locked()
            .entry(owner.clone())
            .or_default()
            .push_back(job.into());
    }

    /// `owner`'s queue, front first.
    pub fn snapshot(&self, owner: &OwnerId) -> Vec<String> {
        self.by_owner
            .locked()
            .get(owner)
            .map(|q| q.iter().cloned().collect())
            .unwrap_or_default()
    }
}

#[async_trait]
impl LifecycleHooks for WidgetQueue {
    async fn on_renewed(&self, account: &Account) {
        let job = format!("widgets of @{}", account.username);
        let mut all = self.by_owner.locked();
        let q = all.entry(account.owner.clone()).or_default();
        q.retain(|j| j != &job);
        q.push_front(job);
    }
}

/// One of an owner's widgets.
#[derive(Clone, Debug)]
pub struct Widget {
    /// Its number (unique per owner).
    pub n: u32,
    /// Its name.
    pub name: String,
    /// The Instagram account it shows.
    pub account: Option<AccountId>,
}

/// The owners' widgets (a stand-in for the host's own table).
#[derive(Debug, Default)]
pub struct Widgets {
    by_owner: Mutex<HashMap<OwnerId, Vec<Widget>>>,
}

impl Widgets {
    /// Adds widget `n` for `owner`.
    pub fn add(&self, owner: &OwnerId, n: u32, name: impl Into<String>) {
        self.by_owner
            .locked()
            .entry(owner.clone())
            .or_default()
            .push(Widget {
                n,
                name: name.into(),
                account: None,
            });
    }

    /// `owner`'s widgets.
    pub fn of(&self, owner: &OwnerId) -> Vec<Widget> {
        self.by_owner
            .locked()
            .get(owner)
            .cloned()
            .unwrap_or_default()
    }

    /// `owner`'s widget `n`.
    pub fn get(&self, owner: &OwnerId, n: u32) -> Option<Widget> {
        self.of(owner).into_iter().find(|w| w.n == n)
    }

    /// Widget `n` of `owner` shows `account` from now on.
    pub fn choose(&self, owner: &OwnerId, n: u32, account: AccountId) {
        if let Some(w) = self
            .by_owner
            .locked()
            .get_mut(owner)
            .and_then(|v| v.iter_mut().find(|w| w.n == n))
        {
            w.account = Some(account);
        }
    }
}
