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
//! | `testkit` | the `TokenStore` conformance suite |
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub use lightwidget_core as core;
pub use lightwidget_core::*;

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
#[cfg(any(feature = "email", feature = "webhook"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "email", feature = "webhook"))))]
pub use lightwidget_notify as notify;

/// The README's examples, compiled as doc tests so the front door stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
