//! # lightwidget-instagram
//!
//! Graph API clients for both connection kinds (Instagram Login and Facebook Login),
//! Graph error classification, signed OAuth `state`, `signed_request` verification,
//! and (feature `sandbox`) a Graph API sandbox on loopback.
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

/// In-process Graph API sandbox on loopback.
#[cfg(feature = "sandbox")]
#[cfg_attr(docsrs, doc(cfg(feature = "sandbox")))]
pub mod sandbox;
