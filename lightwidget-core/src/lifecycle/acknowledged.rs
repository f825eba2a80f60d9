//! What a delivery attempt's outcome (decided by `outbox.rs`) does to its notice in the
//! store: the notice's next state and the history event its owner sees. Stores apply the result as it is
//! ([`TokenStore::ack_outbox`](crate::TokenStore::ack_outbox)).

use chrono::{DateTime, Utc};

use crate::{Notice, NoticeState, OutboxOutcome, TokenEventKind};

/// The effect of one acknowledged delivery attempt. Either way the attempt counts
/// (`attempts + 1`), the lease ends and the entry's version moves on.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Acknowledged {
    /// The notice is done: it takes `state` and `event` is appended to its owner's
    /// history (an owner-specific event of [`Notice::owner`]).
    Final {
        /// Delivered, suppressed or failed.
        state: NoticeState,
        /// `NoticeSent`, `NoticeSuppressed` or `NoticeFailed`.
        event: TokenEventKind,
    },
    /// The notice stays pending until `at`; `delivered` replaces the recipients already
    /// done. No history.
    Retry {
        /// The next attempt.
        at: DateTime<Utc>,
        /// Recipient keys that already got it.
        delivered: Vec<String>,
    },
}

impl Acknowledged {
    /// The effect of `outcome` on `notice`. Pure.
    ///
    /// ```
    /// # use lightwidget_core::*;
    /// # let now = chrono::Utc::now();
    /// # let notice = Notice { id: uuid::Uuid::now_v7(), dedupe_key: "k".into(), account_id: AccountId::new(),
    /// #     owner: OwnerId::new("a"), username: "u".into(), connection: ConnectionKind::Consumer,
    /// #     kind: NoticeKind::Revoked, created_at: now };
    /// use lightwidget_core::Acknowledged;
    /// let done = Acknowledged::of(&notice, &OutboxOutcome::Failed { error: "bounced".into() });
    /// assert!(matches!(done, Acknowledged::Final { state: NoticeState::Failed, .. }));
    /// ```
    pub fn of(notice: &Notice, outcome: &OutboxOutcome) -> Self {
        let topic = notice.kind.topic();
        let (state, event) = match outcome {
            OutboxOutcome::Delivered { channels } => (
                NoticeState::Delivered,
                TokenEventKind::NoticeSent {
                    topic,
                    channels: channels.clone(),
                },
            ),
            OutboxOutcome::Suppressed { why } => (
                NoticeState::Suppressed,
                TokenEventKind::NoticeSuppressed {
                    topic,
                    why: why.clone(),
                },
            ),
            OutboxOutcome::Failed { error } => (
                NoticeState::Failed,
                TokenEventKind::NoticeFailed {
                    topic,
                    error: error.clone(),
                },
            ),
            OutboxOutcome::Retry { at, delivered, .. } => {
                return Self::Retry {
                    at: *at,
                    delivered: delivered.clone(),
                };
            }
        };
        Self::Final { state, event }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AccountId, ConnectionKind, NoticeKind, NoticeTopic, OwnerId};

    fn notice() -> Notice {
        Notice {
            id: uuid::Uuid::now_v7(),
            dedupe_key: "k#a".into(),
            account_id: AccountId::new(),
            owner: OwnerId::new("a"),
            username: "u".into(),
            connection: ConnectionKind::Consumer,
            kind: NoticeKind::Revoked,
            created_at: Utc::now(),
        }
    }

    #[test]
    fn final_outcomes_set_the_state_and_record_the_topic() {
        let n = notice();
        let cases = [
            (
                OutboxOutcome::Delivered {
                    channels: vec!["email".into()],
                },
                NoticeState::Delivered,
                "notice_sent",
            ),
            (
                OutboxOutcome::Suppressed { why: "no".into() },
                NoticeState::Suppressed,
                "notice_suppressed",
            ),
            (
                OutboxOutcome::Failed {
                    error: "bounced".into(),
                },
                NoticeState::Failed,
                "notice_failed",
            ),
        ];
        for (outcome, want, name) in cases {
            let Acknowledged::Final { state, event } = Acknowledged::of(&n, &outcome) else {
                panic!("{outcome:?} is final");
            };
            assert_eq!(state, want);
            assert_eq!(event.name(), name);
            assert!(event.is_owner_specific());
        }
        let Acknowledged::Final {
            event: TokenEventKind::NoticeSent { topic, channels },
            ..
        } = Acknowledged::of(
            &n,
            &OutboxOutcome::Delivered {
                channels: vec!["webhook".into()],
            },
        )
        else {
            panic!("delivered is NoticeSent");
        };
        assert_eq!(topic, NoticeTopic::Expired);
        assert_eq!(channels, ["webhook"]);
    }

    #[test]
    fn a_retry_keeps_the_notice_pending_with_its_progress() {
        let at = Utc::now();
        let got = Acknowledged::of(
            &notice(),
            &OutboxOutcome::Retry {
                at,
                delivered: vec!["email:a@example.com".into()],
                error: "timeout".into(),
            },
        );
        assert_eq!(
            got,
            Acknowledged::Retry {
                at,
                delivered: vec!["email:a@example.com".into()],
            }
        );
    }
}
