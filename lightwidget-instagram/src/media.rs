//! Instagram CDN media URL expiry hint: the `oe` parameter.

use chrono::{DateTime, Utc};

/// Reads the `oe` query parameter of an Instagram CDN URL (hex unix seconds) as the time
/// the URL stops working. A **hint**: `oe` is undocumented; always allow a re-fetch.
/// It fills in the gateway's `url_expires_at` and `picture_expires_at` (as the
/// [`UrlExpiry`](lightwidget_core::gateway::UrlExpiry) of the
/// [`gateway`](crate::gateway) module's decoding); the facade re-exports it as
/// `lightwidget::gateway::media_url_expiry`.
///
/// ```
/// use lightwidget_instagram::media::media_url_expiry;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_hex_seconds_and_ignores_anything_else() {
        let t = media_url_expiry(
            "https://scontent-cdg4-1.cdninstagram.com/v/t51.29350-15/1_n.jpg?_nc_cat=1&oh=00_AfB&oe=67A1B2C3",
        )
        .unwrap();
        assert_eq!(t.timestamp(), 0x67A1_B2C3);
        assert_eq!(t.to_rfc3339(), "2025-02-04T06:25:07+00:00");
        for bad in [
            "https://scontent.cdninstagram.com/x.jpg?oe=zz12",
            "https://scontent.cdninstagram.com/x.jpg?oe=",
            "https://scontent.cdninstagram.com/x.jpg?oh=1",
            "not a url",
        ] {
            assert_eq!(media_url_expiry(bad), None, "{bad}");
        }
    }

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
