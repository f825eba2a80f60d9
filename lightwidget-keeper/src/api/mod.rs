//! The management API under `/v1`, for a backend in any language: JSON in and out,
//! RFC 9457 problem details for every error, API keys with scopes, a request limit per
//! key, and the OpenAPI 3.1 document generated from this code at `/v1/openapi.json`.
//!
//! | scope | operations |
//! |---|---|
//! | `read` | status, history, owners, the feed through the Graph gateway |
//! | `write` | also connect and import, refresh, disconnect, preferences, links |
//! | `admin` | also incidents and deleting an account's data |

pub mod dto;
mod handlers;
pub mod keys;
pub mod problem;

use std::num::NonZeroU32;
use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use lightwidget::Keeper;
use lightwidget_web::Web;
use serde::de::DeserializeOwned;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

use keys::{KeyRecord, Keys, Refused, Scope};
pub use problem::Problem;

/// The largest request body the API reads (an import of 1000 accounts fits).
pub const MAX_BODY: usize = 2 * 1024 * 1024;

/// What every `/v1` handler shares.
#[derive(Clone)]
pub struct ApiState {
    keeper: Keeper,
    keys: Arc<Keys>,
    limiter: Arc<DefaultKeyedRateLimiter<String>>,
    web: Option<Web>,
    public_url: url::Url,
}

impl ApiState {
    /// The API over `keeper`, allowing `per_second` requests per key (bursts of twice
    /// that); `web` serves the links it hands out, at `public_url`.
    pub fn new(keeper: Keeper, per_second: u32, web: Option<Web>, public_url: url::Url) -> Self {
        let rate = NonZeroU32::new(per_second.max(1)).unwrap_or(NonZeroU32::MIN);
        let burst = rate.saturating_mul(NonZeroU32::new(2).unwrap_or(NonZeroU32::MIN));
        Self {
            keeper,
            keys: Arc::new(Keys::default()),
            limiter: Arc::new(RateLimiter::keyed(
                Quota::per_second(rate).allow_burst(burst),
            )),
            web,
            public_url,
        }
    }
}

/// A JSON body, refused as problem details when it is not what the operation takes.
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = Problem;
    async fn from_request(req: Request, state: &S) -> Result<Self, Problem> {
        let json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                let v = v.trim().to_ascii_lowercase();
                v == "application/json" || v.starts_with("application/json;")
            });
        if !json {
            return Err(Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "send the body as Content-Type: application/json",
            ));
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| match e.status() {
                StatusCode::PAYLOAD_TOO_LARGE => Problem::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body-too-large",
                    format!("the body is larger than {MAX_BODY} bytes"),
                ),
                _ => Problem::bad_request(format!("the body could not be read: {e}")),
            })?;
        serde_json::from_slice(&bytes).map(Body).map_err(|e| {
            Problem::bad_request(format!(
                "the JSON body is not what this operation takes: {e}"
            ))
        })
    }
}

/// Query parameters, refused as problem details when malformed.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = Problem;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Problem> {
        let q = parts.uri.query().unwrap_or_default();
        serde_urlencoded::from_str(q)
            .map(Query)
            .map_err(|e| Problem::bad_request(format!("query parameters: {e}")))
    }
}

/// The one path parameter, as text (each handler checks its form).
pub struct Segment(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Segment {
    type Rejection = Problem;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        axum::extract::Path::<String>::from_request_parts(parts, state)
            .await
            .map(|p| Segment(p.0))
            .map_err(|e| Problem::bad_request(format!("path: {e}")))
    }
}

/// Two path parameters, as text.
pub struct Segments(pub String, pub String);

impl<S: Send + Sync> FromRequestParts<S> for Segments {
    type Rejection = Problem;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        axum::extract::Path::<(String, String)>::from_request_parts(parts, state)
            .await
            .map(|p| Segments(p.0.0, p.0.1))
            .map_err(|e| Problem::bad_request(format!("path: {e}")))
    }
}

/// The bearer key of a request, if any.
fn bearer(parts: &axum::http::HeaderMap) -> Option<&str> {
    let v = parts.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, key) = v.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| key.trim())
}

/// Checks the key, its scope and its request budget.
async fn authorize(
    State((api, needs)): State<(ApiState, Scope)>,
    mut req: Request,
    next: Next,
) -> Response {
    let Some(presented) = bearer(req.headers()) else {
        return Problem::unauthorized().into_response();
    };
    let key: KeyRecord = match api.keys.check(&api.keeper, presented).await {
        Ok(k) => k,
        Err(Refused::Unknown) => return Problem::unauthorized().into_response(),
        Err(Refused::Busy) => {
            let mut p = Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate-limited",
                "too many unknown keys were presented just now; retry in a second",
            );
            p.retry_at = Some(chrono::Utc::now() + chrono::TimeDelta::seconds(1));
            return p.into_response();
        }
        Err(Refused::Unavailable(m)) => {
            tracing::warn!(error = %m, "an API key could not be checked: store unavailable");
            return Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the key could not be checked (the store is unavailable); retry",
            )
            .into_response();
        }
    };
    if key.scope < needs {
        return Problem::new(
            StatusCode::FORBIDDEN,
            "insufficient-scope",
            format!(
                "this operation needs a {} key; key {} is {}",
                needs.as_str(),
                key.id,
                key.scope.as_str()
            ),
        )
        .into_response();
    }
    if let Err(not_until) = api.limiter.check_key(&key.id) {
        let wait = not_until.wait_time_from(governor::clock::Clock::now(
            &governor::clock::DefaultClock::default(),
        ));
        let mut p = Problem::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate-limited",
            format!(
                "key {} made too many requests; retry after {} ms",
                key.id,
                wait.as_millis()
            ),
        );
        p.retry_at = chrono::TimeDelta::from_std(wait)
            .ok()
            .map(|d| chrono::Utc::now() + d);
        return p.into_response();
    }
    req.extensions_mut().insert(key);
    next.run(req).await
}

/// The OpenAPI document of `/v1`, generated from the handlers and their types.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "lightwidget keeper API",
        version = "1",
        description = "Keeps Instagram / Facebook Graph API tokens alive for a backend in any language. \
Every error is RFC 9457 problem details (application/problem+json). Authenticate with `Authorization: Bearer lwk_…` \
(keys are created with `lightwidget-keeper keys create`)."
    ),
    paths(
        handlers::create_account, handlers::import_accounts, handlers::get_account,
        handlers::account_history, handlers::refresh_account, handlers::delete_account,
        handlers::account_profile, handlers::account_media, handlers::get_owner,
        handlers::put_preferences, handlers::owner_accounts, handlers::owner_account,
        handlers::owner_history, handlers::leave, handlers::create_link, handlers::redeem_login,
        handlers::incidents,
    ),
    components(schemas(Problem)),
    modifiers(&Common),
    security(("api_key" = [])),
    tags(
        (name = "accounts", description = "Connected accounts and their tokens"),
        (name = "owners", description = "Owners: their accounts, preferences and links"),
        (name = "feed", description = "The Graph gateway: the feed without holding a token"),
        (name = "operations", description = "Incidents"),
    )
)]
pub struct ApiDoc;

/// Adds the security scheme and the error responses every operation can give.
struct Common;

impl utoipa::Modify for Common {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let comps = doc.components.get_or_insert_with(Default::default);
        comps.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("lwk_<id>_<secret>")
                    .build(),
            ),
        );
        let problem = || {
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .build()
        };
        let errors = [
            ("400", "malformed request"),
            ("401", "no valid API key"),
            ("403", "the key's scope does not allow this"),
            ("404", "no such account or owner's account"),
            (
                "409",
                "conflict: already connected, a stale token, or the account is not active",
            ),
            ("413", "body too large"),
            ("415", "the body is not JSON"),
            ("422", "the input was refused"),
            ("429", "too many requests for this key"),
            ("500", "the keeper failed (the cause is in its log)"),
            ("501", "not configured"),
            ("502", "the Graph API failed or refused"),
            (
                "503",
                "the store is unavailable, or Graph throttles this account",
            ),
        ];
        for (path, item) in doc.paths.paths.iter_mut() {
            for (method, op) in [
                ("GET", &mut item.get),
                ("POST", &mut item.post),
                ("PUT", &mut item.put),
                ("DELETE", &mut item.delete),
            ] {
                let Some(op) = op else { continue };
                let scope = scope_of(method, path).as_str();
                let text = op.description.get_or_insert_with(String::new);
                text.push_str(&format!("\n\nAPI key scope: `{scope}` (or wider)."));
                op.extensions
                    .get_or_insert_with(Default::default)
                    .insert("x-required-scope".into(), scope.into());
                for (code, what) in errors {
                    op.responses
                        .responses
                        .entry(code.to_owned())
                        .or_insert_with(|| {
                            ResponseBuilder::new()
                                .description(what)
                                .content("application/problem+json", problem())
                                .into()
                        });
                }
            }
        }
    }
}

/// The scope an operation needs (the router below and the document agree through this).
fn scope_of(method: &str, path: &str) -> Scope {
    match (method, path) {
        ("GET", "/v1/incidents") | ("DELETE", "/v1/accounts/{id}") => Scope::Admin,
        ("GET", _) => Scope::Read,
        _ => Scope::Write,
    }
}

/// The `/v1` router.
pub fn router(api: ApiState) -> Router {
    let scoped = |scope: Scope, r: Router<ApiState>| {
        r.route_layer(from_fn_with_state((api.clone(), scope), authorize))
    };
    let read = Router::new()
        .route("/v1/accounts/{id}", get(handlers::get_account))
        .route("/v1/accounts/{id}/history", get(handlers::account_history))
        .route("/v1/accounts/{id}/profile", get(handlers::account_profile))
        .route("/v1/accounts/{id}/media", get(handlers::account_media))
        .route("/v1/owners/{owner}", get(handlers::get_owner))
        .route("/v1/owners/{owner}/accounts", get(handlers::owner_accounts))
        .route(
            "/v1/owners/{owner}/accounts/{id}",
            get(handlers::owner_account),
        )
        .route(
            "/v1/owners/{owner}/accounts/{id}/history",
            get(handlers::owner_history),
        );
    let write = Router::new()
        .route("/v1/accounts", post(handlers::create_account))
        .route("/v1/accounts/import", post(handlers::import_accounts))
        .route("/v1/accounts/{id}/refresh", post(handlers::refresh_account))
        .route(
            "/v1/owners/{owner}/preferences",
            put(handlers::put_preferences),
        )
        .route("/v1/owners/{owner}/accounts/{id}", delete(handlers::leave))
        .route("/v1/owners/{owner}/links", post(handlers::create_link))
        .route("/v1/logins/{code}", post(handlers::redeem_login));
    let admin = Router::new()
        .route("/v1/incidents", get(handlers::incidents))
        .route("/v1/accounts/{id}", delete(handlers::delete_account));
    let spec = ApiDoc::openapi().to_json().unwrap_or_default();
    Router::new()
        .merge(scoped(Scope::Read, read))
        .merge(scoped(Scope::Write, write))
        .merge(scoped(Scope::Admin, admin))
        .route(
            "/v1/openapi.json",
            get(move || async move { ([(header::CONTENT_TYPE, "application/json")], spec) }),
        )
        .fallback(|| async { Problem::not_found("no such operation") })
        .method_not_allowed_fallback(|| async {
            Problem::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "this path does not take this method (see /v1/openapi.json)",
            )
        })
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(api)
}
