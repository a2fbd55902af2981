//! Errors: [`ServerError`] for starting and running the server, [`ApiError`] for one request.
//!
//! Every failed request answers `{"error": {"type": "...", "code": "...", "message": "..."}}`
//! (the shape OpenAI's API uses too, so its clients read our errors) with a status that says
//! whose fault it was. On Baton's own routes `type` and `code` are Baton's error code; on the
//! OpenAI-compatible endpoint `type` is OpenAI's error type (`invalid_request_error`,
//! `rate_limit_error`, `server_error`, …) and `code` is Baton's.
//!
//! A failed run answers by the kind of its [`RunError`]:
//!
//! | kind | status | code |
//! |---|---|---|
//! | refused by a guardrail | 400 | `refused` |
//! | invalid definition or argument | 400 | `invalid_request` |
//! | max steps | 422 | `max_steps_exceeded` |
//! | routing refused | 422 | `routing_refused` |
//! | cancelled (by a caller) | 409 | `run_cancelled` |
//! | cancelled (by shutdown) | 503 | `shutting_down` |
//! | consumer gone | 409 | `consumer_gone` |
//! | thread busy, run driven elsewhere, lease lost, thread conflict | 409 | `thread_busy`, `run_leased`, `lease_lost`, `thread_conflict` |
//! | provider rate limit | 429 (with `Retry-After` if the provider gave one) | `provider_rate_limited` |
//! | provider overloaded | 503 (with `Retry-After`) | `provider_overloaded` |
//! | provider timeout | 504 | `provider_timeout` |
//! | any other provider failure | 502 | `provider_error` |
//! | tool infrastructure | 502 | `tool_error` |
//! | store unavailable | 503 | `store_unavailable` |
//! | run lost (its agent stopped) | 503 | `run_lost` |
//! | panicked, corrupt store data | 500 | `panicked`, `store_corrupt` |
//!
//! A run that pauses for approval has not failed: it answers 200 (see the crate docs). The
//! approval endpoints refuse a decision by why the supervisor did:
//!
//! | refusal | status | code |
//! |---|---|---|
//! | no such run (or another tenant's) | 404 | `not_found` |
//! | the run is not paused (running, finished, or taken up by another decision) | 409 | `not_paused` |
//! | the call was decided already, other calls of the run still wait | 409 | `already_decided` |
//! | the paused run has no such call | 404 | `unknown_call` |
//! | the call's approval expired | 410 | `approval_expired` |
//!
//! An expired approval is 410 Gone rather than 409: no retry or change of state on the
//! caller's side makes the decision possible again, and a client can tell it from a run that
//! is merely busy.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use baton_core::actor::SupervisorError;
use baton_core::error::{LlmError, RunError, StoreError};
use baton_core::ids::RunId;
use serde::Serialize;
use std::net::SocketAddr;
use std::time::Duration;

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
    /// How long the client should wait before trying again (`Retry-After`), when known.
    pub(crate) retry_after: Option<Duration>,
    pub(crate) dialect: Dialect,
}

/// Whose error vocabulary the body speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// Baton's routes: `type` is Baton's code.
    Baton,
    /// The OpenAI-compatible endpoint: `type` is OpenAI's error type.
    OpenAi,
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
    code: &'a str,
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
            retry_after: None,
            dialect: Dialect::Baton,
        }
    }

    /// The same error, in the OpenAI-compatible endpoint's vocabulary.
    pub(crate) fn openai(mut self) -> Self {
        self.dialect = Dialect::OpenAi;
        self
    }

    /// OpenAI's error type for a response of this status.
    fn openai_type(&self) -> &'static str {
        match self.status {
            StatusCode::UNAUTHORIZED => "authentication_error",
            StatusCode::FORBIDDEN => "permission_error",
            StatusCode::TOO_MANY_REQUESTS => "rate_limit_error",
            status if status.is_server_error() => "server_error",
            _ => "invalid_request_error",
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
        let kind = match self.dialect {
            Dialect::Baton => self.kind,
            Dialect::OpenAi => self.openai_type(),
        };
        ErrorBody {
            error: ErrorObject {
                kind,
                code: self.kind,
                message: &self.message,
                run_id: self.run_id,
            },
        }
    }

    /// A run that was started but failed, answered by its kind (see the table above).
    /// `shutting_down` tells a cancellation by shutdown from one by a caller.
    pub(crate) fn run_failed(run_id: RunId, error: &RunError, shutting_down: bool) -> Self {
        let mut retry_after = None;
        let (status, kind) = match error {
            RunError::Cancelled if shutting_down => {
                (StatusCode::SERVICE_UNAVAILABLE, "shutting_down")
            }
            RunError::Cancelled => (StatusCode::CONFLICT, "run_cancelled"),
            RunError::ConsumerGone => (StatusCode::CONFLICT, "consumer_gone"),
            RunError::Refused { .. } => (StatusCode::BAD_REQUEST, "refused"),
            RunError::Invalid { .. } => (StatusCode::BAD_REQUEST, "invalid_request"),
            RunError::MaxSteps { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "max_steps_exceeded"),
            RunError::Routing { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "routing_refused"),
            RunError::Provider { error } => {
                retry_after = error.retry_after();
                provider_status(error)
            }
            RunError::Store { error } => store_status(error),
            RunError::Tool { .. } => (StatusCode::BAD_GATEWAY, "tool_error"),
            RunError::Lost { .. } => (StatusCode::SERVICE_UNAVAILABLE, "run_lost"),
            RunError::Panicked { .. } => (StatusCode::INTERNAL_SERVER_ERROR, "panicked"),
            // Relayed runs answer a pause as such; this is for a pause met as an error.
            RunError::Paused { .. } => (StatusCode::CONFLICT, "run_paused"),
            other => {
                tracing::error!(error = %other, "a run failed in a way this server does not know");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal")
            }
        };
        let mut error = Self::new(status, kind, error.to_string()).with_run(run_id);
        error.retry_after = retry_after;
        error
    }
}

/// The status and code of a provider's failure: an upstream fault is a gateway error, a rate
/// limit or an overload is passed on as such.
fn provider_status(error: &LlmError) -> (StatusCode, &'static str) {
    match error {
        LlmError::Status { status: 429, .. } => {
            (StatusCode::TOO_MANY_REQUESTS, "provider_rate_limited")
        }
        LlmError::Overloaded { .. }
        | LlmError::Status {
            status: 503 | 529, ..
        } => (StatusCode::SERVICE_UNAVAILABLE, "provider_overloaded"),
        LlmError::Timeout(_) => (StatusCode::GATEWAY_TIMEOUT, "provider_timeout"),
        LlmError::Cancelled => (StatusCode::CONFLICT, "run_cancelled"),
        _ => (StatusCode::BAD_GATEWAY, "provider_error"),
    }
}

/// The status and code of a store's refusal or failure.
fn store_status(error: &StoreError) -> (StatusCode, &'static str) {
    match error {
        StoreError::ThreadBusy { .. } => (StatusCode::CONFLICT, "thread_busy"),
        StoreError::RunLeased { .. } => (StatusCode::CONFLICT, "run_leased"),
        StoreError::LeaseLost { .. } => (StatusCode::CONFLICT, "lease_lost"),
        StoreError::Conflict { .. } => (StatusCode::CONFLICT, "thread_conflict"),
        StoreError::Corrupt(_) => (StatusCode::INTERNAL_SERVER_ERROR, "store_corrupt"),
        _ => (StatusCode::SERVICE_UNAVAILABLE, "store_unavailable"),
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
            SupervisorError::NotPaused { .. } => (StatusCode::CONFLICT, "not_paused"),
            SupervisorError::UnknownCall { .. } => (StatusCode::NOT_FOUND, "unknown_call"),
            SupervisorError::AlreadyDecided { .. } => (StatusCode::CONFLICT, "already_decided"),
            SupervisorError::InvalidDecision(_) => (StatusCode::BAD_REQUEST, "invalid_decision"),
            SupervisorError::ApprovalExpired { run, .. } => {
                let message = format!(
                    "{error}; the run goes on once nothing waits any more, with this call \
                     rejected as expired (POST /v1/runs/{run}/resume takes it up after the \
                     deadline)"
                );
                return Self::new(StatusCode::GONE, "approval_expired", message);
            }
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
        if let Some(wait) = self.retry_after {
            // Whole seconds, rounded up: a client never retries before the provider said.
            let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
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
    fn refused_decisions_map_to_their_statuses() {
        let run = RunId::new();
        let cases = [
            (
                SupervisorError::NotPaused {
                    run,
                    reason: "it finished".into(),
                },
                409,
                "not_paused",
            ),
            (
                SupervisorError::UnknownCall {
                    run,
                    call: "c1".into(),
                },
                404,
                "unknown_call",
            ),
            (
                SupervisorError::ApprovalExpired {
                    run,
                    call: "c1".into(),
                },
                410,
                "approval_expired",
            ),
            (SupervisorError::UnknownRun(run), 404, "not_found"),
        ];
        for (error, status, kind) in cases {
            let api = ApiError::from(error.clone());
            assert_eq!((api.status.as_u16(), api.kind), (status, kind), "{error:?}");
        }
        let expired = ApiError::from(SupervisorError::ApprovalExpired {
            run,
            call: "c1".into(),
        });
        assert!(expired.message.contains("/resume"), "{}", expired.message);
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
        let by_caller = ApiError::run_failed(run, &RunError::Cancelled, false);
        assert_eq!(by_caller.kind, "run_cancelled");
        let by_shutdown = ApiError::run_failed(run, &RunError::Cancelled, true);
        assert_eq!(by_shutdown.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(by_shutdown.run_id, Some(run));
    }

    #[test]
    fn each_run_failure_kind_has_its_status_and_code() {
        use baton_core::error::{GuardStage, PanicSite, ToolError};
        let run = RunId::new();
        let thread = baton_core::ids::ThreadId::new();
        let cases = [
            (
                RunError::Refused {
                    guardrail: "g".into(),
                    stage: GuardStage::Request,
                    reason: "r".into(),
                },
                400,
                "refused",
            ),
            (RunError::invalid("bad"), 400, "invalid_request"),
            (RunError::MaxSteps { steps: 2 }, 422, "max_steps_exceeded"),
            (RunError::routing("no"), 422, "routing_refused"),
            (RunError::ConsumerGone, 409, "consumer_gone"),
            (
                StoreError::ThreadBusy {
                    thread,
                    holder: RunId::new(),
                }
                .into(),
                409,
                "thread_busy",
            ),
            (
                StoreError::RunLeased {
                    run,
                    owner: "elsewhere".into(),
                }
                .into(),
                409,
                "run_leased",
            ),
            (StoreError::LeaseLost { run }.into(), 409, "lease_lost"),
            (
                StoreError::Backend("down".into()).into(),
                503,
                "store_unavailable",
            ),
            (
                LlmError::Status {
                    status: 429,
                    message: "slow".into(),
                    retry_after: Some(Duration::from_millis(2500)),
                }
                .into(),
                429,
                "provider_rate_limited",
            ),
            (
                LlmError::Overloaded {
                    message: "busy".into(),
                    retry_after: None,
                }
                .into(),
                503,
                "provider_overloaded",
            ),
            (
                LlmError::Timeout("idle".into()).into(),
                504,
                "provider_timeout",
            ),
            (
                LlmError::Connection("reset".into()).into(),
                502,
                "provider_error",
            ),
            (ToolError::failed("x").into(), 502, "tool_error"),
            (
                RunError::Lost {
                    reason: "gone".into(),
                },
                503,
                "run_lost",
            ),
            (
                RunError::Panicked {
                    site: PanicSite::Provider,
                    message: "boom".into(),
                },
                500,
                "panicked",
            ),
        ];
        for (error, status, kind) in cases {
            let api = ApiError::run_failed(run, &error, false);
            assert_eq!((api.status.as_u16(), api.kind), (status, kind), "{error:?}");
        }
        let limited = ApiError::run_failed(
            run,
            &LlmError::Status {
                status: 429,
                message: "slow".into(),
                retry_after: Some(Duration::from_millis(2500)),
            }
            .into(),
            false,
        );
        let response = limited.clone().into_response();
        assert_eq!(response.headers()[header::RETRY_AFTER], "3");
        let openai = serde_json::to_value(limited.clone().openai().body()).unwrap();
        assert_eq!(openai["error"]["type"], "rate_limit_error");
        assert_eq!(openai["error"]["code"], "provider_rate_limited");
        let refused = ApiError::run_failed(run, &RunError::invalid("x"), false).openai();
        assert_eq!(
            serde_json::to_value(refused.body()).unwrap()["error"]["type"],
            "invalid_request_error"
        );
    }
}
