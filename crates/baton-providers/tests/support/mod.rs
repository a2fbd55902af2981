//! A real HTTP server on 127.0.0.1 (axum, random port) that answers each request with the
//! next scripted [`Reply`] — usually a wire-exact transcript from `tests/fixtures/` — and
//! records what it received.

#![allow(dead_code)] // each test file uses a different part of the support module

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
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

/// The text of `tests/fixtures/{name}`.
pub fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{path}: {error}"))
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
