//! The gateway's neutral vocabulary: what a widget reads through
//! [`Keeper::graph`](crate::Keeper::graph) — the [`Profile`], [`Media`] items and
//! [`MediaPage`]s, the [`MediaList`] of a whole feed — its [`GatewayError`], and the
//! [`GraphFailure`] a provider's typed calls report.
//!
//! Core knows no Graph path, field list or JSON shape: the provider port's typed calls
//! ([`TokenProvider::graph_profile`](crate::TokenProvider::graph_profile),
//! [`graph_media`](crate::TokenProvider::graph_media),
//! [`graph_media_item`](crate::TokenProvider::graph_media_item)) answer in these types,
//! and `lightwidget-instagram` implements them (its `gateway` module holds the Graph
//! vocabulary, its `media` module the CDN `oe` expiry hint; the facade re-exports that
//! hint as `lightwidget::gateway::media_url_expiry`).
//!
//! None of these types can hold a token: the session attaches the token to the request
//! itself, and any echo of it in a raw response (Graph's `paging.next` URLs carry it) is
//! replaced by `[REDACTED]` before the body is parsed.
//!
//! ```
//! use lightwidget_core::gateway::{Media, MediaPage};
//! let item: Media = serde_json::from_str(r#"{
//!     "id": "18001", "media_type": "IMAGE", "timestamp": "2026-03-01T08:00:00Z",
//!     "media_url": "https://cdn.example/1.jpg?expires=1772352000"
//! }"#).unwrap();
//! // A provider fills in the expiry with its own reader of its URLs.
//! let item = item.with_url_expiry(|url| {
//!     let secs = url.split_once("expires=")?.1.parse().ok()?;
//!     chrono::DateTime::from_timestamp(secs, 0)
//! });
//! assert_eq!(item.url_expires_at.unwrap().timestamp(), 1_772_352_000);
//! let page = MediaPage::new(vec![item], None);
//! assert_eq!(page.url_expires_at.unwrap().timestamp(), 1_772_352_000);
//! ```

mod error;
mod types;

pub use error::{GatewayError, GraphFailure};
pub use types::{Media, MediaList, MediaPage};
pub use types::{MediaType, Profile, UrlExpiry};

use chrono::{DateTime, Utc};

/// The earlier of two optional times.
pub(crate) fn earliest(
    a: Option<DateTime<Utc>>,
    b: Option<DateTime<Utc>>,
) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}
