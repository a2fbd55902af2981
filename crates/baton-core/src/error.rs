//! Errors of the core layer: one enum for provider failures ([`LlmError`]), one for stores
//! ([`StoreError`]), one for tools ([`ToolError`]), and [`Error`] for a run as a whole.

use crate::ids::{AgentName, IdError, ThreadId};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A failure talking to a model provider.
///
/// Providers classify their failures into these variants so that the run loop can decide, in
/// one place, whether to retry ([`LlmError::is_retryable`]) and how long to wait
/// ([`LlmError::retry_after`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
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
    /// A failure reported by the orchestrator itself (the terminal chunk of a failed run).
    #[error("{0}")]
    Server(String),
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
            | Self::Server(_)
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

/// A failure of a [`ThreadStore`](crate::memory::ThreadStore) or
/// [`EpisodicStore`](crate::memory::EpisodicStore).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum StoreError {
    /// Another writer appended to the thread since this writer last read it.
    #[error(
        "thread {thread} was written concurrently: expected {expected} messages, found {actual}"
    )]
    Conflict {
        /// The thread.
        thread: ThreadId,
        /// The length the writer expected.
        expected: u64,
        /// The length found.
        actual: u64,
    },
    /// The backend failed (I/O, connection, constraint).
    #[error("store backend error: {0}")]
    Backend(String),
    /// Stored data could not be decoded.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

/// A tool failed. The run loop turns this into a tool-result message (`"error: …"`) that the
/// model sees, so one bad tool call never crashes a run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ToolError {
    /// The model named a tool that this agent does not have.
    #[error("unknown tool {name:?}")]
    UnknownTool {
        /// The requested name.
        name: String,
    },
    /// The arguments did not parse into the tool's argument type.
    #[error("invalid arguments for {tool}: {reason}")]
    InvalidArguments {
        /// The tool.
        tool: String,
        /// Why parsing failed.
        reason: String,
    },
    /// The tool did not finish within its timeout.
    #[error("{tool} timed out after {timeout:?}")]
    Timeout {
        /// The tool.
        tool: String,
        /// The timeout that elapsed.
        timeout: Duration,
    },
    /// The tool panicked.
    #[error("{tool} panicked: {message}")]
    Panicked {
        /// The tool.
        tool: String,
        /// The panic payload, when it was a string.
        message: String,
    },
    /// The tool ran and reported a failure.
    #[error("{0}")]
    Failed(String),
}

impl ToolError {
    /// A tool-reported failure with the given message.
    pub fn failed(message: impl Into<String>) -> Self {
        Self::Failed(message.into())
    }
}

/// Why a run ended without an answer.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The run was cancelled, or its consumer went away.
    #[error("run cancelled")]
    Cancelled,
    /// The run used all its steps without a final answer.
    #[error("max steps exceeded: {steps}")]
    MaxStepsExceeded {
        /// The step limit.
        steps: u32,
    },
    /// A tool failed in a way the model cannot be told about.
    #[error("tool: {0}")]
    Tool(#[from] ToolError),
    /// The provider failed (after any retries).
    #[error(transparent)]
    Llm(#[from] LlmError),
    /// A guardrail refused the request or the response.
    #[error("refused: {reason}")]
    Refused {
        /// The guardrail's reason.
        reason: String,
    },
    /// The model asked to hand the thread to another agent. The actor layer routes it; callers
    /// of the bare loop see it as the end of the run.
    #[error("handoff to {agent}: {reason}")]
    Handoff {
        /// The target agent.
        agent: AgentName,
        /// Why the model handed off.
        reason: String,
    },
    /// The thread store or episodic log failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The run could not be routed to the next agent (unknown, not allowed, down, or too many
    /// handoffs).
    #[error("{0}")]
    Routing(String),
    /// A definition or argument is invalid (agent, tool, option).
    #[error("invalid configuration: {0}")]
    Config(String),
}

impl From<IdError> for Error {
    fn from(error: IdError) -> Self {
        Self::Config(error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryable_classification() {
        let status = |status| LlmError::Status {
            status,
            message: String::new(),
            retry_after: None,
        };
        for code in [408, 409, 429, 500, 502, 503, 529] {
            assert!(status(code).is_retryable(), "{code}");
        }
        for code in [400, 401, 403, 404, 422] {
            assert!(!status(code).is_retryable(), "{code}");
        }
        assert!(LlmError::Timeout("idle".into()).is_retryable());
        assert!(!LlmError::MalformedStream("x".into()).is_retryable());
        assert!(!LlmError::Cancelled.is_retryable());
    }

    #[test]
    fn retry_after_hint_is_carried() {
        let err = LlmError::Status {
            status: 429,
            message: "slow down".into(),
            retry_after: Some(Duration::from_secs(3)),
        };
        assert_eq!(err.retry_after(), Some(Duration::from_secs(3)));
        let json = serde_json::to_string(&err).unwrap();
        assert_eq!(serde_json::from_str::<LlmError>(&json).unwrap(), err);
    }

    #[test]
    fn messages_say_what_happened() {
        assert_eq!(
            Error::MaxStepsExceeded { steps: 3 }.to_string(),
            "max steps exceeded: 3"
        );
        let handoff = Error::Handoff {
            agent: AgentName::new("billing").unwrap(),
            reason: "refund".into(),
        };
        assert_eq!(handoff.to_string(), "handoff to billing: refund");
        assert_eq!(
            ToolError::UnknownTool {
                name: "nope".into()
            }
            .to_string(),
            "unknown tool \"nope\""
        );
    }
}
