//! No panic from input (#29.7): every public function of this crate that takes what a
//! request, a redirect or Meta's answer carries — `signed_request`, OAuth `state` and
//! invitations (with any lifetime), the callback query, Graph error bodies, usage
//! headers, CDN `oe` values, `debug_token` data — and the sandbox's handlers over real
//! HTTP with multibyte ids, cursors and limits.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use lightwidget_core::{ConnectionKind, OwnerId};
use lightwidget_instagram::business::DebugToken;
use lightwidget_instagram::callback::Redirect;
use lightwidget_instagram::classify::{classify, classify_response, parse_error};
use lightwidget_instagram::media::media_url_expiry;
use lightwidget_instagram::signed_request;
use lightwidget_instagram::state::{MemoryNonceStore, StatePurpose, StateSigner};
use lightwidget_instagram::usage::usage_from_headers;
use proptest::prelude::*;

fn any_instant() -> impl Strategy<Value = DateTime<Utc>> {
    let lo = DateTime::<Utc>::MIN_UTC.timestamp();
    let hi = DateTime::<Utc>::MAX_UTC.timestamp();
    prop_oneof![
        Just(DateTime::<Utc>::MIN_UTC),
        Just(DateTime::<Utc>::MAX_UTC),
        (lo..=hi).prop_map(|s| DateTime::from_timestamp(s, 0).unwrap()),
        (1_700_000_000i64..1_900_000_000).prop_map(|s| DateTime::from_timestamp(s, 0).unwrap()),
    ]
}

fn any_delta() -> impl Strategy<Value = TimeDelta> {
    prop_oneof![
        Just(TimeDelta::MAX),
        Just(TimeDelta::MIN),
        Just(TimeDelta::zero()),
        any::<i64>().prop_filter_map("in range", TimeDelta::try_milliseconds),
        (-(i64::MAX / 1000)..=i64::MAX / 1000).prop_map(TimeDelta::seconds),
    ]
}

fn any_i64() -> impl Strategy<Value = i64> {
    prop_oneof![Just(i64::MIN), Just(i64::MAX), Just(0i64), any::<i64>()]
}

fn any_purpose() -> impl Strategy<Value = StatePurpose> {
    (any::<bool>(), any::<String>(), 0u8..4).prop_map(|(b, owner, which)| {
        let kind = if b {
            ConnectionKind::Business
        } else {
            ConnectionKind::Consumer
        };
        match which {
            0 => StatePurpose::Connect {
                kind,
                owner: OwnerId::new(owner),
            },
            1 => StatePurpose::Reconnect { kind },
            2 => StatePurpose::Invitation {
                kind,
                owner: OwnerId::new(owner),
            },
            _ => StatePurpose::Login { kind },
        }
    })
}

fn signer(ttl: TimeDelta, invitation_ttl: TimeDelta) -> StateSigner {
    StateSigner::new("k".repeat(32).into(), Box::new(MemoryNonceStore::default()))
        .with_ttl(ttl)
        .with_invitation_ttl(invitation_ttl)
}

#[test]
fn out_of_range_state_lifetimes_are_clamped_not_a_panic() {
    let now = Utc::now();
    for ttl in [TimeDelta::MAX, TimeDelta::MIN, TimeDelta::zero()] {
        let s = signer(ttl, ttl);
        assert!(s.ttl() >= StateSigner::MIN_TTL && s.ttl() <= StateSigner::MAX_TTL);
        let p = StatePurpose::Reconnect {
            kind: ConnectionKind::Consumer,
        };
        let issued = s.issue(&p, now);
        assert_eq!(
            s.verify(&issued.state, Some(issued.binding.expose_secret()), now),
            Ok(p)
        );
        let inv = s.invitation(&OwnerId::new("dev"), now);
        assert_eq!(s.verify_invitation(&inv, now).unwrap().as_str(), "dev");
        let _ = s.binding_cookie(true).set_cookie(&issued.binding);
    }
    // At the end of time too.
    let s = signer(TimeDelta::days(1), TimeDelta::days(1));
    let _ = s.issue(
        &StatePurpose::Login {
            kind: ConnectionKind::Business,
        },
        DateTime::<Utc>::MAX_UTC,
    );
    let _ = s.invitation(&OwnerId::new("dev"), DateTime::<Utc>::MAX_UTC);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn signed_requests_never_panic(
        raw in any::<String>(),
        secret in any::<String>(),
        user in any::<String>(),
        issued in proptest::option::of(any_i64()),
        expires in proptest::option::of(any_i64()),
        age in any_delta(),
        now in any_instant(),
    ) {
        let _ = signed_request::verify(&raw, &secret, Some((age, now)));
        let _ = signed_request::verify(&raw, &secret, None);
        let payload = serde_json::json!({
            "algorithm": "HMAC-SHA256", "user_id": user, "issued_at": issued, "expires": expires,
        })
        .to_string();
        let sr = signed_request::sign(&secret, &payload);
        if secret.is_empty() {
            // An empty key is one anyone knows: nothing it signs is believed.
            prop_assert!(signed_request::verify(&sr, &secret, None).is_err());
        } else {
            prop_assert_eq!(signed_request::verify(&sr, &secret, None).unwrap().user_id, user);
        }
        let _ = signed_request::verify(&sr, &secret, Some((age, now)));
    }

    #[test]
    fn states_and_invitations_never_panic(
        ttl in any_delta(),
        invitation_ttl in any_delta(),
        purpose in any_purpose(),
        now in any_instant(),
        later in any_instant(),
        forged in any::<String>(),
        binding in proptest::option::of(any::<String>()),
        owner in any::<String>(),
        cookies in proptest::collection::vec(any::<String>(), 0..4),
    ) {
        let s = signer(ttl, invitation_ttl);
        let _ = s.verify(&forged, binding.as_deref(), now);
        let _ = s.verify_invitation(&forged, now);
        let issued = s.issue(&purpose, now);
        let _ = s.verify(&issued.state, binding.as_deref(), later);
        let _ = s.verify(&issued.state, Some(issued.binding.expose_secret()), later);
        let inv = s.invitation(&OwnerId::new(owner), now);
        let _ = s.verify_invitation(&inv, later);
        let c = s.binding_cookie(ttl > TimeDelta::zero());
        let _ = c.set_cookie(&issued.binding);
        let _ = c.find(cookies.iter().map(String::as_str));
    }

    #[test]
    fn callback_queries_never_panic(q in any::<String>(), code in any::<String>()) {
        let _ = Redirect::from_query(&q);
        let _ = Redirect::from_query(&format!("?code={code}&state={q}"));
    }

    #[test]
    fn graph_error_bodies_and_classification_never_panic(
        body in proptest::collection::vec(any::<u8>(), 0..300),
        status in any::<u16>(),
        code in any_i64(),
        sub in proptest::option::of(any_i64()),
        message in any::<String>(),
        retry in proptest::option::of(prop_oneof![Just(Duration::MAX), any::<u64>().prop_map(Duration::from_secs)]),
    ) {
        let _ = parse_error(&body);
        let _ = classify_response(status, &body, retry);
        let json = serde_json::json!({"error": {"code": code, "error_subcode": sub, "message": message, "is_transient": sub.is_some()}}).to_string();
        if let Some(e) = parse_error(json.as_bytes()) {
            let _ = classify(&e, retry);
        }
        let _ = classify_response(status, json.as_bytes(), retry);
    }

    #[test]
    fn usage_headers_never_panic(
        app in any::<String>(),
        id in any::<String>(),
        calls in any::<u64>(),
        regain in any::<u64>(),
        noise in "[ -~]{0,80}",
    ) {
        let mut h = reqwest::header::HeaderMap::new();
        let buc = serde_json::json!({ id: [{"type": "instagram", "call_count": calls, "estimated_time_to_regain_access": regain}] }).to_string();
        for (name, v) in [("x-app-usage", app.as_str()), ("x-business-use-case-usage", buc.as_str())] {
            if let Ok(v) = reqwest::header::HeaderValue::from_str(v) {
                h.insert(name, v);
            }
        }
        let _ = usage_from_headers(&h);
        let mut h = reqwest::header::HeaderMap::new();
        h.insert("x-business-use-case-usage", reqwest::header::HeaderValue::from_str(&noise).unwrap());
        h.insert("x-app-usage", reqwest::header::HeaderValue::from_str(&noise).unwrap());
        let _ = usage_from_headers(&h);
    }

    #[test]
    fn cdn_expiry_hints_never_panic(url in any::<String>(), oe in prop_oneof![any::<String>(), "[0-9A-Fa-f]{0,40}", "-?[0-9A-F]{1,16}"]) {
        let _ = media_url_expiry(&url);
        let _ = media_url_expiry(&format!("https://scontent.cdninstagram.com/v/x.jpg?oe={oe}"));
    }

    #[test]
    fn debug_token_data_never_panics(
        expires in any_i64(),
        dae in any_i64(),
        issued in proptest::option::of(any_i64()),
        valid in any::<bool>(),
        code in any_i64(),
        sub in proptest::option::of(any_i64()),
    ) {
        let d: DebugToken = serde_json::from_value(serde_json::json!({
            "app_id": 1, "is_valid": valid, "expires_at": expires, "data_access_expires_at": dae,
            "issued_at": issued, "error": {"code": code, "subcode": sub, "message": "x"},
        }))
        .unwrap();
        let _ = (d.expires(), d.data_access_expires(), d.failure(), d.granted());
    }
}

/// The sandbox's handlers, over real HTTP: any node id, cursor or limit is a Graph
/// error or an answer, never a dropped connection (a panicking handler).
#[cfg(feature = "sandbox")]
mod sandbox_http {
    use std::sync::Arc;

    use lightwidget_core::ManualClock;
    use lightwidget_instagram::sandbox::{Sandbox, SandboxConfig, UserHandle};
    use proptest::prelude::*;

    struct World {
        rt: tokio::runtime::Runtime,
        sandbox: Sandbox,
        user: UserHandle,
        consumer_token: String,
        page_token: String,
        http: reqwest::Client,
    }

    fn world() -> World {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let clock = ManualClock::new(chrono::Utc::now());
        let sandbox = rt
            .block_on(Sandbox::start(SandboxConfig {
                clock: Arc::new(clock),
                ..Default::default()
            }))
            .unwrap();
        let user = sandbox.create_consumer_user("paul");
        sandbox.set_media_count(&user, 40);
        let consumer_token = sandbox
            .issue_consumer_token(&user, chrono::TimeDelta::days(2))
            .secret()
            .to_owned();
        let biz = sandbox.create_business_user("shop");
        sandbox.add_business_page(&biz, "shop.two");
        let page_token = sandbox.issue_page_token(&biz).secret().to_owned();
        World {
            rt,
            sandbox,
            user,
            consumer_token,
            page_token,
            http: reqwest::Client::new(),
        }
    }

    impl World {
        /// GETs `path` with `query`; the status (a panicking handler drops the
        /// connection: an `Err`).
        fn get(&self, path: &str, query: &[(&str, &str)]) -> Result<u16, String> {
            let mut u = self.sandbox.base_url();
            u.set_path(path);
            for (k, v) in query {
                u.query_pairs_mut().append_pair(k, v);
            }
            self.rt.block_on(async {
                self.http
                    .get(u)
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
                    .map_err(|e| e.to_string())
            })
        }
    }

    #[test]
    fn a_multibyte_media_id_is_an_unknown_node() {
        let w = world();
        let uid = &w.user.id;
        for node in [
            format!("19{uid}12é"),
            format!("19{uid}1€"),
            format!("18{uid}é1"),
        ] {
            let r = w.get(
                &format!("v25.0/{node}"),
                &[("access_token", &w.consumer_token), ("fields", "id")],
            );
            assert_eq!(r, Ok(400), "{node}");
        }
        // A real child id still answers.
        assert_eq!(
            w.get(
                &format!("v25.0/19{uid}0030"),
                &[("access_token", &w.consumer_token)]
            ),
            Ok(200)
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]

        #[test]
        fn handlers_answer_any_id_cursor_and_limit(
            node in prop_oneof![any::<String>(), "19[0-9]{14}[0-9é€😀]{1,3}", "18[0-9]{14}.{1,4}"],
            after in any::<String>(),
            limit in prop_oneof![any::<String>(), any::<i64>().prop_map(|n| n.to_string())],
            fields in any::<String>(),
            oe in any::<String>(),
        ) {
            let w = world_once();
            let uid = &w.user.id;
            let node = node.replacen("19", &format!("19{uid}"), 1);
            let ct = w.consumer_token.as_str();
            let pt = w.page_token.as_str();
            let calls: Vec<(String, Vec<(&str, &str)>)> = vec![
                (format!("v25.0/{node}"), vec![("access_token", ct), ("fields", &fields)]),
                (format!("v25.0/{node}/media"), vec![("access_token", ct), ("after", &after), ("limit", &limit)]),
                (format!("v25.0/{node}/{node}"), vec![("access_token", ct)]),
                ("v25.0/me/media".into(), vec![("access_token", ct), ("after", &after), ("limit", &limit), ("fields", &fields)]),
                ("v25.0/me/accounts".into(), vec![("access_token", pt), ("after", &after), ("limit", &limit)]),
                ("v25.0/debug_token".into(), vec![("input_token", &node), ("access_token", &after)]),
                (format!("cdn/{node}"), vec![("oe", &oe)]),
                ("refresh_access_token".into(), vec![("grant_type", "ig_refresh_token"), ("access_token", &node)]),
            ];
            for (path, q) in calls {
                let r = w.get(&path, &q);
                prop_assert!(matches!(r, Ok(s) if s < 500), "{path} {q:?}: {r:?}");
            }
        }
    }

    /// One sandbox for every case of the property (starting one per case is slow).
    fn world_once() -> &'static World {
        static W: std::sync::OnceLock<World> = std::sync::OnceLock::new();
        W.get_or_init(world)
    }
}
