//! Errors of the core layer: one enum for provider failures ([`LlmError`]), one for stores
//! ([`StoreError`]), one for tools ([`ToolError`]), and [`RunError`] for a run as a whole.

use crate::ids::{IdError, RunId, ThreadId};
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

/// A failure of a [`ThreadStore`](crate::memory::ThreadStore) or
/// [`EpisodicStore`](crate::memory::EpisodicStore).
///
/// In JSON, `{"kind": "backend", "detail": "disk full"}`: the kind and what the variant holds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "kind", content = "detail", rename_all = "snake_case")]
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
    /// The backend could not serve the operation for a reason that may pass: the connection
    /// was refused or lost, the pool had no connection in time, the database was busy or
    /// locked, a transaction lost to a concurrent one. Nothing was written; the same operation
    /// may succeed if tried again ([`StoreError::is_retryable`]).
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The backend failed for good (a constraint, a full disk, a query it refused): trying the
    /// same operation again will fail the same way.
    #[error("store backend error: {0}")]
    Backend(String),
    /// Stored data could not be decoded.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// Another run holds the thread (in this process or another): nothing was written.
    #[error("thread {thread} is busy with run {holder}")]
    ThreadBusy {
        /// The thread.
        thread: ThreadId,
        /// The run holding it.
        holder: RunId,
    },
    /// The run is being driven elsewhere: another owner holds its lease, which has not expired.
    #[error("run {run} is being driven elsewhere (by {owner})")]
    RunLeased {
        /// The run.
        run: RunId,
        /// Who holds the lease.
        owner: String,
    },
    /// The writer's lease on the run is no longer current (it expired and another owner took
    /// the run, or it was released): the write was refused.
    #[error("run {run} lost its lease: another owner drives it now")]
    LeaseLost {
        /// The run.
        run: RunId,
    },
}

/// A tool failed. The run loop turns this into a tool-result message (`"error: …"`) that the
/// model sees, so one bad tool call never crashes a run.
///
/// In JSON, `{"kind": "failed", "detail": "…"}`, as [`StoreError`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "kind", content = "detail", rename_all = "snake_case")]
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

/// Why a run ended without an answer: the one error type of a run, from the bare loop to the
/// supervisor, the terminal [`RunEvent::Failed`](crate::run::RunEvent::Failed), the episodic
/// log and the server's answer.
///
/// Each variant is a kind of outcome with its own [`FailureKind`] (stable, machine-readable,
/// what the log keeps) so that callers tell a refusal from an outage from a bug without reading
/// text. A handoff is not here: it is how a step ends, not a failure.
///
/// ```
/// use baton_core::error::{FailureKind, LlmError, RunError};
///
/// let error = RunError::Provider { error: LlmError::Timeout("first byte".into()) };
/// assert_eq!(error.kind(), FailureKind::Provider);
/// assert_eq!(error.to_string(), "timed out: first byte");
/// assert_eq!(RunError::MaxSteps { steps: 3 }.kind().as_str(), "max_steps");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum RunError {
    /// The run was cancelled: by its caller, by a shutdown, or because its agent stopped.
    #[error("run cancelled")]
    Cancelled,
    /// The run's consumer went away (its stream was dropped) before the run ended.
    #[error("the run's consumer went away")]
    ConsumerGone,
    /// The provider failed, after any retries.
    #[error("{error}")]
    Provider {
        /// What the provider said, redacted.
        error: LlmError,
    },
    /// The run used all its steps without a final answer.
    #[error("max steps exceeded: {steps}")]
    MaxSteps {
        /// The step limit.
        steps: u32,
    },
    /// A guardrail refused the request or the response.
    #[error("refused by guardrail {guardrail} ({stage}): {reason}")]
    Refused {
        /// The guardrail's name.
        guardrail: String,
        /// What it checked.
        stage: GuardStage,
        /// Its reason.
        reason: String,
    },
    /// The run could not be routed to the next agent (unknown, not allowed, down, overloaded,
    /// or too many handoffs).
    #[error("{reason}")]
    Routing {
        /// Why.
        reason: String,
    },
    /// The thread store or the episodic log failed, or refused the run's write (the thread is
    /// busy, the run's lease was lost).
    #[error("{error}")]
    Store {
        /// The store's error.
        error: StoreError,
    },
    /// Tool infrastructure failed in a way the model cannot be told about.
    #[error("tool: {error}")]
    Tool {
        /// The tool's error.
        error: ToolError,
    },
    /// Code the run called panicked; the panic was contained and counts as a failure of the
    /// agent.
    #[error("panicked in the {site}: {message}")]
    Panicked {
        /// Where.
        site: PanicSite,
        /// The panic's message, when it was a string.
        message: String,
    },
    /// The run ended without a result, and nothing could say why (its agent's actor stopped
    /// with the run still queued).
    #[error("{reason}")]
    Lost {
        /// What is known.
        reason: String,
    },
    /// A definition, option or argument is invalid.
    #[error("invalid configuration: {reason}")]
    Invalid {
        /// What is wrong.
        reason: String,
    },
}

impl RunError {
    /// This error's kind, as the episodic log keeps it.
    #[must_use]
    pub const fn kind(&self) -> FailureKind {
        match self {
            Self::Cancelled => FailureKind::Cancelled,
            Self::ConsumerGone => FailureKind::ConsumerGone,
            Self::Provider { .. } => FailureKind::Provider,
            Self::MaxSteps { .. } => FailureKind::MaxSteps,
            Self::Refused { .. } => FailureKind::Refused,
            Self::Routing { .. } => FailureKind::Routing,
            Self::Store { .. } => FailureKind::Store,
            Self::Tool { .. } => FailureKind::Tool,
            Self::Panicked { .. } => FailureKind::Panicked,
            Self::Lost { .. } => FailureKind::Lost,
            Self::Invalid { .. } => FailureKind::Invalid,
        }
    }

    /// A routing failure.
    pub fn routing(reason: impl Into<String>) -> Self {
        Self::Routing {
            reason: reason.into(),
        }
    }

    /// An invalid definition or argument.
    pub fn invalid(reason: impl Into<String>) -> Self {
        Self::Invalid {
            reason: reason.into(),
        }
    }

    /// A contained panic at `site`, with the panic's payload.
    #[must_use]
    pub fn panicked(site: PanicSite, payload: &(dyn std::any::Any + Send)) -> Self {
        Self::Panicked {
            site,
            message: panic_message(payload),
        }
    }

    /// This error with every message [`redact`](crate::redact::redact)ed.
    #[must_use]
    pub fn redacted(self) -> Self {
        use crate::redact::redact_string;
        match self {
            Self::Provider { error } => Self::Provider {
                error: error.redacted(),
            },
            Self::Refused {
                guardrail,
                stage,
                mut reason,
            } => {
                redact_string(&mut reason);
                Self::Refused {
                    guardrail,
                    stage,
                    reason,
                }
            }
            Self::Routing { mut reason } => {
                redact_string(&mut reason);
                Self::Routing { reason }
            }
            Self::Store { error } => Self::Store {
                error: error.redacted(),
            },
            Self::Tool { error } => Self::Tool {
                error: error.redacted(),
            },
            Self::Panicked { site, mut message } => {
                redact_string(&mut message);
                Self::Panicked { site, message }
            }
            Self::Lost { mut reason } => {
                redact_string(&mut reason);
                Self::Lost { reason }
            }
            Self::Invalid { mut reason } => {
                redact_string(&mut reason);
                Self::Invalid { reason }
            }
            other @ (Self::Cancelled | Self::ConsumerGone | Self::MaxSteps { .. }) => other,
        }
    }
}

impl From<LlmError> for RunError {
    fn from(error: LlmError) -> Self {
        match error {
            LlmError::Cancelled => Self::Cancelled,
            error => Self::Provider { error },
        }
    }
}

impl From<StoreError> for RunError {
    fn from(error: StoreError) -> Self {
        Self::Store { error }
    }
}

impl From<ToolError> for RunError {
    fn from(error: ToolError) -> Self {
        Self::Tool { error }
    }
}

impl From<IdError> for RunError {
    fn from(error: IdError) -> Self {
        Self::invalid(error.to_string())
    }
}

/// A definition is invalid: an agent, a tool registry, an option. Returned by builders, before
/// any run starts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(pub String);

impl ConfigError {
    /// A configuration error saying `reason`.
    pub fn new(reason: impl Into<String>) -> Self {
        Self(reason.into())
    }
}

impl From<IdError> for ConfigError {
    fn from(error: IdError) -> Self {
        Self(error.to_string())
    }
}

impl From<ConfigError> for RunError {
    fn from(error: ConfigError) -> Self {
        Self::Invalid { reason: error.0 }
    }
}

/// What a guardrail checked when it refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum GuardStage {
    /// The request, before it went to the model.
    Request,
    /// The model's response, before it was recorded or its tools ran.
    Response,
}

impl std::fmt::Display for GuardStage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Request => "request",
            Self::Response => "response",
        })
    }
}

/// Where in a run a panic was contained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum PanicSite {
    /// The model provider.
    Provider,
    /// A guardrail.
    Guardrail,
    /// The store.
    Store,
    /// A tool.
    Tool,
    /// The run's own code (a bug in Baton).
    Run,
}

impl std::fmt::Display for PanicSite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Provider => "provider",
            Self::Guardrail => "guardrail",
            Self::Store => "store",
            Self::Tool => "tool",
            Self::Run => "run",
        })
    }
}

/// The kind of a [`RunError`]: stable, machine-readable, and what the episodic log keeps next
/// to the message. Kinds written by a later version read back as [`Other`](Self::Other).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FailureKind {
    /// [`RunError::Cancelled`].
    Cancelled,
    /// [`RunError::ConsumerGone`].
    ConsumerGone,
    /// [`RunError::Provider`].
    Provider,
    /// [`RunError::MaxSteps`].
    MaxSteps,
    /// [`RunError::Refused`].
    Refused,
    /// [`RunError::Routing`].
    Routing,
    /// [`RunError::Store`].
    Store,
    /// [`RunError::Tool`].
    Tool,
    /// [`RunError::Panicked`].
    Panicked,
    /// [`RunError::Lost`].
    Lost,
    /// [`RunError::Invalid`].
    Invalid,
    /// A kind this version does not know (or a log written before kinds were kept).
    #[serde(other)]
    Other,
}

impl FailureKind {
    /// The kind as the log and the server's error codes spell it (`"max_steps"`).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Cancelled => "cancelled",
            Self::ConsumerGone => "consumer_gone",
            Self::Provider => "provider",
            Self::MaxSteps => "max_steps",
            Self::Refused => "refused",
            Self::Routing => "routing",
            Self::Store => "store",
            Self::Tool => "tool",
            Self::Panicked => "panicked",
            Self::Lost => "lost",
            Self::Invalid => "invalid",
            Self::Other => "other",
        }
    }
}

impl std::fmt::Display for FailureKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl StoreError {
    /// Whether the same operation, tried again unchanged, may succeed: true only for
    /// [`StoreError::Unavailable`]. A [`StoreError::Conflict`] is not: the writer must read the
    /// thread again first.
    ///
    /// ```
    /// use baton_core::error::StoreError;
    /// assert!(StoreError::Unavailable("database is locked".into()).is_retryable());
    /// assert!(!StoreError::Backend("disk full".into()).is_retryable());
    /// ```
    #[must_use]
    pub const fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }

    /// This error with its message [`redact`](crate::redact::redact)ed.
    #[must_use]
    pub fn redacted(mut self) -> Self {
        if let Self::Unavailable(message) | Self::Backend(message) | Self::Corrupt(message) =
            &mut self
        {
            crate::redact::redact_string(message);
        }
        self
    }
}

impl ToolError {
    /// This error with its messages [`redact`](crate::redact::redact)ed.
    #[must_use]
    pub fn redacted(mut self) -> Self {
        match &mut self {
            Self::InvalidArguments { reason: text, .. }
            | Self::Panicked { message: text, .. }
            | Self::Failed(text) => crate::redact::redact_string(text),
            Self::UnknownTool { .. } | Self::Timeout { .. } => {}
        }
        self
    }
}

/// A panic payload's message, when it was a string.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-string panic payload".to_owned())
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
    fn every_run_error_round_trips_through_json() {
        let run = RunId::new();
        let thread = ThreadId::new();
        let errors = [
            RunError::Cancelled,
            RunError::ConsumerGone,
            LlmError::Timeout("first byte".into()).into(),
            LlmError::Status {
                status: 429,
                message: "slow".into(),
                retry_after: Some(Duration::from_secs(2)),
            }
            .into(),
            RunError::MaxSteps { steps: 3 },
            RunError::Refused {
                guardrail: "g".into(),
                stage: GuardStage::Response,
                reason: "r".into(),
            },
            RunError::routing("no"),
            StoreError::Backend("disk full".into()).into(),
            StoreError::Corrupt("bad row".into()).into(),
            StoreError::ThreadBusy {
                thread,
                holder: run,
            }
            .into(),
            StoreError::LeaseLost { run }.into(),
            ToolError::failed("broken").into(),
            RunError::Panicked {
                site: PanicSite::Store,
                message: "boom".into(),
            },
            RunError::Lost {
                reason: "gone".into(),
            },
            RunError::invalid("bad"),
        ];
        for error in errors {
            let json = serde_json::to_string(&error).unwrap();
            assert_eq!(
                serde_json::from_str::<RunError>(&json).unwrap(),
                error,
                "{json}"
            );
        }
        assert_eq!(
            serde_json::to_value(RunError::from(StoreError::Backend("disk full".into()))).unwrap(),
            serde_json::json!({"kind": "store", "error": {"kind": "backend", "detail": "disk full"}})
        );
    }

    #[test]
    fn messages_say_what_happened() {
        assert_eq!(
            RunError::MaxSteps { steps: 3 }.to_string(),
            "max steps exceeded: 3"
        );
        let refused = RunError::Refused {
            guardrail: "pii".into(),
            stage: GuardStage::Response,
            reason: "an email address".into(),
        };
        assert_eq!(
            refused.to_string(),
            "refused by guardrail pii (response): an email address"
        );
        assert_eq!(
            ToolError::UnknownTool {
                name: "nope".into()
            }
            .to_string(),
            "unknown tool \"nope\""
        );
    }
}
