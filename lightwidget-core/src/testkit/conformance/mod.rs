//! The `TokenStore` conformance suite: every store runs the same checks, unchanged.
//!
//! [`run_all`] runs them all, each on a fresh store from a factory; each check is also
//! public on its own (grouped here by concern: accounts, claims, commits, outbox,
//! owners of shared accounts, writes that must agree, used links, and what a keeper on
//! the store leaves in it).
//! Each check panics with a message naming the rule that was broken.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use lightwidget_core::{testkit, InMemoryStore};
//! testkit::run_all(|| async { InMemoryStore::new() }).await;
//! # }
//! ```

mod accounts;
mod claims;
mod commits;
mod held;
mod incidents;
mod keeper;
mod outbox;
mod owners;
mod used_links;
mod writes;

use std::future::Future;
use std::sync::Arc;

use crate::TokenStore;

pub use accounts::*;
pub use claims::*;
pub use commits::*;
pub use held::*;
pub use incidents::*;
pub use keeper::*;
pub use outbox::*;
pub use owners::*;
pub use used_links::*;
pub use writes::*;

/// Runs every check, each on a fresh store from `make`.
pub async fn run_all<S, F, Fut>(make: F)
where
    S: TokenStore,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    insert_get_find(&make().await).await;
    state_roundtrip(&make().await).await;
    claim_due_selects_due_in_order(&make().await).await;
    claim_is_exclusive(&make().await).await;
    claim_is_exclusive_concurrently(Arc::new(make().await)).await;
    lease_expiry_allows_reclaim(&make().await).await;
    stale_commit_is_fenced(&make().await).await;
    commit_is_atomic(&make().await).await;
    commit_many_fences_each(&make().await).await;
    commit_many_large_mixed_batch(&make().await).await;
    notices_are_deduplicated(&make().await).await;
    outbox_take_and_ack(&make().await).await;
    outbox_retry(&make().await).await;
    history_order_and_paging(&make().await).await;
    preferences_roundtrip(&make().await).await;
    release_returns_lease(&make().await).await;
    extend_leases_renews_only_held_leases(&make().await).await;
    sweep_heartbeat(&make().await).await;
    counts_and_updates(&make().await).await;
    unknown_accounts(&make().await).await;
    delete_removes_everything(&make().await).await;
    owners_join_and_leave(&make().await).await;
    concurrent_joins(Arc::new(make().await)).await;
    notices_fan_out_per_owner(&make().await).await;
    facebook_user_ids(&make().await).await;
    join_sets_the_primary_entitlements(&make().await).await;
    commits_store_a_new_fb_user_id(&make().await).await;
    account_writes_fence_stale_commits(&make().await).await;
    delete_racing_a_commit_leaves_nothing_behind(Arc::new(make().await)).await;
    notices_are_enqueued_as_given(&make().await).await;
    keeper_fans_out_notices_per_owner(Arc::new(make().await)).await;
    incidents_open_once_and_resolve_once(&make().await).await;
    held_accounts_are_released(&make().await).await;
    // Lookup by username (#29.4).
    usernames(&make().await).await;
    // Used single-use links.
    used_links_work_once(&make().await).await;
    used_links_concurrent_first_use(Arc::new(make().await)).await;
    held_values_are_kept_and_taken_once(&make().await).await;
    held_values_concurrent_take(Arc::new(make().await)).await;
}
