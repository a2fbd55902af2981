//! The seam between Baton and a model API.

use super::{ChatChunk, ChatRequest, ChatResponse, collect_stream};
use crate::error::LlmError;
use async_trait::async_trait;
use futures::Stream;
use std::pin::Pin;
use std::sync::Arc;

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
