//! App-wide incidents: one open per app and kind, resolved once, durable; held accounts
//! are made due when their incident resolves; a hold and the last confirmation survive a
//! round trip.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use lightwidget_core::{testkit, InMemoryStore};
//! testkit::incidents_open_once_and_resolve_once(&InMemoryStore::new()).await;
//! testkit::held_accounts_are_released(&InMemoryStore::new()).await;
//! # }
//! ```

use super::super::fixtures::{insert, record, secs, t0};
use crate::{ConnectionKind, Hold, Incident, IncidentId, IncidentKind, TokenStore};

/// At most one incident per app and kind is open; the loser of an open gets the open
/// one back; a resolution is written once; incidents list newest first.
pub async fn incidents_open_once_and_resolve_once<S: TokenStore + ?Sized>(s: &S) {
    let a = Incident::open(
        ConnectionKind::Business,
        IncidentKind::AppWide,
        t0(),
        5,
        "Graph error 3: Application does not have the capability",
    );
    let (got, opened) = s.open_incident(&a).await.unwrap();
    assert!(opened, "the first open opens");
    assert_eq!(got, a, "an incident round-trips");
    let b = Incident::open(
        ConnectionKind::Business,
        IncidentKind::AppWide,
        t0() + secs(1),
        9,
        "x",
    );
    let (got, opened) = s.open_incident(&b).await.unwrap();
    assert!(
        !opened,
        "a second open of the same app and kind opens nothing"
    );
    assert_eq!(got.id, a.id, "and returns the open one");
    let other = Incident::open(
        ConnectionKind::Consumer,
        IncidentKind::AppWide,
        t0() + secs(2),
        3,
        "y",
    );
    assert!(
        s.open_incident(&other).await.unwrap().1,
        "another app is another incident"
    );
    let wave = Incident::open(
        ConnectionKind::Business,
        IncidentKind::AccountWave,
        t0() + secs(3),
        3,
        "z",
    );
    assert!(
        s.open_incident(&wave).await.unwrap().1,
        "another kind is another incident"
    );

    let mut upd = a.clone();
    upd.accounts = 40;
    upd.updated_at = t0() + secs(60);
    assert!(
        s.update_incident(&upd).await.unwrap(),
        "an open incident is updated"
    );
    assert!(
        !s.update_incident(&upd).await.unwrap(),
        "the same count again writes nothing"
    );
    let mut lower = upd.clone();
    lower.accounts = 7;
    assert!(
        !s.update_incident(&lower).await.unwrap(),
        "a count never goes down"
    );
    let open = s.incidents(true, 10).await.unwrap();
    assert_eq!(open.len(), 3);
    assert_eq!(open[0].id, wave.id, "newest first");
    let stored = open.iter().find(|i| i.id == a.id).unwrap();
    assert_eq!(stored.accounts, 40);
    assert_eq!(stored.updated_at, upd.updated_at);

    let mut res = upd.clone();
    res.resolved_at = Some(t0() + secs(120));
    res.updated_at = t0() + secs(120);
    assert!(
        s.update_incident(&res).await.unwrap(),
        "the first resolution is written"
    );
    assert!(
        !s.update_incident(&res).await.unwrap(),
        "a second resolution writes nothing"
    );
    let mut unknown = res.clone();
    unknown.id = IncidentId::new();
    assert!(
        !s.update_incident(&unknown).await.unwrap(),
        "unknown incidents write nothing"
    );
    assert_eq!(s.incidents(true, 10).await.unwrap().len(), 2);
    let all = s.incidents(false, 10).await.unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(
        all.iter().find(|i| i.id == a.id).unwrap().resolved_at,
        res.resolved_at
    );
    assert_eq!(s.incidents(false, 1).await.unwrap().len(), 1, "limit");
    // Once resolved, the same app and kind can open a new one.
    let again = Incident::open(
        ConnectionKind::Business,
        IncidentKind::AppWide,
        t0() + secs(200),
        3,
        "again",
    );
    assert!(
        s.open_incident(&again).await.unwrap().1,
        "a new incident after resolution"
    );
}

/// `release_held` makes exactly the active accounts held by the incident due; the hold
/// and the last confirmation round-trip.
pub async fn held_accounts_are_released<S: TokenStore + ?Sized>(s: &S) {
    let id = IncidentId::new();
    let later = t0() + secs(1800);
    let mut held = record("o", "h1", Some(later));
    held.state.hold = Some(Hold::Incident {
        incident: id,
        since: t0(),
    });
    held.state.verified_at = Some(t0() - secs(30));
    let mut other = record("o", "h2", Some(later));
    other.state.hold = Some(Hold::Incident {
        incident: IncidentId::new(),
        since: t0(),
    });
    let mut suspect = record("o", "h3", Some(later));
    suspect.state.hold = Some(Hold::Suspect { since: t0() });
    let free = record("o", "h4", Some(later));
    let mut ended = record("o", "h5", None);
    ended.state.hold = Some(Hold::Incident {
        incident: id,
        since: t0(),
    });
    ended.state.status = crate::TokenStatus::Expired {
        reason: crate::ExpiryReason::PasswordChanged,
        at: t0(),
    };
    for r in [&held, &other, &suspect, &free, &ended] {
        insert(s, r).await;
    }
    let got = s.get(held.account.id).await.unwrap().unwrap();
    assert_eq!(got.state.hold, held.state.hold, "a hold round-trips");
    assert_eq!(
        got.state.verified_at, held.state.verified_at,
        "the last confirmation round-trips"
    );
    let got = s.get(suspect.account.id).await.unwrap().unwrap();
    assert_eq!(got.state.hold, suspect.state.hold);

    let now = t0() + secs(5);
    assert_eq!(
        s.release_held(id, now).await.unwrap(),
        1,
        "only the incident's accounts"
    );
    let due = s
        .claim_due(now, 10, std::time::Duration::from_secs(60), "w")
        .await
        .unwrap();
    let ids: Vec<_> = due.iter().map(|r| r.account.id).collect();
    assert_eq!(
        ids,
        vec![held.account.id],
        "the held account is due at once"
    );
}
