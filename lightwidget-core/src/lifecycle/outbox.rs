//! What one delivery attempt of a notice comes to, decided without I/O: delivered (and
//! on which channels), to be retried (when, and which recipients already have it), or
//! failed for good. The keeper's dispatcher (`keeper/dispatch.rs`) makes the calls and
//! reports what each recipient's channel answered; this rule decides.

use chrono::{DateTime, Utc};

use crate::OutboxOutcome;

/// What the channels answered on one delivery attempt of one notice.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeliveryAttempt {
    /// The attempt's number (1 for the first).
    pub attempt: u32,
    /// Attempts allowed before the notice is failed for good (at least 1).
    pub max_attempts: u32,
    /// Recipient keys (`channel:address`) that have the notice, from earlier attempts
    /// and this one.
    pub delivered: Vec<String>,
    /// Errors worth another attempt (a channel down, a timeout, the store unreachable).
    pub transient: Vec<String>,
    /// Errors that will not go away (an address refused, a webhook answering 4xx).
    pub permanent: Vec<String>,
}

impl DeliveryAttempt {
    /// An attempt that could not be made for a transient reason (the store could not
    /// be read to decide the recipients), keeping what was delivered before.
    pub fn unable(attempt: u32, max_attempts: u32, delivered: Vec<String>, why: String) -> Self {
        Self {
            attempt,
            max_attempts,
            delivered,
            transient: vec![why],
            permanent: Vec::new(),
        }
    }
}

/// The outcome of a delivery attempt, `retry_at` being when the next one would be:
///
/// - any transient error: retried at `retry_at`, with the recipients done so far (they
///   are not sent it again), unless this was the last attempt allowed: failed, saying
///   after how many attempts and why;
/// - no transient error and nobody has it: failed, with the permanent errors;
/// - someone has it: delivered, on the channels of the recipients that have it (sorted,
///   once each), even if another channel refused it for good (partial delivery; the
///   keeper logs the refusals).
pub fn settle_delivery(a: DeliveryAttempt, retry_at: DateTime<Utc>) -> OutboxOutcome {
    if !a.transient.is_empty() {
        let error = a.transient.join("; ");
        if a.attempt >= a.max_attempts {
            return OutboxOutcome::Failed {
                error: format!("gave up after {} attempts: {error}", a.attempt),
            };
        }
        return OutboxOutcome::Retry {
            at: retry_at,
            delivered: a.delivered,
            error,
        };
    }
    if a.delivered.is_empty() {
        return OutboxOutcome::Failed {
            error: a.permanent.join("; "),
        };
    }
    let mut channels: Vec<String> = a
        .delivered
        .iter()
        .map(|k| k.split(':').next().unwrap_or_default().to_owned())
        .collect();
    channels.sort();
    channels.dedup();
    OutboxOutcome::Delivered { channels }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 7, 12, 0, 0).unwrap()
    }

    fn attempt(n: u32) -> DeliveryAttempt {
        DeliveryAttempt {
            attempt: n,
            max_attempts: 3,
            ..Default::default()
        }
    }

    #[test]
    fn a_transient_error_is_retried_keeping_who_has_it() {
        let a = DeliveryAttempt {
            delivered: vec!["email:a@example.com".into()],
            transient: vec!["webhook: timeout".into()],
            ..attempt(1)
        };
        assert_eq!(
            settle_delivery(a, at()),
            OutboxOutcome::Retry {
                at: at(),
                delivered: vec!["email:a@example.com".into()],
                error: "webhook: timeout".into()
            }
        );
    }

    #[test]
    fn the_last_attempt_gives_up_and_says_why() {
        let a = DeliveryAttempt {
            transient: vec!["email: 451".into(), "webhook: 503".into()],
            ..attempt(3)
        };
        assert_eq!(
            settle_delivery(a, at()),
            OutboxOutcome::Failed {
                error: "gave up after 3 attempts: email: 451; webhook: 503".into()
            }
        );
    }

    #[test]
    fn permanent_errors_alone_fail_at_once() {
        let a = DeliveryAttempt {
            permanent: vec!["email: 550 no such user".into()],
            ..attempt(1)
        };
        assert_eq!(
            settle_delivery(a, at()),
            OutboxOutcome::Failed {
                error: "email: 550 no such user".into()
            }
        );
    }

    #[test]
    fn a_partial_delivery_is_delivered_on_the_channels_that_took_it() {
        let a = DeliveryAttempt {
            delivered: vec![
                "webhook:https://h.example/x".into(),
                "email:a@example.com".into(),
                "email:b@example.com".into(),
            ],
            permanent: vec!["email: 550".into()],
            ..attempt(2)
        };
        assert_eq!(
            settle_delivery(a, at()),
            OutboxOutcome::Delivered {
                channels: vec!["email".into(), "webhook".into()]
            }
        );
    }

    #[test]
    fn a_store_that_cannot_be_read_is_a_retry() {
        let a = DeliveryAttempt::unable(1, 3, vec![], "store: down".into());
        assert!(matches!(
            settle_delivery(a, at()),
            OutboxOutcome::Retry { .. }
        ));
        let a = DeliveryAttempt::unable(3, 3, vec![], "store: down".into());
        assert!(matches!(
            settle_delivery(a, at()),
            OutboxOutcome::Failed { .. }
        ));
    }
}
