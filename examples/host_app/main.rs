//! A host web app (axum) on top of lightwidget: Accounts, My access token, Settings,
//! the access token page that works without logging in, one-click unsubscribe,
//! deauthorize and data-deletion callbacks, and developer invitation links.
//!
//! ```text
//! cargo run --example host_app --features sandbox,sqlite,email
//! # then open http://127.0.0.1:8080/ and log in as alice (a stand-in login, no password)
//! ```
//!
//! By default it starts the Graph API sandbox in-process (test users `paul`, consumer,
//! `holiday.pics`, a personal account, and `best.of.instagram`, business, "log in" at the
//! sandbox's dialog pages, where a permission can be unticked or the dialog cancelled).
//! The login page has three ways in: the email stand-in (alice, bob), *Login with
//! Instagram* and *Login with Facebook*. To use the real
//! Graph API set `LIGHTWIDGET_CONSUMER_APP_ID`, `LIGHTWIDGET_CONSUMER_APP_SECRET`,
//! `LIGHTWIDGET_CONSUMER_REDIRECT_URI` (and the same with `LIGHTWIDGET_BUSINESS_`), with
//! redirect URIs `{LIGHTWIDGET_PUBLIC_URL}oauth/callback`.
//!
//! Other settings: `LIGHTWIDGET_LISTEN` (default `127.0.0.1:8080`),
//! `LIGHTWIDGET_PUBLIC_URL` (default `http://{listen}/`), `LIGHTWIDGET_DB` (default
//! `host-app.db`), `LIGHTWIDGET_PRO_OWNERS` (comma-separated owners entitled to
//! notifications, default `alice`).

mod app;
mod setup;

use std::sync::Arc;

use lightwidget::*;

#[tokio::main]
async fn main() -> Result<(), setup::BoxError> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LIGHTWIDGET_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let listen = std::env::var("LIGHTWIDGET_LISTEN").unwrap_or_else(|_| "127.0.0.1:8080".into());
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    let public_url: url::Url = match std::env::var("LIGHTWIDGET_PUBLIC_URL") {
        Ok(u) => u.parse()?,
        Err(_) => format!("http://{}/", listener.local_addr()?).parse()?,
    };
    let opts = setup::Options {
        public_url: public_url.clone(),
        clock: Arc::new(SystemClock),
        db_path: std::env::var("LIGHTWIDGET_DB")
            .unwrap_or_else(|_| "host-app.db".into())
            .into(),
        entitled: std::env::var("LIGHTWIDGET_PRO_OWNERS")
            .unwrap_or_else(|_| "alice".into())
            .split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect(),
    };
    let real = std::env::var_os("LIGHTWIDGET_CONSUMER_APP_ID").is_some();
    // Keep the sandbox alive as long as the app.
    let (state, _sandbox) = if real {
        println!("Graph API: the real one (app ids from the environment)");
        (setup::with_graph(&opts).await?, None)
    } else {
        let (state, sandbox) = setup::with_sandbox(&opts).await?;
        let paul = sandbox.create_consumer_user("paul");
        let shop = sandbox.create_business_user("best.of.instagram");
        // Chosen at the sandbox dialog: the personal account Meta no longer supports.
        let _personal = sandbox.create_personal_user("holiday.pics");
        state
            .sandbox_dialog
            .store(true, std::sync::atomic::Ordering::Relaxed);
        {
            let mut login = state
                .sandbox_login
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            login.insert(ConnectionKind::Consumer, paul.id.clone());
            login.insert(ConnectionKind::Business, shop.id.clone());
        }
        println!("Graph API: sandbox at {}", sandbox.base_url());
        println!(
            "  the authorize dialogs log in @paul (consumer) or @holiday.pics (personal) and \
@best.of.instagram (business); untick a permission or cancel there to see the errors"
        );
        (state, Some(sandbox))
    };
    for owner in ["alice", "bob"] {
        for n in [101, 102] {
            let o = OwnerId::new(owner);
            state.queue.push_back(&o, format!("widget #{n} of {owner}"));
            state.widgets.add(&o, n, format!("widget #{n}"));
        }
    }

    let keeper = state.keeper.clone();
    let background = tokio::spawn(async move {
        keeper
            .run(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
    });
    println!("LightWidget host app on {public_url}  (Ctrl-C to stop)");
    axum::serve(listener, app::app(state))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    background.await??;
    Ok(())
}
