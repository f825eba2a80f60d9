//! A real SMTP conversation: mailin-embedded on 127.0.0.1 receives what EmailNotifier sends.

mod support;

use std::net::TcpListener;
use std::sync::Arc;

use chrono::{TimeDelta, TimeZone, Utc};
use lightwidget_core::*;
use lightwidget_notify::*;
use support::smtp_server;

fn signer() -> Arc<LinkSigner> {
    Arc::new(LinkSigner::new(
        "link-secret".to_string().into(),
        "https://host.example/".parse().unwrap(),
    ))
}

fn notice() -> Notice {
    let a = NewAccount::new("owner-1", ConnectionKind::Consumer, "1789", "paul<b>").into_account();
    Notice {
        id: uuid::Uuid::now_v7(),
        dedupe_key: "k".into(),
        account_id: a.id,
        owner: a.owner,
        username: a.username,
        connection: ConnectionKind::Consumer,
        kind: NoticeKind::Expired {
            reason: ExpiryReason::PasswordChanged,
        },
        created_at: Utc.with_ymd_and_hms(2026, 4, 2, 10, 30, 0).unwrap(),
    }
}

/// Decodes quoted-printable soft breaks and escapes.
fn qp(s: &str) -> String {
    let s = s.replace("=\r\n", "");
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'='
            && i + 2 < b.len()
            && let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn token_after(text: &str, prefix: &str) -> String {
    let i = text
        .find(prefix)
        .unwrap_or_else(|| panic!("{prefix} not in {text}"))
        + prefix.len();
    text[i..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_' || *c == '.')
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_expiry_email_arrives_with_both_parts_headers_and_working_links() {
    let (port, sink) = smtp_server();
    let links = signer();
    let content =
        EmailContent::new("LightWidget <alerts@lightwidget.example>", links.clone()).unwrap();
    let n = EmailNotifier::new("127.0.0.1", port, SmtpTls::Plain, None, content).unwrap();
    let notice = notice();
    n.deliver(&notice, &Recipient::Email("paul@example.com".into()))
        .await
        .unwrap();

    let mails = sink.mails.lock().unwrap().clone();
    assert_eq!(mails.len(), 1);
    let (to, raw) = &mails[0];
    assert_eq!(to, &vec!["paul@example.com".to_string()]);
    assert!(
        raw.contains("From: LightWidget <alerts@lightwidget.example>"),
        "{raw}"
    );
    assert!(raw.contains("To: paul@example.com"));
    assert!(
        raw.contains("Subject: Your Instagram connection for @paul<b> has expired"),
        "{raw}"
    );
    assert!(raw.contains(&format!("Message-ID: <{}@lightwidget.example>", notice.id)));
    assert!(raw.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"));
    assert!(raw.contains("multipart/alternative"));
    assert!(raw.contains("Content-Type: text/plain"));
    assert!(raw.contains("Content-Type: text/html"));
    let body = qp(raw);
    assert!(
        body.contains("because the account's password was changed"),
        "{body}"
    );
    assert!(body.contains("@paul&lt;b&gt;"), "HTML is escaped");
    assert!(body.contains("2026-04-02 10:30 UTC"));

    let unsub = token_after(
        raw,
        "List-Unsubscribe: <https://host.example/unsubscribe?token=",
    );
    let u = links.verify_unsubscribe(&unsub, Utc::now()).unwrap();
    assert_eq!(u.owner.as_str(), "owner-1");
    assert_eq!(
        u.topic,
        Some(NoticeTopic::Expired),
        "the email's own topic, not all"
    );
    let renew = token_after(&body, "https://host.example/renew?token=");
    let r = links.verify_renewal(&renew, Utc::now()).unwrap();
    assert_eq!(
        (r.account, r.kind),
        (notice.account_id, ConnectionKind::Consumer)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_down_is_transient_and_a_rejected_recipient_is_permanent() {
    let free = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let content = EmailContent::new("alerts@lightwidget.example", signer()).unwrap();
    let n = EmailNotifier::new("127.0.0.1", free, SmtpTls::Plain, None, content).unwrap();
    let e = n
        .deliver(&notice(), &Recipient::Email("paul@example.com".into()))
        .await
        .unwrap_err();
    assert!(e.is_transient(), "{e:?}");

    let (port, _sink) = smtp_server();
    let content = EmailContent::new("alerts@lightwidget.example", signer()).unwrap();
    let n = EmailNotifier::new("127.0.0.1", port, SmtpTls::Plain, None, content).unwrap();
    let e = n
        .deliver(&notice(), &Recipient::Email("reject@example.com".into()))
        .await
        .unwrap_err();
    assert!(!e.is_transient(), "550 is permanent: {e:?}");
}

#[tokio::test]
async fn eml_files_hold_the_same_message_once_per_notice() {
    let dir = std::env::temp_dir().join(format!("lw-eml-{}", uuid::Uuid::new_v4().simple()));
    let content = EmailContent::new("alerts@lightwidget.example", signer()).unwrap();
    let n = EmlFileNotifier::new(&dir, content).unwrap();
    let notice = notice();
    let to = Recipient::Email("paul@example.com".into());
    n.deliver(&notice, &to).await.unwrap();
    n.deliver(&notice, &to).await.unwrap();
    let files: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert_eq!(files.len(), 1, "a redelivery overwrites");
    let raw = std::fs::read_to_string(files[0].as_ref().unwrap().path()).unwrap();
    assert!(raw.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"));
}

#[test]
fn links_refuse_tampering_expiry_and_wrong_purpose() {
    let s = signer();
    let now = Utc::now();
    let n = notice();
    let tok = |u: url::Url| {
        u.query_pairs()
            .find(|(k, _)| k == "token")
            .unwrap()
            .1
            .into_owned()
    };
    let renew = tok(s.renewal_url(&n, now));
    let unsub = tok(s.unsubscribe_url(&n.owner, Some(NoticeTopic::Expired), now));
    assert_eq!(s.verify_renewal(&unsub, now), Err(LinkError::WrongPurpose));
    assert!(matches!(
        s.verify_unsubscribe(&renew, now),
        Err(LinkError::WrongPurpose)
    ));
    let mut t = unsub.clone();
    t.insert(3, 'x');
    assert_eq!(s.verify_unsubscribe(&t, now), Err(LinkError::Forged));
    let other = LinkSigner::new(
        "other".to_string().into(),
        "https://host.example/".parse().unwrap(),
    );
    assert_eq!(other.verify_renewal(&renew, now), Err(LinkError::Forged));
    assert_eq!(
        s.verify_renewal(&renew, now + TimeDelta::days(31)),
        Err(LinkError::Expired)
    );
    let u = s.verify_unsubscribe(&unsub, now).unwrap();
    assert_eq!(u.topic, Some(NoticeTopic::Expired));
    // Each link has its own id (what the store records to make it single-use).
    let again = tok(s.unsubscribe_url(&n.owner, Some(NoticeTopic::Expired), now));
    assert_ne!(
        s.verify_unsubscribe(&again, now).unwrap().link_id,
        u.link_id
    );
    assert!(!format!("{s:?}").contains("link-secret"));
}

#[test]
fn unsubscribe_links_work_for_as_long_as_the_email_may_be_read() {
    let s = signer();
    let now = Utc::now();
    let u = s.unsubscribe_url(&"owner-1".into(), None, now);
    let token = u
        .query_pairs()
        .find(|(k, _)| k == "token")
        .unwrap()
        .1
        .into_owned();
    let later = now + TimeDelta::days(3650);
    assert_eq!(
        s.verify_unsubscribe(&token, later).unwrap().owner.as_str(),
        "owner-1"
    );
    // Renewal links still expire.
    let renew = s.renewal_url(&notice(), now);
    let renew = renew
        .query_pairs()
        .find(|(k, _)| k == "token")
        .unwrap()
        .1
        .into_owned();
    assert_eq!(s.verify_renewal(&renew, later), Err(LinkError::Expired));
}

#[test]
fn links_keep_the_base_path_and_an_absurd_ttl_saturates() {
    let s = LinkSigner::new(
        "link-secret-value".to_string().into(),
        "https://host.example/widgets".parse().unwrap(),
    )
    .with_ttl(TimeDelta::MAX);
    let now = Utc::now();
    let u = s.renewal_url(&notice(), now);
    assert!(
        u.as_str()
            .starts_with("https://host.example/widgets/renew?token="),
        "{u}"
    );
    let token = u
        .query_pairs()
        .find(|(k, _)| k == "token")
        .unwrap()
        .1
        .into_owned();
    assert!(
        s.verify_renewal(&token, now + TimeDelta::days(36_500))
            .is_ok()
    );
    let u = s.unsubscribe_url(&"o".into(), None, now);
    assert!(
        u.as_str()
            .starts_with("https://host.example/widgets/unsubscribe?token="),
        "{u}"
    );
}

/// Every email's one-click link (the `List-Unsubscribe` header and the footer) turns off
/// the topic of that email: a break's the *Expired token notifications* topic whatever
/// broke, a warning its own. And every break is told in its own words, saying which
/// setting sent it.
#[test]
fn each_email_unsubscribes_from_its_own_topic_and_names_its_break() {
    let links = signer();
    let content = EmailContent::new("alerts@lightwidget.example", links.clone()).unwrap();
    let at = Utc.with_ymd_and_hms(2026, 5, 1, 0, 0, 0).unwrap();
    let cases = [
        (
            NoticeKind::Expired {
                reason: ExpiryReason::PasswordChanged,
            },
            NoticeTopic::Expired,
            "password was changed",
        ),
        (
            NoticeKind::Revoked,
            NoticeTopic::Expired,
            "The app was removed",
        ),
        (
            NoticeKind::Expired {
                reason: ExpiryReason::AppRemoved,
            },
            NoticeTopic::Expired,
            "The app was removed",
        ),
        (
            NoticeKind::Expired {
                reason: ExpiryReason::PermissionRemoved,
            },
            NoticeTopic::Expired,
            "A permission your widget needs was removed",
        ),
        (
            NoticeKind::Expired {
                reason: ExpiryReason::LifetimeEnded,
            },
            NoticeTopic::Expired,
            "end of its lifetime",
        ),
        (
            NoticeKind::ExpiringSoon { at },
            NoticeTopic::ExpiringSoon,
            "expires on 2026-05-01",
        ),
        (
            NoticeKind::DataAccessExpiring { at },
            NoticeTopic::DataAccessExpiring,
            "pause data access",
        ),
    ];
    for (kind, topic, words) in cases {
        let n = Notice { kind, ..notice() };
        let raw = String::from_utf8(content.message(&n, "paul@example.com").unwrap().formatted())
            .unwrap();
        let header = token_after(
            &raw,
            "List-Unsubscribe: <https://host.example/unsubscribe?token=",
        );
        let link = links.verify_unsubscribe(&header, Utc::now()).unwrap();
        assert_eq!(link.topic, Some(topic), "{kind:?}");
        let body = qp(&raw);
        assert!(body.contains(words), "{kind:?}: {body}");
        assert!(
            body.contains(&format!("you turned on {} notifications", topic.label())),
            "{kind:?}: {body}"
        );
        let footer = token_after(
            &body,
            "Unsubscribe with one click: https://host.example/unsubscribe?token=",
        );
        assert_eq!(
            links.verify_unsubscribe(&footer, Utc::now()).unwrap().topic,
            Some(topic)
        );
    }
}
