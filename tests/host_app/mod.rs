//! Shared by the tests that drive the host app example over real HTTP: the app on
//! `127.0.0.1:0` with the Graph sandbox and a manual clock, and a minimal cookie-keeping
//! HTTP client (reqwest, no redirects followed) that can play a browser or an attacker.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{SubsecRound, Utc};
use lightwidget::instagram::sandbox::Sandbox;
use lightwidget::*;
use reqwest::header::{HeaderMap, HeaderValue};
use url::Url;

use crate::{app, setup};

/// The app serving on loopback.
pub struct Site {
    pub base: Url,
    pub state: Arc<app::AppState>,
    pub sandbox: Sandbox,
    pub clock: ManualClock,
    pub keeper: Keeper,
    tmp: PathBuf,
    server: tokio::task::JoinHandle<()>,
}

impl Site {
    /// Starts the app (alice is on the Pro plan).
    pub async fn start() -> Self {
        let tmp = std::env::temp_dir().join(format!("lw-site-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&tmp).unwrap();
        let clock = ManualClock::new(Utc::now().trunc_subsecs(0));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base: Url = format!("http://{}/", listener.local_addr().unwrap())
            .parse()
            .unwrap();
        let opts = setup::Options {
            public_url: base.clone(),
            clock: Arc::new(clock.clone()),
            db_path: tmp.join("host.db"),
            entitled: vec!["alice".into()],
        };
        let (state, sandbox) = setup::with_sandbox(&opts).await.expect("app");
        let router = app::app(state.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        Self {
            base,
            keeper: state.keeper.clone(),
            state,
            sandbox,
            clock,
            tmp,
            server,
        }
    }

    /// An absolute URL of the app.
    pub fn url(&self, path: &str) -> Url {
        self.base.join(path).unwrap()
    }

    /// The app's origin, as a browser sends it in `Origin`.
    pub fn origin(&self) -> String {
        self.base.origin().ascii_serialization()
    }

    /// Which sandbox user logs in at the `kind` authorize dialog.
    pub fn sandbox_login_as(&self, kind: ConnectionKind, user_id: &str) {
        self.state
            .sandbox_login
            .lock()
            .unwrap()
            .insert(kind, user_id.to_owned());
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        self.server.abort();
        let _ = std::fs::remove_dir_all(&self.tmp);
    }
}

/// A response, read.
pub struct Page {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Page {
    /// The redirect target.
    pub fn location(&self) -> String {
        self.headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    }

    /// The first CSRF token in the page's forms.
    pub fn csrf(&self) -> String {
        let at = self
            .body
            .find("name=csrf value=\"")
            .unwrap_or_else(|| panic!("no CSRF field in:\n{}", self.body));
        let rest = &self.body[at + "name=csrf value=\"".len()..];
        rest[..rest.find('"').unwrap()].to_owned()
    }
}

/// A cookie-keeping client. `same_origin` decides the Fetch Metadata and Origin headers it
/// sends with POSTs: a page of the site itself, or another site's page.
pub struct Client {
    http: reqwest::Client,
    pub cookies: BTreeMap<String, String>,
    origin: String,
    cross_site: bool,
}

impl Client {
    /// A browser on the site's own pages.
    pub fn browser(site: &Site) -> Self {
        Self::new(site.origin(), false)
    }

    /// A browser on the pages of the site at `base`.
    pub fn new_for(base: &Url) -> Self {
        Self::new(base.origin().ascii_serialization(), false)
    }

    /// A browser submitting a form from another site's page.
    pub fn cross_site() -> Self {
        Self::new("http://evil.example".into(), true)
    }

    fn new(origin: String, cross_site: bool) -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: BTreeMap::new(),
            origin,
            cross_site,
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn read(&mut self, r: reqwest::Response) -> Page {
        for v in r.headers().get_all("set-cookie") {
            let v = v.to_str().unwrap();
            let (pair, attrs) = v.split_once(';').unwrap_or((v, ""));
            let (k, val) = pair.split_once('=').unwrap();
            if attrs.contains("Max-Age=0") || val.is_empty() {
                self.cookies.remove(k.trim());
            } else {
                self.cookies
                    .insert(k.trim().to_owned(), val.trim().to_owned());
            }
        }
        Page {
            status: r.status().as_u16(),
            headers: r.headers().clone(),
            body: r.text().await.unwrap(),
        }
    }

    /// GET with the cookies.
    pub async fn get(&mut self, url: impl reqwest::IntoUrl) -> Page {
        let r = self
            .http
            .get(url)
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        self.read(r).await
    }

    /// POST a form with the cookies, from this client's page.
    pub async fn post(&mut self, url: impl reqwest::IntoUrl, form: &[(&str, &str)]) -> Page {
        let site = if self.cross_site {
            "cross-site"
        } else {
            "same-origin"
        };
        let r = self
            .http
            .post(url)
            .header("cookie", self.cookie_header())
            .header("origin", HeaderValue::from_str(&self.origin).unwrap())
            .header("sec-fetch-site", site)
            .form(form)
            .send()
            .await
            .unwrap();
        self.read(r).await
    }

    /// Logs in with the stand-in form, as a person would: GET the page, POST its form.
    pub async fn login(&mut self, site: &Site, user: &str) -> Page {
        let csrf = self.get(site.url("")).await.csrf();
        let r = self
            .post(site.url("login"), &[("csrf", &csrf), ("user", user)])
            .await;
        assert_eq!(r.status, 303, "login: {}", r.body);
        r
    }

    /// The CSRF token of the signed-in session (from a page's form).
    pub async fn csrf(&mut self, site: &Site) -> String {
        self.get(site.url("accounts")).await.csrf()
    }

    /// Follows redirects by hand (keeping cookies) until a non-redirect answer.
    pub async fn follow(&mut self, mut page: Page, base: &Url) -> Page {
        for _ in 0..10 {
            if !(300..400).contains(&page.status) {
                return page;
            }
            let to = base.join(&page.location()).unwrap();
            page = self.get(to).await;
        }
        panic!("redirect loop");
    }
}
