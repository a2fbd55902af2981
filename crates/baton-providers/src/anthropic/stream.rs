//! Decoding a streamed message: `message_start` (input usage), content blocks opened by
//! `content_block_start` and filled by `content_block_delta` (text, or tool input as JSON
//! fragments), `message_delta` (stop reason, output usage), `message_stop`; `ping` is ignored
//! and `error` ends the stream.

use super::wire::{BlockDelta, StartBlock, StreamEvent, UsageTally, finish_reason};
use crate::server_error::ErrorDetail;
use crate::sse::{EventDecoder, Progress, parse_data};
use baton_core::error::LlmError;
use baton_core::llm::{ChatChunk, FinishReason, ToolCallDelta};
use eventsource_stream::Event;
use std::collections::VecDeque;

/// The state of one streamed message.
///
/// Usage is gathered from `message_start` and `message_delta` and sent once, complete, just
/// before the finish chunk.
#[derive(Debug, Default)]
pub struct MessageDecoder {
    usage: UsageTally,
    stop: Option<FinishReason>,
    /// Content-block index → tool-call index: tool calls are numbered 0, 1, … in the order
    /// their blocks open, whatever text blocks come between.
    tool_blocks: Vec<(u32, u32)>,
}

impl EventDecoder for MessageDecoder {
    fn decode(
        &mut self,
        event: &Event,
        out: &mut VecDeque<ChatChunk>,
    ) -> Result<Progress, LlmError> {
        match parse_data::<StreamEvent>(event)? {
            StreamEvent::MessageStart { message } => self.usage.update(&message.usage),
            StreamEvent::ContentBlockStart {
                index,
                content_block,
            } => match content_block {
                StartBlock::Text { text } if !text.is_empty() => {
                    out.push_back(ChatChunk::text(text))
                }
                StartBlock::ToolUse { id, name } => {
                    let call_index = u32::try_from(self.tool_blocks.len()).unwrap_or(u32::MAX);
                    self.tool_blocks.push((index, call_index));
                    out.push_back(ChatChunk::ToolCall(ToolCallDelta {
                        index: call_index,
                        id: Some(id),
                        name: Some(name),
                        arguments: String::new(),
                    }));
                }
                StartBlock::Text { .. } | StartBlock::Other => {}
            },
            StreamEvent::ContentBlockDelta { index, delta } => match delta {
                BlockDelta::TextDelta { text } if !text.is_empty() => {
                    out.push_back(ChatChunk::text(text))
                }
                BlockDelta::InputJsonDelta { partial_json } if !partial_json.is_empty() => {
                    let call_index = self.tool_index(index)?;
                    out.push_back(ChatChunk::ToolCall(ToolCallDelta {
                        index: call_index,
                        id: None,
                        name: None,
                        arguments: partial_json,
                    }));
                }
                BlockDelta::TextDelta { .. }
                | BlockDelta::InputJsonDelta { .. }
                | BlockDelta::Other => {}
            },
            StreamEvent::MessageDelta { delta, usage } => {
                if let Some(reason) = delta.stop_reason {
                    self.stop = Some(finish_reason(&reason));
                }
                if let Some(usage) = usage {
                    self.usage.update(&usage);
                }
            }
            StreamEvent::MessageStop => {
                self.complete(out, self.stop.unwrap_or(FinishReason::Other));
                return Ok(Progress::Done);
            }
            StreamEvent::Error { error } => return Err(stream_error(&error)),
            StreamEvent::Ignored => {}
        }
        Ok(Progress::More)
    }

    fn end_of_body(&mut self, out: &mut VecDeque<ChatChunk>) -> Result<(), LlmError> {
        // A stop reason means the answer was complete even though `message_stop` is missing.
        let reason = self.stop.ok_or(LlmError::IncompleteStream)?;
        self.complete(out, reason);
        Ok(())
    }
}

impl MessageDecoder {
    fn complete(&self, out: &mut VecDeque<ChatChunk>, reason: FinishReason) {
        out.push_back(ChatChunk::usage(self.usage.usage()));
        out.push_back(ChatChunk::finish(reason));
    }

    fn tool_index(&self, block: u32) -> Result<u32, LlmError> {
        self.tool_blocks
            .iter()
            .find(|(open, _)| *open == block)
            .map(|(_, call)| *call)
            .ok_or_else(|| {
                LlmError::MalformedStream(format!(
                    "input_json_delta for content block {block}, which is not an open tool_use block"
                ))
            })
    }
}

/// An `error` event: `overloaded_error` as [`LlmError::Overloaded`], the rest as
/// [`LlmError::Provider`], retryable when the error type is a transient one.
fn stream_error(error: &serde_json::Value) -> LlmError {
    let detail = ErrorDetail::from_value(error);
    if detail.kind.as_deref() == Some("overloaded_error") {
        return LlmError::Overloaded {
            message: detail.describe(),
            retry_after: None,
        };
    }
    LlmError::Provider {
        message: detail.describe(),
        retryable: detail.is_transient(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(events: &[(&str, &str)]) -> Result<Vec<ChatChunk>, LlmError> {
        let mut decoder = MessageDecoder::default();
        let mut out = VecDeque::new();
        for (name, data) in events {
            let event = Event {
                event: (*name).into(),
                data: (*data).into(),
                ..Event::default()
            };
            if decoder.decode(&event, &mut out)? == Progress::Done {
                return Ok(out.into());
            }
        }
        decoder.end_of_body(&mut out)?;
        Ok(out.into())
    }

    #[test]
    fn input_for_an_unknown_block_is_malformed() {
        let result = decode_all(&[(
            "content_block_delta",
            r#"{"type":"content_block_delta","index":3,"delta":{"type":"input_json_delta","partial_json":"{"}}"#,
        )]);
        assert!(matches!(result, Err(LlmError::MalformedStream(_))));
    }

    #[test]
    fn a_body_ending_before_any_stop_is_incomplete() {
        let result = decode_all(&[(
            "message_start",
            r#"{"type":"message_start","message":{"usage":{"input_tokens":3,"output_tokens":1}}}"#,
        )]);
        assert_eq!(result, Err(LlmError::IncompleteStream));
    }

    #[test]
    fn api_errors_are_transient_provider_errors() {
        let result = decode_all(&[(
            "error",
            r#"{"type":"error","error":{"type":"api_error","message":"Internal server error"}}"#,
        )]);
        assert_eq!(
            result,
            Err(LlmError::Provider {
                message: "Internal server error".into(),
                retryable: true
            })
        );
    }

    #[test]
    fn unknown_event_types_are_ignored() {
        let chunks = decode_all(&[
            ("future_event", r#"{"type":"future_event","x":1}"#),
            (
                "message_delta",
                r#"{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":2}}"#,
            ),
        ])
        .unwrap();
        assert_eq!(
            chunks,
            [
                ChatChunk::usage(baton_core::llm::Usage::new(0, 2)),
                ChatChunk::finish(FinishReason::Stop)
            ]
        );
    }
}
