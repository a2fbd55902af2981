//! Which errors count as retryable: the caller's mapping of a provider's errors, applied to
//! every error a call returns or its stream yields.

use baton_core::error::LlmError;
use baton_core::llm::{ChatRequest, ChatResponse, ChunkStream, LlmProvider};
use futures::StreamExt;
use std::fmt;
use std::sync::Arc;
use tower_layer::Layer;

/// A layer that passes every error of a call through `map`, so that the run loop's retry (in
/// `baton-core`, which retries the errors for which
/// [`LlmError::is_retryable`] holds) sees the caller's classification.
///
/// The providers classify by HTTP status and error type (see the crate's table); a server
/// that, say, answers 409 for a request that will never succeed, or 400 for a passing
/// glitch, can be corrected here with [`transient`] and [`permanent`].
///
/// ```
/// use baton_core::error::LlmError;
/// use baton_core::llm::{ChatRequest, LlmProvider, Message};
/// use baton_providers::layer::{Classify, ProviderExt, permanent};
/// use baton_testkit::{Script, ScriptedProvider};
/// use std::sync::Arc;
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let conflict = LlmError::Status { status: 409, message: "conflict".into(), retry_after: None };
/// let model = ScriptedProvider::new().respond(Script::error(conflict));
/// // This server's 409 means the request can never succeed: do not retry it.
/// let provider = model.layer(Classify::new(|error| match error {
///     LlmError::Status { status: 409, .. } => permanent(error),
///     other => other,
/// }));
///
/// let request = ChatRequest::new(vec![Arc::new(Message::user("Hi"))]);
/// let Err(error) = provider.chat_stream(&request).await else { panic!("scripted to fail") };
/// assert!(!error.is_retryable());
/// assert_eq!(error.to_string(), "provider error: provider returned HTTP 409: conflict");
/// # });
/// ```
#[must_use]
pub struct Classify<F> {
    map: Arc<F>,
}

impl<F> Classify<F>
where
    F: Fn(LlmError) -> LlmError + Send + Sync + 'static,
{
    /// A layer mapping each error with `map`.
    pub fn new(map: F) -> Self {
        Self { map: Arc::new(map) }
    }
}

impl<F> Clone for Classify<F> {
    fn clone(&self) -> Self {
        Self {
            map: Arc::clone(&self.map),
        }
    }
}

impl<F> fmt::Debug for Classify<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Classify").finish_non_exhaustive()
    }
}

impl<P, F> Layer<P> for Classify<F> {
    type Service = ClassifyProvider<P, F>;

    fn layer(&self, inner: P) -> ClassifyProvider<P, F> {
        ClassifyProvider {
            inner,
            map: Arc::clone(&self.map),
        }
    }
}

/// A provider whose errors pass through a mapping: what the [`Classify`] layer makes.
pub struct ClassifyProvider<P, F> {
    inner: P,
    map: Arc<F>,
}

impl<P, F> ClassifyProvider<P, F> {
    /// The provider inside.
    pub fn get_ref(&self) -> &P {
        &self.inner
    }

    /// The provider inside, unwrapped.
    pub fn into_inner(self) -> P {
        self.inner
    }
}

impl<P: Clone, F> Clone for ClassifyProvider<P, F> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            map: Arc::clone(&self.map),
        }
    }
}

impl<P: fmt::Debug, F> fmt::Debug for ClassifyProvider<P, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClassifyProvider")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

#[async_trait::async_trait]
impl<P, F> LlmProvider for ClassifyProvider<P, F>
where
    P: LlmProvider,
    F: Fn(LlmError) -> LlmError + Send + Sync + 'static,
{
    fn name(&self) -> &str {
        self.inner.name()
    }

    async fn chat_stream(&self, request: &ChatRequest) -> Result<ChunkStream, LlmError> {
        let stream = self.inner.chat_stream(request).await.map_err(&*self.map)?;
        let map = Arc::clone(&self.map);
        Ok(Box::pin(stream.map(move |item| item.map_err(&*map))))
    }

    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, LlmError> {
        self.inner.chat(request).await.map_err(&*self.map)
    }
}

/// `error`, counted as retryable: unchanged if it already is, else an
/// [`LlmError::Provider`] marked retryable whose message is `error`'s.
#[must_use]
pub fn transient(error: LlmError) -> LlmError {
    with_retryability(error, true)
}

/// `error`, counted as not retryable: unchanged if it already is not, else an
/// [`LlmError::Provider`] marked not retryable whose message is `error`'s.
#[must_use]
pub fn permanent(error: LlmError) -> LlmError {
    with_retryability(error, false)
}

/// `LlmError::is_retryable` follows from the variant; `Provider` is the variant that carries
/// its retryability, so a reclassified error becomes one.
fn with_retryability(error: LlmError, retryable: bool) -> LlmError {
    if error.is_retryable() == retryable {
        return error;
    }
    LlmError::Provider {
        message: error.to_string(),
        retryable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reclassified_errors_keep_their_message() {
        let bad_request = LlmError::Status {
            status: 400,
            message: "try again".into(),
            retry_after: None,
        };
        assert_eq!(
            transient(bad_request),
            LlmError::Provider {
                message: "provider returned HTTP 400: try again".into(),
                retryable: true
            }
        );
        let reset = LlmError::Connection("reset".into());
        assert_eq!(
            permanent(reset),
            LlmError::Provider {
                message: "connection error: reset".into(),
                retryable: false
            }
        );
    }

    #[test]
    fn errors_already_so_classified_are_unchanged() {
        let overloaded = LlmError::Overloaded {
            message: "busy".into(),
            retry_after: Some(std::time::Duration::from_secs(1)),
        };
        assert_eq!(transient(overloaded.clone()), overloaded);
        assert_eq!(
            permanent(LlmError::IncompleteStream),
            LlmError::IncompleteStream
        );
    }
}
