use super::{ChatChunk, ChatResponse, ChunkStream, FinishReason, Message, ToolCall, Usage};
use crate::error::LlmError;
use futures::StreamExt;

/// Builds a [`ChatResponse`] from streamed [`ChatChunk`]s: concatenates text, joins tool-call
/// fragments by index, keeps the last usage and the finish reason, and enforces a size limit.
///
/// This is the one place where fragments become a message; the streaming loop and
/// [`LlmProvider::chat`](super::LlmProvider::chat)'s default both use it.
#[derive(Debug)]
pub struct ResponseAssembler {
    text: String,
    calls: Vec<PartialCall>,
    usage: Option<Usage>,
    finish: Option<FinishReason>,
    bytes: usize,
    max_bytes: usize,
}

#[derive(Debug, Default)]
struct PartialCall {
    index: u32,
    id: String,
    name: String,
    arguments: String,
}

impl ResponseAssembler {
    /// An assembler that fails once text and tool arguments exceed `max_bytes`.
    #[must_use]
    pub fn new(max_bytes: usize) -> Self {
        Self {
            text: String::new(),
            calls: Vec::new(),
            usage: None,
            finish: None,
            bytes: 0,
            max_bytes,
        }
    }

    /// Adds one chunk.
    pub fn push(&mut self, chunk: &ChatChunk) -> Result<(), LlmError> {
        match chunk {
            ChatChunk::Text { delta } => {
                self.grow(delta.len())?;
                self.text.push_str(delta);
            }
            ChatChunk::ToolCall(delta) => {
                self.grow(delta.arguments.len())?;
                let position = match self.calls.iter().position(|c| c.index == delta.index) {
                    Some(position) => position,
                    None => {
                        self.calls.push(PartialCall {
                            index: delta.index,
                            ..PartialCall::default()
                        });
                        self.calls.len() - 1
                    }
                };
                let call = &mut self.calls[position];
                if let Some(id) = &delta.id {
                    call.id.clone_from(id);
                }
                if let Some(name) = &delta.name {
                    call.name.push_str(name);
                }
                call.arguments.push_str(&delta.arguments);
            }
            ChatChunk::Usage { usage } => self.usage = Some(*usage),
            ChatChunk::Finish { reason } => self.finish = Some(*reason),
        }
        Ok(())
    }

    /// Whether a finish chunk has arrived.
    #[must_use]
    pub fn is_finished(&self) -> bool {
        self.finish.is_some()
    }

    /// The text so far.
    #[must_use]
    pub fn text(&self) -> &str {
        &self.text
    }

    fn grow(&mut self, added: usize) -> Result<(), LlmError> {
        self.bytes = self.bytes.saturating_add(added);
        if self.bytes > self.max_bytes {
            return Err(LlmError::ResponseTooLarge {
                limit: self.max_bytes,
            });
        }
        Ok(())
    }

    /// The assembled response; fails if no finish chunk arrived.
    pub fn finish(mut self) -> Result<ChatResponse, LlmError> {
        let finish_reason = self.finish.ok_or(LlmError::IncompleteStream)?;
        self.calls.sort_by_key(|c| c.index);
        let tool_calls = self
            .calls
            .into_iter()
            .map(|c| ToolCall {
                id: if c.id.is_empty() {
                    format!("call_{}", c.index)
                } else {
                    c.id
                },
                name: c.name,
                arguments: c.arguments,
            })
            .collect();
        Ok(ChatResponse {
            message: Message::Assistant {
                content: self.text,
                tool_calls,
            },
            usage: self.usage.unwrap_or_default(),
            finish_reason,
        })
    }
}

/// Collects a whole stream into a [`ChatResponse`] (for non-streaming calls).
pub async fn collect_stream(
    mut stream: ChunkStream,
    max_bytes: usize,
) -> Result<ChatResponse, LlmError> {
    let mut assembler = ResponseAssembler::new(max_bytes);
    while let Some(chunk) = stream.next().await {
        assembler.push(&chunk?)?;
    }
    assembler.finish()
}
