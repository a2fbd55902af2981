//! Errors: [`ServerError`] for starting and running the server, [`ApiError`] for one request.
//!
//! Every failed request answers `{"error": {"type": "...", "message": "..."}}` (the shape
//! OpenAI's API uses too, so its clients read our errors) with a status that says whose fault
//! it was.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use baton_core::actor::SupervisorError;
use baton_core::error::{LlmError, StoreError};
use baton_core::ids::RunId;
use serde::Serialize;
use std::net::SocketAddr;

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The configuration is invalid.
    #[error("invalid server configuration: {0}")]
    Config(String),
    /// The listening socket could not be bound.
    #[error("could not listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// Serving connections failed.
    #[error("the server failed: {0}")]
    Serve(#[source] std::io::Error),
}

/// A request that failed: its status, a stable machine-readable type, and a message for a
/// person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) kind: &'static str,
    pub(crate) message: String,
    pub(crate) run_id: Option<RunId>,
}

/// The error as JSON: the response body, and the event sent when a stream fails after it
/// started.
#[derive(Serialize)]
pub(crate) struct ErrorBody<'a> {
    error: ErrorObject<'a>,
}

#[derive(Serialize)]
struct ErrorObject<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    run_id: Option<RunId>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            kind,
            message: message.into(),
            run_id: None,
        }
    }

    pub(crate) fn bad_request(kind: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, kind, message)
    }

    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub(crate) fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// A thread that does not exist and a thread of another tenant look the same, so that
    /// thread ids cannot be probed across tenants.
    pub(crate) fn thread_not_found() -> Self {
        Self::not_found("no such thread")
    }

    /// Like [`thread_not_found`](Self::thread_not_found), for runs.
    pub(crate) fn run_not_found() -> Self {
        Self::not_found("no such run")
    }

    pub(crate) fn store(error: &StoreError) -> Self {
        tracing::error!(%error, "store failure while serving a request");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "store_error",
            format!("the store failed: {error}"),
        )
    }

    /// A body over the limit of `max_body_bytes`.
    pub(crate) fn too_large(max_body_bytes: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the request body is larger than the limit of {max_body_bytes} bytes"),
        )
    }

    /// The error for a response of `status` that has no more specific cause: what the HTTP
    /// layer answers (a request that is not HTTP, a head or body over a limit or too slow)
    /// and what the routes' `json_errors` layer gives an error it finds without a JSON body.
    pub(crate) fn for_status(status: StatusCode) -> Self {
        let (kind, message) = match status {
            StatusCode::BAD_REQUEST => (
                "invalid_http",
                "the request is not valid HTTP/1.1: its request line, a header or its framing \
                 could not be parsed",
            ),
            StatusCode::UNAUTHORIZED => ("unauthorized", "this endpoint needs a bearer token"),
            StatusCode::NOT_FOUND => ("not_found", "no such endpoint"),
            StatusCode::METHOD_NOT_ALLOWED => (
                "method_not_allowed",
                "this endpoint does not take that method",
            ),
            StatusCode::REQUEST_TIMEOUT => {
                ("request_timeout", "the request did not arrive in time")
            }
            StatusCode::PAYLOAD_TOO_LARGE => ("payload_too_large", "the request body is too large"),
            StatusCode::URI_TOO_LONG => ("uri_too_long", "the request target is too long"),
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => {
                ("headers_too_large", "the request's headers are too large")
            }
            status if status.is_server_error() => (
                "internal",
                status.canonical_reason().unwrap_or("the server failed"),
            ),
            status => (
                "invalid_request",
                status
                    .canonical_reason()
                    .unwrap_or("the request was refused"),
            ),
        };
        Self::new(status, kind, message)
    }

    /// The error as a whole HTTP/1.1 response that closes the connection, for the places
    /// below the router that write to the socket themselves.
    pub(crate) fn to_http1_bytes(&self) -> Vec<u8> {
        // Serializing a struct of strings cannot fail; an empty body would still be a response.
        let body = serde_json::to_vec(&self.body()).unwrap_or_default();
        let mut response = format!(
            "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
             connection: close\r\n\r\n",
            self.status.as_u16(),
            self.status.canonical_reason().unwrap_or(""),
            body.len()
        )
        .into_bytes();
        response.extend_from_slice(&body);
        response
    }

    pub(crate) fn with_run(mut self, run_id: RunId) -> Self {
        self.run_id = Some(run_id);
        self
    }

    /// The error as JSON.
    pub(crate) fn body(&self) -> ErrorBody<'_> {
        ErrorBody {
            error: ErrorObject {
                kind: self.kind,
                message: &self.message,
                run_id: self.run_id,
            },
        }
    }

    /// A run that was started but failed. `shutting_down` tells a cancellation by shutdown
    /// from one by a caller.
    pub(crate) fn run_failed(run_id: RunId, error: &LlmError, shutting_down: bool) -> Self {
        let (status, kind) = match error {
            LlmError::Cancelled if shutting_down => {
                (StatusCode::SERVICE_UNAVAILABLE, "shutting_down")
            }
            LlmError::Cancelled => (StatusCode::CONFLICT, "run_cancelled"),
            LlmError::Timeout(_) => (StatusCode::GATEWAY_TIMEOUT, "provider_timeout"),
            LlmError::Server(_) => (StatusCode::INTERNAL_SERVER_ERROR, "run_failed"),
            _ => (StatusCode::BAD_GATEWAY, "provider_error"),
        };
        Self::new(status, kind, error.to_string()).with_run(run_id)
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        Self::store(&error)
    }
}

impl From<SupervisorError> for ApiError {
    fn from(error: SupervisorError) -> Self {
        let (status, kind) = match &error {
            SupervisorError::UnknownAgent(_) => (StatusCode::NOT_FOUND, "unknown_agent"),
            SupervisorError::ThreadBusy(_) => (StatusCode::CONFLICT, "thread_busy"),
            SupervisorError::Overloaded(_) => (StatusCode::TOO_MANY_REQUESTS, "overloaded"),
            SupervisorError::ShuttingDown => (StatusCode::SERVICE_UNAVAILABLE, "shutting_down"),
            SupervisorError::AgentDown(_) | SupervisorError::AgentUnavailable(_) => {
                (StatusCode::SERVICE_UNAVAILABLE, "agent_unavailable")
            }
            SupervisorError::UnknownRun(_) => return Self::run_not_found(),
            SupervisorError::NotResumable { .. } => (StatusCode::CONFLICT, "not_resumable"),
            SupervisorError::Store(store) => return Self::store(store),
            other => {
                tracing::error!(error = %other, "the supervisor refused a run");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal")
            }
        };
        Self::new(status, kind, error.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let unauthorized = self.status == StatusCode::UNAUTHORIZED;
        let mut response = (self.status, Json(self.body())).into_response();
        if unauthorized {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn supervisor_refusals_map_to_client_and_server_statuses() {
        let busy = ApiError::from(SupervisorError::ThreadBusy(baton_core::ids::ThreadId::new()));
        assert_eq!(
            (busy.status, busy.kind),
            (StatusCode::CONFLICT, "thread_busy")
        );
        let unknown = ApiError::from(SupervisorError::UnknownAgent("x".into()));
        assert_eq!(unknown.status, StatusCode::NOT_FOUND);
        let down = ApiError::from(SupervisorError::ShuttingDown);
        assert_eq!(down.status, StatusCode::SERVICE_UNAVAILABLE);
    }

    #[test]
    fn protocol_errors_are_whole_json_responses() {
        let bytes =
            ApiError::for_status(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE).to_http1_bytes();
        let text = String::from_utf8(bytes).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(
            head.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"),
            "{head}"
        );
        assert!(
            head.contains(&format!("content-length: {}", body.len())),
            "{head}"
        );
        assert!(head.contains("connection: close"), "{head}");
        let json: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(json["error"]["type"], "headers_too_large");
    }

    #[test]
    fn run_failures_say_whether_a_caller_or_the_shutdown_cancelled() {
        let run = RunId::new();
        let by_caller = ApiError::run_failed(run, &LlmError::Cancelled, false);
        assert_eq!(by_caller.kind, "run_cancelled");
        let by_shutdown = ApiError::run_failed(run, &LlmError::Cancelled, true);
        assert_eq!(by_shutdown.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(by_shutdown.run_id, Some(run));
    }
}
