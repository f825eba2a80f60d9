//! Webhooks to the host: every lifecycle event the library has, POSTed as JSON to the
//! host's endpoint, signed in the Standard Webhooks format (`webhook-id`,
//! `webhook-timestamp`, `webhook-signature`), retried with backoff, paused by a
//! circuit breaker while the endpoint keeps failing.
//!
//! Events: `account.expired`, `account.revoked`, `account.renewed`,
//! `account.recovered` (held by a platform-side problem, confirmed again without the
//! owner doing anything), `account.refreshed` (only when asked for: one per refresh),
//! `incident.opened`, `incident.updated`, `incident.resolved`.
//!
//! Body: `{"type": "...", "timestamp": "RFC 3339", "data": {...}}`; the `webhook-id`
//! stays the same across retries of one event, so the host can drop duplicates.
//! Several `whsec_` keys sign at once, so a key is rotated without downtime: add the
//! new one, let the receiver learn it, remove the old one.
//!
//! Delivery is at least once while the process runs: the queue lives in memory
//! (bounded), and the account's history in the store is the durable record a host
//! reconciles from (`GET /v1/accounts/{id}/history`).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use lightwidget::notify::StandardWebhookSigner;
use lightwidget::{
    Account, DeliveryError, IncidentAlert, LifecycleHooks, OperatorAlerts, TokenStatus,
};
use rand::SeedableRng;
use serde_json::{Value, json};
use tokio::sync::{Mutex, Notify};

/// At most this many events wait; beyond it the oldest is dropped (and counted).
pub const QUEUE_MAX: usize = 10_000;

/// The circuit breaker: after `threshold` failed attempts in a row the endpoint is left
/// alone for `cooldown` (doubling up to `max_cooldown` while it stays down); then one
/// attempt is let through, and a success closes the circuit.
#[derive(Clone, Debug)]
pub struct Breaker {
    threshold: u32,
    cooldown: Duration,
    max_cooldown: Duration,
    failures: u32,
    opened: u32,
}

impl Breaker {
    /// A breaker that opens after `threshold` failures for `cooldown`, up to `max_cooldown`.
    pub fn new(threshold: u32, cooldown: Duration, max_cooldown: Duration) -> Self {
        Self {
            threshold: threshold.max(1),
            cooldown,
            max_cooldown: max_cooldown.max(cooldown),
            failures: 0,
            opened: 0,
        }
    }

    /// A delivery succeeded: the circuit closes.
    pub fn success(&mut self) {
        self.failures = 0;
        self.opened = 0;
    }

    /// A delivery failed: how long to leave the endpoint alone, if the circuit opened.
    pub fn failure(&mut self) -> Option<Duration> {
        self.failures = self.failures.saturating_add(1);
        if self.failures < self.threshold {
            return None;
        }
        let pause = self
            .cooldown
            .saturating_mul(2u32.saturating_pow(self.opened.min(16)))
            .min(self.max_cooldown);
        self.opened = self.opened.saturating_add(1);
        Some(pause)
    }

    /// Whether the circuit is open (failures reached the threshold).
    #[cfg(test)]
    fn is_open(&self) -> bool {
        self.failures >= self.threshold
    }
}

/// Where the host's webhooks go and how.
#[derive(Clone)]
pub struct HostWebhookConfig {
    /// The endpoint.
    pub url: url::Url,
    /// Signing keys (`whsec_…`); every one signs.
    pub secrets: Vec<String>,
    /// Send `account.refreshed` too.
    pub refreshed: bool,
    /// Attempts per event before it is given up (logged, counted).
    pub max_attempts: u32,
    /// First retry delay (doubling, with jitter).
    pub retry_initial: Duration,
    /// Longest retry delay.
    pub retry_max: Duration,
    /// Request timeout.
    pub timeout: Duration,
}

struct Event {
    id: String,
    body: Vec<u8>,
    kind: &'static str,
}

struct Shared {
    queue: Mutex<VecDeque<Event>>,
    wake: Notify,
}

/// The host-webhook sender: [`LifecycleHooks`] and [`OperatorAlerts`] that queue
/// events; a task delivers them.
#[derive(Clone)]
pub struct HostWebhooks {
    shared: Arc<Shared>,
    refreshed: bool,
    then: Option<Arc<dyn OperatorAlerts>>,
}

impl HostWebhooks {
    /// Starts the delivery task. `then` receives every incident alert as well (the
    /// operator's own channel, if one is configured).
    pub fn start(
        cfg: HostWebhookConfig,
        then: Option<Arc<dyn OperatorAlerts>>,
    ) -> Result<Self, String> {
        let refs: Vec<&str> = cfg.secrets.iter().map(String::as_str).collect();
        let signer = StandardWebhookSigner::new(&refs).map_err(|e| e.to_string())?;
        let client = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| e.to_string())?;
        let shared = Arc::new(Shared {
            queue: Mutex::new(VecDeque::new()),
            wake: Notify::new(),
        });
        let refreshed = cfg.refreshed;
        tokio::spawn(deliver_forever(shared.clone(), cfg, signer, client));
        Ok(Self {
            shared,
            refreshed,
            then,
        })
    }

    async fn push(&self, kind: &'static str, data: Value) {
        let at: DateTime<Utc> = Utc::now();
        let id = format!("msg_{}", uuid::Uuid::now_v7().simple());
        let body = json!({"type": kind, "timestamp": at.to_rfc3339(), "data": data});
        let body = serde_json::to_vec(&body).unwrap_or_default();
        let mut q = self.shared.queue.lock().await;
        if q.len() >= QUEUE_MAX
            && let Some(dropped) = q.pop_front()
        {
            tracing::error!(webhook_id = %dropped.id, event = dropped.kind, "host webhook queue full: oldest event dropped");
            metrics::counter!("lightwidget_host_webhooks_total", "result" => "dropped")
                .increment(1);
        }
        q.push_back(Event { id, body, kind });
        drop(q);
        self.shared.wake.notify_one();
    }
}

/// The account part of an event (never a token).
fn account_data(a: &Account) -> Value {
    json!({
        "account_id": a.id.to_string(),
        "owner": a.owner.to_string(),
        "kind": a.kind.to_string(),
        "ig_user_id": a.ig_user_id.to_string(),
        "username": a.username,
    })
}

#[async_trait]
impl LifecycleHooks for HostWebhooks {
    async fn on_renewed(&self, account: &Account) {
        self.push("account.renewed", account_data(account)).await;
    }
    async fn on_recovered(&self, account: &Account) {
        self.push("account.recovered", account_data(account)).await;
    }
    async fn on_refreshed(&self, account: &Account) {
        if self.refreshed {
            self.push("account.refreshed", account_data(account)).await;
        }
    }
    async fn on_expired(&self, account: &Account, status: &TokenStatus) {
        let mut data = account_data(account);
        data["status"] = json!(status.as_str());
        data["reason"] = json!(super::api::dto::reason(status));
        let kind = match status {
            TokenStatus::Revoked { .. } => "account.revoked",
            _ => "account.expired",
        };
        self.push(kind, data).await;
    }
}

#[async_trait]
impl OperatorAlerts for HostWebhooks {
    async fn alert(&self, alert: &IncidentAlert) -> Result<(), DeliveryError> {
        let kind = match alert.change.as_str() {
            "opened" => "incident.opened",
            "resolved" => "incident.resolved",
            _ => "incident.updated",
        };
        let data = serde_json::to_value(super::api::dto::IncidentOut::of(&alert.incident))
            .unwrap_or_default();
        self.push(kind, data).await;
        match &self.then {
            Some(t) => t.alert(alert).await,
            None => Ok(()),
        }
    }
}

async fn deliver_forever(
    shared: Arc<Shared>,
    cfg: HostWebhookConfig,
    signer: StandardWebhookSigner,
    client: reqwest::Client,
) {
    let backoff = lightwidget::Backoff::new(cfg.retry_initial, cfg.retry_max);
    let mut breaker = Breaker::new(5, Duration::from_secs(30), Duration::from_secs(600));
    let mut rng = rand::rngs::SmallRng::from_os_rng();
    loop {
        let next = shared.queue.lock().await.pop_front();
        let Some(ev) = next else {
            shared.wake.notified().await;
            continue;
        };
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let ts = Utc::now().timestamp();
            let mut req = client
                .post(cfg.url.clone())
                .header("content-type", "application/json")
                .body(ev.body.clone());
            for (name, value) in signer.headers(&ev.id, ts, &ev.body) {
                req = req.header(name, value);
            }
            let outcome = match req.send().await {
                Ok(r) if r.status().is_success() => Ok(()),
                Ok(r) => Err((
                    Some(r.status().as_u16()),
                    format!("the endpoint answered {}", r.status()),
                )),
                Err(e) => Err((None, e.without_url().to_string())),
            };
            let (status, e) = match outcome {
                Ok(()) => {
                    breaker.success();
                    metrics::counter!("lightwidget_host_webhooks_total", "result" => "delivered")
                        .increment(1);
                    tracing::debug!(webhook_id = %ev.id, event = ev.kind, attempt, "host webhook delivered");
                    break;
                }
                Err(x) => x,
            };
            metrics::counter!("lightwidget_host_webhooks_total", "result" => "failed_attempt")
                .increment(1);
            if !worth_retrying(status) {
                // The endpoint is up and refused this event: retrying cannot help, and
                // the events behind it must not wait.
                tracing::error!(webhook_id = %ev.id, event = ev.kind, error = %e, "host webhook refused by the endpoint; given up");
                metrics::counter!("lightwidget_host_webhooks_total", "result" => "given_up")
                    .increment(1);
                break;
            }
            match breaker.failure() {
                Some(pause) => {
                    // The endpoint is down: the event waits (it is not given up while
                    // the circuit is open; the queue is bounded).
                    tracing::warn!(webhook_id = %ev.id, error = %e, pause_secs = pause.as_secs(), "host webhook endpoint keeps failing: circuit open");
                    attempt -= 1;
                    tokio::time::sleep(pause).await;
                }
                None if attempt >= cfg.max_attempts => {
                    tracing::error!(webhook_id = %ev.id, event = ev.kind, attempt, error = %e, "host webhook given up");
                    metrics::counter!("lightwidget_host_webhooks_total", "result" => "given_up")
                        .increment(1);
                    break;
                }
                None => {
                    tracing::warn!(webhook_id = %ev.id, event = ev.kind, attempt, error = %e, "host webhook failed; retrying");
                    tokio::time::sleep(backoff.delay(attempt, &mut rng)).await;
                }
            }
        }
    }
}

/// Whether a failed delivery is worth another attempt: no answer, a timeout (408), a
/// throttle (429) or a server error (5xx). Any other answer (4xx, a redirect) is the
/// endpoint refusing this event.
pub fn worth_retrying(status: Option<u16>) -> bool {
    match status {
        None => true,
        Some(s) => s == 408 || s == 429 || s >= 500,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn breaker_opens_after_the_threshold_and_backs_off_while_down() {
        let mut b = Breaker::new(3, Duration::from_secs(30), Duration::from_secs(100));
        assert_eq!(b.failure(), None);
        assert_eq!(b.failure(), None);
        assert!(!b.is_open());
        assert_eq!(b.failure(), Some(Duration::from_secs(30)));
        assert!(b.is_open());
        assert_eq!(b.failure(), Some(Duration::from_secs(60)));
        assert_eq!(b.failure(), Some(Duration::from_secs(100)), "capped");
        assert_eq!(b.failure(), Some(Duration::from_secs(100)));
        b.success();
        assert!(!b.is_open());
        assert_eq!(
            b.failure(),
            None,
            "a success closes it and resets the count"
        );
    }

    #[test]
    fn only_failures_that_may_pass_are_retried() {
        for s in [None, Some(408), Some(429), Some(500), Some(502), Some(503)] {
            assert!(worth_retrying(s), "{s:?}");
        }
        for s in [
            Some(301),
            Some(400),
            Some(401),
            Some(404),
            Some(410),
            Some(413),
        ] {
            assert!(!worth_retrying(s), "{s:?}");
        }
    }

    #[test]
    fn a_zero_threshold_is_one() {
        let mut b = Breaker::new(0, Duration::from_secs(1), Duration::ZERO);
        assert_eq!(b.failure(), Some(Duration::from_secs(1)));
    }
}
