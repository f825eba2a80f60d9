//! The host app's widget preview over real HTTP: posts come through the keeper's Graph
//! gateway, the last successful check moves, and the sandbox control breaks the account
//! so the next preview shows NOT ACTIVE and the owner's notice.

#[allow(dead_code)]
#[path = "../examples/host_app/app/mod.rs"]
mod app;
#[allow(dead_code)]
mod host_app;
#[allow(dead_code)]
#[path = "../examples/host_app/setup.rs"]
mod setup;

use chrono::TimeDelta;
use host_app::{Client, Site};
use lightwidget::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_preview_goes_through_the_gateway_and_the_sandbox_can_break_the_account() {
    let site = Site::start().await;
    let paul = site.sandbox.create_consumer_user("paul.preview");
    let id = site
        .keeper
        .connect(
            NewAccount::new("alice", ConnectionKind::Consumer, &paul.id, "paul.preview")
                .with_entitlements(Entitlements {
                    notifications: true,
                }),
            site.sandbox.issue_consumer_token(&paul, TimeDelta::days(2)),
        )
        .await
        .unwrap();
    site.keeper
        .set_preferences(
            &Preferences::new("alice")
                .opt_in_all()
                .with_recipient(Recipient::Email("alice@shop.example".into())),
        )
        .await
        .unwrap();
    let before = site.keeper.status(id).await.unwrap().last_checked_at;
    site.clock.advance(TimeDelta::hours(2));

    let mut alice = Client::browser(&site);
    alice.login(&site, "alice").await;
    let accounts = alice.get(site.url("accounts")).await;
    assert!(accounts.body.contains(&format!("/accounts/{id}/preview")));
    let page = alice.get(site.url(&format!("accounts/{id}/preview"))).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("id=posts"), "{}", page.body);
    assert!(
        page.body.contains("class=media"),
        "posts listed: {}",
        page.body
    );
    let after = site.keeper.status(id).await.unwrap().last_checked_at;
    assert!(
        after > before,
        "the preview moved the last check: {before:?} -> {after:?}"
    );
    assert_eq!(after, Some(site.clock.now()));

    // Another owner cannot preview or break alice's account.
    let mut bob = Client::browser(&site);
    bob.login(&site, "bob").await;
    let p = bob.get(site.url(&format!("accounts/{id}/preview"))).await;
    assert_eq!(p.status, 404);
    let csrf = bob.csrf(&site).await;
    let p = bob
        .post(
            site.url(&format!("accounts/{id}/sandbox-break")),
            &[("csrf", &csrf), ("reason", "password_changed")],
        )
        .await;
    assert_eq!(p.status, 404);
    assert!(site.keeper.status(id).await.unwrap().status.is_active());

    // Alice breaks it in the sandbox; the next preview finds out at once.
    let csrf = alice.csrf(&site).await;
    let p = alice
        .post(
            site.url(&format!("accounts/{id}/sandbox-break")),
            &[("csrf", &csrf), ("reason", "bogus")],
        )
        .await;
    assert_eq!(p.status, 404, "unknown reasons are refused");
    let p = alice
        .post(
            site.url(&format!("accounts/{id}/sandbox-break")),
            &[("csrf", &csrf), ("reason", "password_changed")],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    let page = alice.get(site.url(&format!("accounts/{id}/preview"))).await;
    assert!(page.body.contains("NOT ACTIVE"), "{}", page.body);
    assert!(page.body.contains("preview-error"), "{}", page.body);
    let s = site.keeper.status(id).await.unwrap();
    assert_eq!(s.status.reason(), Some(ExpiryReason::PasswordChanged));
    site.keeper.dispatch_outbox().await.unwrap();
    let inbox = alice.get(site.url("inbox")).await;
    assert!(inbox.body.contains("paul.preview"), "{}", inbox.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_accounts_page_shows_failures_in_words_and_a_removed_permission_as_not_active() {
    let site = Site::start().await;
    let paul = site.sandbox.create_consumer_user("paul.perms");
    let id = site
        .keeper
        .connect(
            NewAccount::new("alice", ConnectionKind::Consumer, &paul.id, "paul.perms")
                .with_entitlements(Entitlements {
                    notifications: true,
                }),
            site.sandbox.issue_consumer_token(&paul, TimeDelta::days(2)),
        )
        .await
        .unwrap();
    // Alice wants break notices only (a removed permission is one).
    site.keeper
        .set_preferences(
            &Preferences::new("alice")
                .opt_in(NoticeTopic::Expired)
                .with_recipient(Recipient::Email("alice@shop.example".into())),
        )
        .await
        .unwrap();
    let mut alice = Client::browser(&site);
    alice.login(&site, "alice").await;
    let csrf = alice.csrf(&site).await;

    // Throttled: the keeper's next check fails, is retried, and the page says so in words.
    let p = alice
        .post(
            site.url(&format!("accounts/{id}/sandbox-break")),
            &[("csrf", &csrf), ("reason", "rate_limited")],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    site.clock.advance(TimeDelta::hours(13));
    site.keeper.sweep().await.unwrap();
    let s = site.keeper.status(id).await.unwrap();
    assert!(s.status.is_active(), "a rate limit never ends a token");
    assert_eq!(s.failures, 1);
    let page = alice.get(site.url("accounts")).await;
    assert!(page.body.contains("1 failed attempt"), "{}", page.body);
    assert!(page.body.contains("slow down"), "{}", page.body);
    assert!(
        !page
            .body
            .contains(s.last_error.as_deref().unwrap_or("IGAA")),
        "Graph's raw text is not shown"
    );

    // The owner unticks a permission: the next check ends the token, NOT ACTIVE, with
    // its own reason and one notice of its own topic.
    site.sandbox.heal(&paul);
    let p = alice
        .post(
            site.url(&format!("accounts/{id}/sandbox-break")),
            &[("csrf", &csrf), ("reason", "permission_removed")],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    site.clock.advance(TimeDelta::hours(13));
    site.keeper.sweep().await.unwrap();
    // Ambiguous (the owner's permission or the app's capability): held, ACTIVE, until
    // the re-check a window later confirms it is this account's own.
    let s = site.keeper.status(id).await.unwrap();
    assert!(s.status.is_active() && s.hold.is_some(), "{s:?}");
    site.clock.advance(TimeDelta::minutes(61));
    site.keeper.sweep().await.unwrap();
    let s = site.keeper.status(id).await.unwrap();
    assert_eq!(s.status.reason(), Some(ExpiryReason::PermissionRemoved));
    let page = alice.get(site.url("accounts")).await;
    assert!(page.body.contains("status bad\">Expired"), "{}", page.body);
    assert!(page.body.contains("permission"), "{}", page.body);
    let report = site.keeper.dispatch_outbox().await.unwrap();
    assert_eq!(report.sent, 1, "{report:?}");
    let inbox = alice.get(site.url("inbox")).await;
    assert!(inbox.body.contains("lost a permission"), "{}", inbox.body);
    assert!(
        inbox
            .body
            .contains("you turned on expired token notifications"),
        "{}",
        inbox.body
    );
}
