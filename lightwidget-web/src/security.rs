//! What every request and response goes through: the cross-site POST check, the body
//! cap, and the security headers.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::Response;
use url::Url;

use crate::Web;
use crate::viewer::forbidden;

/// Form bodies larger than this are refused with 413.
pub const MAX_FORM_BYTES: usize = 16 * 1024;

/// POSTs that come from elsewhere by design, each authenticated by its own signature:
/// Meta's callbacks (`signed_request`) and RFC 8058 one-click unsubscribe (signed link).
const SIGNED_ENDPOINTS: &[&str] = &["/deauthorize", "/data-deletion", "/unsubscribe"];

/// The policy: no script at all, styles and images from the app only, forms only to
/// the app and the OAuth dialogs (a form's redirect to them counts), never framed.
pub fn content_security_policy(oauth_dialogs: &[Url]) -> HeaderValue {
    let mut form_action = String::from("'self'");
    for u in oauth_dialogs {
        let o = u.origin().ascii_serialization();
        if o != "null" && !form_action.contains(&o) {
            form_action.push(' ');
            form_action.push_str(&o);
        }
    }
    // Widget previews show Instagram's CDN images (and the sandbox's, on loopback).
    let mut img_src = String::from("'self' https://*.cdninstagram.com https://*.fbcdn.net");
    for u in oauth_dialogs {
        let o = u.origin().ascii_serialization();
        if o != "null" && o.starts_with("http://127.0.0.1") && !img_src.contains(&o) {
            img_src.push(' ');
            img_src.push_str(&o);
        }
    }
    HeaderValue::from_str(&format!(
        "default-src 'none'; style-src 'self'; img-src {img_src}; form-action {form_action}; \
frame-ancestors 'none'; base-uri 'none'"
    ))
    .expect("origins are ASCII")
}

fn same_origin(headers: &HeaderMap, public_url: &Url) -> bool {
    // Browsers that send Fetch Metadata say where the request came from.
    if let Some(site) = headers.get("sec-fetch-site") {
        return matches!(site.to_str(), Ok("same-origin" | "none"));
    }
    // Otherwise the Origin header, when there is one, must be ours.
    match headers.get(header::ORIGIN).map(HeaderValue::to_str) {
        Some(Ok(o)) => o == public_url.origin().ascii_serialization(),
        Some(Err(_)) => false,
        None => true,
    }
}

/// Whether cookies get `Secure` and `__Host-` names: over HTTPS, and on loopback (which
/// browsers treat as a secure context). Plain HTTP elsewhere is for development only.
pub fn secure_cookies(public_url: &Url) -> bool {
    public_url.scheme() == "https"
        || match public_url.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            Some(url::Host::Domain(d)) => d == "localhost",
            None => false,
        }
}

/// [`same_origin_posts`] with no exemption: for the host's own routes
/// ([`crate::Web::protect`]).
pub(crate) async fn same_origin_all(State(s): State<Web>, req: Request, next: Next) -> Response {
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if !safe && !same_origin(req.headers(), &s.public_url) {
        tracing::warn!(path = %req.uri().path(), "cross-site request refused");
        return forbidden();
    }
    next.run(req).await
}

/// Refuses a state-changing request sent by another site (403) before any handler runs;
/// the per-session CSRF token ([`crate::CsrfForm`]) is checked after it.
pub(crate) async fn same_origin_posts(State(s): State<Web>, req: Request, next: Next) -> Response {
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if !safe
        && !SIGNED_ENDPOINTS.contains(&req.uri().path())
        && !same_origin(req.headers(), &s.public_url)
    {
        tracing::warn!(path = %req.uri().path(), "cross-site request refused");
        return forbidden();
    }
    next.run(req).await
}

/// Adds the security headers to every response (pages, errors, callbacks alike).
pub(crate) async fn security_headers(State(s): State<Web>, req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, s.csp.clone());
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // OAuth codes and signed links in URLs must not leak to other sites.
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    // Pages show account data: never cached (the stylesheet says otherwise itself).
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}
