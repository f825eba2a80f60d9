//! # lightwidget-core
//!
//! The domain of lightwidget: accounts and their Instagram / Facebook access tokens,
//! the token [`lifecycle`] as a pure function, the [`RefreshPolicy`], the ports adapters
//! implement ([`TokenStore`], [`TokenProvider`], [`Notifier`], [`LifecycleHooks`],
//! [`Clock`]), the reference [`InMemoryStore`], and the [`Keeper`] engine.
//!
//! No HTTP and no SQL here: those live in `lightwidget-instagram` and
//! `lightwidget-store-sql`.
//!
//! A keeper over the reference store and (feature `testkit`) the fake provider, as in a
//! host's own unit tests:
//!
//! ```
//! # #[cfg(feature = "testkit")]
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), lightwidget_core::Error> {
//! use std::sync::Arc;
//! use chrono::TimeDelta;
//! use lightwidget_core::testkit::FakeProvider;
//! use lightwidget_core::*;
//!
//! let clock = ManualClock::new(chrono::Utc::now());
//! let provider = Arc::new(FakeProvider::new(clock.clone()));
//! let keeper = Keeper::builder(Arc::new(InMemoryStore::new()), provider.clone())
//!     .clock(Arc::new(clock.clone()))
//!     .build()?;
//! // A 40-day-old token: inside its refresh window.
//! let token = provider.token(clock.now() - TimeDelta::days(40));
//! let id = keeper
//!     .connect(NewAccount::new("owner-1", ConnectionKind::Consumer, "1784", "shop"), token)
//!     .await?;
//! clock.advance(TimeDelta::minutes(1));
//! let report = keeper.sweep().await?;
//! assert_eq!(report.refreshed, 1);
//! assert_eq!(keeper.status(id).await?.status.label(), "ACTIVE");
//! # Ok(()) }
//! # #[cfg(not(feature = "testkit"))]
//! # fn main() {}
//! ```
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod account;
mod backoff;
mod clock;
mod error;
pub mod gateway;
mod history;
mod ids;
mod incident;
mod keeper;
pub mod lifecycle;
mod memory;
mod notice;
mod policy;
mod ports;
mod scopes;
mod state;
mod status;
pub mod sync;
pub mod telemetry;
#[cfg(feature = "testkit")]
#[cfg_attr(docsrs, doc(cfg(feature = "testkit")))]
pub mod testkit;
mod time;
mod token;

pub use account::{
    Account, AccountId, AccountProblem, ConnectionKind, Departure, Entitlements, Membership,
    NewAccount, OwnerId,
};
pub use backoff::Backoff;
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{DeliveryError, Error, ProviderError, Result, StoreError};
pub use history::{HistoryEntry, HistoryQuery, TokenEvent, TokenEventKind};
pub use ids::{FbUserId, IgUserId, PageId};
pub use incident::{Hold, Incident, IncidentAlert, IncidentChange, IncidentId, IncidentKind};
pub use keeper::{
    ConnectOptions, ConnectOutcome, DispatchReport, GraphSession, Health, Keeper, KeeperBuilder,
    KeeperSettings, KeeperStats, LoginEffect, LoginOutcome, SocialLogin, SweepReport,
};
pub use lifecycle::{Acknowledged, Observation, Outcome, Succession, Suppression, Transition};
pub use memory::InMemoryStore;
pub use notice::{
    Notice, NoticeKind, NoticeTopic, OutboxEntry, OutboxOutcome, Preferences, Recipient,
};
pub use policy::{Action, RefreshPolicy, RefreshPolicyBuilder, RefreshWindow};
pub use ports::{
    CheckInfo, LifecycleHooks, Lookup, MAX_LINK_ID_LEN, NoHooks, NoticeState, Notifier,
    OperatorAlerts, ReportedExpiry, StatusCounts, TokenProvider, TokenStore, check_link_id,
};
pub use scopes::RequiredScopes;
pub use state::{AccountRecord, RetryState, StatusReport, TokenState, Warnings};
pub use status::{ExpiryReason, TokenStatus};
pub use token::{Token, TokenProblem};

pub use secrecy;

/// This crate's README, compiled as doc tests so its example stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
