//! The one home of the retry policy: provider calls that fail before their first chunk are
//! retried with exponential backoff and jitter (from `backon`), honouring the provider's
//! `Retry-After` hint; once a chunk has been received, errors are final.

use super::contain::contained;
use super::options::RetryPolicy;
use crate::error::{LlmError, PanicSite, RunError};
use crate::llm::{ChatChunk, ChatRequest, ChunkStream, LlmProvider};
use backon::{BackoffBuilder, ExponentialBuilder};
use futures::StreamExt;
use std::future::Future;
use tokio_util::sync::CancellationToken;

/// A provider stream whose first chunk has arrived: from here on, nothing is retried.
pub(crate) struct OpenedStream {
    pub(crate) first: ChatChunk,
    pub(crate) rest: ChunkStream,
}

/// Opens a response stream and waits for its first chunk, retrying per `policy`.
pub(crate) async fn stream_with_retry(
    llm: &dyn LlmProvider,
    cancel: &CancellationToken,
    request: &ChatRequest,
    policy: &RetryPolicy,
) -> Result<OpenedStream, RunError> {
    with_retry(policy, cancel, || open_stream(llm, request)).await
}

/// Provider errors are [redacted](crate::redact) here, where they enter the loop, before
/// the retry policy logs them.
///
/// A provider that panics fails the run with [`RunError::Panicked`]; that is never retried.
async fn open_stream(
    llm: &dyn LlmProvider,
    request: &ChatRequest,
) -> Result<Result<OpenedStream, LlmError>, RunError> {
    contained(PanicSite::Provider, async {
        let mut rest = llm.chat_stream(request).await.map_err(LlmError::redacted)?;
        match rest.next().await {
            Some(Ok(first)) => Ok(OpenedStream { first, rest }),
            Some(Err(error)) => Err(error.redacted()),
            None => Err(LlmError::IncompleteStream),
        }
    })
    .await
}

/// Runs `attempt` until it succeeds, fails with a non-retryable error, runs out of retries, or
/// the run is cancelled (which also drops the attempt in flight, and ends a backoff at once).
/// An attempt's outer error (a contained panic) ends the run without retry.
pub(crate) async fn with_retry<T, F, Fut>(
    policy: &RetryPolicy,
    cancel: &CancellationToken,
    mut attempt: F,
) -> Result<T, RunError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Result<T, LlmError>, RunError>>,
{
    let mut delays = None;
    let mut attempt_number = 1u32;
    loop {
        let outcome = tokio::select! {
            biased;
            () = cancel.cancelled() => return Err(RunError::Cancelled),
            outcome = attempt() => outcome?,
        };
        let error = match outcome {
            Ok(value) => return Ok(value),
            Err(error) => error,
        };
        if !error.is_retryable() {
            return Err(error.into());
        }
        let Some(backoff) = delays.get_or_insert_with(|| backoff(policy)).next() else {
            tracing::warn!(attempts = attempt_number, %error, "provider call failed; no retries left");
            return Err(error.into());
        };
        let wait = match error.retry_after() {
            Some(hint) if hint > policy.max_retry_after => {
                tracing::warn!(retry_after_ms = hint.as_millis() as u64, %error, "provider asked to wait longer than allowed");
                return Err(error.into());
            }
            Some(hint) => hint,
            None => backoff,
        };
        tracing::warn!(attempt = attempt_number, wait_ms = wait.as_millis() as u64, %error, "provider call failed; retrying");
        tokio::select! {
            biased;
            () = cancel.cancelled() => return Err(RunError::Cancelled),
            () = tokio::time::sleep(wait) => {}
        }
        attempt_number += 1;
    }
}

fn backoff(policy: &RetryPolicy) -> impl Iterator<Item = std::time::Duration> {
    let builder = ExponentialBuilder::new()
        .with_min_delay(policy.initial_backoff)
        .with_max_delay(policy.max_backoff)
        .with_factor(2.0)
        .with_max_times(policy.max_retries as usize);
    if policy.jitter {
        builder.with_jitter().build()
    } else {
        builder.build()
    }
}
