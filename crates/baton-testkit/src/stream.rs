use crate::script::Item;
use baton_core::error::LlmError;
use baton_core::llm::ChatChunk;
use futures::Stream;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::Sleep;

/// Plays a script's items; sleeps only where the script asks for time.
pub(crate) struct ScriptStream {
    items: std::vec::IntoIter<Item>,
    latency: Option<Duration>,
    sleep: Option<Pin<Box<Sleep>>>,
    counter: Arc<AtomicU64>,
    stalled: bool,
}

impl ScriptStream {
    pub(crate) fn new(items: Vec<Item>, latency: Duration, counter: Arc<AtomicU64>) -> Self {
        Self {
            items: items.into_iter(),
            latency: (!latency.is_zero()).then_some(latency),
            sleep: None,
            counter,
            stalled: false,
        }
    }
}

impl Stream for ScriptStream {
    type Item = Result<ChatChunk, LlmError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.stalled {
            return Poll::Pending;
        }
        loop {
            if let Some(sleep) = self.sleep.as_mut() {
                if sleep.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                self.sleep = None;
            }
            if let Some(latency) = self.latency.take() {
                self.sleep = Some(Box::pin(tokio::time::sleep(latency)));
                continue;
            }
            return match self.items.next() {
                None => Poll::Ready(None),
                Some(Item::Chunk(chunk)) => {
                    self.counter.fetch_add(1, Ordering::Relaxed);
                    Poll::Ready(Some(Ok(chunk)))
                }
                Some(Item::Error(error)) => Poll::Ready(Some(Err(error))),
                Some(Item::Delay(delay)) => {
                    self.sleep = Some(Box::pin(tokio::time::sleep(delay)));
                    continue;
                }
                // Silent forever; the consumer's cancellation or timeout ends it.
                Some(Item::Stall) => {
                    self.stalled = true;
                    Poll::Pending
                }
            };
        }
    }
}
