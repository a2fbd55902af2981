//! Provider-neutral model types and the [`LlmProvider`] trait.
//!
//! Everything a provider needs to serve a request, and everything it produces, is here:
//! [`Message`]s, a [`ChatRequest`] with [`ToolSpec`]s and [`ModelSettings`], the streamed
//! [`ChatChunk`]s, and the assembled [`ChatResponse`]. Providers (OpenAI-compatible, Anthropic,
//! the scripted test provider) translate these to and from their wire formats.
//!
//! Messages are shared, not copied: a request holds `Arc<Message>`s taken from the thread's
//! history, and tool specs and settings are built once per agent and shared by every request.

//! | file | what it holds |
//! |---|---|
//! | `message.rs` | [`Message`], [`ToolCall`], [`Role`] |
//! | `request.rs` | [`ChatRequest`], [`ToolSpec`], [`ToolChoice`], [`ModelSettings`] |
//! | `response.rs` | [`ChatChunk`], [`ChatResponse`], [`Usage`], [`FinishReason`], [`ToolCallDelta`] |
//! | `provider.rs` | [`LlmProvider`], [`ChunkStream`] |
//! | `assemble.rs` | [`ResponseAssembler`]: chunks into a response, for providers and tests |
//! | `tokens.rs` | token estimates for the history budget |

mod assemble;
mod message;
mod provider;
mod request;
mod response;
pub mod tokens;

pub use assemble::ResponseAssembler;
pub(crate) use assemble::collect_stream;
pub use message::{Message, Role, ToolCall};
pub use provider::{ChunkStream, LlmProvider};
pub use request::{ChatRequest, ModelSettings, ToolChoice, ToolSpec};
pub use response::{ChatChunk, ChatResponse, FinishReason, ToolCallDelta, Usage};

#[cfg(test)]
mod tests;
