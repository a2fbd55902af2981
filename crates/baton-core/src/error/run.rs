//! Why a run ended without an answer, and how that is classified.

use super::{LlmError, StoreError, ToolError, panic_message};
use crate::ids::IdError;
use serde::{Deserialize, Serialize};

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
    /// Not a failure: the run paused, its calls in `pending` waiting for a person's
    /// decision. Only callers that wait for an answer see this; the run's stream ends with
    /// [`RunEvent::Paused`](crate::run::RunEvent::Paused) and its log records no end.
    #[error("paused: waiting for approval of {}", pending.join(", "))]
    Paused {
        /// The ids of the calls that wait.
        pending: Vec<String>,
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
            Self::Paused { .. } => FailureKind::Paused,
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
            other @ (Self::Cancelled
            | Self::ConsumerGone
            | Self::MaxSteps { .. }
            | Self::Paused { .. }) => other,
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
    /// [`RunError::Paused`]: not a failure, and never a `Failed` episode's kind.
    Paused,
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
            Self::Paused => "paused",
            Self::Other => "other",
        }
    }
}

impl std::fmt::Display for FailureKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
