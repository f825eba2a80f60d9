//! Instagram CDN media URL expiry hint.

use chrono::{DateTime, Utc};
use url::Url;

/// Reads the `oe` query parameter of an Instagram CDN URL (hex unix seconds) as the time
/// the URL stops working. A **hint**: `oe` is undocumented; always allow a re-fetch.
///
/// ```
/// use lightwidget_instagram::media::media_url_expiry;
/// let t = media_url_expiry("https://scontent.cdninstagram.com/v/x.jpg?oe=6740A1B2&_nc_ht=x").unwrap();
/// assert_eq!(t.timestamp(), 0x6740A1B2);
/// assert!(media_url_expiry("https://example.com/x.jpg").is_none());
/// ```
pub fn media_url_expiry(url: &str) -> Option<DateTime<Utc>> {
    let u = Url::parse(url).ok()?;
    let oe = u.query_pairs().find(|(k, _)| k == "oe")?.1;
    let secs = i64::from_str_radix(&oe, 16).ok()?;
    DateTime::from_timestamp(secs, 0)
}
