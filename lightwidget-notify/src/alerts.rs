//! Operator alerts: one message per change of an app-wide incident (opened, updated,
//! resolved), to the operator — never to owners. [`WebhookAlerts`] posts signed JSON
//! (the same signature as notice webhooks), [`EmailAlerts`] sends a plain-text email over
//! the SMTP transport of an [`EmailNotifier`](crate::EmailNotifier).
//!
//! ```
//! # #[cfg(feature = "webhook")]
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use lightwidget_notify::WebhookAlerts;
//! let alerts = WebhookAlerts::new(
//!     "https://ops.example.com/hooks/lightwidget".parse()?,
//!     "a shared secret".to_string().into(),
//! )?;
//! // Keeper::builder(store, provider).operator_alerts(Arc::new(alerts))
//! # let _ = Arc::new(alerts); Ok(()) }
//! # #[cfg(not(feature = "webhook"))]
//! # fn main() {}
//! ```

#[cfg(feature = "webhook")]
pub use webhook::WebhookAlerts;

#[cfg(feature = "email")]
pub use email::EmailAlerts;

/// The JSON body of an alert (webhook).
#[cfg(feature = "webhook")]
fn body(a: &lightwidget_core::IncidentAlert) -> serde_json::Value {
    let i = &a.incident;
    serde_json::json!({
        "type": format!("incident.{}", a.change.as_str()),
        "summary": a.summary(),
        "incident": {
            "id": i.id,
            "app": i.connection,
            "kind": i.kind.as_str(),
            "opened_at": i.opened_at,
            "updated_at": i.updated_at,
            "resolved_at": i.resolved_at,
            "accounts": i.accounts,
            "error": i.error,
        },
    })
}

#[cfg(feature = "webhook")]
mod webhook {
    use async_trait::async_trait;
    use lightwidget_core::{Clock, DeliveryError, IncidentAlert, OperatorAlerts, SystemClock};
    use secrecy::SecretString;
    use std::sync::Arc;

    use crate::Error;

    /// Posts each alert as signed JSON to one operator URL (`X-Lightwidget-Signature`,
    /// verified with [`verify_webhook_signature`](crate::verify_webhook_signature);
    /// `X-Lightwidget-Event: incident.opened|updated|resolved`). 2xx = delivered; 4xx
    /// other than 408/429 = permanent; the rest is retried by the keeper.
    pub struct WebhookAlerts {
        client: reqwest::Client,
        url: url::Url,
        secret: SecretString,
        clock: Arc<dyn Clock>,
    }

    impl std::fmt::Debug for WebhookAlerts {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("WebhookAlerts")
                .field("url", &self.url.as_str())
                .field("secret", &"[REDACTED]")
                .finish_non_exhaustive()
        }
    }

    impl WebhookAlerts {
        /// Alerts to `url`, signed with `secret`. Refused: a URL that is not http(s).
        pub fn new(url: url::Url, secret: SecretString) -> Result<Self, Error> {
            if !matches!(url.scheme(), "http" | "https") {
                return Err(Error::Config(format!(
                    "operator webhook URL must be http(s), not {:?}",
                    url.scheme()
                )));
            }
            Ok(Self {
                client: crate::webhook::http_client()?,
                url,
                secret,
                clock: Arc::new(SystemClock),
            })
        }

        /// The clock used for signature timestamps.
        pub fn with_clock(mut self, c: Arc<dyn Clock>) -> Self {
            self.clock = c;
            self
        }
    }

    #[async_trait]
    impl OperatorAlerts for WebhookAlerts {
        async fn alert(&self, a: &IncidentAlert) -> Result<(), DeliveryError> {
            let body = serde_json::to_vec(&super::body(a))
                .map_err(|e| DeliveryError::permanent(format!("alert body: {e}")))?;
            let event = (
                "x-lightwidget-event",
                format!("incident.{}", a.change.as_str()),
            );
            let now = self.clock.now().timestamp();
            crate::webhook::post_signed(
                &self.client,
                self.url.clone(),
                &self.secret,
                now,
                body,
                event,
                "operator webhook",
            )
            .await
        }
    }
}

#[cfg(feature = "email")]
mod email {
    use std::sync::Arc;

    use async_trait::async_trait;
    use lettre::message::Mailbox;
    use lightwidget_core::{DeliveryError, IncidentAlert, OperatorAlerts};

    use crate::{EmailNotifier, Error};

    /// Emails each alert (plain text) to an operator address, through an
    /// [`EmailNotifier`]'s SMTP transport and sender.
    pub struct EmailAlerts {
        mail: Arc<EmailNotifier>,
        to: Mailbox,
    }

    impl std::fmt::Debug for EmailAlerts {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("EmailAlerts")
                .field("to", &self.to.to_string())
                .finish_non_exhaustive()
        }
    }

    impl EmailAlerts {
        /// Alerts to `to` (an address, e.g. `ops@example.com`). Refused: an invalid address.
        pub fn new(mail: Arc<EmailNotifier>, to: &str) -> Result<Self, Error> {
            let to = to
                .parse()
                .map_err(|e| Error::Config(format!("operator email {to:?}: {e}")))?;
            Ok(Self { mail, to })
        }
    }

    #[async_trait]
    impl OperatorAlerts for EmailAlerts {
        async fn alert(&self, a: &IncidentAlert) -> Result<(), DeliveryError> {
            let i = &a.incident;
            let text = format!(
                "{}\n\nincident: {}\napp: {}\nkind: {}\nopened: {}\nresolved: {}\naccounts affected: {}\nerror: {}\n\n{}\n",
                a.summary(),
                i.id,
                i.connection,
                i.kind.as_str(),
                i.opened_at.to_rfc3339(),
                i.resolved_at
                    .map_or_else(|| "not yet".to_owned(), |t| t.to_rfc3339()),
                i.accounts,
                i.error,
                match i.kind {
                    lightwidget_core::IncidentKind::AppWide =>
                        "Accounts are held in their last known state and their owners are not told. \
                         Check the app's status in the Meta App Dashboard (app review, restrictions, \
                         development mode, secrets). The keeper probes a few accounts and resolves \
                         the incident on its own when Graph answers again.",
                    lightwidget_core::IncidentKind::AccountWave =>
                        "Meta ended many sessions at once; each owner was told as usual and must log in again.",
                }
            );
            self.mail
                .send_text(self.to.clone(), &a.summary(), text)
                .await
        }
    }
}
