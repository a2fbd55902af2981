//! The OpenAI-compatible provider against a real HTTP server replaying Chat Completions
//! transcripts: what it sends, and what it makes of what it receives.

mod support;

use baton_core::error::LlmError;
use baton_core::llm::{
    ChatChunk, ChatRequest, FinishReason, LlmProvider, Message, ModelSettings, ToolCall,
    ToolChoice, Usage,
};
use baton_providers::{OpenAiProvider, ProviderConfig};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use support::{
    MockServer, Reply, assemble, fragment, hello_chunks, hello_request, stream_all, weather_tool,
};

const KEY: &str = "sk-test-wrong-0123456789";

fn provider(server: &MockServer) -> OpenAiProvider {
    OpenAiProvider::new(
        ProviderConfig::new()
            .api_key(KEY)
            .base_url(server.url("/v1"))
            .model("gpt-4o-mini"),
    )
    .unwrap()
}

/// A conversation with every kind of message, tools and every setting.
fn full_request() -> ChatRequest {
    let paris = ToolCall::new("call_paris", "get_weather", r#"{"city": "Paris"}"#);
    let london = ToolCall::new("call_london", "get_weather", r#"{"city": "London"}"#);
    let messages = vec![
        Message::system("You are a weather bot."),
        Message::user("Weather in Paris and London?"),
        Message::assistant_calling("", vec![paris.clone(), london.clone()]),
        Message::tool_result(&paris, "sunny, 21°C"),
        Message::tool_error(&london, "service unavailable"),
        Message::assistant("Paris is sunny; London's weather is unknown."),
        Message::user("And tomorrow?"),
    ];
    let mut request = ChatRequest::new(messages.into_iter().map(Arc::new).collect());
    request.tools = Arc::from([weather_tool()]);
    request.settings = Arc::new(
        ModelSettings::model("gpt-4o")
            .with_temperature(0.5)
            .with_max_tokens(256)
            .with_tool_choice(ToolChoice::Auto)
            .with_parallel_tool_calls(false),
    );
    request
}

fn full_request_body() -> serde_json::Value {
    json!({
        "model": "gpt-4o",
        "messages": [
            {"role": "system", "content": "You are a weather bot."},
            {"role": "user", "content": "Weather in Paris and London?"},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_paris", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}},
                {"id": "call_london", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"London\"}"}}
            ]},
            {"role": "tool", "tool_call_id": "call_paris", "content": "sunny, 21°C"},
            {"role": "tool", "tool_call_id": "call_london", "content": "error: service unavailable"},
            {"role": "assistant", "content": "Paris is sunny; London's weather is unknown."},
            {"role": "user", "content": "And tomorrow?"}
        ],
        "tools": [{"type": "function", "function": {
            "name": "get_weather",
            "description": "Current weather in a city.",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string", "description": "City name."}},
                "required": ["city"]
            }
        }}],
        "tool_choice": "auto",
        "parallel_tool_calls": false,
        "temperature": 0.5,
        "max_tokens": 256,
        "stream": true,
        "stream_options": {"include_usage": true}
    })
}

#[tokio::test]
async fn streams_text_then_one_usage_then_finish() {
    let server = MockServer::start([Reply::sse("openai/text.sse")]).await;

    let (chunks, error) = stream_all(&provider(&server), &hello_request()).await;

    assert_eq!(error, None);
    assert_eq!(chunks, hello_chunks(Usage::new(19, 8)));
    let seen = &server.seen()[0];
    assert_eq!(seen.path, "/v1/chat/completions");
    assert_eq!(seen.headers["authorization"], format!("Bearer {KEY}"));
    assert_eq!(seen.headers["content-type"], "application/json");
    assert_eq!(seen.headers["accept"], "text/event-stream");
    assert_eq!(
        seen.body,
        json!({
            "model": "gpt-4o-mini",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Say hello."}
            ],
            "stream": true,
            "stream_options": {"include_usage": true}
        })
    );
}

#[tokio::test]
async fn parallel_tool_calls_arrive_as_indexed_fragments() {
    let server = MockServer::start([Reply::sse("openai/tool_calls.sse")]).await;

    let (chunks, error) = stream_all(&provider(&server), &full_request()).await;

    assert_eq!(error, None);
    assert_eq!(
        chunks,
        [
            fragment(0, Some("call_paris"), Some("get_weather"), ""),
            fragment(0, None, None, "{\"ci"),
            fragment(0, None, None, "ty\": \"Pa"),
            fragment(0, None, None, "ris\"}"),
            fragment(1, Some("call_london"), Some("get_weather"), ""),
            fragment(1, None, None, "{\"city"),
            fragment(1, None, None, "\": \"Lon"),
            fragment(1, None, None, "don\"}"),
            ChatChunk::usage(Usage::new(81, 46)),
            ChatChunk::finish(FinishReason::ToolCalls),
        ]
    );
    assert_eq!(
        assemble(&chunks).message.tool_calls(),
        [
            ToolCall::new("call_paris", "get_weather", r#"{"city": "Paris"}"#),
            ToolCall::new("call_london", "get_weather", r#"{"city": "London"}"#),
        ]
    );
    assert_eq!(server.only_body(), full_request_body());
}

#[tokio::test]
async fn non_streaming_chat_sends_the_same_mapping_without_stream_options() {
    let server = MockServer::start([Reply::json(200, "openai/completion.json")]).await;

    let response = provider(&server).chat(&full_request()).await.unwrap();

    assert_eq!(
        response.message,
        Message::assistant_calling(
            "",
            vec![ToolCall::new(
                "call_paris",
                "get_weather",
                r#"{"city": "Paris"}"#
            )]
        )
    );
    assert_eq!(response.usage, Usage::new(57, 15));
    assert_eq!(response.finish_reason, FinishReason::ToolCalls);
    let mut expected = full_request_body();
    expected["stream"] = json!(false);
    expected.as_object_mut().unwrap().remove("stream_options");
    assert_eq!(server.only_body(), expected);
    assert_eq!(server.seen()[0].headers["accept"], "application/json");
}

#[tokio::test]
async fn unauthorized_carries_the_server_message_but_never_the_key() {
    let server = MockServer::start([Reply::json(401, "openai/error_401.json")]).await;
    let provider = provider(&server);

    let error = match provider.chat_stream(&full_request()).await {
        Err(error) => error,
        Ok(_) => panic!("a 401 must fail the call"),
    };

    assert_eq!(
        error,
        LlmError::Status {
            status: 401,
            message: "Incorrect API key provided: [redacted]. You can find your API key at https://platform.openai.com/account/api-keys.".into(),
            retry_after: None,
        }
    );
    assert!(!error.is_retryable());
    for text in [
        error.to_string(),
        format!("{error:?}"),
        format!("{provider:?}"),
    ] {
        assert!(!text.contains(KEY), "the key leaked into {text:?}");
    }
}

#[tokio::test]
async fn rate_limits_are_retryable_and_carry_the_server_wait() {
    let server = MockServer::start([
        Reply::json(429, "openai/error_429.json").header("retry-after", "2"),
        Reply::json(429, "openai/error_429.json").header("retry-after-ms", "350"),
        Reply::json(503, "openai/error_429.json"),
    ])
    .await;
    let provider = provider(&server);

    let mut waits = Vec::new();
    for _ in 0..3 {
        let Err(error) = provider.chat_stream(&full_request()).await else {
            panic!("an error status must fail the call");
        };
        assert!(error.is_retryable(), "{error}");
        waits.push(error.retry_after());
    }
    assert_eq!(
        waits,
        [
            Some(Duration::from_secs(2)),
            Some(Duration::from_millis(350)),
            None
        ]
    );
}

#[tokio::test]
async fn malformed_event_json_fails_the_stream_after_the_good_chunks() {
    let server = MockServer::start([Reply::sse("openai/malformed.sse")]).await;

    let (chunks, error) = stream_all(&provider(&server), &full_request()).await;

    assert_eq!(chunks, [ChatChunk::text("Hello")]);
    let Some(LlmError::MalformedStream(reason)) = error else {
        panic!("expected a malformed stream, got {error:?}");
    };
    assert!(
        reason.starts_with("message event is not valid JSON"),
        "{reason}"
    );
}

#[tokio::test]
async fn an_error_event_in_the_stream_is_a_provider_error() {
    let server = MockServer::start([Reply::sse("openai/server_error_after_first_chunk.sse")]).await;

    let (chunks, error) = stream_all(&provider(&server), &full_request()).await;

    assert_eq!(chunks, [ChatChunk::text("Hello")]);
    assert_eq!(
        error,
        Some(LlmError::Provider {
            message: "The engine died unexpectedly while generating.".into(),
            retryable: true,
        })
    );
}

#[tokio::test]
async fn a_local_server_needs_no_key() {
    let server = MockServer::start([Reply::sse("openai/text.sse")]).await;
    let provider = OpenAiProvider::new(ProviderConfig::new().base_url(server.url("/v1/"))).unwrap();

    let request = ChatRequest::new(vec![Arc::new(Message::user("hi"))]);
    let (_, error) = stream_all(&provider, &request).await;

    assert_eq!(error, None);
    let seen = &server.seen()[0];
    assert_eq!(seen.path, "/v1/chat/completions");
    assert!(!seen.headers.contains_key("authorization"));
    assert_eq!(seen.body["model"], "gpt-4o-mini");
}
