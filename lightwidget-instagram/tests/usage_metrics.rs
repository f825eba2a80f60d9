//! The usage metrics over real HTTP (feature `metrics`): the gauge of the usage Meta
//! reports moves with each answer, and the throttle's pauses are counted. Its own test
//! binary, because it installs the process-wide recorder.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{TimeZone, Utc};
use lightwidget_core::Token;
use lightwidget_instagram::*;
use metrics_exporter_prometheus::PrometheusBuilder;
use wiremock::matchers::path;
use wiremock::{Mock, MockServer, ResponseTemplate};

struct Usage(Arc<Mutex<u32>>);

impl wiremock::Respond for Usage {
    fn respond(&self, _: &wiremock::Request) -> ResponseTemplate {
        let p = *self.0.lock().unwrap();
        ResponseTemplate::new(200)
            .set_body_string(r#"{"id":"1","username":"u"}"#)
            .insert_header(
                "x-app-usage",
                format!(r#"{{"call_count":{p},"total_cputime":1,"total_time":1}}"#),
            )
            .insert_header(
                "x-business-use-case-usage",
                format!(
                    r#"{{"1784":[{{"type":"instagram","call_count":{}}}]}}"#,
                    p / 2
                ),
            )
    }
}

/// The value of the sample with exactly these labels.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
}

#[tokio::test]
async fn the_usage_gauge_follows_each_answer_and_pauses_are_counted() {
    let handle = PrometheusBuilder::new().install_recorder().unwrap();
    let s = MockServer::start().await;
    let percent = Arc::new(Mutex::new(40));
    Mock::given(path(format!("/{DEFAULT_GRAPH_VERSION}/me")))
        .respond_with(Usage(percent.clone()))
        .mount(&s)
        .await;
    let base = url::Url::parse(&s.uri()).unwrap();
    let c = InstagramLogin::new(
        GraphConfig::builder("app-1", "shh-app-secret")
            .base_urls(BaseUrls::all(&base))
            .usage_allowance(200_000)
            .build()
            .unwrap(),
    )
    .unwrap();
    let t = Token::new(
        "IGAAsecret",
        Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap(),
    );
    let app = r#"lightwidget_graph_usage_percent{kind="consumer",scope="app"}"#;
    let account = r#"lightwidget_graph_usage_percent{kind="consumer",scope="account"}"#;
    let spacing = r#"lightwidget_graph_call_spacing_seconds{kind="consumer"}"#;
    let waited = r#"lightwidget_graph_pauses_total{kind="consumer",scope="app",result="waited"}"#;
    c.me(&t).await.unwrap();
    let text = handle.render();
    assert_eq!(sample(&text, app), Some(40.0), "{text}");
    assert_eq!(sample(&text, account), Some(20.0), "{text}");
    assert_eq!(sample(&text, spacing), Some(0.0), "{text}");
    assert_eq!(sample(&text, waited), None, "{text}");
    // 96 %: the gauge moves, calls are paced (0.45 s apart) and the wait is counted.
    *percent.lock().unwrap() = 96;
    c.me(&t).await.unwrap();
    c.me(&t).await.unwrap();
    let text = handle.render();
    assert_eq!(sample(&text, app), Some(96.0), "{text}");
    assert_eq!(sample(&text, spacing), Some(0.45), "{text}");
    assert_eq!(sample(&text, waited), Some(1.0), "{text}");
    // Down again: the gauge follows, the pace is gone.
    *percent.lock().unwrap() = 30;
    tokio::time::sleep(Duration::from_millis(500)).await;
    c.me(&t).await.unwrap();
    let text = handle.render();
    assert_eq!(sample(&text, app), Some(30.0), "{text}");
    assert_eq!(sample(&text, spacing), Some(0.0), "{text}");
    assert!(
        !text.contains("IGAAsecret") && !text.contains("1784"),
        "{text}"
    );
}
