//! Failures of model providers.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A failure talking to a model provider.
///
/// Providers classify their failures into these variants so that the run loop can decide, in
/// one place, whether to retry ([`LlmError::is_retryable`]) and how long to wait
/// ([`LlmError::retry_after`]).
///
/// In JSON a failure is `{"kind": "timeout", "detail": "first byte"}`: the kind, and what the
/// variant holds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "kind", content = "detail", rename_all = "snake_case")]
#[non_exhaustive]
pub enum LlmError {
    /// The run was cancelled while the provider was being called.
    #[error("cancelled")]
    Cancelled,
    /// The provider answered with an HTTP error status.
    #[error("provider returned HTTP {status}: {message}")]
    Status {
        /// HTTP status code.
        status: u16,
        /// What the provider said, as far as it said anything.
        message: String,
        /// The provider's `Retry-After` hint, if it gave one.
        retry_after: Option<Duration>,
    },
    /// The provider is overloaded (Anthropic's `overloaded_error`, HTTP 529).
    #[error("provider overloaded: {message}")]
    Overloaded {
        /// What the provider said.
        message: String,
        /// The provider's retry hint, if it gave one.
        retry_after: Option<Duration>,
    },
    /// The provider reported an error inside the stream (e.g. an SSE `error` event).
    #[error("provider error: {message}")]
    Provider {
        /// What the provider said.
        message: String,
        /// Whether the provider marked the error as transient.
        retryable: bool,
    },
    /// The connection failed or was closed before the response was complete.
    #[error("connection error: {0}")]
    Connection(String),
    /// A timeout elapsed (connect, first byte, or idle time between chunks).
    #[error("timed out: {0}")]
    Timeout(String),
    /// The stream carried something that is not a valid event.
    #[error("malformed provider stream: {0}")]
    MalformedStream(String),
    /// The stream ended without a finish reason.
    #[error("provider stream ended before the response finished")]
    IncompleteStream,
    /// The response grew past `max_response_bytes`.
    #[error("response exceeded the limit of {limit} bytes")]
    ResponseTooLarge {
        /// The configured limit, in bytes.
        limit: usize,
    },
    /// The request was invalid for this provider (bad configuration, unsupported setting).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
}

impl LlmError {
    /// Whether calling again may succeed: rate limits, overload, server errors, timeouts and
    /// dropped connections are; client errors and malformed streams are not.
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Status { status, .. } => matches!(status, 408 | 409 | 429 | 500..=599),
            Self::Overloaded { .. } | Self::Connection(_) | Self::Timeout(_) => true,
            Self::Provider { retryable, .. } => *retryable,
            Self::Cancelled
            | Self::MalformedStream(_)
            | Self::IncompleteStream
            | Self::ResponseTooLarge { .. }
            | Self::InvalidRequest(_) => false,
        }
    }

    /// How long the provider asked us to wait before retrying, if it said.
    #[must_use]
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Status { retry_after, .. } | Self::Overloaded { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}
