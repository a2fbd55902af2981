//! The Anthropic provider against a real HTTP server replaying Messages transcripts: what it
//! sends, and what it makes of what it receives.

mod support;

use baton_core::error::LlmError;
use baton_core::llm::{
    ChatChunk, ChatRequest, FinishReason, LlmProvider, Message, ModelSettings, ToolCall,
    ToolChoice, Usage,
};
use baton_providers::{AnthropicProvider, ProviderConfig};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use support::{MockServer, Reply, assemble, hello_chunks, hello_request, stream_all, weather_tool};

const KEY: &str = "sk-ant-test-0123456789";

fn provider(server: &MockServer) -> AnthropicProvider {
    AnthropicProvider::new(ProviderConfig::new().api_key(KEY).base_url(server.url(""))).unwrap()
}

/// A conversation with every kind of message, tools and every setting; one tool call's
/// arguments are not valid JSON, as a model can write them.
fn full_request() -> ChatRequest {
    let paris = ToolCall::new("toolu_paris", "get_weather", r#"{"city": "Paris"}"#);
    let london = ToolCall::new("toolu_london", "get_weather", r#"{"city": "Lon"#);
    let messages = vec![
        Message::system("You are a weather bot."),
        Message::user("Weather in Paris and London?"),
        Message::assistant_calling(
            "Let me check both cities.",
            vec![paris.clone(), london.clone()],
        ),
        Message::tool_result(&paris, "sunny, 21°C"),
        Message::tool_error(&london, "invalid arguments"),
        Message::user("Just Paris then."),
        Message::assistant("Paris is sunny."),
        Message::system("Answer in one sentence."),
        Message::user("And tomorrow?"),
    ];
    let mut request = ChatRequest::new(messages.into_iter().map(Arc::new).collect());
    request.tools = Arc::from([weather_tool()]);
    request.settings = Arc::new(
        ModelSettings::model("claude-haiku-4-5")
            .with_temperature(0.25)
            .with_max_tokens(1024)
            .with_tool_choice(ToolChoice::Auto)
            .with_parallel_tool_calls(false),
    );
    request
}

fn full_request_body(stream: bool) -> serde_json::Value {
    json!({
        "model": "claude-haiku-4-5",
        "max_tokens": 1024,
        "system": "You are a weather bot.\n\nAnswer in one sentence.",
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "Weather in Paris and London?"}]},
            {"role": "assistant", "content": [
                {"type": "text", "text": "Let me check both cities."},
                {"type": "tool_use", "id": "toolu_paris", "name": "get_weather", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "toolu_london", "name": "get_weather", "input": {}}
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_paris", "content": "sunny, 21°C"},
                {"type": "tool_result", "tool_use_id": "toolu_london", "content": "error: invalid arguments", "is_error": true},
                {"type": "text", "text": "Just Paris then."}
            ]},
            {"role": "assistant", "content": [{"type": "text", "text": "Paris is sunny."}]},
            {"role": "user", "content": [{"type": "text", "text": "And tomorrow?"}]}
        ],
        "tools": [{
            "name": "get_weather",
            "description": "Current weather in a city.",
            "input_schema": {
                "type": "object",
                "properties": {"city": {"type": "string", "description": "City name."}},
                "required": ["city"]
            }
        }],
        "tool_choice": {"type": "auto", "disable_parallel_tool_use": true},
        "temperature": 0.25,
        "stream": stream
    })
}

#[tokio::test]
async fn streams_text_ignores_pings_and_sends_one_complete_usage() {
    let server = MockServer::start([Reply::sse("anthropic/text.sse")]).await;

    let (chunks, error) = stream_all(&provider(&server), &hello_request()).await;

    assert_eq!(error, None);
    assert_eq!(chunks, hello_chunks(Usage::new(25, 15)));
    let seen = &server.seen()[0];
    assert_eq!(seen.path, "/v1/messages");
    assert_eq!(seen.headers["x-api-key"], KEY);
    assert_eq!(seen.headers["anthropic-version"], "2023-06-01");
    assert_eq!(seen.headers["accept"], "text/event-stream");
    assert!(!seen.headers.contains_key("authorization"));
    assert_eq!(
        seen.body,
        json!({
            "model": "claude-sonnet-4-5",
            "max_tokens": 4096,
            "system": "Be brief.",
            "messages": [{"role": "user", "content": [{"type": "text", "text": "Say hello."}]}],
            "stream": true
        })
    );
}

#[tokio::test]
async fn tool_use_blocks_become_tool_calls_numbered_from_zero() {
    let server = MockServer::start([Reply::sse("anthropic/tool_use.sse")]).await;

    let (chunks, error) = stream_all(&provider(&server), &full_request()).await;

    assert_eq!(error, None);
    // A tool-use block's first fragment names the call; the rest carry its arguments.
    let fragment = |index, id: Option<&str>, arguments| {
        support::fragment(index, id, id.map(|_| "get_weather"), arguments)
    };
    assert_eq!(
        chunks,
        [
            ChatChunk::text("Let me check both cities."),
            fragment(0, Some("toolu_paris"), ""),
            fragment(0, None, "{\"city\": \"Pa"),
            fragment(0, None, "ris\"}"),
            fragment(1, Some("toolu_london"), ""),
            fragment(1, None, "{\"ci"),
            fragment(1, None, "ty\": \"London\"}"),
            // 472 input + 100 read from the cache; the last cumulative output count.
            ChatChunk::usage(Usage::new(572, 89)),
            ChatChunk::finish(FinishReason::ToolCalls),
        ]
    );
    assert_eq!(
        assemble(&chunks).message.tool_calls(),
        [
            ToolCall::new("toolu_paris", "get_weather", r#"{"city": "Paris"}"#),
            ToolCall::new("toolu_london", "get_weather", r#"{"city": "London"}"#),
        ]
    );
    assert_eq!(server.only_body(), full_request_body(true));
}

#[tokio::test]
async fn non_streaming_chat_sends_the_same_mapping() {
    let server = MockServer::start([Reply::json(200, "anthropic/message.json")]).await;

    let response = provider(&server).chat(&full_request()).await.unwrap();

    assert_eq!(
        response.message,
        Message::assistant_calling(
            "Let me check.",
            vec![ToolCall::new(
                "toolu_paris",
                "get_weather",
                r#"{"city":"Paris"}"#
            )]
        )
    );
    assert_eq!(response.usage, Usage::new(380, 54));
    assert_eq!(response.finish_reason, FinishReason::ToolCalls);
    assert_eq!(server.only_body(), full_request_body(false));
}

#[tokio::test]
async fn an_overloaded_error_event_is_overloaded() {
    let server = MockServer::start([Reply::sse("anthropic/overloaded.sse")]).await;

    let (chunks, error) = stream_all(&provider(&server), &full_request()).await;

    assert_eq!(chunks, []);
    let error = error.unwrap();
    assert_eq!(
        error,
        LlmError::Overloaded {
            message: "Overloaded".into(),
            retry_after: None
        }
    );
    assert!(error.is_retryable());
}

#[tokio::test]
async fn status_529_is_overloaded_with_the_server_wait() {
    let server = MockServer::start([
        Reply::json(529, "anthropic/overloaded_529.json").header("retry-after", "3")
    ])
    .await;

    let Err(error) = provider(&server).chat_stream(&full_request()).await else {
        panic!("a 529 must fail the call");
    };

    assert_eq!(
        error,
        LlmError::Overloaded {
            message: "Overloaded".into(),
            retry_after: Some(Duration::from_secs(3)),
        }
    );
    assert!(error.is_retryable());
}

#[tokio::test]
async fn unauthorized_carries_the_server_message() {
    let server = MockServer::start([Reply::json(401, "anthropic/error_401.json")]).await;
    let provider = provider(&server);

    let error = provider.chat(&full_request()).await.unwrap_err();

    assert_eq!(
        error,
        LlmError::Status {
            status: 401,
            message: "invalid x-api-key".into(),
            retry_after: None,
        }
    );
    assert!(!error.is_retryable());
    assert!(!format!("{provider:?}").contains(KEY));
}
