//! What a widget reads through the gateway, in provider-neutral types: the provider
//! decodes its own wire format into these (for Instagram, `lightwidget-instagram`'s
//! `gateway` module); their serde form is their own (it round-trips), not Graph's.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::earliest;

/// Reads the time a media URL stops working, if the URL says (for Instagram's CDN, the
/// `oe` parameter: `lightwidget_instagram::media::media_url_expiry`).
pub type UrlExpiry = fn(&str) -> Option<DateTime<Utc>>;

/// An Instagram account's profile, as a widget header shows it.
///
/// Consumer connections (Instagram Login) report `account_type`; business connections
/// (Facebook Login, the IG User node) do not have that field and report `None`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Profile {
    /// Instagram user id.
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
    #[serde(default)]
    pub picture_expires_at: Option<DateTime<Utc>>,
}

impl Profile {
    /// Fills in `picture_expires_at` from the picture's URL, as `expiry` reads it.
    pub fn with_url_expiry(mut self, expiry: UrlExpiry) -> Self {
        self.picture_expires_at = self.profile_picture_url.as_deref().and_then(expiry);
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
    #[serde(default)]
    pub timestamp: Option<DateTime<Utc>>,
    /// An album's items.
    #[serde(default)]
    pub children: Vec<Media>,
    /// The earliest CDN expiry (`oe`) of this item's URLs and its children's: fetch the
    /// item again before then, or its images break. `None` when no URL says.
    #[serde(default)]
    pub url_expires_at: Option<DateTime<Utc>>,
}

impl Media {
    /// Fills in `url_expires_at` from the item's URLs and its children's, as `expiry`
    /// reads them (children first).
    pub fn with_url_expiry(mut self, expiry: UrlExpiry) -> Self {
        self.children = std::mem::take(&mut self.children)
            .into_iter()
            .map(|c| c.with_url_expiry(expiry))
            .collect();
        let own = earliest(
            self.media_url.as_deref().and_then(expiry),
            self.thumbnail_url.as_deref().and_then(expiry),
        );
        self.url_expires_at = self
            .children
            .iter()
            .fold(own, |acc, c| earliest(acc, c.url_expires_at));
        self
    }
}

/// One page of an account's media, newest first.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
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

impl MediaPage {
    /// A page of `items` (their `url_expires_at` filled in) and the cursor of the next
    /// page; `url_expires_at` is the earliest of the items'.
    pub fn new(items: Vec<Media>, after: Option<String>) -> Self {
        let url_expires_at = items
            .iter()
            .fold(None, |acc, m| earliest(acc, m.url_expires_at));
        Self {
            items,
            after,
            url_expires_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(id: &str, url: Option<&str>, children: Vec<Media>) -> Media {
        Media {
            id: id.into(),
            caption: None,
            media_type: None,
            media_url: url.map(str::to_owned),
            permalink: None,
            thumbnail_url: None,
            timestamp: None,
            children,
            url_expires_at: None,
        }
    }

    /// A stand-in for a provider's reader: the URL's last path segment, in seconds.
    fn secs(url: &str) -> Option<DateTime<Utc>> {
        DateTime::from_timestamp(url.rsplit('/').next()?.parse().ok()?, 0)
    }

    #[test]
    fn an_album_takes_the_earliest_expiry_of_its_children_and_a_page_of_its_items() {
        let album = item(
            "1",
            Some("https://x/300"),
            vec![
                item("2", Some("https://x/200"), vec![]),
                item("3", None, vec![]),
            ],
        )
        .with_url_expiry(secs);
        assert_eq!(album.url_expires_at.unwrap().timestamp(), 200);
        assert_eq!(album.children[0].url_expires_at.unwrap().timestamp(), 200);
        assert_eq!(album.children[1].url_expires_at, None);
        let other = item("4", Some("https://x/100"), vec![]).with_url_expiry(secs);
        let page = MediaPage::new(vec![album, other], Some("next".into()));
        assert_eq!(page.url_expires_at.unwrap().timestamp(), 100);
        let json = serde_json::to_string(&page).unwrap();
        assert_eq!(
            serde_json::from_str::<MediaPage>(&json).unwrap(),
            page,
            "round-trips"
        );
    }
}
