//! Email notices: SMTP with lettre ([`EmailNotifier`]) and `.eml` files for local
//! development ([`EmlFileNotifier`]), both from the same message builder.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use lightwidget_core::{Clock, DeliveryError, Notice, Notifier, Recipient, SystemClock};
use secrecy::{ExposeSecret, SecretString};

use crate::{DefaultTemplates, Error, LinkSigner, Links, Templates};

/// What every email channel needs to write a message.
pub struct EmailContent {
    from: Mailbox,
    links: Arc<LinkSigner>,
    templates: Arc<dyn Templates>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for EmailContent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmailContent")
            .field("from", &self.from.to_string())
            .field("links", &self.links)
            .finish_non_exhaustive()
    }
}

impl EmailContent {
    /// Messages from `from` with links signed by `links`, default templates.
    pub fn new(from: &str, links: Arc<LinkSigner>) -> Result<Self, Error> {
        Ok(Self {
            from: from
                .parse()
                .map_err(|e| Error::Config(format!("mail from {from:?}: {e}")))?,
            links,
            templates: Arc::new(DefaultTemplates),
            clock: Arc::new(SystemClock),
        })
    }
    /// Replaces the templates.
    pub fn with_templates(mut self, t: Arc<dyn Templates>) -> Self {
        self.templates = t;
        self
    }
    /// The clock used for link expiry.
    pub fn with_clock(mut self, c: Arc<dyn Clock>) -> Self {
        self.clock = c;
        self
    }

    /// The message of `n` for an email recipient, and its address.
    fn message_to<'a>(
        &self,
        n: &Notice,
        to: &'a Recipient,
    ) -> Result<(Message, &'a str), DeliveryError> {
        let Recipient::Email(addr) = to else {
            return Err(DeliveryError::permanent("not an email recipient"));
        };
        Ok((self.message(n, addr)?, addr))
    }

    /// Builds the message: plain text + HTML, `Message-ID` from the notice id (so a
    /// redelivery after a crash can be recognised), RFC 8058 one-click unsubscribe headers
    /// whose link turns off this email's topic ([`NoticeKind::topic`](lightwidget_core::NoticeKind::topic)).
    pub fn message(&self, n: &Notice, to: &str) -> Result<Message, DeliveryError> {
        let now = self.clock.now();
        let links = Links {
            renew: self.links.renewal_url(n, now),
            // The topic of this email, not every topic: the page offers "all".
            unsubscribe: self
                .links
                .unsubscribe_url(&n.owner, Some(n.kind.topic()), now),
        };
        let to: Mailbox = to
            .parse()
            .map_err(|e| DeliveryError::permanent("bad recipient address").with_source(e))?;
        let domain = self.from.email.domain().to_owned();
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(self.templates.subject(n))
            .message_id(Some(format!("<{}@{domain}>", n.id)))
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("List-Unsubscribe"),
                format!("<{}>", links.unsubscribe),
            ))
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
                "List-Unsubscribe=One-Click".into(),
            ))
            .multipart(MultiPart::alternative_plain_html(
                self.templates.text(n, &links),
                self.templates.html(n, &links),
            ))
            .map_err(|e| DeliveryError::permanent("cannot build the message").with_source(e))
    }
}

/// TLS mode of the SMTP connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmtpTls {
    /// Implicit TLS (port 465).
    Tls,
    /// STARTTLS (port 587).
    StartTls,
    /// No TLS: only for a local relay or a test server.
    Plain,
}

/// Email over SMTP (lettre, pooled connections, timeouts).
pub struct EmailNotifier {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    content: EmailContent,
}

impl std::fmt::Debug for EmailNotifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmailNotifier")
            .field("content", &self.content)
            .finish_non_exhaustive()
    }
}

impl EmailNotifier {
    /// An SMTP notifier. `credentials` = (user, password).
    pub fn new(
        host: &str,
        port: u16,
        tls: SmtpTls,
        credentials: Option<(String, SecretString)>,
        content: EmailContent,
    ) -> Result<Self, Error> {
        let mut b = match tls {
            SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(host)
                .map_err(|e| Error::Config(format!("SMTP relay {host}: {e}")))?,
            SmtpTls::StartTls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host)
                .map_err(|e| Error::Config(format!("SMTP relay {host}: {e}")))?,
            SmtpTls::Plain => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
        }
        .port(port)
        .timeout(Some(Duration::from_secs(20)));
        if let Some((u, p)) = credentials {
            b = b.credentials(Credentials::new(u, p.expose_secret().to_owned()));
        }
        Ok(Self {
            transport: b.build(),
            content,
        })
    }

    /// From an `smtp://user:pass@host:port?tls=starttls|tls|none` URL (the format of
    /// `LIGHTWIDGET_SMTP_URL`).
    pub fn from_url(url: &SecretString, content: EmailContent) -> Result<Self, Error> {
        let u = url::Url::parse(url.expose_secret())
            .map_err(|_| Error::Config("SMTP URL is not a URL (value hidden)".into()))?;
        let host = u
            .host_str()
            .ok_or_else(|| Error::Config("SMTP URL has no host".into()))?
            .to_owned();
        let tls = match u
            .query_pairs()
            .find(|(k, _)| k == "tls")
            .map(|(_, v)| v.into_owned())
            .as_deref()
        {
            None | Some("starttls") => SmtpTls::StartTls,
            Some("tls") => SmtpTls::Tls,
            Some("none") => SmtpTls::Plain,
            Some(other) => {
                return Err(Error::Config(format!(
                    "SMTP URL tls={other:?}: use starttls, tls or none"
                )));
            }
        };
        let port = u.port().unwrap_or(match tls {
            SmtpTls::Tls => 465,
            SmtpTls::StartTls => 587,
            SmtpTls::Plain => 25,
        });
        let creds = (!u.username().is_empty()).then(|| {
            (
                u.username().to_owned(),
                SecretString::from(u.password().unwrap_or_default().to_owned()),
            )
        });
        Self::new(&host, port, tls, creds, content)
    }
}

impl EmailNotifier {
    /// Sends one message over SMTP: a refusal the server calls permanent is permanent.
    async fn send(&self, msg: Message) -> Result<(), DeliveryError> {
        match self.transport.send(msg).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_permanent() => Err(DeliveryError::permanent("SMTP").with_source(e)),
            Err(e) => Err(DeliveryError::transient("SMTP").with_source(e)),
        }
    }

    /// Sends a plain-text message from this notifier's sender (operator alerts).
    pub(crate) async fn send_text(
        &self,
        to: Mailbox,
        subject: &str,
        text: String,
    ) -> Result<(), DeliveryError> {
        let msg = Message::builder()
            .from(self.content.from.clone())
            .to(to)
            .subject(subject)
            .body(text)
            .map_err(|e| DeliveryError::permanent("operator alert email").with_source(e))?;
        self.send(msg).await
    }
}

#[async_trait]
impl Notifier for EmailNotifier {
    fn channel(&self) -> &'static str {
        "email"
    }

    async fn deliver(&self, n: &Notice, to: &Recipient) -> Result<(), DeliveryError> {
        let (msg, _) = self.content.message_to(n, to)?;
        self.send(msg).await
    }
}

/// Writes each notice as an `.eml` file (the exact bytes SMTP would carry) into a
/// folder: local development without a mail server. A redelivery overwrites the same
/// file (named by notice id and recipient), so nothing is duplicated.
#[derive(Debug)]
pub struct EmlFileNotifier {
    dir: PathBuf,
    content: EmailContent,
}

impl EmlFileNotifier {
    /// Files go to `dir` (created if missing).
    pub fn new(dir: impl Into<PathBuf>, content: EmailContent) -> Result<Self, Error> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::Config(format!("cannot create {}: {e}", dir.display())))?;
        Ok(Self { dir, content })
    }

    /// The folder.
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }
}

#[async_trait]
impl Notifier for EmlFileNotifier {
    fn channel(&self) -> &'static str {
        "email"
    }

    async fn deliver(&self, n: &Notice, to: &Recipient) -> Result<(), DeliveryError> {
        let (msg, addr) = self.content.message_to(n, to)?;
        let safe: String = addr
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        let path = self.dir.join(format!("{}-{safe}.eml", n.id));
        tokio::fs::write(&path, msg.formatted()).await.map_err(|e| {
            DeliveryError::transient(format!("cannot write {}", path.display())).with_source(e)
        })
    }
}
