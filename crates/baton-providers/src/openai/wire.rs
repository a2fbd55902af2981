//! The Chat Completions wire format: the request body built from a [`ChatRequest`], and the
//! JSON shapes of responses and stream chunks.

use crate::model_defaults::{ResolvedSettings, Sampling};
use baton_core::error::LlmError;
use baton_core::llm::{
    ChatRequest, ChatResponse, FinishReason, Message, ToolCall, ToolChoice, Usage,
};
use serde::{Deserialize, Serialize};

/// The body of `POST {base}/chat/completions`.
#[derive(Debug, Serialize)]
pub struct CompletionRequest<'a> {
    model: &'a str,
    messages: Vec<WireMessage<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<WireTool<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<WireToolChoice<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parallel_tool_calls: Option<bool>,
    #[serde(flatten)]
    sampling: Sampling,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u32>,
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_options: Option<StreamOptions>,
}

#[derive(Debug, Serialize)]
struct StreamOptions {
    include_usage: bool,
}

#[derive(Debug, Serialize)]
#[serde(tag = "role", rename_all = "snake_case")]
enum WireMessage<'a> {
    System {
        content: &'a str,
    },
    User {
        content: &'a str,
    },
    Assistant {
        /// `null` when the model only called tools, as the API expects.
        content: Option<&'a str>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        tool_calls: Vec<WireToolCall<'a>>,
    },
    Tool {
        tool_call_id: &'a str,
        content: &'a str,
    },
}

#[derive(Debug, Serialize)]
struct WireToolCall<'a> {
    id: &'a str,
    r#type: &'static str,
    function: WireFunctionCall<'a>,
}

#[derive(Debug, Serialize)]
struct WireFunctionCall<'a> {
    name: &'a str,
    arguments: &'a str,
}

#[derive(Debug, Serialize)]
struct WireTool<'a> {
    r#type: &'static str,
    function: WireFunction<'a>,
}

#[derive(Debug, Serialize)]
struct WireFunction<'a> {
    name: &'a str,
    description: &'a str,
    parameters: &'a serde_json::Value,
}

#[derive(Debug, Serialize)]
#[serde(untagged)]
enum WireToolChoice<'a> {
    Mode(&'static str),
    Function {
        r#type: &'static str,
        function: FunctionName<'a>,
    },
}

#[derive(Debug, Serialize)]
struct FunctionName<'a> {
    name: &'a str,
}

/// The request body for `request`, streamed or not. The one mapping of Baton's messages to
/// this protocol: both [`chat_stream`](baton_core::llm::LlmProvider::chat_stream) and
/// [`chat`](baton_core::llm::LlmProvider::chat) send what it builds.
///
/// Tool settings are sent only with tools, since the API rejects them alone. A streamed
/// request asks for the usage chunk (`stream_options.include_usage`).
pub(crate) fn completion_request<'a>(
    request: &'a ChatRequest,
    settings: ResolvedSettings<'a>,
    stream: bool,
) -> CompletionRequest<'a> {
    let has_tools = !request.tools.is_empty();
    CompletionRequest {
        model: settings.model,
        messages: request.messages.iter().map(|m| wire_message(m)).collect(),
        tools: request
            .tools
            .iter()
            .map(|spec| WireTool {
                r#type: "function",
                function: WireFunction {
                    name: &spec.name,
                    description: &spec.description,
                    parameters: &spec.parameters,
                },
            })
            .collect(),
        tool_choice: settings
            .tool_choice
            .filter(|_| has_tools)
            .and_then(wire_tool_choice),
        parallel_tool_calls: settings.parallel_tool_calls.filter(|_| has_tools),
        sampling: settings.sampling(),
        max_tokens: settings.max_tokens,
        stream,
        stream_options: stream.then_some(StreamOptions {
            include_usage: true,
        }),
    }
}

fn wire_message(message: &Message) -> WireMessage<'_> {
    match message {
        Message::System { content, .. } => WireMessage::System { content },
        Message::User { content, .. } => WireMessage::User { content },
        Message::Assistant {
            content,
            tool_calls,
            ..
        } => WireMessage::Assistant {
            content: (!content.is_empty() || tool_calls.is_empty()).then_some(content.as_str()),
            tool_calls: tool_calls
                .iter()
                .map(|call| WireToolCall {
                    id: &call.id,
                    r#type: "function",
                    function: WireFunctionCall {
                        name: &call.name,
                        arguments: &call.arguments,
                    },
                })
                .collect(),
        },
        Message::Tool {
            tool_call_id,
            content,
            ..
        } => WireMessage::Tool {
            tool_call_id,
            content,
        },
    }
}

fn wire_tool_choice(choice: &ToolChoice) -> Option<WireToolChoice<'_>> {
    Some(match choice {
        ToolChoice::Auto => WireToolChoice::Mode("auto"),
        ToolChoice::None => WireToolChoice::Mode("none"),
        ToolChoice::Required => WireToolChoice::Mode("required"),
        ToolChoice::Tool { name } => WireToolChoice::Function {
            r#type: "function",
            function: FunctionName { name },
        },
        _ => return None,
    })
}

/// A `finish_reason` as Baton's [`FinishReason`].
pub(crate) fn finish_reason(reason: &str) -> FinishReason {
    match reason {
        "stop" => FinishReason::Stop,
        "length" => FinishReason::Length,
        "tool_calls" | "function_call" => FinishReason::ToolCalls,
        "content_filter" => FinishReason::ContentFilter,
        _ => FinishReason::Other,
    }
}

/// Token usage as the API reports it.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
pub(crate) struct WireUsage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
}

impl From<WireUsage> for Usage {
    fn from(usage: WireUsage) -> Self {
        Usage::new(usage.prompt_tokens, usage.completion_tokens)
    }
}

/// A non-streaming response.
#[derive(Debug, Deserialize)]
pub struct Completion {
    #[serde(default)]
    choices: Vec<CompletionChoice>,
    usage: Option<WireUsage>,
}

#[derive(Debug, Deserialize)]
struct CompletionChoice {
    message: CompletionMessage,
    finish_reason: Option<String>,
}

#[derive(Debug, Deserialize)]
struct CompletionMessage {
    content: Option<String>,
    #[serde(default)]
    tool_calls: Vec<CompletionToolCall>,
}

#[derive(Debug, Deserialize)]
struct CompletionToolCall {
    #[serde(default)]
    id: String,
    function: CompletionFunction,
}

#[derive(Debug, Deserialize)]
struct CompletionFunction {
    name: String,
    #[serde(default)]
    arguments: String,
}

impl Completion {
    /// The first choice as a [`ChatResponse`].
    pub(crate) fn into_response(self) -> Result<ChatResponse, LlmError> {
        let choice = self.choices.into_iter().next().ok_or_else(|| {
            LlmError::MalformedStream("chat completion has no choices".to_owned())
        })?;
        let tool_calls = choice
            .message
            .tool_calls
            .into_iter()
            .enumerate()
            .map(|(index, call)| {
                let id = if call.id.is_empty() {
                    format!("call_{index}")
                } else {
                    call.id
                };
                ToolCall::new(id, call.function.name, call.function.arguments)
            })
            .collect();
        Ok(ChatResponse {
            message: Message::assistant_calling(
                choice.message.content.unwrap_or_default(),
                tool_calls,
            ),
            usage: self.usage.map(Usage::from).unwrap_or_default(),
            finish_reason: choice
                .finish_reason
                .as_deref()
                .map_or(FinishReason::Other, finish_reason),
        })
    }
}

/// One `data:` payload of a streamed response.
#[derive(Debug, Deserialize)]
pub(crate) struct StreamChunk {
    #[serde(default)]
    pub(crate) choices: Option<Vec<StreamChoice>>,
    pub(crate) usage: Option<WireUsage>,
    /// An error reported in the stream (`{"error": {...}}`).
    pub(crate) error: Option<serde_json::Value>,
    /// `"error"` for vLLM's flat error objects.
    pub(crate) object: Option<String>,
}

/// One choice of a stream chunk.
#[derive(Debug, Deserialize)]
pub(crate) struct StreamChoice {
    #[serde(default)]
    pub(crate) index: u32,
    pub(crate) delta: Option<StreamDelta>,
    pub(crate) finish_reason: Option<String>,
}

/// What a chunk adds to a choice.
#[derive(Debug, Deserialize)]
pub(crate) struct StreamDelta {
    pub(crate) content: Option<String>,
    pub(crate) tool_calls: Option<Vec<ToolCallFragment>>,
}

/// A fragment of one tool call.
#[derive(Debug, Deserialize)]
pub(crate) struct ToolCallFragment {
    pub(crate) index: Option<u32>,
    pub(crate) id: Option<String>,
    pub(crate) function: Option<FunctionFragment>,
}

/// A fragment of a tool call's function.
#[derive(Debug, Deserialize)]
pub(crate) struct FunctionFragment {
    pub(crate) name: Option<String>,
    pub(crate) arguments: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model_defaults::ModelDefaults;
    use baton_core::llm::{ModelSettings, ToolSpec};
    use serde_json::json;
    use std::sync::Arc;

    fn defaults() -> ModelDefaults {
        ModelDefaults {
            model: "gpt-test".into(),
            settings: ModelSettings::default(),
        }
    }

    #[test]
    fn tool_settings_are_dropped_without_tools() {
        let settings = ModelSettings::default()
            .with_tool_choice(ToolChoice::Required)
            .with_parallel_tool_calls(false);
        let request = ChatRequest::new(vec![Arc::new(Message::user("hi"))]);
        let defaults = defaults();
        let body = serde_json::to_value(completion_request(
            &request,
            defaults.resolve(&settings),
            false,
        ))
        .unwrap();
        assert_eq!(
            body,
            json!({
                "model": "gpt-test",
                "messages": [{"role": "user", "content": "hi"}],
                "stream": false
            })
        );
    }

    #[test]
    fn a_named_tool_choice_is_a_function_object() {
        let settings = ModelSettings::default().with_tool_choice(ToolChoice::Tool {
            name: "lookup".into(),
        });
        let mut request = ChatRequest::new(vec![Arc::new(Message::user("hi"))]);
        request.tools = Arc::from([ToolSpec {
            name: "lookup".into(),
            description: "Looks things up.".into(),
            parameters: json!({"type": "object", "properties": {}}),
        }]);
        let defaults = defaults();
        let body = serde_json::to_value(completion_request(
            &request,
            defaults.resolve(&settings),
            true,
        ))
        .unwrap();
        assert_eq!(
            body["tool_choice"],
            json!({"type": "function", "function": {"name": "lookup"}})
        );
        assert_eq!(body["stream_options"], json!({"include_usage": true}));
    }

    #[test]
    fn completions_become_responses() {
        let completion: Completion = serde_json::from_value(json!({
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "", "type": "function", "function": {"name": "f", "arguments": "{}"}}
                ]},
                "finish_reason": "tool_calls"
            }],
            "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}
        }))
        .unwrap();
        let response = completion.into_response().unwrap();
        assert_eq!(response.finish_reason, FinishReason::ToolCalls);
        assert_eq!(response.usage, Usage::new(3, 4));
        assert_eq!(
            response.message.tool_calls(),
            &[ToolCall::new("call_0", "f", "{}")]
        );

        let empty: Completion = serde_json::from_value(json!({"choices": []})).unwrap();
        assert!(matches!(
            empty.into_response(),
            Err(LlmError::MalformedStream(_))
        ));
    }
}
