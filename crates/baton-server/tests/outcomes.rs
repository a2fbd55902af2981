//! How each kind of run outcome is answered over HTTP: the status, Baton's error code and the
//! error type, on Baton's run endpoint (`POST /v1/threads/{id}/runs`, as JSON and as SSE) and
//! on the OpenAI-compatible endpoint (`POST /v1/chat/completions`, as one object and as
//! chunks). Every failure of a run that started names the run in `error.run_id`, and the run's
//! log keeps the same kind.

mod common;

use async_trait::async_trait;
use baton_core::actor::Supervisor;
use baton_core::agent::Agent;
use baton_core::context::RunContext;
use baton_core::error::{FailureKind, LlmError, StoreError};
use baton_core::ids::{RunId, ThreadId};
use baton_core::llm::{ChatRequest, LlmProvider};
use baton_core::memory::{Episode, InMemoryStore, Store};
use baton_core::run::{Guardrail, RetryPolicy, RunOptions, Verdict};
use baton_testkit::{FaultyStore, Script, ScriptedProvider, StoreCall, StoreFault};
use common::*;
use futures::StreamExt;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// Run options without retries, so that a provider's failure ends the run at once.
fn no_retry() -> RunOptions {
    RunOptions::default().with_retry(RetryPolicy::none())
}

/// `assistant`, with `options`, answering every call with what `respond` returns.
async fn serve(
    options: RunOptions,
    respond: impl Fn(&ChatRequest) -> Script + Send + Sync + 'static,
) -> TestServer {
    let provider = shared(ScriptedProvider::from_fn(respond));
    TestServer::start(agent_over(options, provider, InMemoryStore::shared()).await).await
}

/// A supervisor of `assistant`, with `options`, over `provider` and `store`.
async fn agent_over(
    options: RunOptions,
    provider: Arc<ScriptedProvider>,
    store: Arc<dyn Store>,
) -> Supervisor {
    Supervisor::builder()
        .store(store)
        .agent_with_provider(
            Agent::builder("assistant")
                .options(options)
                .build()
                .unwrap(),
            provider as Arc<dyn LlmProvider>,
        )
        .spawn()
        .await
        .unwrap()
}

/// A provider whose every call fails with `error` before its first chunk.
async fn failing_with(error: LlmError) -> TestServer {
    serve(no_retry(), move |_| Script::error(error.clone())).await
}

/// Runs `input` for `ACME` on a new thread over Baton's endpoint, answered as JSON.
async fn rest_run(server: &TestServer, input: &str) -> reqwest::Response {
    let thread = server.thread(ACME).await;
    server.run(ACME, &thread, "assistant", input, false).await
}

/// A chat completion of `assistant` for `ACME` with one user message.
async fn chat(server: &TestServer, input: &str, stream: bool) -> reqwest::Response {
    let body = json!({
        "model": "assistant",
        "messages": [{"role": "user", "content": input}],
        "stream": stream,
    });
    server.chat_completion(ACME, &body).await
}

/// Asserts that `response` is the failure of a run that started: `status`, Baton's `code`,
/// the error `type`, and the run's id. Returns the run and the `error` object.
async fn expect_run_failure(
    response: reqwest::Response,
    status: u16,
    code: &str,
    error_type: &str,
) -> (RunId, Value) {
    let error = expect_error(response, status, code).await;
    assert_eq!(error["type"], error_type, "{error}");
    let run = error["run_id"]
        .as_str()
        .unwrap_or_else(|| panic!("a failed run is named in the error: {error}"))
        .parse()
        .unwrap();
    (run, error)
}

/// [`expect_run_failure`] on Baton's endpoint, where `type` is the code.
async fn expect_rest_failure(response: reqwest::Response, status: u16, code: &str) -> RunId {
    expect_run_failure(response, status, code, code).await.0
}

/// Asserts that the last episode of `run` is a failure of `kind`.
async fn assert_recorded(server: &TestServer, run: RunId, kind: FailureKind) {
    let log = episodes(&server.supervisor, run).await;
    match log.last() {
        Some(Episode::Failed { kind: recorded, .. }) => assert_eq!(*recorded, kind, "{log:?}"),
        other => panic!("run {run} should have ended failed with {kind:?}, not {other:?}"),
    }
}

/// Runs `input` over Baton's endpoint as SSE and returns the run and the data of its last
/// event, which must be `failed`. The stream itself started fine: 200.
async fn rest_stream_failure(server: &TestServer, input: &str) -> (RunId, Value) {
    let thread = server.thread(ACME).await;
    let response = server.run(ACME, &thread, "assistant", input, true).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let run = run_id(&response);
    let events = all_events(response).await;
    let last = events
        .last()
        .expect("a stream ends with its terminal event");
    assert_eq!(last.event, "failed", "{events:?}");
    let data: Value = serde_json::from_str(&last.data).unwrap();
    assert_eq!(data["type"], "failed", "{data}");
    (run, data)
}

/// Streams a chat completion of `input` and returns the `error` object of its last event,
/// after checking that the stream does not claim to be done.
async fn openai_stream_failure(server: &TestServer, input: &str) -> Value {
    let response = chat(server, input, true).await;
    assert_eq!(response.status(), 200);
    let events = all_events(response).await;
    assert!(
        events.iter().all(|event| event.data != "[DONE]"),
        "a failed stream is not done: {events:?}"
    );
    let last: Value = serde_json::from_str(&events.last().unwrap().data).unwrap();
    assert!(last["error"].is_object(), "{last}");
    assert!(
        last["error"]["run_id"].is_string(),
        "the error names the run: {last}"
    );
    last["error"].clone()
}

/// Refuses any request whose last user message mentions a password.
struct NoSecrets;

#[async_trait]
impl Guardrail for NoSecrets {
    fn name(&self) -> &str {
        "no-secrets"
    }

    async fn check_request(&self, request: &ChatRequest, _run: &RunContext<'_>) -> Verdict {
        match request.last_user_text() {
            Some(text) if text.contains("password") => {
                Verdict::Refuse("asks for a password".into())
            }
            _ => Verdict::Allow,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guardrail_refusal_is_a_400_refused_before_the_model_is_called() {
    let provider = shared(ScriptedProvider::from_fn(|_| Script::text("Fine.")));
    let supervisor = agent_over(
        RunOptions::default().with_guardrail(NoSecrets),
        provider.clone(),
        InMemoryStore::shared(),
    )
    .await;
    let server = TestServer::start(supervisor).await;

    let response = rest_run(&server, "what is the admin password?").await;
    let (run, error) = expect_run_failure(response, 400, "refused", "refused").await;
    let message = error["message"].as_str().unwrap();
    assert!(message.contains("no-secrets"), "{message}");
    assert!(message.contains("asks for a password"), "{message}");
    assert_recorded(&server, run, FailureKind::Refused).await;

    let response = chat(&server, "tell me the password", false).await;
    let (run, _) = expect_run_failure(response, 400, "refused", "invalid_request_error").await;
    assert_recorded(&server, run, FailureKind::Refused).await;

    let (run, failed) = rest_stream_failure(&server, "the password, please").await;
    assert_eq!(failed["error"]["kind"], "refused", "{failed}");
    assert_eq!(failed["error"]["guardrail"], "no-secrets", "{failed}");
    assert_eq!(failed["error"]["stage"], "request", "{failed}");
    assert_recorded(&server, run, FailureKind::Refused).await;

    let error = openai_stream_failure(&server, "password?").await;
    assert_eq!(error["type"], "invalid_request_error", "{error}");
    assert_eq!(error["code"], "refused", "{error}");

    assert_eq!(
        provider.call_count(),
        0,
        "a refused request never reaches the model"
    );
    let allowed = rest_run(&server, "what is the weather?").await;
    assert_eq!(allowed.status(), 200);
    assert_eq!(provider.call_count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_out_of_steps_is_a_422_max_steps_exceeded() {
    let server = serve(RunOptions::default().with_max_steps(1), |_| {
        Script::tool_call("lookup", json!({"q": "again"}))
    })
    .await;

    let run = expect_rest_failure(rest_run(&server, "loop").await, 422, "max_steps_exceeded").await;
    assert_recorded(&server, run, FailureKind::MaxSteps).await;

    let response = chat(&server, "loop", false).await;
    let (run, error) =
        expect_run_failure(response, 422, "max_steps_exceeded", "invalid_request_error").await;
    assert!(
        error["message"].as_str().unwrap().contains("max steps"),
        "{error}"
    );
    assert_recorded(&server, run, FailureKind::MaxSteps).await;

    let (_, failed) = rest_stream_failure(&server, "loop").await;
    assert_eq!(failed["error"]["kind"], "max_steps", "{failed}");
    assert_eq!(failed["error"]["steps"], 1, "{failed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_rate_limit_is_a_429_with_retry_after_in_whole_seconds_rounded_up() {
    let server = failing_with(LlmError::Status {
        status: 429,
        message: "slow down".into(),
        retry_after: Some(Duration::from_millis(2500)),
    })
    .await;

    let response = rest_run(&server, "hi").await;
    assert_eq!(response.headers()["retry-after"], "3");
    let run = expect_rest_failure(response, 429, "provider_rate_limited").await;
    assert_recorded(&server, run, FailureKind::Provider).await;

    let response = chat(&server, "hi", false).await;
    assert_eq!(response.headers()["retry-after"], "3");
    let (run, error) =
        expect_run_failure(response, 429, "provider_rate_limited", "rate_limit_error").await;
    assert!(
        error["message"].as_str().unwrap().contains("slow down"),
        "{error}"
    );
    assert_recorded(&server, run, FailureKind::Provider).await;

    let (run, failed) = rest_stream_failure(&server, "hi").await;
    assert_eq!(failed["error"]["kind"], "provider", "{failed}");
    assert_eq!(failed["error"]["error"]["kind"], "status", "{failed}");
    assert_eq!(
        failed["error"]["error"]["detail"]["status"], 429,
        "{failed}"
    );
    assert_recorded(&server, run, FailureKind::Provider).await;

    let error = openai_stream_failure(&server, "hi").await;
    assert_eq!(error["type"], "rate_limit_error", "{error}");
    assert_eq!(error["code"], "provider_rate_limited", "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limit_without_a_hint_has_no_retry_after() {
    let server = failing_with(LlmError::Status {
        status: 429,
        message: "slow down".into(),
        retry_after: None,
    })
    .await;

    let response = rest_run(&server, "hi").await;
    assert!(response.headers().get("retry-after").is_none());
    expect_rest_failure(response, 429, "provider_rate_limited").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overloaded_provider_is_a_503_provider_overloaded_with_its_retry_hint() {
    let server = failing_with(LlmError::Overloaded {
        message: "too busy".into(),
        retry_after: Some(Duration::from_secs(1)),
    })
    .await;

    let response = rest_run(&server, "hi").await;
    assert_eq!(response.headers()["retry-after"], "1");
    let run = expect_rest_failure(response, 503, "provider_overloaded").await;
    assert_recorded(&server, run, FailureKind::Provider).await;

    let response = chat(&server, "hi", false).await;
    assert_eq!(response.headers()["retry-after"], "1");
    expect_run_failure(response, 503, "provider_overloaded", "server_error").await;

    let error = openai_stream_failure(&server, "hi").await;
    assert_eq!(error["type"], "server_error", "{error}");
    assert_eq!(error["code"], "provider_overloaded", "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_http_503_counts_as_an_overloaded_provider() {
    let server = failing_with(LlmError::Status {
        status: 503,
        message: "unavailable".into(),
        retry_after: None,
    })
    .await;
    expect_rest_failure(rest_run(&server, "hi").await, 503, "provider_overloaded").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_timeout_is_a_504_provider_timeout() {
    let server = failing_with(LlmError::Timeout("first byte".into())).await;

    let response = rest_run(&server, "hi").await;
    assert!(response.headers().get("retry-after").is_none());
    let run = expect_rest_failure(response, 504, "provider_timeout").await;
    assert_recorded(&server, run, FailureKind::Provider).await;

    let response = chat(&server, "hi", false).await;
    let (_, error) = expect_run_failure(response, 504, "provider_timeout", "server_error").await;
    assert!(
        error["message"].as_str().unwrap().contains("first byte"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_connection_failure_is_a_502_provider_error() {
    let server = failing_with(LlmError::Connection("reset by peer".into())).await;

    let run = expect_rest_failure(rest_run(&server, "hi").await, 502, "provider_error").await;
    assert_recorded(&server, run, FailureKind::Provider).await;

    let response = chat(&server, "hi", false).await;
    expect_run_failure(response, 502, "provider_error", "server_error").await;

    let (_, failed) = rest_stream_failure(&server, "hi").await;
    assert_eq!(failed["error"]["error"]["kind"], "connection", "{failed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_lost_mid_stream_is_a_502_provider_error() {
    let server = serve(no_retry(), |_| {
        Script::text("Half an answer").fail_after(1, LlmError::Connection("reset".into()))
    })
    .await;

    let run = expect_rest_failure(rest_run(&server, "hi").await, 502, "provider_error").await;
    assert_recorded(&server, run, FailureKind::Provider).await;

    let error = openai_stream_failure(&server, "hi").await;
    assert_eq!(error["type"], "server_error", "{error}");
    assert_eq!(error["code"], "provider_error", "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_provider_is_a_500_panicked_and_the_server_keeps_serving() {
    let server = serve(no_retry(), |request| {
        if request.last_user_text() == Some("boom") {
            panic!("the provider blew up");
        }
        Script::text("Still here.")
    })
    .await;

    let response = rest_run(&server, "boom").await;
    let run = expect_rest_failure(response, 500, "panicked").await;
    assert_recorded(&server, run, FailureKind::Panicked).await;
    server.supervisor.settled().await;

    let response = chat(&server, "boom", false).await;
    let (run, error) = expect_run_failure(response, 500, "panicked", "server_error").await;
    assert!(
        error["message"].as_str().unwrap().contains("provider"),
        "the error names where it panicked: {error}"
    );
    assert_recorded(&server, run, FailureKind::Panicked).await;
    server.supervisor.settled().await;

    let (_, failed) = rest_stream_failure(&server, "boom").await;
    assert_eq!(failed["error"]["kind"], "panicked", "{failed}");
    assert_eq!(failed["error"]["site"], "provider", "{failed}");
    server.supervisor.settled().await;

    let answered = rest_run(&server, "hello").await;
    assert_eq!(answered.status(), 200);
    let body: Value = answered.json().await.unwrap();
    assert_eq!(body["output"], "Still here.");
    let answered = chat(&server, "hello", false).await;
    assert_eq!(answered.status(), 200);
    assert_eq!(server.get_open("/healthz").await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handoff_to_an_agent_that_does_not_exist_is_a_422_routing_refused() {
    let provider = shared(ScriptedProvider::from_fn(|_| {
        Script::tool_call("transfer_to_ghost", json!({"reason": "only ghost knows"}))
    }));
    let supervisor = Supervisor::builder()
        .agent_with_provider(
            Agent::builder("assistant")
                .handoff("ghost")
                .options(no_retry())
                .build()
                .unwrap(),
            provider as Arc<dyn LlmProvider>,
        )
        .spawn()
        .await
        .unwrap();
    let server = TestServer::start(supervisor).await;

    let response = rest_run(&server, "route me").await;
    let (run, error) =
        expect_run_failure(response, 422, "routing_refused", "routing_refused").await;
    assert!(
        error["message"].as_str().unwrap().contains("ghost"),
        "{error}"
    );
    assert_recorded(&server, run, FailureKind::Routing).await;

    let response = chat(&server, "route me", false).await;
    let (run, _) =
        expect_run_failure(response, 422, "routing_refused", "invalid_request_error").await;
    assert_recorded(&server, run, FailureKind::Routing).await;

    let (_, failed) = rest_stream_failure(&server, "route me").await;
    assert_eq!(failed["error"]["kind"], "routing", "{failed}");

    let error = openai_stream_failure(&server, "route me").await;
    assert_eq!(error["type"], "invalid_request_error", "{error}");
    assert_eq!(error["code"], "routing_refused", "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_run_on_a_thread_in_use_is_a_409_thread_busy_and_the_thread_is_free_after() {
    let provider = shared(
        ScriptedProvider::new()
            .respond(Script::text("too slow").with_latency(Duration::from_secs(3600)))
            .respond(Script::text("Now it is my turn.")),
    );
    let server =
        TestServer::start(agent_over(no_retry(), provider, InMemoryStore::shared()).await).await;
    let thread = server.thread(ACME).await;

    let first = server.run(ACME, &thread, "assistant", "first", true).await;
    assert_eq!(first.status(), 200);
    let first_run = run_id(&first);
    let mut first_events = sse(first);
    assert_eq!(first_events.next().await.unwrap().event, "agent_started");

    let second = server
        .run(ACME, &thread, "assistant", "second", false)
        .await;
    let error = expect_error(second, 409, "thread_busy").await;
    assert_eq!(error["type"], "thread_busy", "{error}");
    assert!(
        error.get("run_id").is_none(),
        "the refused run never started, so there is no run to name: {error}"
    );
    let streamed = server.run(ACME, &thread, "assistant", "third", true).await;
    expect_error(streamed, 409, "thread_busy").await;

    let cancel = server
        .post_json(&format!("/v1/runs/{first_run}/cancel"), ACME)
        .await;
    assert_eq!(cancel["cancelled"], true);
    let rest: Vec<Sse> = first_events.collect().await;
    assert_eq!(rest.last().unwrap().event, "failed");
    server.supervisor.idle().await;

    let again = server.run(ACME, &thread, "assistant", "again", false).await;
    assert_eq!(again.status(), 200);
    let body: Value = again.json().await.unwrap();
    assert_eq!(body["output"], "Now it is my turn.");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_refused_because_the_thread_is_held_elsewhere_is_a_409_thread_busy_of_the_run() {
    let store = Arc::new(FaultyStore::new(InMemoryStore::shared()));
    let provider = shared(ScriptedProvider::from_fn(|_| Script::text("Hello.")));
    let supervisor = agent_over(no_retry(), provider.clone(), store.clone()).await;
    let server = TestServer::start(supervisor).await;
    let busy = || {
        StoreFault::Fail(StoreError::ThreadBusy {
            thread: ThreadId::new(),
            holder: RunId::new(),
        })
    };

    store.inject(StoreCall::AcquireLease, busy());
    let run = expect_rest_failure(rest_run(&server, "hi").await, 409, "thread_busy").await;
    assert!(
        episodes(&server.supervisor, run).await.is_empty(),
        "a run refused its lease writes nothing"
    );

    store.inject(StoreCall::AcquireLease, busy());
    let response = chat(&server, "hi", false).await;
    expect_run_failure(response, 409, "thread_busy", "invalid_request_error").await;
    assert_eq!(store.pending(), 0);
    assert_eq!(provider.call_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_cannot_commit_a_step_is_a_503_store_unavailable() {
    let store = Arc::new(FaultyStore::new(InMemoryStore::shared()));
    let provider = shared(ScriptedProvider::from_fn(|_| Script::text("Answered.")));
    let supervisor = agent_over(no_retry(), provider, store.clone()).await;
    let server = TestServer::start(supervisor).await;
    let down = || StoreFault::Fail(StoreError::Backend("disk full".into()));

    store.inject(StoreCall::CommitStep, down());
    let run = expect_rest_failure(rest_run(&server, "hi").await, 503, "store_unavailable").await;
    assert_eq!(store.pending(), 0, "the fault struck");
    assert_recorded(&server, run, FailureKind::Store).await;

    store.inject(StoreCall::CommitStep, down());
    let response = chat(&server, "hi", false).await;
    let (run, error) = expect_run_failure(response, 503, "store_unavailable", "server_error").await;
    assert!(
        error["message"].as_str().unwrap().contains("disk full"),
        "{error}"
    );
    assert_recorded(&server, run, FailureKind::Store).await;

    store.inject(StoreCall::CommitStep, down());
    let error = openai_stream_failure(&server, "hi").await;
    assert_eq!(error["type"], "server_error", "{error}");
    assert_eq!(error["code"], "store_unavailable", "{error}");

    let healthy = rest_run(&server, "hi").await;
    assert_eq!(healthy.status(), 200, "the store is back");
}

/// A store backend's failure streamed over Baton's SSE endpoint should end with a `failed`
/// event saying so. It ends instead with `event: error` ("an event could not be encoded"):
/// `StoreError` is an internally tagged enum (`#[serde(tag = "kind")]`) whose `Backend` and
/// `Corrupt` variants hold a bare string, which serde cannot serialize with a tag, so
/// `RunEvent::Failed { Store { Backend(..) } }` has no JSON and the client never learns why
/// the run failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_failure_streamed_over_baton_sse_ends_with_a_failed_event() {
    let store = Arc::new(FaultyStore::new(InMemoryStore::shared()));
    let provider = shared(ScriptedProvider::from_fn(|_| Script::text("Answered.")));
    let supervisor = agent_over(no_retry(), provider, store.clone()).await;
    let server = TestServer::start(supervisor).await;

    store.inject(
        StoreCall::CommitStep,
        StoreFault::Fail(StoreError::Backend("disk full".into())),
    );
    let (run, failed) = rest_stream_failure(&server, "hi").await;
    assert_eq!(failed["error"]["kind"], "store", "{failed}");
    assert_eq!(failed["error"]["error"]["kind"], "backend", "{failed}");
    assert_recorded(&server, run, FailureKind::Store).await;
}
