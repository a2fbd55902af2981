use super::*;
use crate::error::LlmError;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

fn round_trip<T>(value: &T)
where
    T: Serialize + for<'de> Deserialize<'de> + PartialEq + std::fmt::Debug,
{
    let json = serde_json::to_string(value).unwrap();
    let back: T = serde_json::from_str(&json).unwrap();
    assert_eq!(&back, value, "{json}");
}

#[test]
fn messages_round_trip_through_json() {
    let call = ToolCall::new("call_1", "get_weather", r#"{"city":"Paris"}"#);
    for message in [
        Message::system("be brief"),
        Message::user("weather in Paris? ünïcødé ✓"),
        Message::Assistant {
            content: String::new(),
            tool_calls: vec![call.clone()],
        },
        Message::tool_result(&call, "sunny"),
        Message::tool_error(&call, "boom"),
    ] {
        round_trip(&message);
    }
    let json = serde_json::to_value(Message::user("hi")).unwrap();
    assert_eq!(json, serde_json::json!({"role": "user", "content": "hi"}));
}

#[test]
fn chunks_requests_and_responses_round_trip_through_json() {
    for chunk in [
        ChatChunk::text("hel"),
        ChatChunk::ToolCall(ToolCallDelta {
            index: 1,
            id: Some("c".into()),
            name: Some("t".into()),
            arguments: "{\"a\"".into(),
        }),
        ChatChunk::usage(Usage::new(10, 2)),
        ChatChunk::finish(FinishReason::ToolCalls),
    ] {
        round_trip(&chunk);
    }
    let request = ChatRequest {
        messages: vec![Arc::new(Message::system("s")), Arc::new(Message::user("u"))],
        tools: Arc::from(vec![ToolSpec {
            name: "t".into(),
            description: "d".into(),
            parameters: serde_json::json!({"type": "object"}),
        }]),
        settings: Arc::new(ModelSettings::model("m").with_temperature(0.5)),
        run: None,
    };
    round_trip(&request);
    round_trip(&ChatResponse {
        message: Message::assistant("done"),
        usage: Usage::new(1, 2),
        finish_reason: FinishReason::Stop,
    });
    round_trip(&LlmError::ResponseTooLarge { limit: 3 });
}

#[tokio::test]
async fn assembler_joins_fragmented_parallel_tool_calls() {
    let delta = |index, id: Option<&str>, name: Option<&str>, args: &str| {
        Ok(ChatChunk::ToolCall(ToolCallDelta {
            index,
            id: id.map(Into::into),
            name: name.map(Into::into),
            arguments: args.into(),
        }))
    };
    let chunks = vec![
        Ok(ChatChunk::text("Let me check. ")),
        delta(0, Some("a"), Some("weather"), "{\"ci"),
        delta(1, Some("b"), Some("time"), ""),
        delta(0, None, None, "ty\":\"Par"),
        delta(1, None, None, "{}"),
        delta(0, None, None, "is\"}"),
        Ok(ChatChunk::usage(Usage::new(5, 1))),
        Ok(ChatChunk::usage(Usage::new(5, 9))),
        Ok(ChatChunk::finish(FinishReason::ToolCalls)),
    ];
    let response = collect_stream(Box::pin(futures::stream::iter(chunks)), 1024)
        .await
        .unwrap();
    assert_eq!(response.finish_reason, FinishReason::ToolCalls);
    assert_eq!(response.usage, Usage::new(5, 9), "last usage wins");
    assert_eq!(response.message.content(), "Let me check. ");
    assert_eq!(
        response.message.tool_calls(),
        &[
            ToolCall::new("a", "weather", r#"{"city":"Paris"}"#),
            ToolCall::new("b", "time", "{}"),
        ]
    );
}

#[tokio::test]
async fn assembler_rejects_incomplete_and_oversized_streams() {
    let incomplete = vec![Ok(ChatChunk::text("partial"))];
    assert_eq!(
        collect_stream(Box::pin(futures::stream::iter(incomplete)), 1024).await,
        Err(LlmError::IncompleteStream)
    );
    let big = vec![Ok(ChatChunk::text("0123456789")), Ok(ChatChunk::text("x"))];
    assert_eq!(
        collect_stream(Box::pin(futures::stream::iter(big)), 10).await,
        Err(LlmError::ResponseTooLarge { limit: 10 })
    );
}

#[test]
fn token_counts_are_real_and_bounded_by_bytes() {
    let text = "The quick brown fox jumps over the lazy dog.";
    let exact = tokens::count_text(text);
    assert!((8..=12).contains(&exact), "a real tokenizer: {exact}");
    let message = Message::Assistant {
        content: "naïve café ✓ — 日本語".into(),
        tool_calls: vec![ToolCall::new("1", "lookup", r#"{"q":"rust async"}"#)],
    };
    assert!(tokens::message_tokens(&message) <= tokens::message_tokens_upper_bound(&message));
    assert_eq!(tokens::count_text(""), 0);
}
