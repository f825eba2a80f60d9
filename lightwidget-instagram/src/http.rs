//! The HTTP core shared by both clients: one keep-alive `reqwest::Client`, timeouts, a
//! cap on body size, usage-header throttling, and classification of failures.

use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use lightwidget_core::ProviderError;
use reqwest::header::HeaderMap;
use serde::de::DeserializeOwned;

use crate::classify::{classify_response, parse_error};
use crate::usage::usage_from_headers;
use crate::{Error, GraphConfig};

pub(crate) struct Http {
    pub(crate) client: reqwest::Client,
    pub(crate) cfg: GraphConfig,
    throttled_until: Mutex<Option<DateTime<Utc>>>,
}

impl Http {
    pub(crate) fn new(cfg: GraphConfig) -> Result<Self, Error> {
        let client = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .connect_timeout(cfg.connect_timeout)
            .user_agent(cfg.user_agent.clone())
            .redirect(reqwest::redirect::Policy::none())
            .pool_idle_timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| Error::Config(format!("HTTP client: {}", e.without_url())))?;
        Ok(Self {
            client,
            cfg,
            throttled_until: Mutex::new(None),
        })
    }

    fn throttle_left(&self) -> Option<Duration> {
        let g = self
            .throttled_until
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let now = self.cfg.clock.now();
        g.and_then(|t| (t - now).to_std().ok())
            .filter(|d| !d.is_zero())
    }

    /// Records a throttle when usage is above the threshold; returns Meta's
    /// regain time, if any.
    fn note_usage(&self, headers: &HeaderMap) -> Option<Duration> {
        let u = usage_from_headers(headers)?;
        if u.max_percent < self.cfg.usage_threshold {
            return u.regain;
        }
        let wait = u.regain.unwrap_or(self.cfg.default_throttle);
        if self.pause(wait) {
            tracing::warn!(
                percent = u.max_percent,
                wait_secs = wait.as_secs(),
                "Graph API usage high: pausing calls"
            );
        }
        Some(wait)
    }

    /// Pauses every call of this client for `wait`; `true` if it was not paused yet.
    fn pause(&self, wait: Duration) -> bool {
        let now = self.cfg.clock.now();
        let until = now + TimeDelta::from_std(wait).unwrap_or(TimeDelta::hours(1));
        let mut g = self
            .throttled_until
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let was_paused = g.is_some_and(|t| t > now);
        *g = Some(g.map_or(until, |t| t.max(until)));
        !was_paused
    }

    /// Sends a request and decodes a JSON success body.
    pub(crate) async fn send<T: DeserializeOwned>(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<T, ProviderError> {
        let (status, body) = self.send_raw(req).await?;
        serde_json::from_slice(&body).map_err(|e| ProviderError::Transient {
            retry_after: None,
            message: format!("malformed JSON in a {status} response: {e}"),
        })
    }

    /// Sends a request and returns the status and body of a success (2xx); failures
    /// classified, usage headers noted, the throttle honoured.
    pub(crate) async fn send_raw(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<(u16, Vec<u8>), ProviderError> {
        if let Some(left) = self.throttle_left() {
            return Err(ProviderError::RateLimited {
                retry_after: Some(left),
                message: "Graph API usage above the threshold: calls paused".into(),
            });
        }
        let resp = req.send().await.map_err(transport)?;
        let status = resp.status().as_u16();
        let regain = self.note_usage(resp.headers());
        let body = read_capped(resp, self.cfg.max_body).await?;
        if (200..300).contains(&status) {
            return Ok((status, body));
        }
        let err = classify_response(status, &body, regain);
        // Code 4 is the app-wide limit: every further call would only extend the block,
        // so the whole client pauses (other limits are per user, Page or account).
        if let ProviderError::RateLimited { retry_after, .. } = &err
            && parse_error(&body).is_some_and(|e| e.code == 4)
            && self.pause(retry_after.unwrap_or(self.cfg.default_throttle))
        {
            tracing::warn!("Graph API app rate limit (code 4): pausing calls");
        }
        Err(err)
    }
}

/// Transport failures are transient, and never carry the URL (it holds tokens). A
/// request that cannot even be built (a token that is not a valid header or query
/// value, a broken URL) is permanent: retrying it cannot help.
pub(crate) fn transport(e: reqwest::Error) -> ProviderError {
    if e.is_builder() {
        return ProviderError::Fatal {
            message: format!(
                "the Graph API request could not be built (is the token or a base URL malformed?): {}",
                e.without_url()
            ),
        };
    }
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_body() || e.is_decode() {
        "response body failed"
    } else {
        "request failed"
    };
    ProviderError::Transient {
        retry_after: None,
        message: format!("Graph API {kind}: {}", e.without_url()),
    }
}

async fn read_capped(mut resp: reqwest::Response, cap: usize) -> Result<Vec<u8>, ProviderError> {
    let mut buf = Vec::with_capacity(
        resp.content_length()
            .map_or(1024, |n| (n as usize).min(cap)),
    );
    while let Some(chunk) = resp.chunk().await.map_err(transport)? {
        if buf.len() + chunk.len() > cap {
            return Err(ProviderError::Transient {
                retry_after: None,
                message: format!("Graph API response larger than {cap} bytes"),
            });
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_that_cannot_be_built_is_permanent_and_names_no_url() {
        let e = reqwest::Client::new()
            .get("http://127.0.0.1:1/x?access_token=IGAAsecret")
            .header("bad\nheader", "v")
            .build()
            .unwrap_err();
        assert!(e.is_builder(), "{e:?}");
        let p = transport(e);
        assert!(matches!(p, ProviderError::Fatal { .. }), "{p:?}");
        assert!(!p.to_string().contains("IGAAsecret"), "{p}");
    }
}
