//! The HTTP layer against hostile or careless clients: streams on kept-alive connections,
//! idle and trickling connections, many idle connections, oversized and slow requests, and
//! requests that are not HTTP. Every refusal has Baton's JSON error shape.

mod common;

use async_trait::async_trait;
use baton_core::actor::Supervisor;
use baton_core::agent::Agent;
use baton_core::error::LlmError;
use baton_core::llm::{ChatChunk, ChatRequest, ChunkStream, FinishReason, LlmProvider, Usage};
use baton_server::ServerConfig;
use baton_testkit::{Script, ScriptedProvider};
use common::raw::{RawClient, RawResponse};
use common::*;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

const RUN_BODY: &str = r#"{"agent":"assistant","input":"hi","stream":true}"#;

/// A provider whose responses stream exactly the chunks the test sends, when it sends them:
/// each call streams from the next channel the test opened with [`Self::next_response`].
#[derive(Default)]
struct GatedProvider {
    responses: Mutex<VecDeque<mpsc::UnboundedReceiver<ChatChunk>>>,
}

impl GatedProvider {
    /// The sender of the chunks of the next response; it ends when the sender is dropped.
    fn next_response(&self) -> mpsc::UnboundedSender<ChatChunk> {
        let (sender, receiver) = mpsc::unbounded_channel();
        self.responses.lock().unwrap().push_back(receiver);
        sender
    }
}

#[async_trait]
impl LlmProvider for GatedProvider {
    fn name(&self) -> &str {
        "gated"
    }

    async fn chat_stream(&self, _request: &ChatRequest) -> Result<ChunkStream, LlmError> {
        let receiver = self
            .responses
            .lock()
            .unwrap()
            .pop_front()
            .expect("the test opens a response before each run");
        Ok(Box::pin(futures::stream::unfold(
            receiver,
            |mut receiver| async move { receiver.recv().await.map(|chunk| (Ok(chunk), receiver)) },
        )))
    }
}

/// Server-sent events read from a chunked response, one at a time.
#[derive(Default)]
struct EventReader {
    pending: String,
}

impl EventReader {
    /// The next event's name and data (comments skipped); `None` at the end of the body.
    async fn next(&mut self, client: &mut RawClient) -> Option<(String, String)> {
        loop {
            if let Some(end) = self.pending.find("\n\n") {
                let block: String = self.pending.drain(..end + 2).collect();
                let (mut event, mut data) = (String::new(), String::new());
                for line in block.lines() {
                    if let Some(name) = line.strip_prefix("event:") {
                        event = name.trim().to_owned();
                    } else if let Some(value) = line.strip_prefix("data:") {
                        data.push_str(value.trim_start());
                    }
                }
                if !event.is_empty() || !data.is_empty() {
                    return Some((event, data));
                }
                continue;
            }
            let chunk = client.read_chunk().await?;
            self.pending.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }
}

async fn open_server(config: ServerConfig) -> TestServer {
    let provider = shared(ScriptedProvider::from_fn(|_| Script::text("Hello there.")));
    TestServer::start_with(assistant(provider).await, config).await
}

async fn new_thread(client: &mut RawClient) -> String {
    let created = client.call("POST", "/v1/threads", Some(ACME), None).await;
    assert_eq!(created.head.status, 201);
    created.json()["id"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_on_a_kept_alive_connection_deliver_each_write_as_it_is_made() {
    const RUNS: usize = 7;
    const CHUNKS: usize = 3;
    let provider = Arc::new(GatedProvider::default());
    let supervisor = Supervisor::builder()
        .provider(Arc::clone(&provider) as Arc<dyn LlmProvider>)
        .agent(Agent::builder("assistant").build().unwrap())
        .spawn()
        .await
        .unwrap();
    let server = TestServer::start(supervisor).await;
    let mut client = RawClient::connect(&server.url).await;
    // The connection's first request; every stream below is on the kept-alive connection,
    // where the client delays its ACKs.
    let thread = new_thread(&mut client).await;
    let path = format!("/v1/threads/{thread}/runs");

    let mut first_events = Vec::new();
    let mut chunk_latencies = Vec::new();
    for _ in 0..RUNS {
        let chunks = provider.next_response();
        let sent = Instant::now();
        client
            .send_request("POST", &path, Some(ACME), Some(RUN_BODY))
            .await;
        assert_eq!(client.read_head().await.status, 200);
        let mut events = EventReader::default();
        // The head and the first event are two writes, the second made before the client
        // acknowledged the first: with Nagle's algorithm it waits for the delayed ACK.
        assert_eq!(events.next(&mut client).await.unwrap().0, "agent_started");
        first_events.push(sent.elapsed());
        // The provider yields each chunk only once the previous one reached the client, so
        // each is a write of its own.
        for index in 0..CHUNKS {
            let word = format!("word{index} ");
            let released = Instant::now();
            chunks.send(ChatChunk::text(word.as_str())).unwrap();
            let data = loop {
                let (event, data) = events.next(&mut client).await.unwrap();
                if event == "text_delta" {
                    break data;
                }
            };
            chunk_latencies.push(released.elapsed());
            assert!(data.contains(word.trim()), "{data}");
        }
        chunks
            .send(ChatChunk::usage(Usage::new(1, CHUNKS as u64)))
            .unwrap();
        chunks.send(ChatChunk::finish(FinishReason::Stop)).unwrap();
        // The response ends where its stream does.
        drop(chunks);
        let mut last = String::new();
        while let Some((event, _)) = events.next(&mut client).await {
            last = event;
        }
        assert_eq!(last, "completed");
    }

    // A held write waits for the client's delayed ACK: 40 ms at least on Linux, in every run.
    // Unheld, a write takes well under a millisecond here; the medians stay far below the
    // bound on a busy machine, where a few writes may be late for other reasons.
    for (what, mut latencies) in [("first event", first_events), ("chunk", chunk_latencies)] {
        latencies.sort();
        let median = latencies[latencies.len() / 2];
        assert!(
            median < Duration::from_millis(20),
            "each {what} waited before leaving the server: {latencies:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_sends_nothing_is_closed_after_the_header_timeout() {
    let timeout = Duration::from_millis(300);
    let server = open_server({
        let mut config = config();
        config.header_read_timeout = timeout;
        config
    })
    .await;
    let opened = Instant::now();
    let mut silent = RawClient::connect(&server.url).await;
    assert!(
        silent.read_to_close().await.is_empty(),
        "closed without an answer"
    );
    assert!(opened.elapsed() >= timeout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_head_that_trickles_gets_408_after_the_header_timeout() {
    let timeout = Duration::from_millis(300);
    let server = open_server({
        let mut config = config();
        config.header_read_timeout = timeout;
        config
    })
    .await;
    let mut trickling = RawClient::connect(&server.url).await;
    let started = Instant::now();
    trickling
        .send(b"GET /healthz HTTP/1.1\r\nhost: x\r\n")
        .await;
    let response = trickling.read_response().await;
    response.expect_error(408, "request_timeout");
    assert!(started.elapsed() >= timeout);
    assert!(trickling.read_to_close().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_alive_connection_is_closed_after_the_idle_timeout() {
    let idle = Duration::from_millis(300);
    let server = open_server({
        let mut config = config();
        config.header_read_timeout = Duration::from_secs(30);
        config.idle_timeout = idle;
        config
    })
    .await;
    let mut client = RawClient::connect(&server.url).await;
    let first = client.call("GET", "/healthz", None, None).await;
    assert_eq!(first.head.status, 200);
    let answered = Instant::now();
    assert!(client.read_to_close().await.is_empty());
    assert!(answered.elapsed() >= idle);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_next_request_on_a_kept_alive_connection_has_the_header_timeout_too() {
    let timeout = Duration::from_millis(300);
    let server = open_server({
        let mut config = config();
        config.header_read_timeout = timeout;
        config.idle_timeout = Duration::from_secs(30);
        config
    })
    .await;
    let mut client = RawClient::connect(&server.url).await;
    assert_eq!(
        client.call("GET", "/healthz", None, None).await.head.status,
        200
    );
    let started = Instant::now();
    client.send(b"GET /healthz HTTP/1.1\r\n").await;
    client
        .read_response()
        .await
        .expect_error(408, "request_timeout");
    assert!(started.elapsed() >= timeout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_idle_connections_do_not_lock_out_a_client_that_sends_requests() {
    const IDLE: usize = 1000;
    const MAX_CONNECTIONS: usize = 50;
    // Both ends of every connection live in this process.
    let limit = rlimit::increase_nofile_limit(4 * IDLE as u64).unwrap();
    assert!(
        limit > (IDLE + MAX_CONNECTIONS + 100) as u64,
        "the test needs more file descriptors than the hard limit of {limit}"
    );
    let timeout = Duration::from_secs(3);
    let server = open_server({
        let mut config = config();
        config.max_connections = MAX_CONNECTIONS;
        config.header_read_timeout = timeout;
        config.idle_timeout = timeout;
        config
    })
    .await;

    let mut idle = Vec::with_capacity(IDLE);
    for _ in 0..IDLE {
        idle.push(RawClient::connect(&server.url).await);
    }
    let newest_opened = Instant::now();
    // Every slot is held by an idle connection; each of these requests makes one give way.
    for _ in 0..5 {
        let mut client = RawClient::connect(&server.url).await;
        let response = client.call("GET", "/v1/threads", Some(ACME), None).await;
        assert_eq!(response.head.status, 200);
    }
    let mut client = RawClient::connect(&server.url).await;
    let thread = new_thread(&mut client).await;
    let run = client
        .call(
            "POST",
            &format!("/v1/threads/{thread}/runs"),
            Some(ACME),
            Some(r#"{"agent":"assistant","input":"hi"}"#),
        )
        .await;
    assert_eq!(run.json()["output"], "Hello there.");
    assert!(
        newest_opened.elapsed() < timeout,
        "the requests waited for idle connections to time out"
    );

    // The idle connections all end: the oldest made room for newer ones, the newest time
    // out (nothing came after them that could have closed them sooner).
    for connection in &mut idle {
        assert!(connection.read_to_close().await.is_empty());
    }
    assert!(newest_opened.elapsed() >= timeout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_announced_over_the_limit_gets_413_before_it_is_sent() {
    let server = open_server({
        let mut config = config();
        config.max_body_bytes = 1024;
        config
    })
    .await;
    let mut client = RawClient::connect(&server.url).await;
    let thread = new_thread(&mut client).await;
    let head = |token: &str, expect: &str| {
        format!(
            "POST /v1/threads/{thread}/runs HTTP/1.1\r\nhost: x\r\n{token}content-type: \
             application/json\r\ncontent-length: 100000000\r\n{expect}\r\n"
        )
    };
    client
        .send(head(&format!("authorization: Bearer {ACME}\r\n"), "").as_bytes())
        .await;
    let refused = client
        .read_response()
        .await
        .expect_error(413, "payload_too_large");
    assert!(refused["message"].as_str().unwrap().contains("1024"));

    // A client that waits for `100 Continue` gets the refusal instead.
    let mut waiting = RawClient::connect(&server.url).await;
    waiting
        .send(
            head(
                &format!("authorization: Bearer {ACME}\r\n"),
                "expect: 100-continue\r\n",
            )
            .as_bytes(),
        )
        .await;
    waiting
        .read_response()
        .await
        .expect_error(413, "payload_too_large");

    // Without a valid token, only 401.
    let mut stranger = RawClient::connect(&server.url).await;
    stranger.send(head("", "").as_bytes()).await;
    stranger
        .read_response()
        .await
        .expect_error(401, "unauthorized");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_does_not_arrive_in_time_gets_408() {
    let timeout = Duration::from_millis(300);
    let server = open_server({
        let mut config = config();
        config.body_read_timeout = timeout;
        config
    })
    .await;
    let mut client = RawClient::connect(&server.url).await;
    let thread = new_thread(&mut client).await;
    let started = Instant::now();
    client
        .send(
            format!(
                "POST /v1/threads/{thread}/runs HTTP/1.1\r\nhost: x\r\nauthorization: Bearer \
                 {ACME}\r\ncontent-length: 60\r\n\r\n{{\"agent\":"
            )
            .as_bytes(),
        )
        .await;
    let error = client
        .read_response()
        .await
        .expect_error(408, "request_timeout");
    assert!(started.elapsed() >= timeout);
    assert!(
        error["message"].as_str().unwrap().contains("body"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_token_unknown_routes_and_wrong_methods_get_401_like_everything_else() {
    let server = open_server(config()).await;
    let client = &server.client;
    let url = &server.url;
    let attempts = [
        (client.delete(format!("{url}/v1/threads")), 405),
        (client.get(format!("{url}/v1/chat/completions")), 405),
        (client.put(format!("{url}/v1/models")), 405),
        (client.get(format!("{url}/v1/no/such/route")), 404),
        (client.get(format!("{url}/v1")), 404),
        (client.post(format!("{url}/v1/")).body("{}"), 404),
    ];
    for (attempt, with_token) in attempts {
        let anonymous = attempt.try_clone().unwrap().send().await.unwrap();
        expect_error(anonymous, 401, "unauthorized").await;
        let wrong = attempt
            .try_clone()
            .unwrap()
            .bearer_auth("not-a-token")
            .send()
            .await
            .unwrap();
        expect_error(wrong, 401, "unauthorized").await;
        let tenant = attempt.bearer_auth(ACME).send().await.unwrap();
        let kind = if with_token == 405 {
            "method_not_allowed"
        } else {
            "not_found"
        };
        expect_error(tenant, with_token, kind).await;
    }
    // Outside the API, routing answers without a token.
    expect_error(server.get_open("/nowhere").await, 404, "not_found").await;
    let wrong_method = client.post(format!("{url}/healthz")).send().await.unwrap();
    expect_error(wrong_method, 405, "method_not_allowed").await;
}

/// Sends `request` on a new connection and reads the answer.
async fn answer_to(server: &TestServer, request: &[u8]) -> RawResponse {
    let mut client = RawClient::connect(&server.url).await;
    client.send(request).await;
    client.read_response().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heads_over_batons_limits_get_414_and_431_in_json() {
    let server = open_server(config()).await;
    let long_target = format!(
        "GET /healthz?q={} HTTP/1.1\r\nhost: x\r\n\r\n",
        "a".repeat(9000)
    );
    let error = answer_to(&server, long_target.as_bytes())
        .await
        .expect_error(414, "uri_too_long");
    assert!(
        error["message"].as_str().unwrap().contains("8192"),
        "{error}"
    );

    let big_header = format!(
        "GET /healthz HTTP/1.1\r\nhost: x\r\nx-big: {}\r\n\r\n",
        "b".repeat(20 * 1024)
    );
    answer_to(&server, big_header.as_bytes())
        .await
        .expect_error(431, "headers_too_large");

    let mut many = String::from("GET /v1/threads HTTP/1.1\r\nhost: x\r\n");
    for index in 0..110 {
        many.push_str(&format!("x-{index}: 1\r\n"));
    }
    many.push_str("\r\n");
    answer_to(&server, many.as_bytes())
        .await
        .expect_error(431, "headers_too_large");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_hyper_refuses_itself_gets_the_json_shape_too() {
    let server = open_server(config()).await;
    for malformed in [
        "GARBAGE\r\n\r\n".to_owned(),
        "GET /healthz HTTP/1.1\r\nhost: x\r\nno colon here\r\n\r\n".to_owned(),
        "POST /v1/threads HTTP/1.1\r\nhost: x\r\ncontent-length: nope\r\n\r\n".to_owned(),
        "GET /healthz HTTP/9.9\r\nhost: x\r\n\r\n".to_owned(),
    ] {
        let response = answer_to(&server, malformed.as_bytes()).await;
        response.expect_error(400, "invalid_http");
        assert_eq!(response.head.header("connection"), Some("close"));
    }
    // Over hyper's own limits: a head larger than its buffer, a target over 64 KiB, more
    // headers than it parses.
    let huge_header = format!(
        "GET /healthz HTTP/1.1\r\nhost: x\r\nx-huge: {}\r\n\r\n",
        "h".repeat(80 * 1024)
    );
    answer_to(&server, huge_header.as_bytes())
        .await
        .expect_error(431, "headers_too_large");
    let huge_target = format!(
        "GET /healthz?q={} HTTP/1.1\r\nhost: x\r\n\r\n",
        "a".repeat(70 * 1024)
    );
    answer_to(&server, huge_target.as_bytes())
        .await
        .expect_error(414, "uri_too_long");
    let mut too_many = String::from("GET /healthz HTTP/1.1\r\nhost: x\r\n");
    for index in 0..200 {
        too_many.push_str(&format!("x-{index}: 1\r\n"));
    }
    too_many.push_str("\r\n");
    answer_to(&server, too_many.as_bytes())
        .await
        .expect_error(431, "headers_too_large");

    // On a kept-alive connection, after a good request, a bad one gets JSON as well.
    let mut client = RawClient::connect(&server.url).await;
    assert_eq!(
        client.call("GET", "/healthz", None, None).await.head.status,
        200
    );
    client.send(b"NOT HTTP AT ALL\r\n\r\n").await;
    client
        .read_response()
        .await
        .expect_error(400, "invalid_http");
}
