//! Failures of tools.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A tool failed. The run loop turns this into a tool-result message (`"error: …"`) that the
/// model sees, so one bad tool call never crashes a run.
///
/// In JSON, `{"kind": "failed", "detail": "…"}`, as [`StoreError`](super::StoreError).
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
