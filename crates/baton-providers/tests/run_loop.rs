//! The providers inside `baton-core`'s agent loop: the loop's retry sees the providers' error
//! classification (a rate limit is retried after the server's `Retry-After`, an error after
//! the first chunk is not), and tool calls make the round trip through the wire formats.
//!
//! The retry wait runs on the real clock: with paused time, tokio would advance the clock
//! whenever the runtime waits on the loopback socket, firing timeouts early. The wait is
//! measured between the two requests' arrival at the server instead.

mod support;

use baton_core::error::ToolError;
use baton_core::prelude::*;
use baton_core::run::RetryPolicy;
use baton_providers::{AnthropicProvider, OpenAiProvider, ProviderConfig};
use futures::StreamExt;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use support::{HELLO, MockServer, Reply};

struct Weather;

#[derive(Deserialize, JsonSchema)]
struct WeatherArgs {
    /// City name.
    city: String,
}

impl Tool for Weather {
    type Args = WeatherArgs;

    fn name(&self) -> &str {
        "get_weather"
    }

    fn description(&self) -> &str {
        "Current weather in a city."
    }

    async fn call(&self, args: WeatherArgs, _ctx: &ToolContext<'_>) -> Result<String, ToolError> {
        Ok(format!("sunny in {}", args.city))
    }
}

fn agent() -> Arc<Agent> {
    Arc::new(
        Agent::builder("weather")
            .instructions("You are a weather bot.")
            .tool(Weather)
            .build()
            .unwrap(),
    )
}

fn openai(server: &MockServer) -> Arc<dyn LlmProvider> {
    Arc::new(
        OpenAiProvider::new(
            ProviderConfig::new()
                .api_key("sk-test")
                .base_url(server.url("/v1")),
        )
        .unwrap(),
    )
}

fn anthropic(server: &MockServer) -> Arc<dyn LlmProvider> {
    Arc::new(
        AnthropicProvider::new(
            ProviderConfig::new()
                .api_key("sk-ant-test")
                .base_url(server.url("")),
        )
        .unwrap(),
    )
}

/// Retries with a 1 ms backoff and no jitter, so any longer wait is the server's.
fn quick_retries() -> RunOptions {
    RunOptions::default().with_retry(
        RetryPolicy::default()
            .with_max_retries(2)
            .with_backoff(Duration::from_millis(1), Duration::from_millis(1))
            .with_jitter(false),
    )
}

async fn run_streaming(llm: Arc<dyn LlmProvider>, question: &str) -> Vec<RunEvent> {
    let ctx = AgentContext::new(agent(), llm, InMemoryStore::shared());
    let input = vec![Message::user(question)];
    let stream = run_steps_streaming(&ctx, ThreadId::new(), input, quick_retries())
        .await
        .unwrap();
    stream.collect().await
}

fn completed(events: &[RunEvent]) -> (&str, Usage) {
    match events.last() {
        Some(RunEvent::Completed { output, usage }) => (output, *usage),
        other => panic!("the run did not complete: {other:?}"),
    }
}

#[tokio::test]
async fn a_rate_limit_is_retried_after_the_servers_retry_after() {
    let server = MockServer::start([
        Reply::json(429, "openai/error_429.json").header("retry-after", "1"),
        Reply::sse("openai/text.sse"),
    ])
    .await;

    let events = run_streaming(openai(&server), "Say hello.").await;

    assert_eq!(completed(&events), (HELLO, Usage::new(19, 8)));
    let seen = server.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(
        seen[0].body, seen[1].body,
        "the retry sends the same request"
    );
    let waited = seen[1].at - seen[0].at;
    assert!(
        waited >= Duration::from_secs(1),
        "retried after {waited:?}, before the server's Retry-After of 1 s"
    );
}

#[tokio::test]
async fn an_overloaded_event_before_any_chunk_is_retried() {
    let server = MockServer::start([
        Reply::sse("anthropic/overloaded.sse"),
        Reply::sse("anthropic/text.sse"),
    ])
    .await;

    let events = run_streaming(anthropic(&server), "Say hello.").await;

    assert_eq!(completed(&events), (HELLO, Usage::new(25, 15)));
    assert_eq!(server.seen().len(), 2);
}

#[tokio::test]
async fn a_server_error_after_the_first_chunk_fails_the_run_without_retry() {
    let server = MockServer::start([
        Reply::sse("openai/server_error_after_first_chunk.sse"),
        Reply::sse("openai/text.sse"),
    ])
    .await;

    let events = run_streaming(openai(&server), "Say hello.").await;

    assert_eq!(
        events,
        [
            RunEvent::AgentStarted {
                agent: AgentName::new("weather").unwrap()
            },
            RunEvent::TextDelta {
                delta: Arc::from("Hello")
            },
            RunEvent::Failed {
                error: RunError::Provider {
                    error: LlmError::Provider {
                        message: "The engine died unexpectedly while generating.".into(),
                        retryable: true,
                    }
                }
            },
        ]
    );
    assert_eq!(server.seen().len(), 1, "nothing is retried after a chunk");
}

#[tokio::test]
async fn openai_tool_calls_round_trip_through_the_streaming_loop() {
    let server = MockServer::start([
        Reply::sse("openai/tool_calls.sse"),
        Reply::sse("openai/text.sse"),
    ])
    .await;
    let parameters = agent().tool_specs()[0].parameters.clone();

    let events = run_streaming(openai(&server), "Weather in Paris and London?").await;

    assert_eq!(completed(&events), (HELLO, Usage::new(81 + 19, 46 + 8)));
    let seen = server.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(
        seen[1].body,
        json!({
            "model": "gpt-4o-mini",
            "messages": [
                {"role": "system", "content": "You are a weather bot."},
                {"role": "user", "content": "Weather in Paris and London?"},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "call_paris", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}},
                    {"id": "call_london", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"London\"}"}}
                ]},
                {"role": "tool", "tool_call_id": "call_paris", "content": "sunny in Paris"},
                {"role": "tool", "tool_call_id": "call_london", "content": "sunny in London"}
            ],
            "tools": [{"type": "function", "function": {
                "name": "get_weather",
                "description": "Current weather in a city.",
                "parameters": parameters
            }}],
            "stream": true,
            "stream_options": {"include_usage": true}
        })
    );
}

#[tokio::test]
async fn anthropic_tool_use_round_trips_through_the_blocking_loop() {
    let server = MockServer::start([
        Reply::json(200, "anthropic/message.json"),
        Reply::json(200, "anthropic/message_text.json"),
    ])
    .await;
    let parameters = agent().tool_specs()[0].parameters.clone();
    let ctx = AgentContext::new(agent(), anthropic(&server), InMemoryStore::shared());

    let input = vec![Message::user("Weather in Paris?")];
    let output = run_steps(&ctx, ThreadId::new(), input, quick_retries())
        .await
        .unwrap();

    assert_eq!(output.output, "It is sunny in Paris.");
    assert_eq!(output.usage, Usage::new(380 + 450, 54 + 9));
    assert_eq!(output.steps, 2);
    let seen = server.seen();
    assert_eq!(
        seen[1].body,
        json!({
            "model": "claude-sonnet-4-5",
            "max_tokens": 4096,
            "system": "You are a weather bot.",
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "Weather in Paris?"}]},
                {"role": "assistant", "content": [
                    {"type": "text", "text": "Let me check."},
                    {"type": "tool_use", "id": "toolu_paris", "name": "get_weather", "input": {"city": "Paris"}}
                ]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_paris", "content": "sunny in Paris"}
                ]}
            ],
            "tools": [{
                "name": "get_weather",
                "description": "Current weather in a city.",
                "input_schema": parameters
            }],
            "stream": false
        })
    );
}
