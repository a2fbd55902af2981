use crate::stream::ScriptStream;
use baton_core::error::LlmError;
use baton_core::llm::{ChatChunk, ChunkStream, FinishReason, ToolCallDelta, Usage};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

/// One step of a scripted stream.
#[derive(Debug, Clone)]
pub(crate) enum Item {
    Chunk(ChatChunk),
    Error(LlmError),
    Delay(Duration),
    Stall,
}

/// The response to one provider call: chunks, timing and failures.
///
/// ```
/// use baton_testkit::Script;
/// use baton_core::error::LlmError;
/// use std::time::Duration;
///
/// let slow = Script::text("Hello there").with_latency(Duration::from_millis(50));
/// let flaky = Script::error(LlmError::Status { status: 503, message: "busy".into(), retry_after: None });
/// let broken = Script::text("Hello there").fail_after(1, LlmError::Connection("reset".into()));
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct Script {
    items: Vec<Item>,
    latency: Duration,
    open_error: Option<LlmError>,
}

/// Fragment size for tool arguments, small enough to split JSON mid-token.
const ARGUMENT_FRAGMENT: usize = 7;

impl Script {
    /// Raw chunks, sent as given.
    pub fn chunks(chunks: impl IntoIterator<Item = ChatChunk>) -> Self {
        Self {
            items: chunks.into_iter().map(Item::Chunk).collect(),
            latency: Duration::ZERO,
            open_error: None,
        }
    }

    /// A text answer, streamed word by word, then usage and `Stop`.
    pub fn text(text: &str) -> Self {
        let mut chunks: Vec<ChatChunk> = text.split_inclusive(' ').map(ChatChunk::text).collect();
        let output = chunks.len() as u64;
        chunks.push(ChatChunk::usage(Usage::new(10, output)));
        chunks.push(ChatChunk::finish(FinishReason::Stop));
        Self::chunks(chunks)
    }

    /// A text answer streamed as `count` chunks of `piece` (for throughput benchmarks).
    pub fn repeated_text(piece: &str, count: usize) -> Self {
        let piece: Arc<str> = Arc::from(piece);
        let mut chunks: Vec<ChatChunk> = (0..count)
            .map(|_| ChatChunk::Text {
                delta: Arc::clone(&piece),
            })
            .collect();
        chunks.push(ChatChunk::usage(Usage::new(10, count as u64)));
        chunks.push(ChatChunk::finish(FinishReason::Stop));
        Self::chunks(chunks)
    }

    /// One tool call (id `call_1`), its arguments split into small fragments.
    pub fn tool_call(name: &str, arguments: serde_json::Value) -> Self {
        Self::tool_calls([(name, arguments)])
    }

    /// Several tool calls in one response (ids `call_1`, `call_2`, …), their fragments
    /// interleaved as parallel calls are streamed.
    pub fn tool_calls<'a>(calls: impl IntoIterator<Item = (&'a str, serde_json::Value)>) -> Self {
        let calls: Vec<(String, String, String)> = calls
            .into_iter()
            .enumerate()
            .map(|(i, (name, args))| (format!("call_{}", i + 1), name.to_owned(), args.to_string()))
            .collect();
        Self::raw_tool_calls(
            calls
                .iter()
                .map(|(id, name, args)| (id.as_str(), name.as_str(), args.as_str())),
        )
    }

    /// Tool calls with given ids and raw argument text (which may be malformed JSON).
    pub fn raw_tool_calls<'a>(
        calls: impl IntoIterator<Item = (&'a str, &'a str, &'a str)>,
    ) -> Self {
        let calls: Vec<_> = calls.into_iter().collect();
        let mut chunks = Vec::new();
        for (index, (id, name, _)) in calls.iter().enumerate() {
            chunks.push(ChatChunk::ToolCall(ToolCallDelta {
                index: index as u32,
                id: Some((*id).to_owned()),
                name: Some((*name).to_owned()),
                arguments: String::new(),
            }));
        }
        let fragments: Vec<Vec<String>> =
            calls.iter().map(|(_, _, args)| fragments(args)).collect();
        let longest = fragments.iter().map(Vec::len).max().unwrap_or(0);
        for position in 0..longest {
            for (index, parts) in fragments.iter().enumerate() {
                if let Some(part) = parts.get(position) {
                    chunks.push(ChatChunk::ToolCall(ToolCallDelta {
                        index: index as u32,
                        id: None,
                        name: None,
                        arguments: part.clone(),
                    }));
                }
            }
        }
        chunks.push(ChatChunk::usage(Usage::new(10, calls.len() as u64)));
        chunks.push(ChatChunk::finish(FinishReason::ToolCalls));
        Self::chunks(chunks)
    }

    /// A call that fails with `error` before any chunk.
    pub fn error(error: LlmError) -> Self {
        Self {
            items: Vec::new(),
            latency: Duration::ZERO,
            open_error: Some(error),
        }
    }

    /// Replaces the usage this script reports.
    pub fn with_usage(mut self, usage: Usage) -> Self {
        self.items
            .retain(|item| !matches!(item, Item::Chunk(ChatChunk::Usage { .. })));
        let at = self
            .items
            .iter()
            .position(|item| matches!(item, Item::Chunk(ChatChunk::Finish { .. })))
            .unwrap_or(self.items.len());
        self.items.insert(at, Item::Chunk(ChatChunk::usage(usage)));
        self
    }

    /// Waits `latency` before the first chunk (use `tokio::time::pause` in tests).
    pub fn with_latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }

    /// Waits `delay` before every chunk after the first.
    pub fn with_chunk_delay(mut self, delay: Duration) -> Self {
        let mut items = Vec::with_capacity(self.items.len() * 2);
        for (i, item) in self.items.into_iter().enumerate() {
            if i > 0 {
                items.push(Item::Delay(delay));
            }
            items.push(item);
        }
        self.items = items;
        self
    }

    /// Yields `error` after `chunks` chunks, then ends.
    pub fn fail_after(mut self, chunks: usize, error: LlmError) -> Self {
        self.truncate_chunks(chunks);
        self.items.push(Item::Error(error));
        self
    }

    /// Goes silent forever after `chunks` chunks (for cancellation and timeout tests).
    pub fn stall_after(mut self, chunks: usize) -> Self {
        self.truncate_chunks(chunks);
        self.items.push(Item::Stall);
        self
    }

    /// Ends after `chunks` chunks without a finish.
    pub fn end_after(mut self, chunks: usize) -> Self {
        self.truncate_chunks(chunks);
        self
    }

    fn truncate_chunks(&mut self, chunks: usize) {
        let mut seen = 0;
        let cut = self
            .items
            .iter()
            .position(|item| {
                if matches!(item, Item::Chunk(_)) {
                    seen += 1;
                }
                seen > chunks
            })
            .unwrap_or(self.items.len());
        self.items.truncate(cut);
    }

    pub(crate) async fn open(self, counter: Arc<AtomicU64>) -> Result<ChunkStream, LlmError> {
        if let Some(error) = self.open_error {
            if !self.latency.is_zero() {
                tokio::time::sleep(self.latency).await;
            }
            return Err(error);
        }
        Ok(Box::pin(ScriptStream::new(
            self.items,
            self.latency,
            counter,
        )))
    }
}

fn fragments(text: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    for ch in text.chars() {
        current.push(ch);
        if current.len() >= ARGUMENT_FRAGMENT {
            parts.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        parts.push(current);
    }
    parts
}
