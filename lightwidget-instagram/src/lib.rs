//! # lightwidget-instagram
//!
//! The OAuth [`flow`]s of both connection kinds (authorize URL, code exchange, the
//! checks before anything is saved), Graph API clients for both connection kinds — [`InstagramLogin`] (consumer) and
//! [`FacebookLogin`] (business) — the [`GraphProvider`] the keeper uses, Graph error
//! [`classify`]-cation, signed OAuth [`state`], [`signed_request`] verification, the
//! gateway's Graph vocabulary ([`gateway`]: paths, fields, JSON shapes), a CDN [`media`]
//! expiry hint and (feature `sandbox`) a Graph API sandbox on loopback.
//!
//! Every host is configurable through [`BaseUrls`], so tests point the clients at a
//! loopback server. Responses are size-capped, requests time out, and no error or log
//! line ever carries a token or the app secret.
//!
//! Both clients, for the keeper, with Meta's hosts behind a proxy of your own
//! ([`GraphConfigBuilder::base_urls`]; leave it out for Meta's own hosts):
//!
//! ```
//! use std::sync::Arc;
//! use lightwidget_instagram::{BaseUrls, FacebookLogin, GraphConfig, GraphProvider, InstagramLogin};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let proxy: url::Url = "https://meta-proxy.internal/instagram".parse()?;
//! let facebook_proxy: url::Url = "https://meta-proxy.internal/facebook".parse()?;
//! let hosts = BaseUrls::per_platform(&proxy, &facebook_proxy);
//! // Instagram Login: consumer connections (GraphConfig::from_env("LIGHTWIDGET_CONSUMER")
//! // reads the same settings from the environment).
//! let consumer = InstagramLogin::new(
//!     GraphConfig::builder("instagram-app-id", "instagram-app-secret")
//!         .redirect_uri("https://widgets.example.com/oauth/callback")
//!         .base_urls(hosts.clone())
//!         .build()?,
//! )?;
//! // Facebook Login: business connections through a Facebook Page. Connect such an
//! // account with its Page: `NewAccount::new(owner, ConnectionKind::Business, ig_id,
//! // username).with_page_id(page_id)`.
//! let business = FacebookLogin::new(
//!     GraphConfig::builder("facebook-app-id", "facebook-app-secret")
//!         .redirect_uri("https://widgets.example.com/oauth/callback")
//!         .base_urls(hosts)
//!         .build()?,
//! )?;
//! let provider = GraphProvider::new(Some(Arc::new(consumer)), Some(Arc::new(business)));
//! // Keeper::builder(store, Arc::new(provider)).build()
//! # let _ = provider;
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod business;
pub mod callback;
pub mod classify;
mod clients;
mod config;
pub mod consumer;
mod error;
pub mod flow;
pub mod gateway;
mod http;
pub mod media;
mod provider;
pub mod signed_request;
pub mod state;
pub mod usage;
mod util;

/// In-process Graph API sandbox on loopback.
#[cfg(feature = "sandbox")]
#[cfg_attr(docsrs, doc(cfg(feature = "sandbox")))]
pub mod sandbox;

pub use business::FacebookLogin;
pub use config::{BaseUrls, DEFAULT_GRAPH_VERSION, GraphConfig, GraphConfigBuilder};
pub use consumer::InstagramLogin;
pub use error::Error;
pub use provider::GraphProvider;

/// This crate's README, compiled as doc tests so its example stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
