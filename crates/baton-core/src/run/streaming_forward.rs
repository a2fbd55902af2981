//! Forwarding a provider stream to the consumer, with backpressure.
//!
//! Each text chunk is assembled into the step's message and sent on the bounded event channel;
//! the provider stream is polled again only once the consumer has room, so a slow consumer
//! slows the provider instead of growing a buffer. The text is shared (`Arc<str>`) between the
//! event and the assembler: forwarding does not copy or allocate per chunk.

use super::event::{EventSink, RunEvent};
use super::retry::OpenedStream;
use crate::error::Error;
use crate::llm::{ChatChunk, ChatResponse, ResponseAssembler};
use futures::StreamExt;
use tokio_util::sync::CancellationToken;

/// Reads the whole response, forwarding text to `sink`, and returns it assembled.
///
/// Stops with [`Error::Cancelled`] as soon as `cancel` fires or the consumer goes away, even
/// while the provider is silent, and drops the provider stream (which ends the request).
pub(crate) async fn forward_chunks(
    opened: OpenedStream,
    sink: Option<&EventSink>,
    cancel: &CancellationToken,
    max_response_bytes: usize,
) -> Result<ChatResponse, Error> {
    let OpenedStream { first, mut rest } = opened;
    let mut assembler = ResponseAssembler::new(max_response_bytes);
    forward_one(first, &mut assembler, sink, cancel).await?;

    let consumer_gone = async {
        match sink {
            Some(sink) => sink.closed().await,
            None => std::future::pending().await,
        }
    };
    let cancelled = cancel.cancelled();
    tokio::pin!(consumer_gone, cancelled);
    loop {
        let next = tokio::select! {
            biased;
            () = &mut cancelled => return Err(Error::Cancelled),
            () = &mut consumer_gone => return Err(Error::Cancelled),
            next = rest.next() => next,
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
) -> Result<(), Error> {
    assembler.push(&chunk)?;
    if let (Some(sink), ChatChunk::Text { delta }) = (sink, chunk) {
        sink.send(RunEvent::TextDelta { delta }, cancel).await?;
    }
    Ok(())
}
