//! The gateway's Graph vocabulary: for each typed call of `Keeper::graph` (through
//! [`GraphProvider`](crate::GraphProvider)'s `graph_profile`, `graph_media` and
//! `graph_media_item`), the node, path and fields it asks for, the JSON shape of the
//! answer, and its decoding into core's neutral [`Profile`], [`Media`] and
//! [`MediaPage`] (CDN expiries read by [`media_url_expiry`]).
//!
//! Graph's loose typing is tolerated: ids as strings or numbers, times as
//! `2017-08-31T18:10:00+0000` or RFC 3339 (an unreadable time is `None`, not a failed
//! call), album children wrapped in `{"data": [...]}`, media types this version does not
//! know as [`MediaType::Other`].
//!
//! ```
//! use lightwidget_instagram::gateway::decode_media;
//! let item = decode_media(br#"{
//!     "id": 18001, "media_type": "IMAGE", "timestamp": "2026-03-01T08:00:00+0000",
//!     "media_url": "https://scontent.cdninstagram.com/v/1.jpg?oe=69A4F380"
//! }"#).unwrap();
//! assert_eq!(item.id, "18001");
//! assert_eq!(item.url_expires_at.unwrap().timestamp(), 0x69A4F380);
//! ```

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use lightwidget_core::gateway::{GraphFailure, Media, MediaPage, MediaType, Profile};
use lightwidget_core::{Account, ConnectionKind};
use serde::{Deserialize, Deserializer};

use crate::media::media_url_expiry;
use crate::util::{Paging, string_or_number};

/// The fields of a media item, and of an album's children.
pub const MEDIA_FIELDS: &str = "id,caption,media_type,media_url,permalink,thumbnail_url,timestamp,children{id,media_type,media_url,thumbnail_url,permalink,timestamp}";
/// The profile fields of a consumer connection (the Instagram user of Instagram Login).
pub const CONSUMER_PROFILE_FIELDS: &str =
    "id,username,account_type,media_count,profile_picture_url";
/// The profile fields of a business connection (the IG User node, which has no
/// `account_type`).
pub const BUSINESS_PROFILE_FIELDS: &str = "id,username,media_count,profile_picture_url";
/// The largest page of media Graph serves.
pub const MAX_PAGE: u32 = 100;

/// One GET of a typed call: the path under the versioned Graph root, and its query.
pub(crate) struct Get<'a> {
    pub(crate) path: Cow<'a, str>,
    pub(crate) query: Vec<(&'static str, Cow<'a, str>)>,
}

/// The node a typed call reads: `me` for a consumer connection, the IG User id for a
/// business one (graph.facebook.com has no `me` for it).
fn node(account: &Account) -> &str {
    match account.kind {
        ConnectionKind::Consumer => "me",
        ConnectionKind::Business => &account.ig_user_id,
    }
}

/// The profile: the node with the fields of the account's kind.
pub(crate) fn profile(account: &Account) -> Get<'_> {
    let fields = match account.kind {
        ConnectionKind::Consumer => CONSUMER_PROFILE_FIELDS,
        ConnectionKind::Business => BUSINESS_PROFILE_FIELDS,
    };
    Get {
        path: Cow::Borrowed(node(account)),
        query: vec![("fields", Cow::Borrowed(fields))],
    }
}

/// A page of the node's media (`limit` clamped to 1..=[`MAX_PAGE`]).
pub(crate) fn media<'a>(
    account: &'a Account,
    after: Option<&'a str>,
    limit: Option<u32>,
) -> Get<'a> {
    let mut query = vec![("fields", Cow::Borrowed(MEDIA_FIELDS))];
    if let Some(n) = limit {
        query.push(("limit", Cow::Owned(n.clamp(1, MAX_PAGE).to_string())));
    }
    if let Some(c) = after {
        query.push(("after", Cow::Borrowed(c)));
    }
    Get {
        path: Cow::Owned(format!("{}/media", node(account))),
        query,
    }
}

/// One media item, by id.
pub(crate) fn media_item(id: &str) -> Get<'_> {
    Get {
        path: Cow::Borrowed(id),
        query: vec![("fields", Cow::Borrowed(MEDIA_FIELDS))],
    }
}

/// Decodes a profile, its `picture_expires_at` filled in.
pub fn decode_profile(body: &[u8]) -> Result<Profile, GraphFailure> {
    let p: WireProfile = serde_json::from_slice(body)?;
    Ok(Profile {
        id: p.id,
        username: p.username,
        account_type: p.account_type,
        media_count: p.media_count,
        profile_picture_url: p.profile_picture_url,
        picture_expires_at: None,
    }
    .with_url_expiry(media_url_expiry))
}

/// Decodes one media item (with an album's children), its `url_expires_at` filled in.
pub fn decode_media(body: &[u8]) -> Result<Media, GraphFailure> {
    let m: WireMedia = serde_json::from_slice(body)?;
    Ok(Media::from(m).with_url_expiry(media_url_expiry))
}

/// Decodes a page of media: Graph's list envelope, whose `after` cursor counts only when
/// `paging.next` says there is a next page.
pub fn decode_media_page(body: &[u8]) -> Result<MediaPage, GraphFailure> {
    let l: Listing = serde_json::from_slice(body)?;
    let items = l
        .data
        .into_iter()
        .map(|m| Media::from(m).with_url_expiry(media_url_expiry))
        .collect();
    let after = l.paging.and_then(Paging::next_after);
    Ok(MediaPage::new(items, after))
}

/// A profile as Graph writes it.
#[derive(Deserialize)]
struct WireProfile {
    #[serde(deserialize_with = "string_or_number")]
    id: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    account_type: Option<String>,
    #[serde(default)]
    media_count: Option<u64>,
    #[serde(default)]
    profile_picture_url: Option<String>,
}

/// A media item as Graph writes it.
#[derive(Deserialize)]
struct WireMedia {
    #[serde(deserialize_with = "string_or_number")]
    id: String,
    #[serde(default)]
    caption: Option<String>,
    #[serde(default)]
    media_type: Option<MediaType>,
    #[serde(default)]
    media_url: Option<String>,
    #[serde(default)]
    permalink: Option<String>,
    #[serde(default)]
    thumbnail_url: Option<String>,
    #[serde(default, deserialize_with = "graph_time")]
    timestamp: Option<DateTime<Utc>>,
    /// Album children arrive as `{"data": [...]}`.
    #[serde(default)]
    children: Option<Data<WireMedia>>,
}

impl From<WireMedia> for Media {
    fn from(m: WireMedia) -> Self {
        Media {
            id: m.id,
            caption: m.caption,
            media_type: m.media_type,
            media_url: m.media_url,
            permalink: m.permalink,
            thumbnail_url: m.thumbnail_url,
            timestamp: m.timestamp,
            children: m
                .children
                .map_or_else(Vec::new, |c| c.data.into_iter().map(Media::from).collect()),
            url_expires_at: None,
        }
    }
}

/// `{"data": [...]}`.
#[derive(Deserialize)]
struct Data<T> {
    #[serde(default = "Vec::new")]
    data: Vec<T>,
}

/// Graph's list envelope.
#[derive(Deserialize)]
struct Listing {
    #[serde(default = "Vec::new")]
    data: Vec<WireMedia>,
    #[serde(default)]
    paging: Option<Paging>,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_album_takes_the_earliest_expiry_of_its_children_and_paging_needs_next() {
        let body = br#"{"data":[
            {"id":"1","media_type":"CAROUSEL_ALBUM","caption":"hi","timestamp":"2026-03-01T08:00:00+0000",
             "media_url":"https://x/a.jpg?oe=69A4F380",
             "children":{"data":[{"id":"2","media_type":"IMAGE","media_url":"https://x/b.jpg?oe=69A4F370"},
                                 {"id":"3","media_type":"VIDEO","thumbnail_url":"https://x/c.jpg?oe=69A4F390"}]}},
            {"id":4,"media_type":"REEL_X"}],
            "paging":{"cursors":{"before":"b","after":"QVFIUz"},"next":"https://graph/x?access_token=[REDACTED]"}}"#;
        let page = decode_media_page(body).unwrap();
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
        let last = br#"{"data":[],"paging":{"cursors":{"before":"b","after":"z"}}}"#;
        assert_eq!(
            decode_media_page(last).unwrap().after,
            None,
            "no `next`: the last page"
        );
    }

    #[test]
    fn a_body_that_is_not_json_is_malformed_and_the_wrong_shape_unexpected() {
        assert!(matches!(
            decode_profile(b"<html>"),
            Err(GraphFailure::Malformed(_))
        ));
        assert!(matches!(
            decode_profile(br#"{"username":"u"}"#),
            Err(GraphFailure::Unexpected(_))
        ));
        let p = decode_profile(
            br#"{"id":1,"username":"u","profile_picture_url":"https://x/p.jpg?oe=69A4F380"}"#,
        )
        .unwrap();
        assert_eq!(p.picture_expires_at.unwrap().timestamp(), 0x69A4F380);
    }
}
