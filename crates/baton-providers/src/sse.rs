//! From a streamed HTTP response to a [`ChunkStream`]: `eventsource-stream` parses the SSE
//! framing, a protocol's [`EventDecoder`] turns each event into chunks, and this module adds
//! what every protocol needs — transport errors, and the rule that a stream ends with
//! [`ChatChunk::Finish`] or an error.

use crate::http::transport_error;
use baton_core::error::LlmError;
use baton_core::llm::{ChatChunk, ChunkStream};
use eventsource_stream::{Event, EventStreamError, Eventsource};
use futures::{Stream, StreamExt};
use std::collections::VecDeque;
use std::pin::Pin;

/// Whether a decoded event ended the response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// More events are expected.
    More,
    /// The response is complete; the finish chunk has been queued.
    Done,
}

/// One protocol's reading of its events.
pub trait EventDecoder: Send + 'static {
    /// Decodes one event, queueing the chunks it carries on `out`.
    fn decode(
        &mut self,
        event: &Event,
        out: &mut VecDeque<ChatChunk>,
    ) -> Result<Progress, LlmError>;

    /// The server ended the body without a completion event: queue the finish chunk if the
    /// response is complete anyway, or fail with [`LlmError::IncompleteStream`].
    fn end_of_body(&mut self, out: &mut VecDeque<ChatChunk>) -> Result<(), LlmError>;
}

type EventResult = Result<Event, EventStreamError<reqwest::Error>>;

struct Decoding<D> {
    events: Option<Pin<Box<dyn Stream<Item = EventResult> + Send>>>,
    decoder: D,
    queued: VecDeque<ChatChunk>,
}

/// The chunks of `response`, decoded by `decoder`.
///
/// The stream ends after the finish chunk or after the first error. Dropping it drops the
/// response, which closes the connection.
pub(crate) fn decode_events<D: EventDecoder>(
    response: reqwest::Response,
    decoder: D,
) -> ChunkStream {
    let events: Pin<Box<dyn Stream<Item = EventResult> + Send>> =
        Box::pin(response.bytes_stream().eventsource());
    let state = Decoding {
        events: Some(events),
        decoder,
        queued: VecDeque::new(),
    };
    Box::pin(futures::stream::unfold(state, |mut state| async move {
        let item = state.next_chunk().await?;
        Some((item, state))
    }))
}

impl<D: EventDecoder> Decoding<D> {
    /// The next chunk, the error that ends the stream, or `None` once it has ended.
    async fn next_chunk(&mut self) -> Option<Result<ChatChunk, LlmError>> {
        loop {
            if let Some(chunk) = self.queued.pop_front() {
                return Some(Ok(chunk));
            }
            let events = self.events.as_mut()?;
            let outcome = match events.next().await {
                None => self
                    .decoder
                    .end_of_body(&mut self.queued)
                    .map(|()| Progress::Done),
                Some(Err(error)) => Err(stream_error(error)),
                Some(Ok(event)) => self.decoder.decode(&event, &mut self.queued),
            };
            match outcome {
                Ok(Progress::More) => {}
                Ok(Progress::Done) => self.events = None,
                Err(error) => {
                    self.events = None;
                    self.queued.clear();
                    // Errors in the stream may quote the request: redacted where they leave.
                    return Some(Err(error.redacted()));
                }
            }
        }
    }
}

fn stream_error(error: EventStreamError<reqwest::Error>) -> LlmError {
    match error {
        EventStreamError::Transport(error) => transport_error(error),
        EventStreamError::Utf8(error) => {
            LlmError::MalformedStream(format!("event stream is not UTF-8: {error}"))
        }
        EventStreamError::Parser(error) => {
            LlmError::MalformedStream(format!("event stream is not valid SSE ({:?})", error.code))
        }
    }
}

/// Parses an event's data as JSON of type `T`, naming the event in the error.
pub(crate) fn parse_data<T: serde::de::DeserializeOwned>(event: &Event) -> Result<T, LlmError> {
    serde_json::from_str(&event.data).map_err(|error| {
        LlmError::MalformedStream(format!("{} event is not valid JSON: {error}", event.event))
    })
}
