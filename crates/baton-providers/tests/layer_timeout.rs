//! The `Timeout` layer on a scripted provider, on paused time: each phase fails late calls at
//! its limit exactly, ends the stream, and lets calls in time through.

use baton_core::error::LlmError;
use baton_core::llm::{ChatChunk, ChatRequest, LlmProvider, Message};
use baton_providers::layer::{ProviderExt, Timeout};
use baton_providers::{OpenAiProvider, ProviderConfig};
use baton_testkit::{Script, ScriptedProvider};
use futures::StreamExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

const SECOND: Duration = Duration::from_secs(1);

fn request() -> ChatRequest {
    ChatRequest::new(vec![Arc::new(Message::user("Hi"))])
}

fn scripted(script: Script) -> ScriptedProvider {
    ScriptedProvider::new().respond(script)
}

#[tokio::test(start_paused = true)]
async fn a_call_that_does_not_open_in_time_fails_at_the_first_chunk_limit() {
    let slow_open = Script::error(LlmError::Connection("late".into())).with_latency(SECOND * 5);
    let provider = scripted(slow_open).layer(Timeout::new().first_chunk(SECOND));
    let started = Instant::now();

    let Err(error) = provider.chat_stream(&request()).await else {
        panic!("the call cannot open in time");
    };

    assert!(matches!(error, LlmError::Timeout(_)), "{error:?}");
    assert!(error.is_retryable());
    assert_eq!(started.elapsed(), SECOND);
}

#[tokio::test(start_paused = true)]
async fn a_late_first_chunk_fails_the_stream_and_ends_it() {
    let provider = scripted(Script::text("Hello there").with_latency(SECOND * 5))
        .layer(Timeout::new().first_chunk(SECOND * 2));
    let started = Instant::now();
    let mut stream = provider.chat_stream(&request()).await.unwrap();

    let item = stream.next().await;

    assert!(matches!(item, Some(Err(LlmError::Timeout(_)))), "{item:?}");
    assert_eq!(started.elapsed(), SECOND * 2);
    assert!(stream.next().await.is_none());
}

#[tokio::test(start_paused = true)]
async fn a_stall_between_chunks_fails_after_the_limit() {
    let provider = scripted(Script::text("Hello there").stall_after(1))
        .layer(Timeout::new().between_chunks(SECOND * 3));
    let mut stream = provider.chat_stream(&request()).await.unwrap();
    assert_eq!(
        stream.next().await.unwrap().unwrap(),
        ChatChunk::text("Hello ")
    );
    let waiting = Instant::now();

    let error = stream.next().await.unwrap().unwrap_err();

    assert_eq!(
        error,
        LlmError::Timeout("no data from the provider for 3s".into())
    );
    assert_eq!(waiting.elapsed(), SECOND * 3);
    assert!(stream.next().await.is_none());
}

#[tokio::test(start_paused = true)]
async fn chunks_within_the_limits_pass_however_long_the_whole_stream() {
    let chunk_delay = Duration::from_millis(900);
    let provider = scripted(Script::repeated_text("word ", 20).with_chunk_delay(chunk_delay))
        .layer(
            Timeout::new()
                .first_chunk(SECOND)
                .between_chunks(SECOND)
                .response(SECOND),
        );
    let stream = provider.chat_stream(&request()).await.unwrap();

    let chunks: Vec<_> = stream.collect().await;

    assert!(chunks.iter().all(Result::is_ok), "{chunks:?}");
    assert!(matches!(chunks.last(), Some(Ok(ChatChunk::Finish { .. }))));
}

#[tokio::test(start_paused = true)]
async fn a_non_streaming_call_is_bounded_as_a_whole() {
    let provider = scripted(Script::text("Hello there").with_latency(SECOND * 10))
        .layer(Timeout::new().response(SECOND * 4));
    let started = Instant::now();

    let error = provider.chat(&request()).await.unwrap_err();

    assert!(matches!(error, LlmError::Timeout(_)), "{error:?}");
    assert_eq!(started.elapsed(), SECOND * 4);
}

#[tokio::test(start_paused = true)]
async fn layers_stack_and_the_tighter_limit_wins() {
    let provider = scripted(Script::text("Hello there").stall_after(1))
        .layer(Timeout::new().between_chunks(SECOND * 10))
        .layer(Timeout::new().between_chunks(SECOND * 2));
    let mut stream = provider.chat_stream(&request()).await.unwrap();
    stream.next().await.unwrap().unwrap();
    let waiting = Instant::now();

    assert!(matches!(
        stream.next().await,
        Some(Err(LlmError::Timeout(_)))
    ));
    assert_eq!(waiting.elapsed(), SECOND * 2);
}

#[test]
fn the_default_layering_is_the_default_timeout() {
    let provider =
        OpenAiProvider::new(ProviderConfig::new().base_url("http://127.0.0.1:1/v1")).unwrap();
    assert_eq!(provider.timeout(), Timeout::default());
}
