//! Token counting for the history budget.
//!
//! Counts use the `o200k_base` encoding (GPT-4o and later) through `tiktoken-rs`; for other
//! model families they are a close estimate, which is what a history budget needs.
//!
//! Counting is not free (a few microseconds per message), so the run loop first uses
//! [`message_tokens_upper_bound`]: a BPE token always covers at least one byte, so the byte
//! length bounds the count from above. Only when that bound exceeds the budget does the loop
//! count exactly, once per message.

use super::Message;

/// Tokens every message costs beyond its text (role and separators), as in OpenAI's guidance.
pub const MESSAGE_OVERHEAD: u32 = 4;
/// Tokens a tool call costs beyond its name and arguments.
pub const TOOL_CALL_OVERHEAD: u32 = 3;

/// Exact token count of `text` in the `o200k_base` encoding.
#[must_use]
pub fn count_text(text: &str) -> u32 {
    if text.is_empty() {
        return 0;
    }
    saturate(tiktoken_rs::o200k_base_singleton().count_ordinary(text))
}

/// Tokens of `message` as a model sees it: its text, tool calls and the per-message overhead.
#[must_use]
pub fn message_tokens(message: &Message) -> u32 {
    message_cost(message, count_text)
}

/// A cheap upper bound of [`message_tokens`]: bytes stand in for tokens.
#[must_use]
pub fn message_tokens_upper_bound(message: &Message) -> u32 {
    message_cost(message, |text| saturate(text.len()))
}

fn message_cost(message: &Message, count: impl Fn(&str) -> u32) -> u32 {
    let calls = message.tool_calls().iter().fold(0u32, |sum, call| {
        sum.saturating_add(TOOL_CALL_OVERHEAD)
            .saturating_add(count(&call.name))
            .saturating_add(count(&call.arguments))
    });
    MESSAGE_OVERHEAD
        .saturating_add(count(message.content()))
        .saturating_add(calls)
}

fn saturate(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}
