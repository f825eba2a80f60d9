//! Operator alerts over real transports: a loopback webhook receiver verifies the
//! signature and reads the incident; an in-test SMTP server receives the email. A
//! receiver answering 500 is a transient failure (the keeper retries), 400 a permanent one.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use chrono::Utc;
use lightwidget_core::*;
use lightwidget_notify::*;
use support::smtp_server;

type Seen = Arc<Mutex<(Vec<(String, serde_json::Value)>, u16)>>;

async fn receiver(State(seen): State<Seen>, h: HeaderMap, body: Bytes) -> StatusCode {
    let sig = h["x-lightwidget-signature"].to_str().unwrap();
    verify_webhook_signature(
        "ops-secret",
        sig,
        &body,
        Utc::now(),
        Duration::from_secs(300),
    )
    .expect("signature verifies");
    let event = h["x-lightwidget-event"].to_str().unwrap().to_owned();
    let mut g = seen.lock().unwrap();
    g.0.push((event, serde_json::from_slice(&body).unwrap()));
    StatusCode::from_u16(g.1).unwrap()
}

fn alert(change: IncidentChange) -> IncidentAlert {
    IncidentAlert {
        change,
        incident: Incident::open(
            ConnectionKind::Business,
            IncidentKind::AppWide,
            Utc::now(),
            40,
            "Graph error 3: (#3) Application does not have the capability to make this API call.",
        ),
    }
}

#[tokio::test]
async fn webhook_alerts_are_signed_and_name_the_incident() {
    let seen: Seen = Arc::new(Mutex::new((Vec::new(), 200)));
    let app = axum::Router::new()
        .route("/ops", axum::routing::post(receiver))
        .with_state(seen.clone());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url: url::Url = format!("http://{}/ops", l.local_addr().unwrap())
        .parse()
        .unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    let alerts = WebhookAlerts::new(url, "ops-secret".to_string().into()).unwrap();
    assert!(
        !format!("{alerts:?}").contains("ops-secret"),
        "Debug redacts the secret"
    );

    let opened = alert(IncidentChange::Opened);
    alerts.alert(&opened).await.unwrap();
    {
        let g = seen.lock().unwrap();
        let (event, body) = &g.0[0];
        assert_eq!(event, "incident.opened");
        assert_eq!(body["type"], "incident.opened");
        assert_eq!(body["incident"]["id"], opened.incident.id.to_string());
        assert_eq!(body["incident"]["kind"], "app_wide");
        assert_eq!(body["incident"]["app"], "business");
        assert_eq!(body["incident"]["accounts"], 40);
        assert!(
            body["summary"]
                .as_str()
                .unwrap()
                .contains("held, not ended")
        );
    }
    seen.lock().unwrap().1 = 500;
    let e = alerts
        .alert(&alert(IncidentChange::Updated))
        .await
        .unwrap_err();
    assert!(e.is_transient(), "{e:?}");
    seen.lock().unwrap().1 = 400;
    let e = alerts
        .alert(&alert(IncidentChange::Resolved))
        .await
        .unwrap_err();
    assert!(!e.is_transient(), "{e:?}");
    assert!(
        WebhookAlerts::new("ftp://x/".parse().unwrap(), "s".to_string().into()).is_err(),
        "only http(s)"
    );
}

#[tokio::test]
async fn email_alerts_reach_the_operator_address() {
    let (port, sink) = smtp_server();
    let links = Arc::new(LinkSigner::new(
        "ls".to_string().into(),
        "https://host.example/".parse().unwrap(),
    ));
    let content = EmailContent::new("Widgets <alerts@widgets.example>", links).unwrap();
    let mail =
        Arc::new(EmailNotifier::new("127.0.0.1", port, SmtpTls::Plain, None, content).unwrap());
    assert!(EmailAlerts::new(mail.clone(), "not an address").is_err());
    let alerts = EmailAlerts::new(mail, "ops@widgets.example").unwrap();
    let a = alert(IncidentChange::Opened);
    alerts.alert(&a).await.unwrap();
    let mails = sink.mails.lock().unwrap().clone();
    assert_eq!(mails.len(), 1);
    let (to, raw) = &mails[0];
    assert_eq!(to, &vec!["ops@widgets.example".to_string()]);
    assert!(raw.contains(&a.incident.id.to_string()), "{raw}");
    assert!(raw.contains("Meta App Dashboard"), "{raw}");
}
