//! Forwarding a provider stream to the consumer, with backpressure.
//!
//! Each text chunk is assembled into the step's message and sent on the bounded event channel;
//! the provider stream is polled again only once the consumer has room, so a slow consumer
//! slows the provider instead of growing a buffer. The text is shared (`Arc<str>`) between the
//! event and the assembler: forwarding does not copy or allocate per chunk.

use super::contain::contained;
use super::event::{EventSink, RunEvent};
use super::retry::OpenedStream;
use crate::error::{PanicSite, RunError};
use crate::llm::{ChatChunk, ChatResponse, ResponseAssembler};
use futures::StreamExt;
use tokio_util::sync::CancellationToken;

/// Reads the whole response, forwarding text to `sink`, and returns it assembled.
///
/// Stops with [`RunError::Cancelled`] as soon as `cancel` fires, or [`RunError::ConsumerGone`]
/// as soon as the consumer goes away, even while the provider is silent, and drops the provider
/// stream (which ends the request). A provider stream that panics fails with
/// [`RunError::Panicked`].
pub(crate) async fn forward_chunks(
    opened: OpenedStream,
    sink: Option<&EventSink>,
    cancel: &CancellationToken,
    max_response_bytes: usize,
) -> Result<ChatResponse, RunError> {
    let OpenedStream { first, mut rest } = opened;
    let mut assembler = ResponseAssembler::new(max_response_bytes);
    forward_one(first, &mut assembler, sink, cancel).await?;

    let consumer_gone = async {
        match sink {
            Some(sink) => sink.gone_away().await,
            None => std::future::pending().await,
        }
    };
    let cancelled = cancel.cancelled();
    tokio::pin!(consumer_gone, cancelled);
    loop {
        let next = tokio::select! {
            biased;
            () = &mut cancelled => return Err(RunError::Cancelled),
            () = &mut consumer_gone => return Err(RunError::ConsumerGone),
            next = contained(PanicSite::Provider, rest.next()) => next?,
        };
        match next {
            None => break,
            Some(Err(error)) => return Err(error.redacted().into()),
            Some(Ok(chunk)) => forward_one(chunk, &mut assembler, sink, cancel).await?,
        }
    }
    Ok(assembler.finish()?)
}

async fn forward_one(
    chunk: ChatChunk,
    assembler: &mut ResponseAssembler,
    sink: Option<&EventSink>,
    cancel: &CancellationToken,
) -> Result<(), RunError> {
    assembler.push(&chunk)?;
    if let (Some(sink), ChatChunk::Text { delta }) = (sink, chunk) {
        sink.send(RunEvent::TextDelta { delta }, cancel).await?;
    }
    Ok(())
}
