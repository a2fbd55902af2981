//! What a model answers: streamed chunks, or a whole response, with its token usage.

use super::Message;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Token accounting of one response (or, summed, of a run).
///
/// The numbers come from providers, so sums saturate at `u64::MAX` instead of overflowing:
/// a provider reporting absurd counts cannot panic a run or wrap its total.
///
/// ```
/// use baton_core::llm::Usage;
/// let huge = Usage::new(u64::MAX, 1);
/// assert_eq!((huge + Usage::new(5, 2)).input_tokens, u64::MAX);
/// assert_eq!(huge.total(), u64::MAX);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Usage {
    /// Tokens in the prompt.
    pub input_tokens: u64,
    /// Tokens generated.
    pub output_tokens: u64,
}

impl Usage {
    /// Usage of `input_tokens` prompt tokens and `output_tokens` generated tokens.
    #[must_use]
    pub const fn new(input_tokens: u64, output_tokens: u64) -> Self {
        Self {
            input_tokens,
            output_tokens,
        }
    }

    /// Prompt plus generated tokens (saturating).
    #[must_use]
    pub const fn total(&self) -> u64 {
        self.input_tokens.saturating_add(self.output_tokens)
    }
}

impl std::ops::Add for Usage {
    type Output = Self;

    fn add(self, other: Self) -> Self {
        Self::new(
            self.input_tokens.saturating_add(other.input_tokens),
            self.output_tokens.saturating_add(other.output_tokens),
        )
    }
}

impl std::ops::AddAssign for Usage {
    fn add_assign(&mut self, other: Self) {
        *self = *self + other;
    }
}

/// Why the model stopped generating.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FinishReason {
    /// A natural end of the answer.
    Stop,
    /// The response token limit was reached.
    Length,
    /// The model called tools and waits for their results.
    ToolCalls,
    /// The provider's content filter stopped the response.
    ContentFilter,
    /// Any other reason the provider gave.
    Other,
}

/// A fragment of a tool call, as streamed. Fragments with the same `index` belong to one call;
/// the id and name usually arrive in the first fragment, the arguments across many.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolCallDelta {
    /// Position of the call within the response.
    pub index: u32,
    /// The call's id, when this fragment carries it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The tool's name, when this fragment carries it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A fragment of the JSON arguments text.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub arguments: String,
}

/// One item of a streamed response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ChatChunk {
    /// Generated text. Shared, so forwarding it to a consumer does not copy it.
    Text {
        /// The new text.
        delta: Arc<str>,
    },
    /// A fragment of a tool call.
    ToolCall(ToolCallDelta),
    /// The response's token usage. When a stream carries several, the last one is the total.
    Usage {
        /// The usage.
        usage: Usage,
    },
    /// The end of the response.
    Finish {
        /// Why the model stopped.
        reason: FinishReason,
    },
}

impl ChatChunk {
    /// A text chunk.
    pub fn text(delta: impl Into<Arc<str>>) -> Self {
        Self::Text {
            delta: delta.into(),
        }
    }

    /// A finish chunk.
    #[must_use]
    pub const fn finish(reason: FinishReason) -> Self {
        Self::Finish { reason }
    }

    /// A usage chunk.
    #[must_use]
    pub const fn usage(usage: Usage) -> Self {
        Self::Usage { usage }
    }
}

/// A complete response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatResponse {
    /// The assistant message (text and tool calls).
    pub message: Message,
    /// Token usage.
    pub usage: Usage,
    /// Why the model stopped.
    pub finish_reason: FinishReason,
}
