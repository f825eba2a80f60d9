//! Testing support (feature `testkit`), for lightwidget's own tests and for hosts':
//!
//! - [`conformance`]: the `TokenStore` conformance suite every store runs unchanged
//!   ([`run_all`] and each check on its own);
//! - [`doubles`]: test doubles for a keeper: [`FakeProvider`], [`RecordingNotifier`],
//!   [`RecordingHooks`];
//! - fixtures: [`t0`], [`record`], [`transition`], [`expired_notice`].
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use lightwidget_core::{testkit, InMemoryStore};
//! testkit::run_all(|| async { InMemoryStore::new() }).await;
//! # }
//! ```

pub mod conformance;
pub mod doubles;
mod fixtures;

pub use conformance::*;
pub use doubles::{FakeProvider, RecordingHooks, RecordingNotifier};
pub use fixtures::{expired_notice, record, t0, transition};
