//! What the network can do to a call — a cut connection, a body that ends too early, a server
//! that stalls or never answers, a refused connection — and that dropping a stream ends the
//! request. Timeouts run on the real clock, set short; nothing here sleeps. The providers are
//! built as the default layering is, with short timeouts: the HTTP provider (its connect
//! timeout) inside the `Timeout` layer (first chunk, between chunks, whole response).

mod support;

use baton_core::error::LlmError;
use baton_core::llm::{ChatChunk, ChatRequest, LlmProvider, Message};
use baton_providers::layer::{ProviderExt, Timeout};
use baton_providers::{AnthropicProvider, HttpProvider, OpenAiProvider, ProviderConfig};
use futures::StreamExt;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{MockServer, Reply, assert_dropped, stream_all};

const SHORT: Duration = Duration::from_millis(300);

fn config(base_url: String) -> ProviderConfig {
    ProviderConfig::new()
        .api_key("sk-test")
        .base_url(base_url)
        .connect_timeout(SHORT)
}

fn short_timeouts() -> Timeout {
    Timeout::new()
        .first_chunk(SHORT)
        .between_chunks(SHORT)
        .response(SHORT)
}

fn openai_at(base_url: String) -> OpenAiProvider {
    HttpProvider::new(config(base_url))
        .unwrap()
        .layer(short_timeouts())
}

fn openai(server: &MockServer) -> OpenAiProvider {
    openai_at(server.url("/v1"))
}

fn request() -> ChatRequest {
    ChatRequest::new(vec![Arc::new(Message::user("Say hello."))])
}

fn partial_text() -> Vec<ChatChunk> {
    vec![ChatChunk::text("Hello"), ChatChunk::text(", wor")]
}

#[tokio::test]
async fn a_connection_cut_mid_stream_is_a_connection_error() {
    let server = MockServer::start([Reply::sse("openai/partial.sse").then_abort()]).await;

    let (chunks, error) = stream_all(&openai(&server), &request()).await;

    assert_eq!(chunks, partial_text());
    assert!(matches!(error, Some(LlmError::Connection(_))), "{error:?}");
}

#[tokio::test]
async fn a_body_that_ends_without_a_finish_is_incomplete() {
    let server = MockServer::start([Reply::sse("openai/partial.sse")]).await;

    let (chunks, error) = stream_all(&openai(&server), &request()).await;

    assert_eq!(chunks, partial_text());
    assert_eq!(error, Some(LlmError::IncompleteStream));
}

#[tokio::test]
async fn an_anthropic_body_that_ends_without_a_stop_is_incomplete() {
    let server = MockServer::start([Reply::sse("anthropic/partial.sse")]).await;
    let provider: AnthropicProvider = HttpProvider::new(config(server.url("")))
        .unwrap()
        .layer(short_timeouts());

    let (chunks, error) = stream_all(&provider, &request()).await;

    assert_eq!(chunks, [ChatChunk::text("Hello")]);
    assert_eq!(error, Some(LlmError::IncompleteStream));
}

/// Reads the partial text `provider` streams from a server that then stalls, and the error
/// that ends the stream: a retryable timeout, after how long.
async fn stall_after_partial_text(provider: &impl LlmProvider) -> Duration {
    let mut stream = provider.chat_stream(&request()).await.unwrap();
    for expected in partial_text() {
        assert_eq!(stream.next().await.unwrap().unwrap(), expected);
    }

    let waiting = Instant::now();
    let error = stream.next().await.unwrap().unwrap_err();
    let waited = waiting.elapsed();

    assert!(matches!(error, LlmError::Timeout(_)), "{error:?}");
    assert!(error.is_retryable());
    assert!(stream.next().await.is_none());
    waited
}

#[tokio::test]
async fn a_stalled_stream_times_out_after_the_idle_timeout() {
    let server = MockServer::start([Reply::sse("openai/partial.sse").then_stall()]).await;

    let waited = stall_after_partial_text(&openai(&server)).await;

    assert!(
        waited >= SHORT,
        "timed out after {waited:?}, before the idle timeout"
    );
}

#[tokio::test]
async fn a_stalled_connection_times_out_after_the_read_timeout_even_when_chunks_may_wait_long() {
    let server = MockServer::start([Reply::sse("openai/partial.sse").then_stall()]).await;
    let provider: OpenAiProvider = HttpProvider::new(config(server.url("/v1")).read_timeout(SHORT))
        .unwrap()
        .layer(Timeout::new().between_chunks(Duration::from_secs(3600)));

    let waited = stall_after_partial_text(&provider).await;

    assert!(
        waited >= SHORT,
        "timed out after {waited:?}, before the read timeout"
    );
    assert!(
        waited < Duration::from_secs(60),
        "the layer's wait, not the read timeout: {waited:?}"
    );
}

#[tokio::test]
async fn a_server_that_never_answers_times_out_before_the_first_byte() {
    let server = MockServer::start([Reply::never_answer()]).await;

    let started = Instant::now();
    let Err(error) = openai(&server).chat_stream(&request()).await else {
        panic!("a silent server must fail the call");
    };

    assert!(matches!(error, LlmError::Timeout(_)), "{error:?}");
    assert!(started.elapsed() >= SHORT);
}

#[tokio::test]
async fn a_non_streaming_call_times_out_as_a_whole() {
    let server = MockServer::start([Reply::never_answer()]).await;

    let error = openai(&server).chat(&request()).await.unwrap_err();

    assert!(matches!(error, LlmError::Timeout(_)), "{error:?}");
}

#[tokio::test]
async fn a_refused_connection_is_a_connection_error() {
    // A port that was just free: bind it, then let it go.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    let provider = openai_at(format!("http://{address}/v1"));

    let Err(error) = provider.chat_stream(&request()).await else {
        panic!("nothing listens there");
    };

    assert!(matches!(error, LlmError::Connection(_)), "{error:?}");
    assert!(error.is_retryable());
}

#[tokio::test]
async fn dropping_the_stream_ends_the_request() {
    let (dropped_tx, dropped) = tokio::sync::oneshot::channel();
    let server = MockServer::start([Reply::sse("openai/partial.sse")
        .then_stall()
        .notify_drop(dropped_tx)])
    .await;
    let mut stream = openai(&server).chat_stream(&request()).await.unwrap();
    assert_eq!(
        stream.next().await.unwrap().unwrap(),
        ChatChunk::text("Hello")
    );

    drop(stream);

    // The server notices the closed connection and drops the body it was sending.
    assert_dropped(dropped).await;
}

#[tokio::test]
async fn dropping_the_call_before_the_answer_ends_the_request() {
    let (received_tx, received) = tokio::sync::oneshot::channel();
    let (dropped_tx, dropped) = tokio::sync::oneshot::channel();
    let server = MockServer::start([Reply::never_answer()
        .notify_received(received_tx)
        .notify_drop(dropped_tx)])
    .await;
    let provider = openai(&server);
    let request = request();

    tokio::select! {
        _ = provider.chat_stream(&request) => panic!("the server never answers"),
        _ = received => {}
    }
    // The call's future was dropped when `select!` returned.

    assert_dropped(dropped).await;
}

#[tokio::test]
async fn finished_streams_leave_the_connection_for_the_next_call() {
    let server =
        MockServer::start([Reply::sse("openai/text.sse"), Reply::sse("openai/text.sse")]).await;
    let provider = openai(&server);

    for _ in 0..2 {
        let (_, error) = stream_all(&provider, &request()).await;
        assert_eq!(error, None);
    }

    let seen = server.seen();
    assert_eq!(
        seen[0].peer, seen[1].peer,
        "the second call opened a new connection"
    );
}
