//! A loopback webhook receiver verifies signatures; 500/429 retried, 400 not.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use chrono::Utc;
use lightwidget_core::*;
use lightwidget_notify::*;

type Seen = Arc<Mutex<(Vec<serde_json::Value>, u16)>>;

async fn receiver(State(seen): State<Seen>, h: HeaderMap, body: Bytes) -> StatusCode {
    let sig = h["x-lightwidget-signature"].to_str().unwrap();
    verify_webhook_signature(
        "hook-secret",
        sig,
        &body,
        Utc::now(),
        Duration::from_secs(300),
    )
    .expect("signature verifies");
    assert_eq!(h["x-lightwidget-notice-id"].to_str().unwrap().len(), 36);
    let mut g = seen.lock().unwrap();
    g.0.push(serde_json::from_slice(&body).unwrap());
    StatusCode::from_u16(g.1).unwrap()
}

#[tokio::test]
async fn webhooks_are_signed_and_classified_by_status() {
    let seen: Seen = Arc::new(Mutex::new((Vec::new(), 200)));
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(receiver))
        .with_state(seen.clone());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url: url::Url = format!("http://{}/hook", l.local_addr().unwrap())
        .parse()
        .unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    let links = Arc::new(LinkSigner::new(
        "ls".to_string().into(),
        "https://host.example/".parse().unwrap(),
    ));
    let n = WebhookNotifier::new("hook-secret".to_string().into(), links).unwrap();
    let a = NewAccount::new("o", ConnectionKind::Business, "9", "shop").into_account();
    let notice = Notice {
        id: uuid::Uuid::now_v7(),
        dedupe_key: "k".into(),
        account_id: a.id,
        owner: a.owner,
        username: "shop".into(),
        connection: ConnectionKind::Business,
        kind: NoticeKind::Expired {
            reason: ExpiryReason::SecurityCheckpoint,
        },
        created_at: Utc::now(),
    };
    let to = Recipient::Webhook(url);
    n.deliver(&notice, &to).await.unwrap();
    let body = seen.lock().unwrap().0[0].clone();
    assert_eq!(body["kind"], "expired");
    assert_eq!(body["connection"], "business");
    assert!(
        body["renewal_url"]
            .as_str()
            .unwrap()
            .starts_with("https://host.example/renew?token=")
    );
    for (status, transient) in [
        (500, true),
        (429, true),
        (408, true),
        (400, false),
        (404, false),
    ] {
        seen.lock().unwrap().1 = status;
        let e = n.deliver(&notice, &to).await.unwrap_err();
        assert_eq!(e.is_transient(), transient, "HTTP {status}: {e:?}");
    }
    assert!(!format!("{n:?}").contains("hook-secret"));
}
