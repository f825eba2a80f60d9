//! Fixtures: a fixed clock start, account records and transitions, for conformance
//! checks and for hosts' own store tests.
//!
//! ```
//! use lightwidget_core::testkit::{record, t0, transition};
//! let r = record("owner", "1789", Some(t0()));
//! assert!(r.state.status.is_active() && r.account.entitlements.notifications);
//! let t = transition(&r, None);
//! assert_eq!((t.expected_version, t.state.next_action_at), (r.version, None));
//! ```

use std::time::Duration;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use uuid::Uuid;

use crate::{
    AccountRecord, ConnectionKind, Entitlements, ExpiryReason, NewAccount, Notice, NoticeKind,
    Outcome, Token, TokenEvent, TokenEventKind, TokenState, TokenStore, Transition,
};

/// A fixed, millisecond-precise start time for fixtures.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
}

/// `n` seconds.
pub(crate) fn secs(n: i64) -> TimeDelta {
    TimeDelta::seconds(n)
}

/// A fixture record: an active consumer token issued at `t0()`, due at `due`.
pub fn record(owner: &str, ig_user_id: &str, due: Option<DateTime<Utc>>) -> AccountRecord {
    let account = NewAccount::new(
        owner,
        ConnectionKind::Consumer,
        ig_user_id,
        format!("user_{ig_user_id}"),
    )
    .with_entitlements(Entitlements {
        notifications: true,
    })
    .into_account();
    let token = Token::new(
        format!("IGAAtoken-{ig_user_id}-{}", Uuid::new_v4().simple()),
        t0(),
    )
    .expiring_at(t0() + TimeDelta::days(60))
    .with_scopes(["instagram_business_basic"]);
    let mut state = TokenState::connected(token, t0());
    state.next_action_at = due;
    AccountRecord {
        account,
        state,
        version: 0,
    }
}

/// The `Connected` event the fixtures insert with.
pub(crate) fn connected_event() -> TokenEvent {
    TokenEvent::new(
        t0(),
        TokenEventKind::Connected {
            expires_at: Some(t0() + TimeDelta::days(60)),
        },
    )
}

/// A transition from `r` that changes nothing but the schedule.
pub fn transition(r: &AccountRecord, next: Option<DateTime<Utc>>) -> Transition {
    let mut state = r.state.clone();
    state.next_action_at = next;
    Transition {
        account: r.account.clone(),
        expected_version: r.version,
        state,
        token_changed: false,
        events: Vec::new(),
        notices: Vec::new(),
        outcome: Outcome::Updated,
        recovered: false,
    }
}

/// An "expired" notice of `r` with dedupe key `key`.
pub(crate) fn notice(r: &AccountRecord, key: &str, at: DateTime<Utc>) -> Notice {
    Notice {
        id: Uuid::now_v7(),
        dedupe_key: format!("{}:{key}", r.account.id),
        account_id: r.account.id,
        owner: r.account.owner.clone(),
        username: r.account.username.clone(),
        connection: r.account.kind,
        kind: NoticeKind::Expired {
            reason: ExpiryReason::PasswordChanged,
        },
        created_at: at,
    }
}

/// Inserts `r` with its connect event.
pub(crate) async fn insert<S: TokenStore + ?Sized>(s: &S, r: &AccountRecord) {
    s.insert(r, &[connected_event()])
        .await
        .expect("insert a new account");
}

/// The lease the checks claim with.
pub(crate) const LEASE: Duration = Duration::from_secs(300);

/// An account with `n` queued notices.
pub(crate) async fn with_notices<S: TokenStore + ?Sized>(s: &S, n: usize) -> AccountRecord {
    let r = record("o", "1", None);
    insert(s, &r).await;
    let cur = s.get(r.account.id).await.unwrap().unwrap();
    let mut t = transition(&cur, None);
    for i in 0..n {
        t.notices
            .push(notice(&cur, &format!("k{i}"), t0() + secs(i as i64)));
    }
    s.commit(&t).await.unwrap();
    r
}

/// An "expired (password changed)" notice of `r`, as the lifecycle would queue it.
pub fn expired_notice(r: &AccountRecord) -> Notice {
    notice(r, "e0:expired", t0())
}
