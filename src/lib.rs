//! # lightwidget
//!
//! Keep Instagram / Facebook Graph API access tokens alive: refresh them before they
//! lapse, check them so a break is found in hours, record status and history per
//! account, tell the owner once, and renew through the right OAuth flow.
//!
//! This crate only re-exports; each adapter sits behind a feature:
//!
//! | feature | what |
//! |---|---|
//! | `instagram` (default) | Graph API clients, classification, OAuth state, `signed_request` |
//! | `sandbox` | an in-process Graph API sandbox on loopback |
//! | `sqlite` (default), `postgres`, `mysql` | the SQL token store |
//! | `email`, `webhook` | notice channels |
//! | `web` | the owner-facing web layer for axum (`lightwidget-web`): mount it, don't copy it |
//! | `metrics` | counters, histograms and gauges through the `metrics` facade (names in `telemetry`); zero cost when off |
//! | `testkit` | the `TokenStore` conformance suite and test doubles |
//!
//! Most hosts import the [`prelude`] and wire a store and a provider into a [`Keeper`]:
//!
//! ```no_run
//! # #[cfg(all(feature = "instagram", feature = "sqlite"))]
//! # mod wired {
//! use std::sync::Arc;
//!
//! use lightwidget::instagram::{GraphConfig, GraphProvider, InstagramLogin};
//! use lightwidget::prelude::*;
//! use lightwidget::store_sql::{Keyring, SqlStore};
//!
//! async fn keeper() -> Result<Keeper, Box<dyn std::error::Error>> {
//!     let store = SqlStore::builder("sqlite://lightwidget.db")
//!         .keyring(Keyring::from_env()?) // LIGHTWIDGET_KEYS="k1:<base64 of 32 bytes>"
//!         .connect()
//!         .await?;
//!     let ig = InstagramLogin::new(GraphConfig::from_env("LIGHTWIDGET_CONSUMER")?)?;
//!     let provider = GraphProvider::new(Some(Arc::new(ig)), None);
//!     Ok(Keeper::builder(Arc::new(store), Arc::new(provider)).build()?)
//! }
//! # }
//! ```
//!
//! Then `keeper.run(shutdown)` keeps every token alive, `keeper.connect(…)` adds an
//! account after your OAuth callback, and `keeper.status(id)` is what your Accounts page
//! shows. The README has the whole tour.
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

// No `core` alias: under `use lightwidget::*` it would shadow `::core`. The domain
// crate's items are at the root; `prelude` is what most hosts import.
pub use lightwidget_core::*;

/// The gateway's types ([`lightwidget_core::gateway`]: [`Profile`](gateway::Profile),
/// [`Media`](gateway::Media), [`GatewayError`](gateway::GatewayError), …) and, with the
/// `instagram` feature, the Instagram CDN expiry hint
/// [`media_url_expiry`](lightwidget_instagram::media::media_url_expiry), which lived in
/// core's `gateway` module before the Graph vocabulary moved to `lightwidget-instagram`
/// (re-exported here so `lightwidget::gateway::media_url_expiry` keeps working).
pub mod gateway {
    pub use lightwidget_core::gateway::*;
    #[cfg(feature = "instagram")]
    #[cfg_attr(docsrs, doc(cfg(feature = "instagram")))]
    pub use lightwidget_instagram::media::media_url_expiry;
}

/// `#[async_trait]`, for implementing [`LifecycleHooks`], [`TokenStore`],
/// [`TokenProvider`] or [`Notifier`] without adding the crate yourself.
pub use async_trait::async_trait;

/// The `chrono` this crate's times are in (`DateTime<Utc>`).
pub use chrono;

/// The items a host uses most: `use lightwidget::prelude::*;`.
///
/// ```
/// use lightwidget::prelude::*;
///
/// struct Widgets;
///
/// #[async_trait]
/// impl LifecycleHooks for Widgets {
///     async fn on_renewed(&self, account: &Account) {
///         println!("refresh @{}'s widgets first", account.username);
///     }
/// }
/// let _: Box<dyn LifecycleHooks> = Box::new(Widgets);
/// ```
pub mod prelude {
    pub use async_trait::async_trait;
    pub use lightwidget_core::{
        Account, AccountId, Clock, ConnectionKind, Entitlements, Error, ExpiryReason, HistoryQuery,
        InMemoryStore, Keeper, LifecycleHooks, NewAccount, NoticeTopic, Notifier, OwnerId,
        Preferences, Recipient, RefreshPolicy, StatusReport, SystemClock, Token, TokenProvider,
        TokenStatus, TokenStore,
    };
}

/// Graph API clients (Instagram Login and Facebook Login).
#[cfg(feature = "instagram")]
#[cfg_attr(docsrs, doc(cfg(feature = "instagram")))]
pub use lightwidget_instagram as instagram;

/// The SQL token store (SQLite, PostgreSQL, MySQL/MariaDB).
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
#[cfg_attr(
    docsrs,
    doc(cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql")))
)]
pub use lightwidget_store_sql as store_sql;

/// Notice channels: email over SMTP, signed webhooks, `.eml` files.
#[cfg(any(feature = "email", feature = "webhook", feature = "web"))]
#[cfg_attr(
    docsrs,
    doc(cfg(any(feature = "email", feature = "webhook", feature = "web")))
)]
pub use lightwidget_notify as notify;

/// The owner-facing web layer for axum: OAuth flows, Meta's callbacks, unsubscribe, the
/// access token page and JSON endpoints, mounted as one router.
#[cfg(feature = "web")]
#[cfg_attr(docsrs, doc(cfg(feature = "web")))]
pub use lightwidget_web as web;

/// The README's examples, compiled as doc tests so the front door stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
