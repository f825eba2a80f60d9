//! The HTTP core shared by both clients: one keep-alive `reqwest::Client`, timeouts, a
//! cap on body size, usage-header throttling, and classification of failures.

use std::time::Duration;

use lightwidget_core::{ConnectionKind, ProviderError};
use serde::de::DeserializeOwned;

use crate::classify::{classify_response, parse_error};
use crate::usage::Throttle;
use crate::{Error, GraphConfig};

pub(crate) struct Http {
    pub(crate) client: reqwest::Client,
    pub(crate) cfg: GraphConfig,
    /// This app's usage throttle, shared by every call made through this client.
    pub(crate) throttle: Throttle,
}

impl Http {
    /// The `Debug` of a client named `name` over this: its configuration (whose `Debug`
    /// hides the secret), nothing else.
    pub(crate) fn fmt_client(
        &self,
        f: &mut std::fmt::Formatter<'_>,
        name: &str,
    ) -> std::fmt::Result {
        f.debug_struct(name)
            .field("config", &self.cfg)
            .finish_non_exhaustive()
    }

    pub(crate) fn new(cfg: GraphConfig, kind: ConnectionKind) -> Result<Self, Error> {
        let client = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .connect_timeout(cfg.connect_timeout)
            .user_agent(cfg.user_agent.clone())
            .redirect(reqwest::redirect::Policy::none())
            .pool_idle_timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| Error::Config(format!("HTTP client: {}", e.without_url())))?;
        let throttle = Throttle::new(&cfg, kind);
        Ok(Self {
            client,
            cfg,
            throttle,
        })
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
    /// classified, usage headers noted, the throttle honoured: the call waits for its
    /// slot (at most the client's `usage_max_wait`) or is refused without a request.
    ///
    /// The business objects the call is for (an account's Instagram id and Page) are
    /// the ones [`for_account`] set around it; none for calls outside an account's.
    pub(crate) async fn send_raw(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<(u16, Vec<u8>), ProviderError> {
        let scope = CALL_SCOPE.try_with(Clone::clone).unwrap_or_default();
        let ids: Vec<&str> = scope.iter().map(String::as_str).collect();
        let wait = self.throttle.admit(&ids)?;
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        let resp = req.send().await.map_err(transport)?;
        let status = resp.status().as_u16();
        let retry_after = retry_after_header(resp.headers());
        let regain = self.throttle.note(resp.headers()).or(retry_after);
        let body = read_capped(resp, self.cfg.max_body).await?;
        if (200..300).contains(&status) {
            return Ok((status, body));
        }
        match classify_response(status, &body, regain) {
            ProviderError::RateLimited {
                retry_after,
                message,
            } => {
                // Meta throttles: stop for its time (or the default), since every
                // further call would only extend the block. Code 4 (and an HTTP 429
                // without a Graph error) is the app-wide limit: the whole client
                // stops; the others (17, 32, 368, 613, 80000-80014) hold back the
                // account the call was for.
                let wait = retry_after.unwrap_or(self.throttle.default_wait());
                if parse_error(&body).map_or(status == 429, |e| e.code == 4) {
                    if self.throttle.stop_app(wait) {
                        tracing::warn!(
                            wait_secs = wait.as_secs(),
                            "Graph API app rate limit (code 4): stopping this app's calls"
                        );
                    }
                } else if !self.throttle.app_stopped()
                    && !ids.is_empty()
                    && self.throttle.stop_objects(&ids, wait)
                {
                    tracing::warn!(
                        wait_secs = wait.as_secs(),
                        "Graph API rate limit for this account: stopping its calls"
                    );
                }
                Err(ProviderError::RateLimited {
                    retry_after: Some(wait),
                    message,
                })
            }
            err => Err(err),
        }
    }
}

tokio::task_local! {
    /// The business objects (an account's Instagram id, its Page) of the calls made
    /// inside [`for_account`].
    static CALL_SCOPE: Vec<String>;
}

/// Runs `call` with its requests counted against these business objects' usage (and
/// held back by their pace and stops) as well as the app's.
pub(crate) async fn for_account<F: std::future::Future>(ids: Vec<String>, call: F) -> F::Output {
    CALL_SCOPE.scope(ids, call).await
}

/// `Retry-After` in seconds (an HTTP date is not worth the parse here: Meta sends none).
fn retry_after_header(h: &reqwest::header::HeaderMap) -> Option<Duration> {
    h.get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .filter(|s| *s > 0)
        .map(Duration::from_secs)
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
