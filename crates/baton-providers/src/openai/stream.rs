//! Decoding a streamed chat completion: `data:` chunks with text and tool-call fragments, a
//! `finish_reason`, a final usage chunk (asked for with `stream_options.include_usage`), and
//! `data: [DONE]`.

use super::wire::{StreamChunk, ToolCallFragment, finish_reason};
use crate::server_error::ErrorDetail;
use crate::sse::{EventDecoder, Progress, parse_data};
use baton_core::error::LlmError;
use baton_core::llm::{ChatChunk, FinishReason, ToolCallDelta, Usage};
use eventsource_stream::Event;
use std::collections::VecDeque;

/// The state of one streamed completion.
///
/// Usage and the finish reason are held back until `[DONE]` (or the end of the body), so the
/// stream ends with exactly one [`ChatChunk::Usage`] followed by [`ChatChunk::Finish`].
#[derive(Debug, Default)]
pub struct CompletionDecoder {
    finish: Option<FinishReason>,
    usage: Option<Usage>,
    /// The name sent so far for each tool-call index. Some servers repeat the whole name in
    /// every fragment; since names are joined by concatenation, a repeat is dropped.
    names: Vec<(u32, String)>,
}

impl EventDecoder for CompletionDecoder {
    fn decode(
        &mut self,
        event: &Event,
        out: &mut VecDeque<ChatChunk>,
    ) -> Result<Progress, LlmError> {
        if event.data.trim() == "[DONE]" {
            self.complete(out)?;
            return Ok(Progress::Done);
        }
        let chunk: StreamChunk = parse_data(event)?;
        if chunk.error.is_some() || chunk.object.as_deref() == Some("error") {
            return Err(in_stream_error(event));
        }
        if let Some(usage) = chunk.usage {
            self.usage = Some(usage.into());
        }
        // Baton asks for one choice; other choices (from `n > 1` defaults) are ignored.
        for choice in chunk.choices.into_iter().flatten().filter(|c| c.index == 0) {
            if let Some(delta) = choice.delta {
                if let Some(text) = delta.content.filter(|text| !text.is_empty()) {
                    out.push_back(ChatChunk::text(text));
                }
                for (position, fragment) in delta.tool_calls.into_iter().flatten().enumerate() {
                    if let Some(delta) = self.tool_call(position, fragment) {
                        out.push_back(ChatChunk::ToolCall(delta));
                    }
                }
            }
            if let Some(reason) = choice.finish_reason {
                self.finish = Some(finish_reason(&reason));
            }
        }
        Ok(Progress::More)
    }

    fn end_of_body(&mut self, out: &mut VecDeque<ChatChunk>) -> Result<(), LlmError> {
        // A server that sent the finish reason but not `[DONE]` still finished the answer.
        self.complete(out)
    }
}

impl CompletionDecoder {
    fn complete(&mut self, out: &mut VecDeque<ChatChunk>) -> Result<(), LlmError> {
        let reason = self.finish.ok_or(LlmError::IncompleteStream)?;
        if let Some(usage) = self.usage {
            out.push_back(ChatChunk::usage(usage));
        }
        out.push_back(ChatChunk::finish(reason));
        Ok(())
    }

    fn tool_call(&mut self, position: usize, fragment: ToolCallFragment) -> Option<ToolCallDelta> {
        let index = fragment
            .index
            .unwrap_or_else(|| u32::try_from(position).unwrap_or(u32::MAX));
        let (name, arguments) = match fragment.function {
            Some(function) => (function.name, function.arguments.unwrap_or_default()),
            None => (None, String::new()),
        };
        let name = name
            .filter(|name| !name.is_empty())
            .and_then(|name| self.new_name_part(index, name));
        let id = fragment.id.filter(|id| !id.is_empty());
        if id.is_none() && name.is_none() && arguments.is_empty() {
            return None;
        }
        Some(ToolCallDelta {
            index,
            id,
            name,
            arguments,
        })
    }

    /// `part` unless it repeats the name already sent for `index`.
    fn new_name_part(&mut self, index: u32, part: String) -> Option<String> {
        match self.names.iter_mut().find(|(seen, _)| *seen == index) {
            Some((_, sent)) if *sent == part => None,
            Some((_, sent)) => {
                sent.push_str(&part);
                Some(part)
            }
            None => {
                self.names.push((index, part.clone()));
                Some(part)
            }
        }
    }
}

/// An error reported inside the stream, as vLLM and other compatible servers send it.
fn in_stream_error(event: &Event) -> LlmError {
    let detail = serde_json::from_str::<serde_json::Value>(&event.data)
        .map(|value| ErrorDetail::from_value(&value))
        .unwrap_or_default();
    LlmError::Provider {
        message: detail.describe(),
        retryable: detail.is_transient(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(data: &str) -> Event {
        Event {
            event: "message".into(),
            data: data.into(),
            ..Event::default()
        }
    }

    fn decode_all(events: &[&str]) -> Result<Vec<ChatChunk>, LlmError> {
        let mut decoder = CompletionDecoder::default();
        let mut out = VecDeque::new();
        for data in events {
            if decoder.decode(&event(data), &mut out)? == Progress::Done {
                return Ok(out.into());
            }
        }
        decoder.end_of_body(&mut out)?;
        Ok(out.into())
    }

    #[test]
    fn repeated_names_are_sent_once() {
        let chunks = decode_all(&[
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c1","function":{"name":"lookup","arguments":"{\"q\""}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"name":"lookup","arguments":":1}"}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#,
            "[DONE]",
        ])
        .unwrap();
        let names: Vec<_> = chunks
            .iter()
            .filter_map(|chunk| match chunk {
                ChatChunk::ToolCall(delta) => delta.name.clone(),
                _ => None,
            })
            .collect();
        assert_eq!(names, ["lookup"]);
        assert_eq!(
            chunks.last(),
            Some(&ChatChunk::finish(FinishReason::ToolCalls))
        );
    }

    #[test]
    fn done_without_a_finish_reason_is_incomplete() {
        let result = decode_all(&[
            r#"{"choices":[{"index":0,"delta":{"content":"Hi"}}]}"#,
            "[DONE]",
        ]);
        assert_eq!(result, Err(LlmError::IncompleteStream));
    }

    #[test]
    fn a_finish_reason_without_done_still_finishes() {
        let chunks = decode_all(&[
            r#"{"choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":"length"}]}"#,
        ])
        .unwrap();
        assert_eq!(
            chunks,
            [
                ChatChunk::text("Hi"),
                ChatChunk::finish(FinishReason::Length)
            ]
        );
    }

    #[test]
    fn flat_and_nested_stream_errors_are_provider_errors() {
        let nested = decode_all(&[
            r#"{"error":{"message":"model crashed","type":"server_error","code":500}}"#,
        ]);
        assert_eq!(
            nested,
            Err(LlmError::Provider {
                message: "model crashed".into(),
                retryable: true
            })
        );
        let flat = decode_all(&[
            r#"{"object":"error","message":"bad input","type":"BadRequestError","code":400}"#,
        ]);
        assert_eq!(
            flat,
            Err(LlmError::Provider {
                message: "bad input".into(),
                retryable: false
            })
        );
    }
}
