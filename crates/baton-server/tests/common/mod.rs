//! A server on 127.0.0.1 for the behaviour tests, and helpers to call it.
#![allow(dead_code)]

pub mod raw;

use baton_core::actor::Supervisor;
use baton_core::agent::Agent;
use baton_core::ids::RunId;
use baton_core::llm::{LlmProvider, Usage};
use baton_core::memory::Episode;
use baton_server::{ServerConfig, ServerError, Tenant};
use baton_testkit::{Script, ScriptedProvider};
use eventsource_stream::Eventsource;
use futures::StreamExt;
use futures::stream::BoxStream;
use serde_json::{Value, json};
use std::sync::Arc;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const ACME: &str = "token-acme";
pub const GLOBEX: &str = "token-globex";

pub fn config() -> ServerConfig {
    ServerConfig::new(vec![
        Tenant::new("acme", ACME),
        Tenant::new("globex", GLOBEX),
    ])
}

/// A server running `serve_on` over a real socket.
pub struct TestServer {
    pub url: String,
    pub supervisor: Supervisor,
    pub client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), ServerError>>>,
}

impl TestServer {
    pub async fn start(supervisor: Supervisor) -> Self {
        Self::start_with(supervisor, config()).await
    }

    pub async fn start_with(supervisor: Supervisor, config: ServerConfig) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(baton_server::serve_on(
            listener,
            supervisor.clone(),
            config,
            async {
                let _ = stopped.await;
            },
        ));
        Self {
            url,
            supervisor,
            client: reqwest::Client::new(),
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Signals shutdown and waits for the server to return.
    pub async fn stop(mut self) -> Result<(), ServerError> {
        self.signal_stop();
        self.task.take().unwrap().await.unwrap()
    }

    /// Signals shutdown without waiting; `join` waits.
    pub fn signal_stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    pub async fn join(mut self) -> Result<(), ServerError> {
        self.task.take().unwrap().await.unwrap()
    }

    pub fn get(&self, path: &str, token: &str) -> reqwest::RequestBuilder {
        self.client
            .get(format!("{}{path}", self.url))
            .bearer_auth(token)
    }

    pub fn post(&self, path: &str, token: &str) -> reqwest::RequestBuilder {
        self.client
            .post(format!("{}{path}", self.url))
            .bearer_auth(token)
    }

    /// The JSON body of an authenticated `GET`, whatever its status.
    pub async fn get_json(&self, path: &str, token: &str) -> Value {
        json_answer(self.get(path, token)).await
    }

    /// The JSON body of an authenticated `POST` without a body, whatever its status.
    pub async fn post_json(&self, path: &str, token: &str) -> Value {
        json_answer(self.post(path, token)).await
    }

    /// A `GET` without credentials, as probes and scrapers send it.
    pub async fn get_open(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .unwrap()
    }

    /// Creates a thread for the tenant of `token`.
    pub async fn thread(&self, token: &str) -> String {
        let response = self.post("/v1/threads", token).send().await.unwrap();
        assert_eq!(response.status(), 201);
        let body: Value = response.json().await.unwrap();
        body["id"].as_str().unwrap().to_owned()
    }

    /// Starts a run and returns the raw response.
    pub async fn run(
        &self,
        token: &str,
        thread: &str,
        agent: &str,
        input: &str,
        stream: bool,
    ) -> reqwest::Response {
        self.post(&format!("/v1/threads/{thread}/runs"), token)
            .json(&json!({ "agent": agent, "input": input, "stream": stream }))
            .send()
            .await
            .unwrap()
    }

    /// Posts `body` to `/v1/chat/completions` and returns the raw response.
    pub async fn chat_completion(&self, token: &str, body: &Value) -> reqwest::Response {
        self.post("/v1/chat/completions", token)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn metrics(&self) -> String {
        self.get_open("/metrics").await.text().await.unwrap()
    }
}

/// Sends `request` and parses the response body as JSON.
async fn json_answer(request: reqwest::RequestBuilder) -> Value {
    request.send().await.unwrap().json().await.unwrap()
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.signal_stop();
    }
}

/// One server-sent event: its `event:` name and its data.
#[derive(Debug, Clone)]
pub struct Sse {
    pub event: String,
    pub data: String,
}

/// An SSE response as a stream of events.
pub fn sse(response: reqwest::Response) -> BoxStream<'static, Sse> {
    response
        .bytes_stream()
        .eventsource()
        .map(|event| event.expect("a well-formed SSE stream"))
        .map(|event| Sse {
            event: event.event,
            data: event.data,
        })
        .boxed()
}

/// Every event of an SSE response, to its end.
pub async fn all_events(response: reqwest::Response) -> Vec<Sse> {
    sse(response).collect().await
}

/// The status of an error response and its `error` object.
pub async fn error_of(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    (status, body["error"].clone())
}

/// Asserts that `response` is an error with `status` and Baton's error `code`, and returns
/// the `error` object. On Baton's routes `error.type` is that code too.
pub async fn expect_error(response: reqwest::Response, status: u16, code: &str) -> Value {
    let (actual, error) = error_of(response).await;
    assert_eq!(
        (actual, error["code"].as_str()),
        (status, Some(code)),
        "{error}"
    );
    error
}

/// [`expect_error`] on the OpenAI-compatible endpoint, where `error.type` is OpenAI's error
/// type.
pub async fn expect_openai_error(
    response: reqwest::Response,
    status: u16,
    code: &str,
    openai_type: &str,
) -> Value {
    let error = expect_error(response, status, code).await;
    assert_eq!(error["type"], openai_type, "{error}");
    error
}

pub fn run_id(response: &reqwest::Response) -> RunId {
    response.headers()["x-baton-run-id"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

pub async fn episodes(supervisor: &Supervisor, run: RunId) -> Vec<Episode> {
    supervisor
        .store()
        .episodes(run)
        .await
        .unwrap()
        .into_iter()
        .map(|record| record.episode)
        .collect()
}

pub fn shared(provider: ScriptedProvider) -> Arc<ScriptedProvider> {
    Arc::new(provider)
}

/// triage hands off to billing, which answers.
pub async fn triage_and_billing() -> (Supervisor, Arc<ScriptedProvider>) {
    let triage_llm = shared(
        ScriptedProvider::new().respond(
            Script::tool_call("transfer_to_billing", json!({"reason": "double charge"}))
                .with_usage(Usage::new(10, 1)),
        ),
    );
    let billing_llm = shared(
        ScriptedProvider::new()
            .respond(Script::text("Refund issued for A17.").with_usage(Usage::new(20, 2))),
    );
    let supervisor = Supervisor::builder()
        .agent_with_provider(
            Agent::builder("triage")
                .instructions("Route the customer.")
                .handoff("billing")
                .build()
                .unwrap(),
            triage_llm,
        )
        .agent_with_provider(
            Agent::builder("billing")
                .instructions("Solve billing problems.")
                .build()
                .unwrap(),
            billing_llm.clone() as Arc<dyn LlmProvider>,
        )
        .spawn()
        .await
        .unwrap();
    (supervisor, billing_llm)
}

/// A streamed run of `assistant` that sent its first text delta and then stalls.
pub struct StalledRun {
    pub supervisor: Supervisor,
    pub server: TestServer,
    pub thread: String,
    pub run: RunId,
    /// The run's events after the first text delta.
    pub events: BoxStream<'static, Sse>,
}

/// Starts `assistant` on a server with a reply of `text` that stalls after its first delta,
/// starts a streamed run for `ACME` and reads the run's first two events.
pub async fn stalled_run(text: &str) -> StalledRun {
    let provider = shared(ScriptedProvider::new().respond(Script::text(text).stall_after(1)));
    let supervisor = assistant(provider).await;
    let server = TestServer::start(supervisor.clone()).await;
    let thread = server.thread(ACME).await;
    let response = server.run(ACME, &thread, "assistant", "hi", true).await;
    let run = run_id(&response);
    let mut events = sse(response);
    assert_eq!(events.next().await.unwrap().event, "agent_started");
    assert_eq!(events.next().await.unwrap().event, "text_delta");
    StalledRun {
        supervisor,
        server,
        thread,
        run,
        events,
    }
}

/// One agent, `assistant`, answering from `provider`.
pub async fn assistant(provider: Arc<ScriptedProvider>) -> Supervisor {
    Supervisor::builder()
        .provider(provider)
        .agent(Agent::builder("assistant").build().unwrap())
        .spawn()
        .await
        .unwrap()
}
