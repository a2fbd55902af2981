//! Provider-neutral model types and the [`LlmProvider`] trait.
//!
//! Everything a provider needs to serve a request, and everything it produces, is here:
//! [`Message`]s, a [`ChatRequest`] with [`ToolSpec`]s and [`ModelSettings`], the streamed
//! [`ChatChunk`]s, and the assembled [`ChatResponse`]. Providers (OpenAI-compatible, Anthropic,
//! the scripted test provider) translate these to and from their wire formats.
//!
//! Messages are shared, not copied: a request holds `Arc<Message>`s taken from the thread's
//! history, and tool specs and settings are built once per agent and shared by every request.

mod assemble;
mod message;
pub mod tokens;

pub use assemble::{ResponseAssembler, collect_stream};
pub use message::{Message, Role, ToolCall};

use crate::error::LlmError;
use async_trait::async_trait;
use futures::Stream;
use serde::{Deserialize, Serialize};
use std::pin::Pin;
use std::sync::Arc;

/// A tool as the model sees it: a name, what it does, and the JSON Schema of its arguments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    /// The name the model calls the tool by.
    pub name: String,
    /// What the tool does, for the model.
    pub description: String,
    /// JSON Schema of the arguments object.
    pub parameters: serde_json::Value,
}

/// How the model may use tools.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ToolChoice {
    /// The model decides.
    Auto,
    /// The model must not call tools.
    None,
    /// The model must call some tool.
    Required,
    /// The model must call this tool.
    Tool {
        /// The tool's name.
        name: String,
    },
}

/// Model and sampling settings sent with every request of an agent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ModelSettings {
    /// Model name; `None` lets the provider use its configured default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Sampling temperature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    /// Nucleus sampling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f32>,
    /// Most tokens the model may generate in one response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// Tool use policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice>,
    /// Whether the model may call several tools in one response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel_tool_calls: Option<bool>,
}

impl ModelSettings {
    /// Settings for `model`, everything else at the provider's defaults.
    pub fn model(model: impl Into<String>) -> Self {
        Self {
            model: Some(model.into()),
            ..Self::default()
        }
    }

    /// Sets the temperature.
    #[must_use]
    pub fn with_temperature(mut self, temperature: f32) -> Self {
        self.temperature = Some(temperature);
        self
    }

    /// Sets the response token limit.
    #[must_use]
    pub fn with_max_tokens(mut self, max_tokens: u32) -> Self {
        self.max_tokens = Some(max_tokens);
        self
    }

    /// Sets the tool choice.
    #[must_use]
    pub fn with_tool_choice(mut self, tool_choice: ToolChoice) -> Self {
        self.tool_choice = Some(tool_choice);
        self
    }

    /// Allows or forbids parallel tool calls.
    #[must_use]
    pub fn with_parallel_tool_calls(mut self, parallel: bool) -> Self {
        self.parallel_tool_calls = Some(parallel);
        self
    }
}

/// One request to a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ChatRequest {
    /// The conversation, oldest first; a system message, if any, comes first.
    pub messages: Vec<Arc<Message>>,
    /// The tools the model may call (shared by every request of an agent).
    pub tools: Arc<[ToolSpec]>,
    /// Model and sampling settings (shared by every request of an agent).
    pub settings: Arc<ModelSettings>,
    /// The run the request is for, when a run makes it: providers may pass its ids on (as
    /// request metadata or headers) or read the caller's extensions. Not serialized.
    #[serde(skip)]
    pub run: Option<crate::context::RequestRun>,
}

impl ChatRequest {
    /// A request with these messages, no tools and default settings.
    #[must_use]
    pub fn new(messages: Vec<Arc<Message>>) -> Self {
        Self {
            messages,
            tools: Arc::from([]),
            settings: Arc::default(),
            run: None,
        }
    }

    /// This request offering `tools` to the model.
    #[must_use]
    pub fn with_tools(mut self, tools: impl Into<Arc<[ToolSpec]>>) -> Self {
        self.tools = tools.into();
        self
    }

    /// This request with model and sampling `settings`.
    #[must_use]
    pub fn with_settings(mut self, settings: impl Into<Arc<ModelSettings>>) -> Self {
        self.settings = settings.into();
        self
    }

    /// The text of the last user message, if there is one.
    #[must_use]
    pub fn last_user_text(&self) -> Option<&str> {
        self.messages.iter().rev().find_map(|m| match &**m {
            Message::User { content } => Some(content.as_str()),
            _ => None,
        })
    }
}

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

/// A streamed response: chunks until [`ChatChunk::Finish`], or an error.
pub type ChunkStream = Pin<Box<dyn Stream<Item = Result<ChatChunk, LlmError>> + Send>>;

/// A model provider: the seam between Baton and a model API.
///
/// Implement [`chat_stream`](LlmProvider::chat_stream); [`chat`](LlmProvider::chat) has a
/// default that collects the stream. Errors are classified as [`LlmError`] so the run loop can
/// retry the transient ones.
#[async_trait]
pub trait LlmProvider: Send + Sync + 'static {
    /// A short name for logs and metrics (`"openai"`, `"scripted"`).
    fn name(&self) -> &str;

    /// Starts a streamed response.
    async fn chat_stream(&self, request: &ChatRequest) -> Result<ChunkStream, LlmError>;

    /// A complete response. The default collects [`chat_stream`](LlmProvider::chat_stream).
    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, LlmError> {
        collect_stream(self.chat_stream(request).await?, usize::MAX).await
    }
}

#[async_trait]
impl<P: LlmProvider + ?Sized> LlmProvider for Arc<P> {
    fn name(&self) -> &str {
        (**self).name()
    }

    async fn chat_stream(&self, request: &ChatRequest) -> Result<ChunkStream, LlmError> {
        (**self).chat_stream(request).await
    }

    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, LlmError> {
        (**self).chat(request).await
    }
}

#[cfg(test)]
mod tests;
