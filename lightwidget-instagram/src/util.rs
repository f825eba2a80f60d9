//! Serde helpers for Graph's loose typing.

use serde::{Deserialize, Deserializer};

#[derive(Deserialize)]
#[serde(untagged)]
enum StrOrNum {
    S(String),
    N(serde_json::Number),
}

/// Accepts `"123"` or `123`.
pub(crate) fn string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(match StrOrNum::deserialize(d)? {
        StrOrNum::S(s) => s,
        StrOrNum::N(n) => n.to_string(),
    })
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ListOrCsv {
    L(Vec<String>),
    S(String),
}

/// Accepts `["a","b"]` or `"a,b"`.
pub(crate) fn list_or_csv<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(match ListOrCsv::deserialize(d)? {
        ListOrCsv::L(v) => v,
        ListOrCsv::S(s) => s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect(),
    })
}

/// Graph's `paging` of a list answer. Its `after` cursor counts only while `next` says
/// there is a next page; the `next` URL itself carries the token and is never kept.
#[derive(Deserialize)]
pub(crate) struct Paging {
    #[serde(default)]
    cursors: Option<Cursors>,
    #[serde(default, deserialize_with = "non_empty")]
    next: bool,
}

#[derive(Deserialize)]
struct Cursors {
    #[serde(default)]
    after: Option<String>,
}

impl Paging {
    /// The cursor of the next page, if there is one.
    pub(crate) fn next_after(self) -> Option<String> {
        if !self.next {
            return None;
        }
        self.cursors?.after.filter(|a| !a.is_empty())
    }
}

/// A string is there and not empty (only that is kept).
fn non_empty<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(Option::<String>::deserialize(d)?.is_some_and(|s| !s.is_empty()))
}
