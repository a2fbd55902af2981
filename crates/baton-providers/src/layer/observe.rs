//! What each call did, told to an [`Observer`] when the call ends: its latency, time to first
//! chunk, usage and outcome. The place to count calls and tokens, or to export them to a
//! metrics system, without the providers knowing of one.

use baton_core::error::LlmError;
use baton_core::llm::{
    ChatChunk, ChatRequest, ChatResponse, ChunkStream, FinishReason, LlmProvider, Usage,
};
use futures::{Stream, StreamExt};
use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::Instant;
use tower_layer::Layer;

/// What one call did, as an [`Observer`] is told it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CallRecord {
    /// The provider's [`name`](LlmProvider::name).
    pub provider: String,
    /// The model the request named, if it named one (else the provider's default applied).
    pub model: Option<String>,
    /// Whether the call was streamed (`chat_stream`) or not (`chat`).
    pub streamed: bool,
    /// From the call to its end: the response, the stream's finish or error, or the drop.
    pub latency: Duration,
    /// From the call to the first chunk of a streamed call, if one arrived.
    pub first_chunk: Option<Duration>,
    /// The token usage the provider reported, if it did.
    pub usage: Option<Usage>,
    /// How the call ended.
    pub outcome: CallOutcome,
}

/// How a call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallOutcome {
    /// The model finished its answer.
    Finished(FinishReason),
    /// The call failed. A stream that ends without a finish fails with
    /// [`LlmError::IncompleteStream`].
    Failed(LlmError),
    /// The caller dropped the call, or its stream, before the answer finished (a cancelled
    /// run, a consumer that stopped reading).
    Dropped,
}

/// Told of every call when it ends. Closures `Fn(&CallRecord)` are observers.
///
/// It is called on the task that ends the call (or drops it), so it should be quick: count,
/// record, or send to a channel.
pub trait Observer: Send + Sync + 'static {
    /// One call ended.
    fn observe(&self, call: &CallRecord);
}

impl<F> Observer for F
where
    F: Fn(&CallRecord) + Send + Sync + 'static,
{
    fn observe(&self, call: &CallRecord) {
        self(call);
    }
}

/// A layer that tells an [`Observer`] what each call did.
///
/// ```
/// use baton_core::llm::{ChatRequest, FinishReason, LlmProvider, Message};
/// use baton_providers::layer::{CallOutcome, CallRecord, Observe, ProviderExt};
/// use baton_testkit::{Script, ScriptedProvider};
/// use std::sync::{Arc, Mutex};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let calls = Arc::new(Mutex::new(Vec::new()));
/// let record = Arc::clone(&calls);
/// let model = ScriptedProvider::new().respond(Script::text("Hello there"));
/// let provider = model.layer(Observe::new(move |call: &CallRecord| {
///     record.lock().unwrap().push(call.clone());
/// }));
///
/// let request = ChatRequest::new(vec![Arc::new(Message::user("Hi"))]);
/// provider.chat(&request).await.unwrap();
///
/// let calls = calls.lock().unwrap();
/// assert_eq!(calls[0].provider, "scripted");
/// assert_eq!(calls[0].outcome, CallOutcome::Finished(FinishReason::Stop));
/// assert!(calls[0].usage.is_some());
/// # });
/// ```
#[must_use]
pub struct Observe<O> {
    observer: Arc<O>,
}

impl<O: Observer> Observe<O> {
    /// A layer telling `observer` of every call.
    pub fn new(observer: O) -> Self {
        Self {
            observer: Arc::new(observer),
        }
    }
}

impl<O> Clone for Observe<O> {
    fn clone(&self) -> Self {
        Self {
            observer: Arc::clone(&self.observer),
        }
    }
}

impl<O> fmt::Debug for Observe<O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Observe").finish_non_exhaustive()
    }
}

impl<P, O> Layer<P> for Observe<O> {
    type Service = ObserveProvider<P, O>;

    fn layer(&self, inner: P) -> ObserveProvider<P, O> {
        ObserveProvider {
            inner,
            observer: Arc::clone(&self.observer),
        }
    }
}

/// A provider whose calls are told to an [`Observer`]: what the [`Observe`] layer makes.
pub struct ObserveProvider<P, O> {
    inner: P,
    observer: Arc<O>,
}

impl<P, O> ObserveProvider<P, O> {
    /// The provider inside.
    pub fn get_ref(&self) -> &P {
        &self.inner
    }

    /// The provider inside, unwrapped.
    pub fn into_inner(self) -> P {
        self.inner
    }
}

impl<P: Clone, O> Clone for ObserveProvider<P, O> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            observer: Arc::clone(&self.observer),
        }
    }
}

impl<P: fmt::Debug, O> fmt::Debug for ObserveProvider<P, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObserveProvider")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

#[async_trait::async_trait]
impl<P: LlmProvider, O: Observer> LlmProvider for ObserveProvider<P, O> {
    fn name(&self) -> &str {
        self.inner.name()
    }

    async fn chat_stream(&self, request: &ChatRequest) -> Result<ChunkStream, LlmError> {
        let mut call = Call::start(self, request, true);
        match self.inner.chat_stream(request).await {
            Ok(stream) => Ok(Box::pin(ObservedStream {
                inner: stream,
                call: Some(call),
            })),
            Err(error) => {
                call.end(CallOutcome::Failed(error.clone()));
                Err(error)
            }
        }
    }

    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, LlmError> {
        let mut call = Call::start(self, request, false);
        let result = self.inner.chat(request).await;
        match &result {
            Ok(response) => {
                call.usage = Some(response.usage);
                call.end(CallOutcome::Finished(response.finish_reason));
            }
            Err(error) => call.end(CallOutcome::Failed(error.clone())),
        }
        result
    }
}

/// A call not yet told: told [`CallOutcome::Dropped`] if it is dropped before it ends.
struct Call {
    observer: Arc<dyn Observer>,
    record: Option<CallRecord>,
    started: Instant,
    usage: Option<Usage>,
}

impl Call {
    fn start<P: LlmProvider, O: Observer>(
        provider: &ObserveProvider<P, O>,
        request: &ChatRequest,
        streamed: bool,
    ) -> Self {
        let observer: Arc<dyn Observer> = Arc::clone(&provider.observer) as _;
        Self {
            observer,
            record: Some(CallRecord {
                provider: provider.inner.name().to_owned(),
                model: request.settings.model.clone(),
                streamed,
                latency: Duration::ZERO,
                first_chunk: None,
                usage: None,
                outcome: CallOutcome::Dropped,
            }),
            started: Instant::now(),
            usage: None,
        }
    }

    /// Notes a chunk of the stream; true if it ended the call.
    fn chunk(&mut self, item: Option<&Result<ChatChunk, LlmError>>) -> bool {
        if let (Some(Ok(_)), Some(record)) = (item, &mut self.record) {
            record.first_chunk.get_or_insert(self.started.elapsed());
        }
        let outcome = match item {
            Some(Ok(ChatChunk::Usage { usage })) => {
                self.usage = Some(*usage);
                return false;
            }
            Some(Ok(ChatChunk::Finish { reason })) => CallOutcome::Finished(*reason),
            Some(Ok(_)) => return false,
            Some(Err(error)) => CallOutcome::Failed(error.clone()),
            None => CallOutcome::Failed(LlmError::IncompleteStream),
        };
        self.end(outcome);
        true
    }

    fn end(&mut self, outcome: CallOutcome) {
        if let Some(mut record) = self.record.take() {
            record.latency = self.started.elapsed();
            record.usage = self.usage;
            record.outcome = outcome;
            self.observer.observe(&record);
        }
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        self.end(CallOutcome::Dropped);
    }
}

/// A stream whose end is told.
struct ObservedStream {
    inner: ChunkStream,
    /// `None` once the call has been told.
    call: Option<Call>,
}

impl Stream for ObservedStream {
    type Item = Result<ChatChunk, LlmError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let polled = self.inner.poll_next_unpin(cx);
        if let Poll::Ready(item) = &polled
            && let Some(call) = &mut self.call
            && call.chunk(item.as_ref())
        {
            self.call = None;
        }
        polled
    }
}
