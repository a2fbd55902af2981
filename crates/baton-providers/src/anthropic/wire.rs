//! The Messages wire format: the request body built from a [`ChatRequest`], and the JSON
//! shapes of responses and stream events.

use crate::model_defaults::{ResolvedSettings, Sampling};
use baton_core::error::LlmError;
use baton_core::llm::{
    ChatRequest, ChatResponse, FinishReason, Message, ToolCall, ToolChoice, Usage,
};
use serde::{Deserialize, Serialize};

/// `max_tokens` sent when neither the request nor the configuration sets one: the API
/// requires it.
pub const DEFAULT_MAX_TOKENS: u32 = 4096;

/// The body of `POST {base}/v1/messages`.
#[derive(Debug, Serialize)]
pub struct MessagesRequest<'a> {
    model: &'a str,
    max_tokens: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    system: Option<String>,
    messages: Vec<WireMessage<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<WireTool<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<WireToolChoice<'a>>,
    #[serde(flatten)]
    sampling: Sampling,
    stream: bool,
}

#[derive(Debug, Serialize)]
struct WireMessage<'a> {
    role: &'static str,
    content: Vec<Block<'a>>,
}

#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Block<'a> {
    Text {
        text: &'a str,
    },
    ToolUse {
        id: &'a str,
        name: &'a str,
        input: serde_json::Value,
    },
    ToolResult {
        tool_use_id: &'a str,
        content: &'a str,
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        is_error: bool,
    },
}

#[derive(Debug, Serialize)]
struct WireTool<'a> {
    name: &'a str,
    description: &'a str,
    input_schema: &'a serde_json::Value,
}

#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WireToolChoice<'a> {
    Auto {
        #[serde(skip_serializing_if = "Option::is_none")]
        disable_parallel_tool_use: Option<bool>,
    },
    Any {
        #[serde(skip_serializing_if = "Option::is_none")]
        disable_parallel_tool_use: Option<bool>,
    },
    Tool {
        name: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        disable_parallel_tool_use: Option<bool>,
    },
    None,
}

/// The request body for `request`, streamed or not. The one mapping of Baton's messages to
/// this protocol: both [`chat_stream`](baton_core::llm::LlmProvider::chat_stream) and
/// [`chat`](baton_core::llm::LlmProvider::chat) send what it builds.
///
/// System messages become the top-level `system` text (joined by blank lines, wherever they
/// stood). Consecutive messages of one role share one message, so the tool results of a step
/// travel together in one user message, as the API requires.
pub(crate) fn messages_request<'a>(
    request: &'a ChatRequest,
    settings: ResolvedSettings<'a>,
    stream: bool,
) -> MessagesRequest<'a> {
    let mut system: Vec<&str> = Vec::new();
    let mut messages: Vec<WireMessage<'a>> = Vec::new();
    for message in &request.messages {
        match &**message {
            Message::System { content, .. } => system.push(content),
            Message::User { content, .. } => {
                push_block(&mut messages, "user", Block::Text { text: content })
            }
            Message::Assistant {
                content,
                tool_calls,
                ..
            } => {
                if !content.is_empty() {
                    push_block(&mut messages, "assistant", Block::Text { text: content });
                }
                for call in tool_calls {
                    let block = Block::ToolUse {
                        id: &call.id,
                        name: &call.name,
                        input: tool_input(call),
                    };
                    push_block(&mut messages, "assistant", block);
                }
            }
            Message::Tool {
                tool_call_id,
                content,
                is_error,
                ..
            } => {
                let block = Block::ToolResult {
                    tool_use_id: tool_call_id,
                    content,
                    is_error: *is_error,
                };
                push_block(&mut messages, "user", block);
            }
        }
    }
    let has_tools = !request.tools.is_empty();
    MessagesRequest {
        model: settings.model,
        max_tokens: settings.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS),
        system: (!system.is_empty()).then(|| system.join("\n\n")),
        messages,
        tools: request
            .tools
            .iter()
            .map(|spec| WireTool {
                name: &spec.name,
                description: &spec.description,
                input_schema: &spec.parameters,
            })
            .collect(),
        tool_choice: if has_tools {
            wire_tool_choice(settings.tool_choice, settings.parallel_tool_calls)
        } else {
            None
        },
        sampling: settings.sampling(),
        stream,
    }
}

fn push_block<'a>(messages: &mut Vec<WireMessage<'a>>, role: &'static str, block: Block<'a>) {
    match messages.last_mut() {
        Some(last) if last.role == role => last.content.push(block),
        _ => messages.push(WireMessage {
            role,
            content: vec![block],
        }),
    }
}

/// A tool call's arguments as the `input` object the API wants. Arguments that are not a JSON
/// object (a model can write broken JSON) are sent as `{}`; the thread keeps what the model
/// actually wrote.
fn tool_input(call: &ToolCall) -> serde_json::Value {
    let empty = || serde_json::Value::Object(serde_json::Map::new());
    if call.arguments.trim().is_empty() {
        return empty();
    }
    match serde_json::from_str::<serde_json::Value>(&call.arguments) {
        Ok(input @ serde_json::Value::Object(_)) => input,
        Ok(_) | Err(_) => {
            tracing::warn!(tool = %call.name, call_id = %call.id, "tool call arguments are not a JSON object; sending {{}} as its input");
            empty()
        }
    }
}

fn wire_tool_choice(
    choice: Option<&ToolChoice>,
    parallel_tool_calls: Option<bool>,
) -> Option<WireToolChoice<'_>> {
    let disable_parallel_tool_use = (parallel_tool_calls == Some(false)).then_some(true);
    Some(match choice {
        None if disable_parallel_tool_use.is_none() => return None,
        None | Some(ToolChoice::Auto) => WireToolChoice::Auto {
            disable_parallel_tool_use,
        },
        Some(ToolChoice::Required) => WireToolChoice::Any {
            disable_parallel_tool_use,
        },
        Some(ToolChoice::Tool { name }) => WireToolChoice::Tool {
            name,
            disable_parallel_tool_use,
        },
        Some(ToolChoice::None) => WireToolChoice::None,
        Some(_) => return None,
    })
}

/// A `stop_reason` as Baton's [`FinishReason`].
pub(crate) fn finish_reason(reason: &str) -> FinishReason {
    match reason {
        "end_turn" | "stop_sequence" => FinishReason::Stop,
        "max_tokens" | "model_context_window_exceeded" => FinishReason::Length,
        "tool_use" => FinishReason::ToolCalls,
        "refusal" => FinishReason::ContentFilter,
        _ => FinishReason::Other,
    }
}

/// Token usage as the API reports it; every field may be absent from a `message_delta`.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
pub(crate) struct WireUsage {
    pub(crate) input_tokens: Option<u64>,
    pub(crate) output_tokens: Option<u64>,
    pub(crate) cache_creation_input_tokens: Option<u64>,
    pub(crate) cache_read_input_tokens: Option<u64>,
}

/// Usage figures gathered from one or more [`WireUsage`] reports; later reports replace the
/// figures they carry (the API's counts are cumulative).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct UsageTally {
    input: u64,
    cache_creation: u64,
    cache_read: u64,
    output: u64,
}

impl UsageTally {
    /// Takes the figures `usage` carries.
    pub(crate) fn update(&mut self, usage: &WireUsage) {
        let replace = |slot: &mut u64, value: Option<u64>| {
            if let Some(value) = value {
                *slot = value;
            }
        };
        replace(&mut self.input, usage.input_tokens);
        replace(&mut self.cache_creation, usage.cache_creation_input_tokens);
        replace(&mut self.cache_read, usage.cache_read_input_tokens);
        replace(&mut self.output, usage.output_tokens);
    }

    /// The total: cached prompt tokens, written or read, count as input.
    pub(crate) fn usage(&self) -> Usage {
        Usage::new(
            // Saturating: these are the provider's numbers.
            self.input
                .saturating_add(self.cache_creation)
                .saturating_add(self.cache_read),
            self.output,
        )
    }
}

/// A non-streaming response.
#[derive(Debug, Deserialize)]
pub struct MessagesResponse {
    #[serde(default)]
    content: Vec<ResponseBlock>,
    stop_reason: Option<String>,
    #[serde(default)]
    usage: WireUsage,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ResponseBlock {
    Text {
        text: String,
    },
    ToolUse {
        id: String,
        name: String,
        #[serde(default)]
        input: serde_json::Value,
    },
    #[serde(other)]
    Other,
}

impl MessagesResponse {
    /// The response as a [`ChatResponse`]: text blocks joined, `tool_use` inputs as JSON text.
    pub(crate) fn into_response(self) -> Result<ChatResponse, LlmError> {
        let mut text = String::new();
        let mut tool_calls = Vec::new();
        for block in self.content {
            match block {
                ResponseBlock::Text { text: part } => text.push_str(&part),
                ResponseBlock::ToolUse { id, name, input } => {
                    let arguments = serde_json::to_string(&input).map_err(|error| {
                        LlmError::MalformedStream(format!("tool input is not JSON: {error}"))
                    })?;
                    tool_calls.push(ToolCall::new(id, name, arguments));
                }
                ResponseBlock::Other => {}
            }
        }
        let mut tally = UsageTally::default();
        tally.update(&self.usage);
        Ok(ChatResponse {
            message: Message::assistant_calling(text, tool_calls),
            usage: tally.usage(),
            finish_reason: self
                .stop_reason
                .as_deref()
                .map_or(FinishReason::Other, finish_reason),
        })
    }
}

/// One event of a streamed response, by its `type`.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum StreamEvent {
    MessageStart {
        message: StartMessage,
    },
    ContentBlockStart {
        index: u32,
        content_block: StartBlock,
    },
    ContentBlockDelta {
        index: u32,
        delta: BlockDelta,
    },
    MessageDelta {
        delta: MessageDeltaBody,
        #[serde(default)]
        usage: Option<WireUsage>,
    },
    MessageStop,
    Error {
        error: serde_json::Value,
    },
    /// `ping`, `content_block_stop`, and event types added after this was written.
    #[serde(other)]
    Ignored,
}

/// The message skeleton of `message_start`.
#[derive(Debug, Deserialize)]
pub(crate) struct StartMessage {
    #[serde(default)]
    pub(crate) usage: WireUsage,
}

/// The block a `content_block_start` opens.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum StartBlock {
    Text {
        #[serde(default)]
        text: String,
    },
    ToolUse {
        id: String,
        name: String,
    },
    /// Thinking and server-tool blocks, which Baton does not use.
    #[serde(other)]
    Other,
}

/// What a `content_block_delta` adds.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum BlockDelta {
    TextDelta {
        text: String,
    },
    InputJsonDelta {
        partial_json: String,
    },
    /// Thinking, signature and citation deltas.
    #[serde(other)]
    Other,
}

/// The top-level changes of a `message_delta`.
#[derive(Debug, Deserialize)]
pub(crate) struct MessageDeltaBody {
    pub(crate) stop_reason: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model_defaults::ModelDefaults;
    use baton_core::llm::{ModelSettings, ToolSpec};
    use serde_json::json;
    use std::sync::Arc;

    fn body(request: &ChatRequest) -> serde_json::Value {
        let defaults = ModelDefaults {
            model: "claude-test".into(),
            settings: ModelSettings::default(),
        };
        serde_json::to_value(messages_request(
            request,
            defaults.resolve(&request.settings),
            false,
        ))
        .unwrap()
    }

    fn with_tool(mut request: ChatRequest, settings: ModelSettings) -> ChatRequest {
        request.tools = Arc::from([ToolSpec {
            name: "lookup".into(),
            description: "Looks things up.".into(),
            parameters: json!({"type": "object"}),
        }]);
        request.settings = Arc::new(settings);
        request
    }

    #[test]
    fn consecutive_user_messages_become_one_user_turn() {
        // The input of a run that ended before answering stays on its thread, so the next
        // request can hold two user messages in a row; the Messages API wants turns that
        // alternate.
        let request = ChatRequest::new(vec![
            Arc::new(Message::user("first try")),
            Arc::new(Message::user("second try")),
        ]);
        assert_eq!(
            body(&request)["messages"],
            json!([{
                "role": "user",
                "content": [
                    {"type": "text", "text": "first try"},
                    {"type": "text", "text": "second try"}
                ]
            }])
        );
    }

    #[test]
    fn max_tokens_defaults_and_tool_choice_needs_tools() {
        let mut request = ChatRequest::new(vec![Arc::new(Message::user("hi"))]);
        request.settings =
            Arc::new(ModelSettings::default().with_tool_choice(ToolChoice::Required));
        assert_eq!(
            body(&request),
            json!({
                "model": "claude-test",
                "max_tokens": 4096,
                "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
                "stream": false
            })
        );
    }

    #[test]
    fn tool_choices_map_to_anthropic_types() {
        let base = || ChatRequest::new(vec![Arc::new(Message::user("hi"))]);
        let cases = [
            (ModelSettings::default(), serde_json::Value::Null),
            (
                ModelSettings::default().with_parallel_tool_calls(false),
                json!({"type": "auto", "disable_parallel_tool_use": true}),
            ),
            (
                ModelSettings::default().with_tool_choice(ToolChoice::Required),
                json!({"type": "any"}),
            ),
            (
                ModelSettings::default()
                    .with_tool_choice(ToolChoice::Tool {
                        name: "lookup".into(),
                    })
                    .with_parallel_tool_calls(false),
                json!({"type": "tool", "name": "lookup", "disable_parallel_tool_use": true}),
            ),
            (
                ModelSettings::default().with_tool_choice(ToolChoice::None),
                json!({"type": "none"}),
            ),
        ];
        for (settings, expected) in cases {
            let body = body(&with_tool(base(), settings));
            assert_eq!(body["tool_choice"], expected);
        }
    }

    #[test]
    fn broken_tool_arguments_are_sent_as_an_empty_object() {
        let call = ToolCall::new("toolu_1", "lookup", "{\"q\": ");
        assert_eq!(tool_input(&call), json!({}));
        let call = ToolCall::new("toolu_1", "lookup", "[1, 2]");
        assert_eq!(tool_input(&call), json!({}));
        let call = ToolCall::new("toolu_1", "lookup", "");
        assert_eq!(tool_input(&call), json!({}));
        let call = ToolCall::new("toolu_1", "lookup", "{\"q\": 1}");
        assert_eq!(tool_input(&call), json!({"q": 1}));
    }

    #[test]
    fn absurd_usage_saturates_instead_of_overflowing() {
        let mut tally = UsageTally::default();
        tally.update(&WireUsage {
            input_tokens: Some(u64::MAX),
            output_tokens: Some(1),
            cache_creation_input_tokens: Some(u64::MAX),
            cache_read_input_tokens: Some(7),
        });
        assert_eq!(tally.usage(), Usage::new(u64::MAX, 1));
    }

    #[test]
    fn usage_counts_cached_prompt_tokens_as_input() {
        let mut tally = UsageTally::default();
        tally.update(&WireUsage {
            input_tokens: Some(10),
            output_tokens: Some(1),
            cache_creation_input_tokens: Some(5),
            cache_read_input_tokens: Some(100),
        });
        tally.update(&WireUsage {
            output_tokens: Some(42),
            ..WireUsage::default()
        });
        assert_eq!(tally.usage(), Usage::new(115, 42));
    }
}
