//! RFC 9457 problem details (`application/problem+json`): every error the API returns.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use lightwidget::Error;
use lightwidget::gateway::GatewayError;
use serde::Serialize;
use utoipa::ToSchema;

/// An error, as RFC 9457 problem details.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem (`urn:lightwidget:problem:<code>`).
    #[serde(rename = "type")]
    pub kind: String,
    /// A short summary of the kind of problem.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What happened, in words.
    pub detail: String,
    /// The machine-readable code (the last part of `type`).
    pub code: String,
    /// Why the account's token stopped working, where that is the problem
    /// (`password_changed`, `app_removed`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When to try again (RFC 3339), for throttled calls.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl Problem {
    /// A problem with `status`, `code` and `detail`.
    pub fn new(status: StatusCode, code: &str, detail: impl Into<String>) -> Self {
        Self {
            kind: format!("urn:lightwidget:problem:{code}"),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            code: code.to_owned(),
            reason: None,
            retry_at: None,
        }
    }

    /// 400 `bad-request`.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad-request", detail)
    }

    /// 404 `not-found`.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", detail)
    }

    /// 401 `unauthorized`.
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "an API key is required: `Authorization: Bearer lwk_…` (create one with `lightwidget-keeper keys create`)",
        )
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let retry = self.retry_at.map(|at| {
            (at - chrono::Utc::now())
                .num_seconds()
                .clamp(1, 86_400)
                .to_string()
        });
        let mut r = (status, axum::Json(&self)).into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(secs) = retry.and_then(|s| HeaderValue::from_str(&s).ok()) {
            r.headers_mut().insert(header::RETRY_AFTER, secs);
        }
        if status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"lightwidget\""),
            );
        }
        r
    }
}

impl From<Error> for Problem {
    fn from(e: Error) -> Self {
        let detail = e.to_string();
        match e {
            Error::UnknownAccount(_) => Self::not_found(detail),
            Error::NotConnected { .. } => Self::new(StatusCode::NOT_FOUND, "not-connected", detail),
            Error::StaleToken { .. } => Self::new(StatusCode::CONFLICT, "stale-token", detail),
            Error::AlreadyConnected { .. } => {
                Self::new(StatusCode::CONFLICT, "already-connected", detail)
            }
            Error::InvalidInput(_) | Error::InvalidToken(_) | Error::InvalidAccount(_) => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid-input", detail)
            }
            ref e if e.is_transient() => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                format!("{detail}; retry"),
            ),
            Error::ShuttingDown => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", detail)
            }
            other => {
                // Not the caller's doing and not passing: logged whole, answered plainly.
                tracing::error!(error = %other, "API request failed");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "the keeper failed on this request; the cause is in its log",
                )
            }
        }
    }
}

impl From<GatewayError> for Problem {
    fn from(e: GatewayError) -> Self {
        let detail = e.to_string();
        match e {
            GatewayError::NotActive { status, .. } => {
                let mut p = Self::new(StatusCode::CONFLICT, "not-active", detail);
                p.reason = status.reason().map(|r| r.code());
                p
            }
            GatewayError::Throttled { until, .. } => {
                let mut p = Self::new(StatusCode::SERVICE_UNAVAILABLE, "throttled", detail);
                p.retry_at = Some(until);
                p
            }
            GatewayError::Transient { .. } => {
                Self::new(StatusCode::BAD_GATEWAY, "graph-unavailable", detail)
            }
            GatewayError::Refused { .. } | GatewayError::Unexpected { .. } => {
                Self::new(StatusCode::BAD_GATEWAY, "graph-refused", detail)
            }
            GatewayError::InvalidRequest(_) => Self::bad_request(detail),
            GatewayError::Keeper(e) => e.into(),
            _ => Self::new(StatusCode::BAD_GATEWAY, "graph-refused", detail),
        }
    }
}
