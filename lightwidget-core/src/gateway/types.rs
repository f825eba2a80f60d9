//! Typed Graph API responses a widget needs (serde, Graph's loose typing tolerated).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};

use super::{earliest, media_url_expiry};

/// An Instagram account's profile, as a widget header shows it.
///
/// Consumer connections (Instagram Login) report `account_type`; business connections
/// (Facebook Login, the IG User node) do not have that field and report `None`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Profile {
    /// Instagram user id.
    #[serde(deserialize_with = "string_or_number")]
    pub id: String,
    /// Username.
    #[serde(default)]
    pub username: String,
    /// `BUSINESS`, `MEDIA_CREATOR` (consumer connections only).
    #[serde(default)]
    pub account_type: Option<String>,
    /// Number of media.
    #[serde(default)]
    pub media_count: Option<u64>,
    /// Profile picture (a CDN URL that expires; see `picture_expires_at`).
    #[serde(default)]
    pub profile_picture_url: Option<String>,
    /// When the profile picture URL stops working (the CDN's `oe` hint), if it says.
    #[serde(default, skip_deserializing)]
    pub picture_expires_at: Option<DateTime<Utc>>,
}

impl Profile {
    pub(crate) fn with_expiry(mut self) -> Self {
        self.picture_expires_at = self
            .profile_picture_url
            .as_deref()
            .and_then(media_url_expiry);
        self
    }
}

/// What a media item is.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum MediaType {
    /// A photo.
    Image,
    /// A video or reel (`media_url` is the video, `thumbnail_url` its cover).
    Video,
    /// An album: the items are in `children`.
    CarouselAlbum,
    /// A type this version does not know.
    #[serde(other)]
    Other,
}

/// One media item (a post, reel or album, or an album's child).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Media {
    /// Media id.
    #[serde(deserialize_with = "string_or_number")]
    pub id: String,
    /// Caption (absent on album children and posts without one).
    #[serde(default)]
    pub caption: Option<String>,
    /// What it is (absent if the field was not asked for).
    #[serde(default)]
    pub media_type: Option<MediaType>,
    /// The image or video (a CDN URL that expires).
    #[serde(default)]
    pub media_url: Option<String>,
    /// The post on instagram.com.
    #[serde(default)]
    pub permalink: Option<String>,
    /// A video's cover image (a CDN URL that expires).
    #[serde(default)]
    pub thumbnail_url: Option<String>,
    /// When it was published.
    #[serde(default, deserialize_with = "graph_time")]
    pub timestamp: Option<DateTime<Utc>>,
    /// An album's items.
    #[serde(default, deserialize_with = "children")]
    pub children: Vec<Media>,
    /// The earliest CDN expiry (`oe`) of this item's URLs and its children's: fetch the
    /// item again before then, or its images break. `None` when no URL says.
    #[serde(default, skip_deserializing)]
    pub url_expires_at: Option<DateTime<Utc>>,
}

impl Media {
    /// Fills in `url_expires_at` (children first).
    pub(crate) fn with_expiry(mut self) -> Self {
        self.children = std::mem::take(&mut self.children)
            .into_iter()
            .map(Media::with_expiry)
            .collect();
        let own = earliest(
            self.media_url.as_deref().and_then(media_url_expiry),
            self.thumbnail_url.as_deref().and_then(media_url_expiry),
        );
        self.url_expires_at = self
            .children
            .iter()
            .fold(own, |acc, c| earliest(acc, c.url_expires_at));
        self
    }
}

/// One page of an account's media, newest first.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct MediaPage {
    /// The items.
    pub items: Vec<Media>,
    /// The cursor of the next page (pass it to
    /// [`GraphSession::media`](crate::GraphSession::media)); `None` on the last page.
    pub after: Option<String>,
    /// The earliest `url_expires_at` of the items.
    pub url_expires_at: Option<DateTime<Utc>>,
}

/// The media [`GraphSession::all_media`](crate::GraphSession::all_media) read: every
/// page to the last (or to `max_items`) — or, when a later page could not be read
/// (throttled, a temporary failure, the token ended), the pages read before it, where
/// to continue, and why it stopped. Pages already read are never dropped.
#[derive(Debug)]
#[non_exhaustive]
pub struct MediaList {
    /// The items read, newest first.
    pub items: Vec<Media>,
    /// When the walk stopped early: the cursor of the first page not read (pass it to
    /// [`GraphSession::all_media_from`](crate::GraphSession::all_media_from) or
    /// [`GraphSession::media`](crate::GraphSession::media)). `None` when complete.
    pub after: Option<String>,
    /// Why the walk stopped before the last page — for a throttle,
    /// [`GatewayError::throttled_until`](crate::gateway::GatewayError::throttled_until)
    /// says when to continue. `None` when complete.
    pub stopped: Option<super::GatewayError>,
    /// The earliest `url_expires_at` of the items.
    pub url_expires_at: Option<DateTime<Utc>>,
}

impl MediaList {
    /// Every page was read (to the last, or to `max_items`).
    pub fn is_complete(&self) -> bool {
        self.stopped.is_none()
    }
}

/// Graph's list envelope.
#[derive(Deserialize)]
pub(crate) struct Listing<T> {
    #[serde(default = "Vec::new")]
    pub data: Vec<T>,
    #[serde(default)]
    pub paging: Option<Paging>,
}

#[derive(Deserialize)]
pub(crate) struct Paging {
    #[serde(default)]
    pub cursors: Option<Cursors>,
    /// Present only when there is a next page (the URL itself carries the token and is
    /// never kept).
    #[serde(default)]
    pub next: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
pub(crate) struct Cursors {
    #[serde(default)]
    pub after: Option<String>,
}

impl Listing<Media> {
    pub(crate) fn into_page(self) -> MediaPage {
        let items: Vec<Media> = self.data.into_iter().map(Media::with_expiry).collect();
        let after = self
            .paging
            .filter(|p| p.next.is_some())
            .and_then(|p| p.cursors)
            .and_then(|c| c.after);
        let url_expires_at = items
            .iter()
            .fold(None, |acc, m| earliest(acc, m.url_expires_at));
        MediaPage {
            items,
            after,
            url_expires_at,
        }
    }
}

fn string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum StrOrNum {
        S(String),
        N(serde_json::Number),
    }
    Ok(match StrOrNum::deserialize(d)? {
        StrOrNum::S(s) => s,
        StrOrNum::N(n) => n.to_string(),
    })
}

/// Graph writes `2017-08-31T18:10:00+0000` (no colon in the offset); RFC 3339 is
/// accepted too. An unreadable time is `None`, not a failed call.
fn graph_time<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    let s: Option<String> = Option::deserialize(d)?;
    Ok(s.and_then(|s| {
        DateTime::parse_from_str(&s, "%Y-%m-%dT%H:%M:%S%z")
            .or_else(|_| DateTime::parse_from_rfc3339(&s))
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }))
}

/// Album children arrive as `{"data": [...]}`.
fn children<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Media>, D::Error> {
    #[derive(Deserialize)]
    struct Wrapped {
        #[serde(default)]
        data: Vec<Media>,
    }
    Ok(Option::<Wrapped>::deserialize(d)?.map_or_else(Vec::new, |w| w.data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_album_takes_the_earliest_expiry_of_its_children_and_paging_needs_next() {
        let body = r#"{"data":[
            {"id":"1","media_type":"CAROUSEL_ALBUM","caption":"hi","timestamp":"2026-03-01T08:00:00+0000",
             "media_url":"https://x/a.jpg?oe=69A4F380",
             "children":{"data":[{"id":"2","media_type":"IMAGE","media_url":"https://x/b.jpg?oe=69A4F370"},
                                 {"id":"3","media_type":"VIDEO","thumbnail_url":"https://x/c.jpg?oe=69A4F390"}]}},
            {"id":4,"media_type":"REEL_X"}],
            "paging":{"cursors":{"before":"b","after":"QVFIUz"},"next":"https://graph/x?access_token=[REDACTED]"}}"#;
        let page = serde_json::from_str::<Listing<Media>>(body)
            .unwrap()
            .into_page();
        assert_eq!(page.after.as_deref(), Some("QVFIUz"));
        assert_eq!(page.items[0].children.len(), 2);
        assert_eq!(
            page.items[0].url_expires_at.unwrap().timestamp(),
            0x69A4F370
        );
        assert_eq!(page.url_expires_at, page.items[0].url_expires_at);
        assert_eq!(
            page.items[0].timestamp.unwrap().to_rfc3339(),
            "2026-03-01T08:00:00+00:00"
        );
        assert_eq!(page.items[1].id, "4");
        assert_eq!(page.items[1].media_type, Some(MediaType::Other));
        let last = r#"{"data":[],"paging":{"cursors":{"before":"b","after":"z"}}}"#;
        let page = serde_json::from_str::<Listing<Media>>(last)
            .unwrap()
            .into_page();
        assert_eq!(page.after, None, "no `next`: the last page");
    }
}
