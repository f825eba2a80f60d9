//! # lightwidget-notify
//!
//! Notice channels for the keeper's outbox: email over SMTP ([`EmailNotifier`]), `.eml`
//! files for local development ([`EmlFileNotifier`]), signed JSON webhooks
//! ([`WebhookNotifier`]), operator alerts of app-wide incidents (`WebhookAlerts`,
//! `EmailAlerts`), and the signed links they carry ([`LinkSigner`]): renewal links that
//! expire, and one-click unsubscribe links for the topic of their email, which never
//! expire and work once. Emails have plain-text and HTML parts and RFC 8058
//! `List-Unsubscribe` / `List-Unsubscribe-Post` headers.
//!
//! ```
//! # #[cfg(feature = "email")]
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use lightwidget_notify::{EmailContent, EmlFileNotifier, LinkSigner};
//!
//! let links = Arc::new(LinkSigner::new(
//!     "a long random secret".to_string().into(),
//!     "https://widgets.example.com/".parse()?,
//! ));
//! let content = EmailContent::new("Widgets <alerts@widgets.example.com>", links)?;
//! // Notices as .eml files for local development; `EmailNotifier::from_url` for SMTP.
//! let dir = std::env::temp_dir().join("lw-doc-mail");
//! let notifier = EmlFileNotifier::new(&dir, content)?;
//! assert_eq!(notifier.dir(), dir.as_path());
//! // Keeper::builder(store, provider).notifier(Arc::new(notifier))
//! # Ok(()) }
//! # #[cfg(not(feature = "email"))]
//! # fn main() {}
//! ```
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod alerts;
mod links;
mod mailbox;
mod standard_webhooks;
mod templates;

#[cfg(feature = "email")]
#[cfg_attr(docsrs, doc(cfg(feature = "email")))]
mod email;
#[cfg(feature = "webhook")]
#[cfg_attr(docsrs, doc(cfg(feature = "webhook")))]
mod webhook;

#[cfg(feature = "email")]
pub use alerts::EmailAlerts;
#[cfg(feature = "webhook")]
pub use alerts::WebhookAlerts;
#[cfg(feature = "email")]
pub use email::{EmailContent, EmailNotifier, EmlFileNotifier, SmtpTls};
pub use links::{LinkError, LinkSigner, RenewalLink, UnsubscribeLink};
pub use mailbox::{Mail, Mailbox};
pub use standard_webhooks::{StandardWebhookError, StandardWebhookSigner, verify_standard_webhook};
pub use templates::{DefaultTemplates, Links, Templates, escape_html};
#[cfg(feature = "webhook")]
pub use webhook::{WebhookNotifier, WebhookSignatureError, sign_webhook, verify_webhook_signature};

/// Errors of lightwidget-notify's setup (deliveries report `DeliveryError`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Invalid configuration.
    #[error("invalid notifier configuration: {0}")]
    Config(String),
}

/// This crate's README, compiled as doc tests so its example stays true.
#[cfg(all(doctest, feature = "email"))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
