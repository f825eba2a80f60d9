//! Single-use links: the first use is recorded durably and only once, even under
//! concurrent uses; old records are pruned; ids are never truncated.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use lightwidget_core::{testkit, InMemoryStore};
//! testkit::used_links_work_once(&InMemoryStore::new()).await;
//! # }
//! ```

use std::sync::Arc;

use super::super::fixtures::{secs, t0};
use crate::{MAX_LINK_ID_LEN, TokenStore};

/// A link's first use is `true`, every later one `false` (a second use at another time
/// too); ids are distinct up to their last byte (the longest allowed id included) and
/// never truncated: an empty or over-long id is an error, not a silent merge; pruning
/// forgets exactly the links used before the cut-off, which may then be used afresh.
pub async fn used_links_work_once<S: TokenStore + ?Sized>(s: &S) {
    let a = "AAAAAAAAAAAAAAAA";
    assert!(s.mark_link_used(a, t0()).await.unwrap(), "first use");
    assert!(!s.mark_link_used(a, t0()).await.unwrap(), "second use");
    assert!(
        !s.mark_link_used(a, t0() + secs(86_400)).await.unwrap(),
        "a later use is still a second use"
    );
    assert!(
        s.mark_link_used("aAAAAAAAAAAAAAAA", t0()).await.unwrap(),
        "ids differ by case"
    );
    let long_a = "x".repeat(MAX_LINK_ID_LEN - 1) + "a";
    let long_b = "x".repeat(MAX_LINK_ID_LEN - 1) + "b";
    assert!(s.mark_link_used(&long_a, t0() + secs(10)).await.unwrap());
    assert!(
        s.mark_link_used(&long_b, t0() + secs(10)).await.unwrap(),
        "ids of the maximum length differ by their last byte"
    );
    assert!(
        s.mark_link_used(&"x".repeat(MAX_LINK_ID_LEN + 1), t0())
            .await
            .is_err(),
        "an over-long id is refused, not truncated"
    );
    assert!(
        s.mark_link_used("", t0()).await.is_err(),
        "an empty id is refused"
    );

    // Pruning: only the links used before the cut-off (t0 + 5 s) go.
    assert_eq!(s.prune_used_links(t0() + secs(5)).await.unwrap(), 2);
    assert_eq!(s.prune_used_links(t0() + secs(5)).await.unwrap(), 0);
    assert!(
        !s.mark_link_used(&long_a, t0() + secs(20)).await.unwrap(),
        "a link used after the cut-off is remembered"
    );
    assert!(
        s.mark_link_used(a, t0() + secs(20)).await.unwrap(),
        "a pruned link is forgotten"
    );
}

/// Of many concurrent first uses of one link, exactly one is `true`.
pub async fn used_links_concurrent_first_use<S: TokenStore>(s: Arc<S>) {
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let s = s.clone();
            tokio::spawn(async move { s.mark_link_used("racing-link", t0() + secs(i)).await })
        })
        .collect();
    let mut firsts = 0;
    for t in tasks {
        if t.await.expect("task").expect("mark_link_used") {
            firsts += 1;
        }
    }
    assert_eq!(firsts, 1, "exactly one concurrent use is the first");
}
