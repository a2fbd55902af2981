//! The HTTP side every provider shares: one `reqwest` client per provider, its connect
//! timeout, and the mapping of transport failures and error statuses to [`LlmError`]. How long
//! a call may take once connected is the [`Timeout`](crate::layer::Timeout) layer's to say.
//!
//! Dropping the future of a call, or the stream it returned, drops the `reqwest` request and
//! closes its connection: that is how a cancelled run stops a provider call.

use crate::api_key::ApiKey;
use crate::config::ConfigError;
use crate::server_error;
use crate::sse::{EventDecoder, decode_events};
use baton_core::error::LlmError;
use baton_core::llm::ChunkStream;
use futures::StreamExt;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderValue};
use reqwest::{Response, Url};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::time::Duration;

/// Most bytes of an error response read for its message.
const MAX_ERROR_BODY_BYTES: usize = 64 * 1024;

/// Longest wait for the next part of an error response's body: the status already says what
/// matters, and a body that does not come is not worth waiting for.
const ERROR_BODY_WAIT: Duration = Duration::from_secs(10);

/// Most bytes of a non-streaming response: far above any answer a model writes, low enough
/// that a misbehaving server cannot exhaust memory.
const MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;

/// A client bound to one endpoint (`…/chat/completions`, `…/v1/messages`). Clones share the
/// connection pool.
#[derive(Clone)]
pub(crate) struct HttpClient {
    client: reqwest::Client,
    endpoint: Url,
    api_key: Option<ApiKey>,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient")
            .field("endpoint", &self.endpoint.as_str())
            .field("api_key", &self.api_key)
            .finish_non_exhaustive()
    }
}

impl HttpClient {
    /// A client that sends `headers` (authentication, versions) with every request to
    /// `endpoint`. `api_key` is kept so that it stays registered for redaction while the
    /// client can still send it (the headers hold a copy of it).
    pub(crate) fn new(
        endpoint: Url,
        headers: HeaderMap,
        connect_timeout: Duration,
        read_timeout: Duration,
        api_key: Option<ApiKey>,
    ) -> Result<Self, ConfigError> {
        let client = reqwest::Client::builder()
            .default_headers(headers)
            .connect_timeout(connect_timeout)
            .read_timeout(read_timeout)
            // Requests are written whole and small; never hold one back waiting for an ACK
            // (reqwest's default too, stated here because streaming depends on it).
            .tcp_nodelay(true)
            .user_agent(concat!("baton/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| ConfigError::Client(error_chain(&error)))?;
        Ok(Self {
            client,
            endpoint,
            api_key,
        })
    }

    /// Sends a streamed request and decodes its events with `decoder`.
    ///
    /// Returns once the response headers have arrived with a success status; an error status
    /// is classified here, so the caller's retry sees it before any chunk.
    pub(crate) async fn stream<D: EventDecoder>(
        &self,
        body: &impl Serialize,
        decoder: D,
    ) -> Result<ChunkStream, LlmError> {
        let response = self
            .send(body, "text/event-stream")
            .await
            .map_err(LlmError::redacted)?;
        Ok(decode_events(response, decoder))
    }

    /// Sends a non-streaming request and parses its JSON response as `T`.
    pub(crate) async fn complete<T: DeserializeOwned>(
        &self,
        body: &impl Serialize,
    ) -> Result<T, LlmError> {
        let call = async {
            let response = self.send(body, "application/json").await?;
            let bytes = read_body(response, MAX_RESPONSE_BYTES).await?;
            serde_json::from_slice::<T>(&bytes).map_err(|error| {
                LlmError::MalformedStream(format!("response is not the expected JSON: {error}"))
            })
        };
        call.await.map_err(LlmError::redacted)
    }

    /// Posts `body` as JSON and returns the response if its status is a success.
    async fn send(
        &self,
        body: &impl Serialize,
        accept: &'static str,
    ) -> Result<Response, LlmError> {
        let payload = serde_json::to_vec(body)
            .map_err(|error| LlmError::InvalidRequest(format!("request is not JSON: {error}")))?;
        let response = self
            .client
            .post(self.endpoint.clone())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header(ACCEPT, HeaderValue::from_static(accept))
            .body(payload)
            .send()
            .await
            .map_err(transport_error)?;
        let status = response.status();
        tracing::debug!(status = status.as_u16(), "provider answered");
        if status.is_success() {
            return Ok(response);
        }
        Err(self.status_error(response).await)
    }

    /// Classifies an error response, reading at most [`MAX_ERROR_BODY_BYTES`] of its body,
    /// each part within [`ERROR_BODY_WAIT`].
    async fn status_error(&self, response: Response) -> LlmError {
        let status = response.status();
        let headers = response.headers().clone();
        let mut body = Vec::new();
        let mut chunks = response.bytes_stream();
        while body.len() < MAX_ERROR_BODY_BYTES {
            match tokio::time::timeout(ERROR_BODY_WAIT, chunks.next()).await {
                Ok(Some(Ok(chunk))) => body.extend_from_slice(&chunk),
                Ok(Some(Err(_)) | None) | Err(_) => break,
            }
        }
        body.truncate(MAX_ERROR_BODY_BYTES);
        server_error::classify(status, &headers, &body)
    }
}

/// The whole body of `response`, failing once it grows past `limit` bytes.
async fn read_body(response: Response, limit: usize) -> Result<Vec<u8>, LlmError> {
    let mut body = Vec::new();
    let mut chunks = response.bytes_stream();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(transport_error)?;
        if body.len().saturating_add(chunk.len()) > limit {
            return Err(LlmError::ResponseTooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A transport failure as an [`LlmError`]: timeouts as `Timeout`, everything else (refused,
/// reset, closed mid-body) as `Connection`. The URL is left out, in case it carries a secret.
pub(crate) fn transport_error(error: reqwest::Error) -> LlmError {
    let timed_out = error.is_timeout();
    let text = error_chain(&error.without_url());
    if timed_out {
        LlmError::Timeout(text)
    } else {
        LlmError::Connection(text)
    }
}

/// An error and its sources, outermost first, as one line.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Parses and checks a base URL, and appends `path` to it.
///
/// `http://127.0.0.1:8080/v1` with `/chat/completions` gives
/// `http://127.0.0.1:8080/v1/chat/completions`; a trailing slash on the base is ignored.
pub(crate) fn endpoint(base_url: &str, path: &str) -> Result<Url, ConfigError> {
    let invalid = |reason: String| ConfigError::InvalidBaseUrl {
        url: base_url.to_owned(),
        reason,
    };
    let joined = format!("{}{path}", base_url.trim().trim_end_matches('/'));
    let url = Url::parse(&joined).map_err(|error| invalid(error.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid(format!(
            "scheme {:?} is not http or https",
            url.scheme()
        )));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("a base URL takes no query or fragment".to_owned()));
    }
    Ok(url)
}

/// A header value holding a secret: marked sensitive so that it is never printed.
pub(crate) fn secret_header(value: &str) -> Result<HeaderValue, ConfigError> {
    let mut header = HeaderValue::from_str(value).map_err(|_| {
        let position = value
            .chars()
            .position(|c| !(c.is_ascii_graphic() || c == ' '))
            .map_or(1, |index| index + 1);
        ConfigError::InvalidApiKey {
            reason: baton_core::redact::SecretError::NotVisibleAscii { position },
        }
    })?;
    header.set_sensitive(true);
    Ok(header)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_join_base_and_path() {
        let url = endpoint("http://127.0.0.1:8080/v1/", "/chat/completions").unwrap();
        assert_eq!(url.as_str(), "http://127.0.0.1:8080/v1/chat/completions");
        let url = endpoint("https://api.anthropic.com", "/v1/messages").unwrap();
        assert_eq!(url.as_str(), "https://api.anthropic.com/v1/messages");
    }

    #[test]
    fn bad_base_urls_are_refused() {
        assert!(matches!(
            endpoint("localhost:8080", "/x"),
            Err(ConfigError::InvalidBaseUrl { .. })
        ));
        assert!(matches!(
            endpoint("ftp://example.invalid", "/x"),
            Err(ConfigError::InvalidBaseUrl { .. })
        ));
        assert!(matches!(
            endpoint("not a url", "/x"),
            Err(ConfigError::InvalidBaseUrl { .. })
        ));
    }

    #[test]
    fn secret_headers_are_sensitive() {
        let header = secret_header("Bearer sk-1").unwrap();
        assert!(header.is_sensitive());
        assert!(!format!("{header:?}").contains("sk-1"));
        assert!(matches!(
            secret_header("bad\nkey"),
            Err(ConfigError::InvalidApiKey { .. })
        ));
    }
}
