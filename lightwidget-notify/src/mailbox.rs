//! [`Mailbox`]: notices delivered to memory, in the library's email texts, per owner.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use lightwidget_core::sync::Locked;
use lightwidget_core::{Clock, DeliveryError, Notice, Notifier, OwnerId, Recipient};
use url::Url;

use crate::{DefaultTemplates, LinkSigner, Links, Templates};

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

/// An in-memory mailbox standing in for SMTP: the `email` channel, with the same texts and
/// links the email channel sends, kept per owner (for demos, and for a host's tests
/// that read what an owner was sent).
pub struct Mailbox {
    links: Arc<LinkSigner>,
    templates: Arc<dyn Templates>,
    clock: Arc<dyn Clock>,
    mails: Mutex<Vec<Mail>>,
}

impl std::fmt::Debug for Mailbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailbox").finish_non_exhaustive()
    }
}

impl Mailbox {
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
impl Notifier for Mailbox {
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
