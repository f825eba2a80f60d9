//! In-memory stand-ins for what a real host already has: its widget refresh queue and
//! its mailer. Both are kept per owner: nobody sees another owner's jobs or mail.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use lightwidget::notify::{DefaultTemplates, LinkSigner, Links, Templates};
use lightwidget::*;
use url::Url;

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

/// One delivered notice, as the owner would read it.
#[derive(Clone, Debug)]
pub struct Mail {
    /// The notice's id (delivery is idempotent on it).
    pub notice_id: uuid::Uuid,
    /// Recipient address.
    pub to: String,
    /// The owner.
    pub owner: OwnerId,
    /// Subject line (the library's template).
    pub subject: String,
    /// Plain-text body (the library's template).
    pub text: String,
    /// Signed renewal link.
    pub renew: Url,
    /// Signed one-click unsubscribe link.
    pub unsubscribe: Url,
    /// When it was delivered.
    pub at: DateTime<Utc>,
}

/// A mailbox standing in for SMTP: the `email` channel, shown on the Inbox page, with the
/// same texts and links the library's email channel sends.
pub struct Inbox {
    links: Arc<LinkSigner>,
    templates: Arc<dyn Templates>,
    clock: Arc<dyn Clock>,
    mails: Mutex<Vec<Mail>>,
}

impl std::fmt::Debug for Inbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inbox").finish_non_exhaustive()
    }
}

impl Inbox {
    /// An empty inbox whose mails carry links signed by `links`, in the default texts.
    pub fn new(links: Arc<LinkSigner>, clock: Arc<dyn Clock>) -> Self {
        Self {
            links,
            templates: Arc::new(DefaultTemplates),
            clock,
            mails: Mutex::new(Vec::new()),
        }
    }

    /// Mails of one owner, newest first.
    pub fn of(&self, owner: &OwnerId) -> Vec<Mail> {
        let mut v: Vec<Mail> = self
            .mails
            .locked()
            .iter()
            .filter(|m| &m.owner == owner)
            .cloned()
            .collect();
        v.reverse();
        v
    }
}

#[async_trait]
impl Notifier for Inbox {
    fn channel(&self) -> &'static str {
        "email"
    }

    async fn deliver(&self, notice: &Notice, to: &Recipient) -> Result<(), DeliveryError> {
        let Recipient::Email(addr) = to else {
            return Err(DeliveryError::permanent("not an email address"));
        };
        let now = self.clock.now();
        let links = Links {
            renew: self.links.renewal_url(notice, now),
            // The topic of this mail, like the library's emails.
            unsubscribe: self
                .links
                .unsubscribe_url(&notice.owner, Some(notice.kind.topic()), now),
        };
        let mail = Mail {
            notice_id: notice.id,
            to: addr.clone(),
            owner: notice.owner.clone(),
            subject: self.templates.subject(notice),
            text: self.templates.text(notice, &links),
            renew: links.renew,
            unsubscribe: links.unsubscribe,
            at: notice.created_at,
        };
        let mut mails = self.mails.locked();
        // Idempotent on the notice id, like a real mailer with a Message-ID.
        if !mails
            .iter()
            .any(|m| m.notice_id == notice.id && m.to == *addr)
        {
            mails.push(mail);
        }
        Ok(())
    }
}
