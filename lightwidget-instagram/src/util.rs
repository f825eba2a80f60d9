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
