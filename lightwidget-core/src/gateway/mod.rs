//! The gateway's vocabulary: what a widget reads from the Graph API through
//! [`Keeper::graph`](crate::Keeper::graph) — the [`Profile`], [`Media`] items and
//! [`MediaPage`]s, the [`MediaList`] of a whole feed — and its [`GatewayError`].
//!
//! None of these types can hold a token: the session attaches the token to the request
//! itself, and any echo of it in a response (Graph's `paging.next` URLs carry it) is
//! replaced by `[REDACTED]` before a body is parsed.
//!
//! ```
//! use lightwidget_core::gateway::{Media, media_url_expiry};
//! let item: Media = serde_json::from_str(r#"{
//!     "id": "18001", "media_type": "IMAGE", "timestamp": "2026-03-01T08:00:00+0000",
//!     "media_url": "https://scontent.cdninstagram.com/v/1.jpg?oe=69A4F380"
//! }"#).unwrap();
//! assert_eq!(item.url_expires_at, None, "filled in by the session, not by serde");
//! assert_eq!(media_url_expiry(item.media_url.as_deref().unwrap()).unwrap().timestamp(), 0x69A4F380);
//! ```

mod error;
pub(crate) mod types;

pub use error::GatewayError;
pub use types::{Media, MediaList, MediaPage};
pub use types::{MediaType, Profile};

use chrono::{DateTime, Utc};

/// Reads the `oe` query parameter of an Instagram CDN URL (hex unix seconds) as the time
/// the URL stops working. A **hint**: `oe` is undocumented; always allow a re-fetch.
///
/// ```
/// use lightwidget_core::gateway::media_url_expiry;
/// let t = media_url_expiry("https://scontent.cdninstagram.com/v/x.jpg?oe=6740A1B2&_nc_ht=x").unwrap();
/// assert_eq!(t.timestamp(), 0x6740A1B2);
/// assert!(media_url_expiry("https://example.com/x.jpg").is_none());
/// ```
pub fn media_url_expiry(url: &str) -> Option<DateTime<Utc>> {
    // A scan of the query, not a URL parse: a feed page has dozens of these URLs, and a
    // full parse of each was most of the gateway's own cost per call (BENCHMARKS.md).
    // `oe` is plain hex, never percent-encoded.
    let url = url.split_once('#').map_or(url, |(u, _)| u);
    let query = url.split_once('?')?.1;
    let oe = query.split('&').find_map(|kv| kv.strip_prefix("oe="))?;
    if oe.is_empty() || oe.len() > 16 || !oe.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let secs = i64::from_str_radix(oe, 16).ok()?;
    DateTime::from_timestamp(secs, 0)
}

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

#[cfg(test)]
mod tests {
    use super::media_url_expiry;

    #[test]
    fn oe_is_found_anywhere_in_the_query_and_only_there() {
        let t = |u: &str| media_url_expiry(u).map(|t| t.timestamp());
        assert_eq!(
            t("https://x/a.jpg?_nc_ht=y&oe=6740A1B2&oh=z"),
            Some(0x6740A1B2)
        );
        assert_eq!(t("https://x/a.jpg?oe=6740a1b2"), Some(0x6740A1B2));
        assert_eq!(t("https://x/a.jpg?oe=6740A1B2#frag"), Some(0x6740A1B2));
        for none in [
            "https://x/a.jpg",
            "https://x/oe=6740A1B2.jpg",
            "https://x/a.jpg?xoe=6740A1B2",
            "https://x/a.jpg?oe=",
            "https://x/a.jpg?oe=zz",
            "https://x/a.jpg?oe=-1",
            "https://x/a.jpg?oe=%36%37",
            "https://x/a.jpg?oe=FFFFFFFFFFFFFFFFFF",
            "https://x/a.jpg#?oe=6740A1B2",
        ] {
            assert_eq!(t(none), None, "{none}");
        }
    }
}
