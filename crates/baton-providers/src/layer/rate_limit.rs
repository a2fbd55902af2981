//! How often and how many at once calls may go out: a budget of calls per interval and a
//! number of calls in flight, which calls wait for rather than fail on.

use baton_core::error::LlmError;
use baton_core::llm::{ChatChunk, ChatRequest, ChatResponse, ChunkStream, LlmProvider};
use futures::{Stream, StreamExt};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tower_layer::Layer;

/// A layer that holds calls back until the budget allows them: at most
/// [`requests`](Self::requests) calls per interval and at most
/// [`concurrent`](Self::concurrent) calls in flight. A call waits for its turn; it never
/// fails for the limit (put [`Timeout`](super::Timeout) outside this layer to bound the
/// wait too, inside it to bound only the call).
///
/// The interval budget is a bucket of `count` calls that refills one call every
/// `interval / count`: `count` calls may go at once, then one call each `interval / count`.
/// A call in flight is one whose stream has not yet finished, failed or been dropped.
///
/// One `RateLimit` value is one budget: every provider it wraps, and every clone of it,
/// draws from the same budget (one API key's limit shared by several providers). Make a new
/// value for a separate budget.
///
/// ```
/// use baton_core::llm::{ChatRequest, LlmProvider, Message};
/// use baton_providers::layer::{ProviderExt, RateLimit};
/// use baton_testkit::{Script, ScriptedProvider};
/// use std::sync::Arc;
/// use std::time::Duration;
/// use tokio::time::Instant;
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap().block_on(async {
/// let model = ScriptedProvider::from_fn(|_| Script::text("Hi"));
/// let provider = model.layer(RateLimit::new().requests(2, Duration::from_secs(1)).concurrent(4));
///
/// let request = ChatRequest::new(vec![Arc::new(Message::user("Hi"))]);
/// let started = Instant::now();
/// for _ in 0..3 {
///     provider.chat(&request).await.unwrap();
/// }
/// // Two calls at once, the third half a second later.
/// assert_eq!(started.elapsed(), Duration::from_millis(500));
/// # });
/// ```
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct RateLimit {
    limits: Arc<Limits>,
}

#[derive(Debug, Default)]
struct Limits {
    pace: Option<Pace>,
    in_flight: Option<Arc<Semaphore>>,
}

impl RateLimit {
    /// A layer without limits; add them with [`requests`](Self::requests) and
    /// [`concurrent`](Self::concurrent).
    pub fn new() -> Self {
        Self::default()
    }

    /// Allows `count` calls per `interval` (a count of 0 is taken as 1).
    pub fn requests(self, count: u32, interval: Duration) -> Self {
        let pace = Pace::new(count.max(1), interval);
        self.with(|limits| limits.pace = Some(pace))
    }

    /// Allows `calls` calls in flight at once (0 is taken as 1).
    pub fn concurrent(self, calls: usize) -> Self {
        let permits = Arc::new(Semaphore::new(calls.max(1)));
        self.with(|limits| limits.in_flight = Some(permits))
    }

    fn with(self, change: impl FnOnce(&mut Limits)) -> Self {
        let mut limits = Limits {
            pace: self.limits.pace.clone(),
            in_flight: self.limits.in_flight.clone(),
        };
        change(&mut limits);
        Self {
            limits: Arc::new(limits),
        }
    }
}

impl<P> Layer<P> for RateLimit {
    type Service = RateLimitProvider<P>;

    fn layer(&self, inner: P) -> RateLimitProvider<P> {
        RateLimitProvider {
            inner,
            limits: Arc::clone(&self.limits),
        }
    }
}

/// A provider whose calls wait for a budget: what the [`RateLimit`] layer makes.
#[derive(Debug, Clone)]
pub struct RateLimitProvider<P> {
    inner: P,
    limits: Arc<Limits>,
}

impl<P> RateLimitProvider<P> {
    /// The provider inside.
    pub fn get_ref(&self) -> &P {
        &self.inner
    }

    /// The provider inside, unwrapped.
    pub fn into_inner(self) -> P {
        self.inner
    }

    /// Waits for a slot in flight, then for the interval budget; the slot is held by the
    /// returned permit.
    async fn admit(&self) -> Option<OwnedSemaphorePermit> {
        let permit = match &self.limits.in_flight {
            // The semaphore is never closed, so acquiring fails never.
            Some(permits) => Arc::clone(permits).acquire_owned().await.ok(),
            None => None,
        };
        if let Some(pace) = &self.limits.pace {
            tokio::time::sleep_until(pace.reserve()).await;
        }
        permit
    }
}

#[async_trait::async_trait]
impl<P: LlmProvider> LlmProvider for RateLimitProvider<P> {
    fn name(&self) -> &str {
        self.inner.name()
    }

    async fn chat_stream(&self, request: &ChatRequest) -> Result<ChunkStream, LlmError> {
        let permit = self.admit().await;
        let stream = self.inner.chat_stream(request).await?;
        Ok(match permit {
            Some(permit) => Box::pin(HoldingStream {
                inner: stream,
                permit: Some(permit),
            }),
            None => stream,
        })
    }

    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, LlmError> {
        let _permit = self.admit().await;
        self.inner.chat(request).await
    }
}

/// Calls spaced by the generic cell rate algorithm: `count` at once, then one per
/// `interval / count`.
#[derive(Debug)]
struct Pace {
    /// The time one call uses of the budget.
    spacing: Duration,
    /// How far ahead of the schedule a call may go: the burst.
    burst: Duration,
    /// When the budget is next back to one call (the theoretical arrival time).
    schedule: Mutex<Option<Instant>>,
}

impl Clone for Pace {
    fn clone(&self) -> Self {
        // A clone made while building the layer shares nothing yet.
        Self::from_spacing(self.spacing, self.burst)
    }
}

impl Pace {
    fn new(count: u32, interval: Duration) -> Self {
        let spacing = interval / count;
        Self::from_spacing(spacing, spacing * (count - 1))
    }

    fn from_spacing(spacing: Duration, burst: Duration) -> Self {
        Self {
            spacing,
            burst,
            schedule: Mutex::new(None),
        }
    }

    /// Takes the next call's share of the budget and says when that call may go. A call
    /// dropped while it waits keeps its share used: the budget errs on the side of fewer
    /// calls.
    fn reserve(&self) -> Instant {
        let now = Instant::now();
        let mut schedule = self.schedule.lock().unwrap_or_else(PoisonError::into_inner);
        let due = schedule.map_or(now, |due| due.max(now));
        *schedule = Some(due + self.spacing);
        due.checked_sub(self.burst).map_or(now, |at| at.max(now))
    }
}

/// A stream that holds its call's slot until it finishes, fails or is dropped.
struct HoldingStream {
    inner: ChunkStream,
    permit: Option<OwnedSemaphorePermit>,
}

impl Stream for HoldingStream {
    type Item = Result<ChatChunk, LlmError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let polled = self.inner.poll_next_unpin(cx);
        if let Poll::Ready(None | Some(Err(_) | Ok(ChatChunk::Finish { .. }))) = &polled {
            self.permit = None;
        }
        polled
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_budget_bursts_then_paces() {
        let pace = Pace::new(3, Duration::from_secs(3));
        let start = Instant::now();
        let slots: Vec<_> = (0..5).map(|_| pace.reserve() - start).collect();
        let second = Duration::from_secs(1);
        assert_eq!(
            slots,
            [
                Duration::ZERO,
                Duration::ZERO,
                Duration::ZERO,
                second,
                second * 2
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_budget_refills() {
        let pace = Pace::new(2, Duration::from_secs(2));
        let start = Instant::now();
        for _ in 0..2 {
            assert_eq!(pace.reserve(), start);
        }
        tokio::time::advance(Duration::from_secs(10)).await;
        let later = Instant::now();
        for _ in 0..2 {
            assert_eq!(pace.reserve(), later);
        }
        assert_eq!(pace.reserve(), later + Duration::from_secs(1));
    }
}
