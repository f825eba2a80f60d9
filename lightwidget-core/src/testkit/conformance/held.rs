//! Held values: kept until they expire, read in place, taken once even under concurrent
//! takes, keys never truncated.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use lightwidget_core::{testkit, InMemoryStore};
//! testkit::held_values_are_kept_and_taken_once(&InMemoryStore::new()).await;
//! # }
//! ```

use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};

use super::super::fixtures::{secs, t0};
use crate::{MAX_LINK_ID_LEN, TokenStore};

fn v(s: &str) -> SecretString {
    s.to_owned().into()
}

fn plain(x: Option<SecretString>) -> Option<String> {
    x.map(|s| s.expose_secret().to_owned())
}

/// A value put is read back (unchanged, any bytes of UTF-8) until it expires, replaced by
/// a later put, taken once; an expired value is neither read nor taken; an empty or
/// over-long key is refused, not truncated.
pub async fn held_values_are_kept_and_taken_once<S: TokenStore + ?Sized>(s: &S) {
    let until = t0() + secs(600);
    let value = "{\"token\":\"IGQVJ-held\",\"ünï\":\"✓\"}";
    s.put_held("choice-1", &v(value), t0(), until)
        .await
        .unwrap();
    assert_eq!(
        plain(s.get_held("choice-1", t0()).await.unwrap()).as_deref(),
        Some(value)
    );
    assert_eq!(
        plain(s.get_held("choice-1", t0() + secs(1)).await.unwrap()).as_deref(),
        Some(value),
        "a read leaves it in place"
    );
    assert_eq!(
        s.get_held("Choice-1", t0()).await.unwrap().map(drop),
        None,
        "keys differ by case"
    );
    s.put_held("choice-1", &v("second"), t0(), until)
        .await
        .unwrap();
    assert_eq!(
        plain(s.take_held("choice-1", t0()).await.unwrap()).as_deref(),
        Some("second"),
        "a later put replaces"
    );
    assert!(
        s.take_held("choice-1", t0()).await.unwrap().is_none(),
        "taken once"
    );
    assert!(s.get_held("choice-1", t0()).await.unwrap().is_none());

    s.put_held("short", &v("x"), t0(), t0() + secs(10))
        .await
        .unwrap();
    // A long-lived value outlives the short ones put after it.
    s.put_held("long-lived", &v("kept"), t0(), t0() + secs(86_400 * 90))
        .await
        .unwrap();
    s.put_held("later", &v("y"), t0() + secs(5), t0() + secs(600))
        .await
        .unwrap();
    assert_eq!(
        plain(s.get_held("short", t0() + secs(6)).await.unwrap()).as_deref(),
        Some("x"),
        "a put prunes only what expired before it"
    );
    assert!(
        s.get_held("short", t0() + secs(10))
            .await
            .unwrap()
            .is_none(),
        "expired"
    );
    assert!(
        s.take_held("short", t0() + secs(11))
            .await
            .unwrap()
            .is_none(),
        "expired"
    );

    let long = "k".repeat(MAX_LINK_ID_LEN);
    s.put_held(&long, &v("long"), t0(), until).await.unwrap();
    assert_eq!(
        plain(s.get_held(&long, t0()).await.unwrap()).as_deref(),
        Some("long")
    );
    assert!(
        s.put_held(&"k".repeat(MAX_LINK_ID_LEN + 1), &v("x"), t0(), until)
            .await
            .is_err(),
        "an over-long key is refused"
    );
    assert!(
        s.put_held("", &v("x"), t0(), until).await.is_err(),
        "an empty key is refused"
    );
}

/// Of many concurrent takes of one value, exactly one gets it.
pub async fn held_values_concurrent_take<S: TokenStore>(s: Arc<S>) {
    s.put_held("racing-choice", &v("once"), t0(), t0() + secs(600))
        .await
        .unwrap();
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let s = s.clone();
            tokio::spawn(async move { s.take_held("racing-choice", t0()).await })
        })
        .collect();
    let mut got = 0;
    for t in tasks {
        if t.await.expect("task").expect("take_held").is_some() {
            got += 1;
        }
    }
    assert_eq!(got, 1, "exactly one concurrent take gets the value");
}
