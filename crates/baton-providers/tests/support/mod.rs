//! A real HTTP server on 127.0.0.1 (axum, random port) that answers each request with the
//! next scripted [`Reply`] — usually a wire-exact transcript from `tests/fixtures/` — and
//! records what it received; and the helpers every test file reads answers with.

#![allow(dead_code)] // each test file uses a different part of the support module

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use baton_core::error::LlmError;
use baton_core::llm::{
    ChatChunk, ChatRequest, ChatResponse, ChunkStream, FinishReason, LlmProvider, Message,
    ResponseAssembler, ToolCallDelta, ToolSpec, Usage,
};
use futures::StreamExt;
use futures::stream::BoxStream;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Streamed bodies are sent in frames this small, so events, lines and UTF-8 characters are
/// cut across frames the way a real network can cut them.
const FRAME_BYTES: usize = 16;

/// The answer of the `*/text.sse` fixtures, whole.
pub const HELLO: &str = "Hello, world! 👋 ünïcödé";

/// The text of `tests/fixtures/{name}`.
pub fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{path}: {error}"))
}

/// The request the `*/text.sse` fixtures answer: a system and a user message.
pub fn hello_request() -> ChatRequest {
    ChatRequest::new(vec![
        Arc::new(Message::system("Be brief.")),
        Arc::new(Message::user("Say hello.")),
    ])
}

/// The chunks of the `*/text.sse` fixtures: the text as the server split it, then `usage` and
/// the finish.
pub fn hello_chunks(usage: Usage) -> Vec<ChatChunk> {
    vec![
        ChatChunk::text("Hello"),
        ChatChunk::text(", wor"),
        ChatChunk::text("ld! 👋 ünïcödé"),
        ChatChunk::usage(usage),
        ChatChunk::finish(FinishReason::Stop),
    ]
}

/// The weather tool the conversations offer.
pub fn weather_tool() -> ToolSpec {
    ToolSpec {
        name: "get_weather".into(),
        description: "Current weather in a city.".into(),
        parameters: serde_json::json!({
            "type": "object",
            "properties": {"city": {"type": "string", "description": "City name."}},
            "required": ["city"]
        }),
    }
}

/// A tool-call fragment as a chunk.
pub fn fragment(index: u32, id: Option<&str>, name: Option<&str>, arguments: &str) -> ChatChunk {
    ChatChunk::ToolCall(ToolCallDelta {
        index,
        id: id.map(str::to_owned),
        name: name.map(str::to_owned),
        arguments: arguments.to_owned(),
    })
}

/// Reads a stream to its end, stopping at the first error (which must end the stream).
pub async fn drain(mut stream: ChunkStream) -> (Vec<ChatChunk>, Option<LlmError>) {
    let mut chunks = Vec::new();
    while let Some(item) = stream.next().await {
        match item {
            Ok(chunk) => chunks.push(chunk),
            Err(error) => {
                assert!(stream.next().await.is_none(), "an error ends the stream");
                return (chunks, Some(error));
            }
        }
    }
    (chunks, None)
}

/// Streams `request` from `provider`, which must accept the call, and reads the answer to its
/// end.
pub async fn stream_all(
    provider: &impl LlmProvider,
    request: &ChatRequest,
) -> (Vec<ChatChunk>, Option<LlmError>) {
    drain(provider.chat_stream(request).await.unwrap()).await
}

/// The response `chunks` add up to.
pub fn assemble(chunks: &[ChatChunk]) -> ChatResponse {
    let mut assembler = ResponseAssembler::new(usize::MAX);
    for chunk in chunks {
        assembler.push(chunk).unwrap();
    }
    assembler.finish().unwrap()
}

/// Waits for the server to notice that the client dropped the request. The timeout only keeps
/// a regression from hanging the suite.
pub async fn assert_dropped(dropped: oneshot::Receiver<()>) {
    let noticed = tokio::time::timeout(std::time::Duration::from_secs(10), dropped).await;
    assert!(
        matches!(noticed, Ok(Ok(()))),
        "the server still holds the request"
    );
}

/// A request the server received.
#[derive(Debug, Clone)]
pub struct Seen {
    /// The client's address: one per connection.
    pub peer: SocketAddr,
    pub path: String,
    pub headers: HeaderMap,
    pub body: serde_json::Value,
    pub at: Instant,
}

/// What happens after a reply's body has been sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// The body ends normally.
    Close,
    /// The connection stays open and nothing more is sent.
    Stall,
    /// The connection is cut without ending the body.
    Abort,
}

/// One scripted answer.
#[derive(Debug)]
pub struct Reply {
    status: StatusCode,
    content_type: &'static str,
    headers: Vec<(&'static str, String)>,
    body: String,
    end: End,
    answer: bool,
    received: Option<oneshot::Sender<()>>,
    dropped: Option<oneshot::Sender<()>>,
}

impl Reply {
    /// `200 OK` with the SSE transcript `tests/fixtures/{name}`.
    pub fn sse(name: &str) -> Self {
        Self::sse_body(&fixture(name))
    }

    /// `status` with the JSON body `tests/fixtures/{name}`.
    pub fn json(status: u16, name: &str) -> Self {
        Self {
            status: StatusCode::from_u16(status).unwrap(),
            content_type: "application/json",
            ..Self::sse(name)
        }
    }

    /// A request that is never answered: no status, no headers.
    pub fn never_answer() -> Self {
        Self {
            answer: false,
            ..Self::sse_body("")
        }
    }

    fn sse_body(body: &str) -> Self {
        Self {
            status: StatusCode::OK,
            content_type: "text/event-stream",
            headers: Vec::new(),
            body: body.to_owned(),
            end: End::Close,
            answer: true,
            received: None,
            dropped: None,
        }
    }

    /// Adds a response header.
    pub fn header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, value.to_owned()));
        self
    }

    /// Keeps the connection open, silent, after the body.
    pub fn then_stall(mut self) -> Self {
        self.end = End::Stall;
        self
    }

    /// Cuts the connection after the body, without ending it.
    pub fn then_abort(mut self) -> Self {
        self.end = End::Abort;
        self
    }

    /// Signals on `received` when the request has arrived.
    pub fn notify_received(mut self, received: oneshot::Sender<()>) -> Self {
        self.received = Some(received);
        self
    }

    /// Signals on `dropped` when the server stops answering (or sending the body) because
    /// the client went away.
    pub fn notify_drop(mut self, dropped: oneshot::Sender<()>) -> Self {
        self.dropped = Some(dropped);
        self
    }

    async fn into_response(mut self) -> Response {
        if let Some(received) = self.received.take() {
            let _ = received.send(());
        }
        if !self.answer {
            let _guard = self.dropped.map(DropSignal);
            return std::future::pending().await;
        }
        let frames: Vec<Result<Vec<u8>, std::io::Error>> = self
            .body
            .as_bytes()
            .chunks(FRAME_BYTES)
            .map(|frame| Ok(frame.to_vec()))
            .collect();
        let tail: BoxStream<'static, Result<Vec<u8>, std::io::Error>> = match self.end {
            End::Close => futures::stream::empty().boxed(),
            End::Stall => futures::stream::pending().boxed(),
            // Yielding first lets the server flush what it sent before the cut, so the client
            // sees every byte of the transcript and then the broken connection.
            End::Abort => futures::stream::once(async {
                tokio::task::yield_now().await;
                Err(std::io::Error::other("the test server cut the connection"))
            })
            .boxed(),
        };
        let guard = self.dropped.map(DropSignal);
        let body = futures::stream::iter(frames).chain(tail).map(move |frame| {
            let _alive = &guard;
            frame
        });
        let mut response = Response::builder()
            .status(self.status)
            .header("content-type", self.content_type);
        for (name, value) in &self.headers {
            response = response.header(*name, value);
        }
        response.body(Body::from_stream(body)).unwrap()
    }
}

/// Sends on its channel when dropped.
struct DropSignal(oneshot::Sender<()>);

impl Drop for DropSignal {
    fn drop(&mut self) {
        let (sender, _) = oneshot::channel();
        let _ = std::mem::replace(&mut self.0, sender).send(());
    }
}

#[derive(Default)]
struct Shared {
    replies: Mutex<VecDeque<Reply>>,
    seen: Mutex<Vec<Seen>>,
}

/// The server. Dropping it stops it.
pub struct MockServer {
    address: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl MockServer {
    /// Starts a server that answers requests with `replies`, in order.
    pub async fn start(replies: impl IntoIterator<Item = Reply>) -> Self {
        let shared = Arc::new(Shared::default());
        shared.replies.lock().unwrap().extend(replies);
        let app = Router::new().fallback(answer).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let app = app.into_make_service_with_connect_info::<SocketAddr>();
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            address,
            shared,
            task,
        }
    }

    /// `http://127.0.0.1:{port}{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// Every request received so far, in order.
    pub fn seen(&self) -> Vec<Seen> {
        self.shared.seen.lock().unwrap().clone()
    }

    /// The body of the only request received.
    pub fn only_body(&self) -> serde_json::Value {
        let seen = self.seen();
        assert_eq!(seen.len(), 1, "expected exactly one request");
        seen[0].body.clone()
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn answer(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    shared.seen.lock().unwrap().push(Seen {
        peer,
        path: uri.path().to_owned(),
        headers,
        body,
        at: Instant::now(),
    });
    let reply = shared.replies.lock().unwrap().pop_front();
    match reply {
        Some(reply) => reply.into_response().await,
        None => (StatusCode::INTERNAL_SERVER_ERROR, "no scripted reply left").into_response(),
    }
}
