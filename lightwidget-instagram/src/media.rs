//! Instagram CDN media URL expiry hint.

use chrono::{DateTime, Utc};

/// Reads the `oe` query parameter of an Instagram CDN URL (hex unix seconds) as the time
/// the URL stops working. A **hint**: `oe` is undocumented; always allow a re-fetch.
///
/// ```
/// use lightwidget_instagram::media::media_url_expiry;
/// let t = media_url_expiry("https://scontent.cdninstagram.com/v/x.jpg?oe=6740A1B2&_nc_ht=x").unwrap();
/// assert_eq!(t.timestamp(), 0x6740A1B2);
/// assert!(media_url_expiry("https://example.com/x.jpg").is_none());
/// ```
///
/// The same helper as [`lightwidget_core::gateway::media_url_expiry`], which fills in
/// the gateway's `url_expires_at`.
pub fn media_url_expiry(url: &str) -> Option<DateTime<Utc>> {
    lightwidget_core::gateway::media_url_expiry(url)
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
}
