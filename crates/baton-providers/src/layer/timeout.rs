//! How long a call may take, phase by phase: until its first chunk, between two chunks, and a
//! whole non-streaming call.

use baton_core::error::LlmError;
use baton_core::llm::{ChatChunk, ChatRequest, ChatResponse, ChunkStream, LlmProvider};
use futures::{Stream, StreamExt};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::{Instant, Sleep};
use tower_layer::Layer;

/// A layer that fails calls which take too long with [`LlmError::Timeout`] (retryable).
///
/// | phase | applies to | default |
/// |---|---|---|
/// | [`first_chunk`](Self::first_chunk) | a streamed call, from the call to its first chunk | 60 s |
/// | [`between_chunks`](Self::between_chunks) | a streamed call, from one chunk to the next | 300 s |
/// | [`response`](Self::response) | a non-streaming call, from the call to the whole response | 600 s |
///
/// A model writes the whole answer of a non-streaming call before the first byte of it is
/// sent, so only `response` bounds that call. The phases count chunks, what the model
/// produced: a server's keep-alive pings, and events a provider reads but does not pass on,
/// do not restart them (a model may think for minutes before it writes; a connection that
/// stalls is the HTTP client's [`read_timeout`](crate::ProviderConfig::read_timeout) to
/// catch). After a timeout the stream ends, and the inner stream is dropped (which closes an
/// HTTP provider's connection).
///
/// `OpenAiProvider::new` and `AnthropicProvider::new` put `Timeout::default()` around the
/// HTTP provider; the connect timeout belongs to the HTTP client
/// ([`ProviderConfig::connect_timeout`](crate::ProviderConfig::connect_timeout)).
///
/// ```
/// use baton_core::error::LlmError;
/// use baton_core::llm::{ChatRequest, LlmProvider, Message};
/// use baton_providers::layer::{ProviderExt, Timeout};
/// use baton_testkit::{Script, ScriptedProvider};
/// use futures::StreamExt;
/// use std::sync::Arc;
/// use std::time::Duration;
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap().block_on(async {
/// let model = ScriptedProvider::new().respond(Script::text("Hello there").stall_after(1));
/// let provider = model.layer(Timeout::default().between_chunks(Duration::from_secs(5)));
///
/// let request = ChatRequest::new(vec![Arc::new(Message::user("Hi"))]);
/// let mut stream = provider.chat_stream(&request).await.unwrap();
/// assert!(stream.next().await.unwrap().is_ok());
/// // The model stalls after its first word: five seconds later the stream fails.
/// assert!(matches!(stream.next().await, Some(Err(LlmError::Timeout(_)))));
/// assert!(stream.next().await.is_none());
/// # });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub struct Timeout {
    first_chunk: Duration,
    between_chunks: Duration,
    response: Duration,
}

impl Default for Timeout {
    fn default() -> Self {
        Self {
            first_chunk: Duration::from_secs(60),
            between_chunks: Duration::from_secs(300),
            response: Duration::from_secs(600),
        }
    }
}

impl Timeout {
    /// The default timeouts (see the table above).
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets how long a streamed call may take to deliver its first chunk, counted from the
    /// call (for an HTTP provider: connecting, sending, the response headers and the first
    /// event).
    pub fn first_chunk(mut self, timeout: Duration) -> Self {
        self.first_chunk = timeout;
        self
    }

    /// Sets how long a streamed call may wait for its next chunk.
    pub fn between_chunks(mut self, timeout: Duration) -> Self {
        self.between_chunks = timeout;
        self
    }

    /// Sets how long a non-streaming call may take, from the call to the end of the response.
    pub fn response(mut self, timeout: Duration) -> Self {
        self.response = timeout;
        self
    }
}

impl<P> Layer<P> for Timeout {
    type Service = TimeoutProvider<P>;

    fn layer(&self, inner: P) -> TimeoutProvider<P> {
        TimeoutProvider {
            inner,
            timeout: *self,
        }
    }
}

/// A provider whose calls fail with [`LlmError::Timeout`] when they take too long: what the
/// [`Timeout`] layer makes.
#[derive(Debug, Clone)]
pub struct TimeoutProvider<P> {
    inner: P,
    timeout: Timeout,
}

impl<P> TimeoutProvider<P> {
    /// The provider inside.
    pub fn get_ref(&self) -> &P {
        &self.inner
    }

    /// The provider inside, unwrapped.
    pub fn into_inner(self) -> P {
        self.inner
    }

    /// The timeouts applied.
    pub fn timeout(&self) -> Timeout {
        self.timeout
    }
}

#[async_trait::async_trait]
impl<P: LlmProvider> LlmProvider for TimeoutProvider<P> {
    fn name(&self) -> &str {
        self.inner.name()
    }

    async fn chat_stream(&self, request: &ChatRequest) -> Result<ChunkStream, LlmError> {
        let first_chunk = self.timeout.first_chunk;
        let deadline = deadline_after(first_chunk);
        let stream = tokio::time::timeout_at(deadline, self.inner.chat_stream(request))
            .await
            .map_err(|_| no_first_chunk(first_chunk))??;
        Ok(Box::pin(TimedStream {
            inner: Some(stream),
            wait: Box::pin(tokio::time::sleep_until(deadline)),
            first: true,
            timeout: self.timeout,
        }))
    }

    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, LlmError> {
        let limit = self.timeout.response;
        tokio::time::timeout(limit, self.inner.chat(request))
            .await
            .map_err(|_| LlmError::Timeout(format!("no complete response within {limit:?}")))?
    }
}

fn no_first_chunk(limit: Duration) -> LlmError {
    LlmError::Timeout(format!("no response within {limit:?} of the call"))
}

/// `after` from now, or a moment decades away if that cannot be represented.
fn deadline_after(after: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(after)
        .unwrap_or_else(|| now + Duration::from_secs(30 * 365 * 24 * 60 * 60))
}

/// A stream that fails once its next chunk is late.
struct TimedStream {
    /// `None` once the stream has ended or timed out.
    inner: Option<ChunkStream>,
    /// When the next chunk is late.
    wait: Pin<Box<Sleep>>,
    /// Whether the first chunk is still awaited.
    first: bool,
    timeout: Timeout,
}

impl Stream for TimedStream {
    type Item = Result<ChatChunk, LlmError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(None);
        };
        match inner.poll_next_unpin(cx) {
            Poll::Ready(Some(item)) => {
                this.first = false;
                let next = deadline_after(this.timeout.between_chunks);
                this.wait.as_mut().reset(next);
                Poll::Ready(Some(item))
            }
            Poll::Ready(None) => {
                this.inner = None;
                Poll::Ready(None)
            }
            Poll::Pending => {
                if this.wait.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                // Dropping the inner stream ends the request it reads.
                this.inner = None;
                let error = if this.first {
                    no_first_chunk(this.timeout.first_chunk)
                } else {
                    LlmError::Timeout(format!(
                        "no data from the provider for {:?}",
                        this.timeout.between_chunks
                    ))
                };
                Poll::Ready(Some(Err(error)))
            }
        }
    }
}
