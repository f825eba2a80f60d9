//! Token values never appear in Debug, Display, errors or logs.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use chrono::TimeDelta;
use common::*;
use lightwidget_core::*;

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Capture {
    type Writer = Capture;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test(flavor = "current_thread")]
async fn no_token_value_in_debug_display_errors_or_logs() {
    let logs = Capture::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(logs.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let w = world();
    w.opt_in("o").await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(w.connect("o", &format!("s{i}"), TimeDelta::days(35)).await);
    }
    w.graph.script(
        "s1",
        [ProviderError::Transient {
            retry_after: None,
            message: "HTTP 502".into(),
        }],
    );
    w.graph.break_account(
        "s2",
        ProviderError::Expired {
            reason: ExpiryReason::PasswordChanged,
            message: "190/460".into(),
        },
    );
    w.run_for(TimeDelta::days(40), TimeDelta::hours(6)).await;
    w.keeper
        .reconnect(ConnectionKind::Consumer, "s2", w.graph.token(w.clock.now()))
        .await
        .unwrap();

    let mut texts = vec![String::from_utf8(logs.0.lock().unwrap().clone()).unwrap()];
    assert!(
        texts[0].contains("lightwidget.account"),
        "spans were captured"
    );
    for id in &ids {
        let rec = w.store.get(*id).await.unwrap().unwrap();
        texts.push(format!("{rec:?}"));
        texts.push(format!("{:?}", rec.state.token));
        texts.push(format!("{:?}", w.keeper.status(*id).await.unwrap()));
        texts.push(format!(
            "{:?}",
            w.keeper
                .history(*id, HistoryQuery::default())
                .await
                .unwrap()
        ));
        texts.push(format!("{:?}", w.store.notices(*id).await.unwrap()));
        let t = lifecycle::apply(
            &rec,
            Observation::Refreshed(w.graph.token(w.clock.now())),
            w.clock.now(),
            &RefreshPolicy::default(),
            &mut <rand::rngs::SmallRng as rand::SeedableRng>::seed_from_u64(3),
        );
        texts.push(format!("{t:?}"));
    }
    let err = w
        .keeper
        .reconnect(ConnectionKind::Business, "s0", w.graph.token(w.clock.now()))
        .await
        .unwrap_err();
    texts.push(format!("{err} {err:?}"));
    texts.push(format!("{:?}", w.keeper));
    let all = texts.join("\n");
    assert!(all.contains("[REDACTED]"), "tokens are shown redacted");
    let issued = w.graph.issued_values();
    assert!(issued.len() > 10);
    for (n, secret) in issued.iter().enumerate() {
        assert!(!all.contains(secret), "token value {n} leaked");
    }
    assert!(
        !all.contains(FakeProvider::TOKEN_PREFIX),
        "no token prefix anywhere"
    );
}
