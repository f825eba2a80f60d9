//! No panic from input (#29.7): key specs and database URLs from configuration, and
//! lookups with whatever a request carries (multibyte ids and usernames, SQL-ish text)
//! on a real SQLite store, answer typed errors or empty results.

mod support;

use lightwidget_core::ConnectionKind;
use lightwidget_store_sql::{Dialect, Key, Keyring, SqlStore, TokenStore};
use proptest::prelude::*;
use support::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn key_specs_and_urls_never_panic(
        spec in prop_oneof![
            any::<String>(),
            "([A-Za-zé_-]{0,40}:[A-Za-z0-9+/=é]{0,60},?){0,4}",
        ],
        id in any::<String>(),
        bytes in proptest::collection::vec(any::<u8>(), 0..64),
        url in any::<String>(),
    ) {
        if let Err(e) = Keyring::parse(&secrecy::SecretString::from(spec.clone())) {
            // The message never quotes key material (it may name a key id).
            let msg = e.to_string();
            if let Some((_, b64)) = spec.split_once(':') && b64.len() > 8 {
                prop_assert!(!msg.contains(b64.trim()), "{msg}");
            }
        }
        let _ = Key::new(id, &bytes);
        let _ = Dialect::from_url(&url);
    }
}

/// Lookups with any id or username on a real SQLite store: results or nothing, never a
/// panic, and never a match by pattern (`%`, `_`) or by the other kind.
#[test]
fn lookups_with_any_text_never_panic() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let store: SqlStore = rt.block_on(fresh_sqlite());
    let mut r = lightwidget_core::testkit::record("o", "17841400000000001", None);
    r.account.username = "shop_1".into();
    rt.block_on(store.insert(&r, &[])).unwrap();
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(128));
    runner
        .run(
            &(
                prop_oneof![
                    any::<String>(),
                    Just("%".to_owned()),
                    Just("shop%".to_owned()),
                    Just("SHOP_1".to_owned()),
                    Just("shop_1\u{0}".to_owned())
                ],
                any::<bool>(),
            ),
            |(text, business)| {
                let kind = if business {
                    ConnectionKind::Business
                } else {
                    ConnectionKind::Consumer
                };
                rt.block_on(async {
                    let found = store.find_by_username(kind, &text).await.unwrap();
                    let expect = !business && text.eq_ignore_ascii_case("shop_1");
                    assert_eq!(found.len(), usize::from(expect), "{text:?}");
                    let _ = store.find(kind, &text).await.unwrap();
                    let _ = store.find_by_fb_user(&text).await.unwrap();
                });
                Ok(())
            },
        )
        .unwrap();
}
