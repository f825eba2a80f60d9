//! The feed endpoints a widget reads: the profile, the media list with cursor paging,
//! one media item with an album's children, and CDN-like media URLs carrying `oe`.
//!
//! Media are generated from the user (no storage): item `i` (0 = newest) of user `U`
//! has id `18{U}{i:03}`, an album child `c` of it `19{U}{i:03}{c}`. Every fourth item
//! is an album of three, every fourth (offset one) a video. Fields are returned as
//! asked (`fields=id,media_url,children{media_url}`), like Graph.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Map, Value, json};

use super::routes::{fault, graph_error, valid, with_usage};
use super::state::{SandboxState, TokenInfo, TokenKind, User};

type S = State<Arc<SandboxState>>;
type Q = Query<HashMap<String, String>>;

/// How long CDN URLs live (the `oe` hint), about what Instagram's do.
const CDN_LIFETIME: TimeDelta = TimeDelta::hours(60);
const DEFAULT_LIMIT: usize = 25;

fn is_consumer_token(info: &TokenInfo) -> bool {
    matches!(info.kind, TokenKind::IgShort | TokenKind::IgLong)
}

/// `a,b{c,d},e` → `[("a", None), ("b", Some("c,d")), ("e", None)]`.
fn parse_fields(s: &str) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    let push = |out: &mut Vec<_>, part: &str| {
        let part = part.trim();
        if part.is_empty() {
            return;
        }
        match part.split_once('{') {
            Some((name, rest)) => out.push((
                name.trim().to_owned(),
                Some(rest.trim_end_matches('}').to_owned()),
            )),
            None => out.push((part.to_owned(), None)),
        }
    };
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                push(&mut out, &s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    push(&mut out, &s[start..]);
    out
}

/// Fields a media node has (those that do not apply to an item are left out).
const MEDIA_FIELDS: &[&str] = &[
    "id",
    "caption",
    "media_type",
    "media_url",
    "permalink",
    "thumbnail_url",
    "timestamp",
    "children",
    "username",
];

/// Keeps the asked-for fields of `full`; a field the node type does not have
/// (`known`) is Graph's error 100, one that does not apply to this item is left out.
#[allow(clippy::result_large_err)]
fn select(full: &Map<String, Value>, fields: &str, known: &[&str]) -> Result<Value, Response> {
    let mut out = Map::new();
    for (name, sub) in parse_fields(fields) {
        if !known.contains(&name.as_str()) {
            return Err(graph_error(
                StatusCode::BAD_REQUEST,
                100,
                None,
                &format!("(#100) Tried accessing nonexisting field ({name})"),
            ));
        }
        let Some(v) = full.get(&name) else {
            continue;
        };
        let v = match (sub, v) {
            (Some(sub), Value::Object(o)) if name == "children" => {
                let data = o
                    .get("data")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                let mut kids = Vec::with_capacity(data.len());
                for k in data {
                    if let Value::Object(k) = k {
                        kids.push(select(&k, &sub, MEDIA_FIELDS)?);
                    }
                }
                json!({ "data": kids })
            }
            (_, v) => v.clone(),
        };
        out.insert(name, v);
    }
    Ok(Value::Object(out))
}

pub(super) fn base(s: &SandboxState) -> &str {
    s.base.get().map_or("http://127.0.0.1/", String::as_str)
}

/// A CDN-like URL for a media file, signed with an `oe` expiry.
fn cdn_url(s: &SandboxState, file: &str, ext: &str, seed: usize) -> String {
    let oe = s.now() + CDN_LIFETIME + TimeDelta::minutes(((seed * 37) % 180) as i64);
    format!(
        "{}cdn/v/t51.29350-15/{file}_n.{ext}?_nc_cat=1&_nc_sid=8ae9d6&_nc_ht=scontent.sandbox&oh=00_AfSandbox{file}&oe={:X}",
        base(s),
        oe.timestamp()
    )
}

fn graph_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S+0000").to_string()
}

fn media_json(s: &SandboxState, user: &User, i: usize) -> Map<String, Value> {
    let uid = &user.handle.id;
    let id = format!("18{uid}{i:03}");
    let when = graph_time(user.created_at - TimeDelta::hours(6 * i as i64));
    let permalink = format!(
        "https://www.instagram.com/p/SBX{i:03}{}/",
        &uid[uid.len().saturating_sub(4)..]
    );
    let mut m = Map::new();
    m.insert("id".into(), json!(id));
    m.insert(
        "caption".into(),
        json!(format!(
            "Sandbox post {i} by @{} #lightwidget",
            user.handle.username
        )),
    );
    m.insert("permalink".into(), json!(permalink));
    m.insert("timestamp".into(), json!(when));
    m.insert("username".into(), json!(user.handle.username));
    if i % 4 == 3 {
        let kids: Vec<Value> = (0..3)
            .map(|c| {
                let kid = format!("19{uid}{i:03}{c}");
                let mut k = Map::new();
                k.insert("id".into(), json!(kid));
                k.insert("permalink".into(), json!(permalink));
                k.insert("timestamp".into(), json!(when));
                if c == 2 {
                    k.insert("media_type".into(), json!("VIDEO"));
                    k.insert(
                        "media_url".into(),
                        json!(cdn_url(s, &kid, "mp4", i * 3 + c)),
                    );
                    k.insert(
                        "thumbnail_url".into(),
                        json!(cdn_url(s, &format!("{kid}t"), "jpg", i * 3 + c)),
                    );
                } else {
                    k.insert("media_type".into(), json!("IMAGE"));
                    k.insert(
                        "media_url".into(),
                        json!(cdn_url(s, &kid, "jpg", i * 3 + c)),
                    );
                }
                Value::Object(k)
            })
            .collect();
        m.insert("media_type".into(), json!("CAROUSEL_ALBUM"));
        // Graph gives an album the first child's URL.
        m.insert("media_url".into(), kids[0]["media_url"].clone());
        m.insert("children".into(), json!({ "data": kids }));
    } else if i % 4 == 1 {
        m.insert("media_type".into(), json!("VIDEO"));
        m.insert("media_url".into(), json!(cdn_url(s, &id, "mp4", i)));
        m.insert(
            "thumbnail_url".into(),
            json!(cdn_url(s, &format!("{id}t"), "jpg", i)),
        );
    } else {
        m.insert("media_type".into(), json!("IMAGE"));
        m.insert("media_url".into(), json!(cdn_url(s, &id, "jpg", i)));
    }
    m
}

/// The profile of the token's user (`consumer`: Instagram Login fields).
pub(super) fn profile(
    s: &SandboxState,
    info: &TokenInfo,
    q: &HashMap<String, String>,
    consumer: bool,
) -> Response {
    s.hit("profile");
    let Some(user) = s.user(&info.user) else {
        return unknown_node(&info.user);
    };
    let mut full = Map::new();
    full.insert("id".into(), json!(user.handle.id));
    full.insert("username".into(), json!(user.handle.username));
    full.insert("media_count".into(), json!(user.media_count));
    full.insert(
        "profile_picture_url".into(),
        json!(cdn_url(s, &format!("p{}", user.handle.id), "jpg", 0)),
    );
    if consumer {
        full.insert("user_id".into(), json!(user.handle.id));
        full.insert("account_type".into(), json!(user.account_type));
    } else {
        full.insert("ig_id".into(), json!(user.handle.id));
        full.insert(
            "name".into(),
            json!(format!("{} Page", user.handle.username)),
        );
    }
    let fields = q.get("fields").map_or("id,username", String::as_str);
    let known: Vec<&str> = full.keys().map(String::as_str).collect();
    match select(&full, fields, &known) {
        Ok(v) => with_usage(s, axum::Json(v).into_response()),
        Err(r) => r,
    }
}

fn unknown_node(node: &str) -> Response {
    graph_error(
        StatusCode::BAD_REQUEST,
        100,
        Some(33),
        &format!(
            "Unsupported get request. Object with ID '{node}' does not exist, cannot be loaded due to missing permissions, or does not support this operation."
        ),
    )
}

/// Graph-like opaque cursor for an offset (media lists, `/me/accounts`).
pub(super) fn cursor(offset: usize) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("sandbox:{offset}"))
}

/// The offset of a [`cursor`]; `None` for anything else.
pub(super) fn offset(cursor: &str) -> Option<usize> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()?;
    String::from_utf8(raw)
        .ok()?
        .strip_prefix("sandbox:")?
        .parse()
        .ok()
}

fn media_list(
    s: &SandboxState,
    info: &TokenInfo,
    q: &HashMap<String, String>,
    path: &str,
) -> Response {
    s.hit("media");
    let Some(user) = s.user(&info.user) else {
        return unknown_node(&info.user);
    };
    let limit = q
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(DEFAULT_LIMIT)
        .clamp(1, 100);
    let start = match q.get("after") {
        None => 0,
        Some(c) => match offset(c) {
            Some(o) => o,
            None => {
                return graph_error(
                    StatusCode::BAD_REQUEST,
                    100,
                    None,
                    "(#100) The after cursor is invalid",
                );
            }
        },
    };
    let end = start.saturating_add(limit).min(user.media_count);
    let fields = q.get("fields").map_or("id", String::as_str);
    let mut data = Vec::new();
    for i in start..end {
        match select(&media_json(s, &user, i), fields, MEDIA_FIELDS) {
            Ok(v) => data.push(v),
            Err(r) => return r,
        }
    }
    let mut body = json!({ "data": data });
    if start < end {
        body["paging"] = json!({"cursors": {"before": cursor(start), "after": cursor(end)}});
        if end < user.media_count {
            // Like Graph, the next page's URL carries the token.
            // Whatever the path holds, a URL that does not parse is left out, not a panic.
            if let Ok(mut next) = url::Url::parse(&format!("{}{path}", base(s))) {
                {
                    let mut qp = next.query_pairs_mut();
                    for (k, v) in q {
                        if k != "after" {
                            qp.append_pair(k, v);
                        }
                    }
                    qp.append_pair("after", &cursor(end));
                }
                body["paging"]["next"] = json!(next.to_string());
            }
        }
    }
    with_usage(s, axum::Json(body).into_response())
}

/// `GET /{ver}/me/media` (Instagram Login).
pub(super) async fn my_media(State(s): S, Path(ver): Path<String>, Query(q): Q) -> Response {
    // Every media list request received, answered or refused (`media` counts the served).
    s.hit("media_requests");
    if let Some(r) = fault(&s).await {
        return r;
    }
    match valid(&s, q.get("access_token")) {
        Ok(info) => media_list(&s, &info, &q, &format!("{ver}/me/media")),
        Err(r) => r,
    }
}

/// `GET /{ver}/{ig-user-id}/media`.
pub(super) async fn node_media(
    State(s): S,
    Path((ver, node)): Path<(String, String)>,
    Query(q): Q,
) -> Response {
    s.hit("media_requests");
    if let Some(r) = fault(&s).await {
        return r;
    }
    match valid(&s, q.get("access_token")) {
        Ok(info) if info.user == node => media_list(&s, &info, &q, &format!("{ver}/{node}/media")),
        Ok(_) => unknown_node(&node),
        Err(r) => r,
    }
}

/// `GET /{ver}/{node}`: the token's own IG user (profile) or one of its media.
pub(super) async fn node(
    State(s): S,
    Path((_ver, node)): Path<(String, String)>,
    Query(q): Q,
) -> Response {
    if let Some(r) = fault(&s).await {
        return r;
    }
    let info = match valid(&s, q.get("access_token")) {
        Ok(i) => i,
        Err(r) => return r,
    };
    if node == info.user {
        return profile(&s, &info, &q, is_consumer_token(&info));
    }
    s.hit("media_item");
    let Some(user) = s.user(&info.user) else {
        return unknown_node(&node);
    };
    let uid = &user.handle.id;
    let found = if let Some(rest) = node.strip_prefix(&format!("18{uid}")) {
        rest.parse::<usize>()
            .ok()
            .filter(|i| rest.len() == 3 && *i < user.media_count)
            .map(|i| media_json(&s, &user, i))
    } else if let Some(rest) = node.strip_prefix(&format!("19{uid}")) {
        // `get`, not `[..]`: a multibyte character in the id is no char boundary.
        (rest.len() == 4)
            .then(|| {
                (
                    rest.get(..3).and_then(|i| i.parse::<usize>().ok()),
                    rest.get(3..).and_then(|c| c.parse::<usize>().ok()),
                )
            })
            .and_then(|(i, c)| Some((i?, c?)))
            .filter(|(i, c)| *i < user.media_count && i % 4 == 3 && *c < 3)
            .and_then(|(i, c)| {
                media_json(&s, &user, i)["children"]["data"][c]
                    .as_object()
                    .cloned()
            })
    } else {
        None
    };
    let Some(full) = found else {
        return unknown_node(&node);
    };
    let fields = q.get("fields").map_or("id", String::as_str);
    match select(&full, fields, MEDIA_FIELDS) {
        Ok(v) => with_usage(&s, axum::Json(v).into_response()),
        Err(r) => r,
    }
}

/// `GET /{ver}/{node}/{edge}` for edges the sandbox does not serve (insights,
/// stories, ...): the token is checked (so scenarios apply), then Graph's error 100.
pub(super) async fn other_edge(
    State(s): S,
    Path((_ver, _node, edge)): Path<(String, String, String)>,
    Query(q): Q,
) -> Response {
    s.hit("other");
    if let Some(r) = fault(&s).await {
        return r;
    }
    match valid(&s, q.get("access_token")) {
        Ok(_) => graph_error(
            StatusCode::BAD_REQUEST,
            100,
            None,
            &format!(
                "(#100) Tried accessing nonexisting field ({edge}) (the sandbox serves profile and media)"
            ),
        ),
        Err(r) => r,
    }
}

/// Any other path: Graph's "unknown path components" error.
pub(super) async fn unknown_path() -> Response {
    graph_error(
        StatusCode::BAD_REQUEST,
        2500,
        None,
        "Unknown path components (the sandbox does not serve this path)",
    )
}

/// A 1×1 PNG.
const PIXEL: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4,
    0x89, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0xF8, 0xCF, 0xC0, 0xF0,
    0x1F, 0x00, 0x05, 0x00, 0x01, 0xFF, 0x89, 0x99, 0x3D, 0x1D, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
    0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82,
];

/// `GET /cdn/...?oe=…`: the file while the URL's `oe` is in the future, then 403 with
/// the CDN's "URL signature expired".
pub(super) async fn cdn(State(s): S, Path(_file): Path<String>, Query(q): Q) -> Response {
    s.hit("cdn");
    let oe = q
        .get("oe")
        .and_then(|oe| i64::from_str_radix(oe, 16).ok())
        .and_then(|t| DateTime::from_timestamp(t, 0));
    match oe {
        Some(t) if t > s.now() => ([(header::CONTENT_TYPE, "image/png")], PIXEL).into_response(),
        Some(_) => (StatusCode::FORBIDDEN, "URL signature expired").into_response(),
        None => (StatusCode::FORBIDDEN, "Bad URL hash").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_parse_with_nested_children() {
        assert_eq!(
            parse_fields("id, media_url,children{id,media_url},timestamp"),
            vec![
                ("id".into(), None),
                ("media_url".into(), None),
                ("children".into(), Some("id,media_url".into())),
                ("timestamp".into(), None),
            ]
        );
        assert_eq!(offset(&cursor(25)), Some(25));
        assert_eq!(offset("garbage"), None);
    }
}
