//! Through a [`Keeper`](crate::Keeper) on the store: what the keeper decides before a
//! write reaches the store (one copy of a notice per owner of a shared account) ends up
//! in it.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use std::sync::Arc;
//! use lightwidget_core::{testkit, InMemoryStore};
//! testkit::keeper_fans_out_notices_per_owner(Arc::new(InMemoryStore::new())).await;
//! # }
//! ```

use std::sync::Arc;

use chrono::TimeDelta;

use super::super::fixtures::t0;
use crate::testkit::FakeProvider;
use crate::{
    ConnectionKind, Entitlements, ExpiryReason, Keeper, ManualClock, NewAccount, ProviderError,
    TokenStore,
};

/// A token that ends on a shared account leaves one notice per owner in the store, each
/// with its owner in the dedupe key; an owner who left before gets none.
pub async fn keeper_fans_out_notices_per_owner<S: TokenStore>(s: Arc<S>) {
    let clock = ManualClock::new(t0());
    let graph = Arc::new(FakeProvider::new(clock.clone()));
    let keeper = Keeper::builder(s.clone(), graph.clone())
        .clock(Arc::new(clock.clone()))
        .build()
        .expect("a keeper");
    let entitled = Entitlements {
        notifications: true,
    };
    let token = graph.token(t0() - TimeDelta::days(1));
    let mut id = None;
    for owner in ["agency", "client", "former"] {
        let new = NewAccount::new(owner, ConnectionKind::Consumer, "1789", "paul")
            .with_entitlements(entitled);
        id = Some(keeper.connect(new, token.clone()).await.expect("connect"));
    }
    let id = id.expect("connected");
    keeper
        .disconnect(&"former".into(), id)
        .await
        .expect("the former owner leaves");
    graph.break_account(
        "1789",
        ProviderError::Expired {
            reason: ExpiryReason::PasswordChanged,
            message: "190/460".into(),
        },
    );
    clock.advance(TimeDelta::days(2));
    keeper.sweep().await.expect("a sweep");
    let notices = s.notices(id).await.expect("notices");
    let mut owners: Vec<&str> = notices.iter().map(|(n, _)| n.owner.as_str()).collect();
    owners.sort_unstable();
    assert_eq!(
        owners,
        ["agency", "client"],
        "one copy per current owner: {notices:?}"
    );
    for (n, _) in &notices {
        assert!(n.is_owner_copy(), "{} names its owner", n.dedupe_key);
    }
}
