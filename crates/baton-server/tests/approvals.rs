//! Runs that pause for approval, over HTTP: the `paused` end of a stream and of a JSON answer,
//! the approval routes per tenant, decisions that take the run up, the thread a paused run
//! holds, and the OpenAI-compatible endpoint's answer for a pause.

mod common;

use baton_core::actor::Supervisor;
use baton_core::agent::Agent;
use baton_core::context::ToolContext;
use baton_core::error::ToolError;
use baton_core::llm::{ChatRequest, Role};
use baton_core::memory::InMemoryStore;
use baton_core::run::RunOptions;
use baton_core::tool::{Approval, Tool};
use baton_server::ServerConfig;
use baton_testkit::{Script, ScriptedProvider};
use common::*;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Refunds an order; counts its executions.
#[derive(Clone, Default)]
struct Refund(Arc<AtomicUsize>);

impl Refund {
    fn executions(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

impl Tool for Refund {
    type Args = Value;
    fn name(&self) -> &str {
        "refund"
    }
    fn description(&self) -> &str {
        "Refunds an order."
    }
    async fn call(&self, args: Value, _: &ToolContext<'_>) -> Result<String, ToolError> {
        let n = self.0.fetch_add(1, Ordering::SeqCst) + 1;
        Ok(format!("refunded {} (execution {n})", args["order"]))
    }
}

/// Every tool result the model saw in `request`.
fn tool_results(request: &ChatRequest) -> Vec<String> {
    request
        .messages
        .iter()
        .filter(|m| m.role() == Role::Tool)
        .map(|m| m.content().to_owned())
        .collect()
}

/// Calls `refund` on each of `orders` in one step until it has results, then answers with
/// them.
fn refund_model(orders: &'static [&'static str]) -> Arc<ScriptedProvider> {
    shared(ScriptedProvider::from_fn(move |request| {
        let results = tool_results(request);
        if results.is_empty() {
            Script::tool_calls(
                orders
                    .iter()
                    .map(|order| ("refund", json!({ "order": order }))),
            )
        } else {
            Script::text(&format!("done: {}", results.join(" | ")))
        }
    }))
}

/// A server with the agent `refunds`, whose `refund` calls all wait for approval.
async fn refunds(orders: &'static [&'static str], options: RunOptions) -> (TestServer, Refund) {
    refunds_with(orders, options, config()).await
}

/// [`refunds`], served with `config`.
async fn refunds_with(
    orders: &'static [&'static str],
    options: RunOptions,
    config: ServerConfig,
) -> (TestServer, Refund) {
    let refund = Refund::default();
    let supervisor = Supervisor::builder()
        .provider(refund_model(orders))
        .store(InMemoryStore::shared())
        .agent(
            Agent::builder("refunds")
                .tool(refund.clone())
                .approval("refund", Approval::Always)
                .options(options)
                .build()
                .unwrap(),
        )
        .spawn()
        .await
        .unwrap();
    (TestServer::start_with(supervisor, config).await, refund)
}

fn approvals(run: impl std::fmt::Display) -> String {
    format!("/v1/runs/{run}/approvals")
}

fn decision(run: impl std::fmt::Display, call: &str) -> String {
    format!("/v1/runs/{run}/approvals/{call}")
}

impl TestServer {
    /// Posts `body` as the decision of `call` of `run` for the tenant of `token`.
    async fn decide(
        &self,
        token: &str,
        run: impl std::fmt::Display,
        call: &str,
        body: Value,
    ) -> reqwest::Response {
        self.post(&decision(run, call), token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }
}

/// Starts a run that pauses, answered as JSON; returns its thread, its id and its answer.
async fn paused_run(server: &TestServer) -> (String, String, Value) {
    let thread = server.thread(ACME).await;
    let response = server
        .run(ACME, &thread, "refunds", "refund my orders", false)
        .await;
    assert_eq!(response.status(), 200);
    let run = run_id(&response).to_string();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "paused", "{body}");
    (thread, run, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_run_pauses_and_its_approval_runs_the_tool_once() {
    let (server, refund) = refunds(&["A-1"], RunOptions::default()).await;
    let thread = server.thread(ACME).await;

    let response = server
        .run(ACME, &thread, "refunds", "refund A-1", true)
        .await;
    assert_eq!(response.status(), 200);
    let run = run_id(&response).to_string();
    let events = all_events(response).await;
    let names: Vec<&str> = events.iter().map(|e| e.event.as_str()).collect();
    assert!(names.contains(&"approval_requested"), "{names:?}");
    assert_eq!(
        names.last(),
        Some(&"paused"),
        "the stream ends with the pause"
    );
    let paused: Value = serde_json::from_str(&events.last().unwrap().data).unwrap();
    assert_eq!(paused["type"], "paused");
    assert_eq!(paused["run_id"], run);
    let call = &paused["pending"][0];
    assert_eq!(call["run_id"], run);
    assert_eq!(call["tool"], "refund");
    assert!(
        call["arguments"].as_str().unwrap().contains("A-1"),
        "{call}"
    );
    assert!(call.get("expires_at_ms").is_some(), "{call}");
    let call_id = call["call_id"].as_str().unwrap().to_owned();
    assert_eq!(refund.executions(), 0, "nothing ran before the approval");

    let listed = server.get_json(&approvals(&run), ACME).await;
    assert_eq!(listed["run_id"], run);
    assert_eq!(listed["pending"], paused["pending"]);

    // Another tenant's run does not exist for it, whichever route and method.
    let foreign = server.get(&approvals(&run), GLOBEX).send().await.unwrap();
    expect_error(foreign, 404, "not_found").await;
    let foreign = server
        .decide(GLOBEX, &run, &call_id, json!({ "decision": "approve" }))
        .await;
    expect_error(foreign, 404, "not_found").await;
    assert_eq!(refund.executions(), 0, "another tenant decided nothing");

    // The paused run holds its thread: a new run on it is refused, streamed or not, with
    // where to decide.
    for stream in [false, true] {
        let busy = server
            .run(ACME, &thread, "refunds", "anything else?", stream)
            .await;
        let error = expect_error(busy, 409, "thread_busy").await;
        let message = error["message"].as_str().unwrap();
        assert!(message.contains(&run), "{message}");
        assert!(message.contains("paused"), "{message}");
        assert!(message.contains(&approvals(&run)), "{message}");
    }

    let approved = server
        .decide(ACME, &run, &call_id, json!({ "decision": "approve" }))
        .await;
    assert_eq!(approved.status(), 200);
    assert_eq!(run_id(&approved).to_string(), run);
    let body: Value = approved.json().await.unwrap();
    assert_eq!(body["status"], "completed", "{body}");
    assert_eq!(body["run_id"], run);
    assert_eq!(body["thread_id"], thread);
    assert_eq!(body["output"], "done: refunded \"A-1\" (execution 1)");
    assert_eq!(refund.executions(), 1);

    // Decided and finished: deciding again is a conflict, and runs nothing.
    let again = server
        .decide(ACME, &run, &call_id, json!({ "decision": "approve" }))
        .await;
    let error = expect_error(again, 409, "not_paused").await;
    assert!(
        error["message"].as_str().unwrap().contains("finished"),
        "{error}"
    );
    assert_eq!(refund.executions(), 1);
    assert_eq!(
        server.get_json(&approvals(&run), ACME).await["pending"],
        json!([])
    );

    // The log shows the pause and the decision, the decision tagged as the core tags it.
    let log = server
        .get_json(&format!("/v1/runs/{run}/episodes"), ACME)
        .await;
    let episodes: Vec<&Value> = log["episodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|record| &record["episode"])
        .collect();
    let kinds: Vec<&str> = episodes
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    for kind in [
        "approval_requested",
        "paused",
        "approval_decided",
        "completed",
    ] {
        assert!(kinds.contains(&kind), "{kind} missing from {kinds:?}");
    }
    let decided = episodes
        .iter()
        .find(|e| e["type"] == "approval_decided")
        .unwrap();
    assert_eq!(decided["call_id"], call_id.as_str());
    assert_eq!(
        decided["decision"],
        json!({ "decision": "approved", "for_run": false })
    );

    // The thread is free again.
    let next = server.run(ACME, &thread, "refunds", "thanks", false).await;
    assert_eq!(next.status(), 200);

    let metrics = server.metrics().await;
    assert!(
        metrics
            .lines()
            .any(|l| l == r#"baton_runs_paused_total{agent="refunds"} 1"#),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_call_never_runs_and_a_streamed_decision_follows_the_run() {
    let (server, refund) = refunds(&["A-1"], RunOptions::default()).await;
    let (thread, run, body) = paused_run(&server).await;
    assert_eq!(body["run_id"], run);
    assert_eq!(body["thread_id"], thread);
    let pending = body["pending"].as_array().unwrap();
    assert_eq!(pending.len(), 1);
    for field in ["run_id", "call_id", "tool", "arguments", "expires_at_ms"] {
        assert!(pending[0].get(field).is_some(), "{field} missing: {body}");
    }
    let call_id = pending[0]["call_id"].as_str().unwrap();

    let rejected = server
        .decide(
            ACME,
            &run,
            call_id,
            json!({ "decision": "reject", "reason": "not a duplicate", "stream": true }),
        )
        .await;
    assert_eq!(rejected.status(), 200);
    assert_eq!(
        rejected.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    let events = all_events(rejected).await;
    let data: Vec<Value> = events
        .iter()
        .map(|e| serde_json::from_str(&e.data).unwrap())
        .collect();
    let decided = data
        .iter()
        .find(|e| e["type"] == "approval_decided")
        .expect("the decision is relayed");
    assert_eq!(
        decided["decision"],
        json!({ "decision": "rejected", "reason": "not a duplicate" })
    );
    let last = data.last().unwrap();
    assert_eq!(last["type"], "completed", "{data:?}");
    assert_eq!(
        last["output"],
        "done: rejected by a person: not a duplicate"
    );
    assert_eq!(refund.executions(), 0);

    let log = server
        .get_json(&format!("/v1/runs/{run}/episodes"), ACME)
        .await;
    let decided = log["episodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|record| record["episode"]["type"] == "approval_decided")
        .unwrap();
    assert_eq!(decided["episode"]["decision"]["decision"], "rejected");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_decisions_are_client_errors_that_decide_nothing() {
    let (server, refund) = refunds(&["A-1"], RunOptions::default()).await;
    let (_, run, body) = paused_run(&server).await;
    let call_id = body["pending"][0]["call_id"].as_str().unwrap();

    let not_json = server
        .post(&decision(&run, call_id), ACME)
        .body("approve")
        .send()
        .await
        .unwrap();
    expect_error(not_json, 400, "invalid_json").await;
    for (body, says) in [
        (json!({ "decision": "maybe" }), "unknown variant `maybe`"),
        (json!({ "decision": "reject" }), "\"reason\""),
        (json!({ "approve": true }), "unknown field `approve`"),
    ] {
        let refused = server.decide(ACME, &run, call_id, body).await;
        let error = expect_error(refused, 400, "invalid_decision").await;
        let message = error["message"].as_str().unwrap();
        assert!(message.contains(says), "{message}");
        assert!(message.contains(r#"{"decision": "approve"}"#), "{message}");
    }
    let approve = json!({ "decision": "approve" });
    let unknown_call = server.decide(ACME, &run, "call_9", approve.clone()).await;
    expect_error(unknown_call, 404, "unknown_call").await;
    let unknown_run = server
        .decide(
            ACME,
            baton_core::ids::RunId::new(),
            call_id,
            approve.clone(),
        )
        .await;
    expect_error(unknown_run, 404, "not_found").await;
    let bad_id = server.decide(ACME, "not-a-run", call_id, approve).await;
    expect_error(bad_id, 400, "invalid_id").await;
    let unknown_run = server
        .get(&approvals(baton_core::ids::RunId::new()), ACME)
        .send()
        .await
        .unwrap();
    expect_error(unknown_run, 404, "not_found").await;

    assert_eq!(
        server.get_json(&approvals(&run), ACME).await["pending"]
            .as_array()
            .unwrap()
            .len(),
        1,
        "the call still waits"
    );
    assert_eq!(refund.executions(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_calls_are_decided_one_by_one_and_the_last_takes_the_run_up() {
    let (server, refund) = refunds(&["A-1", "A-2"], RunOptions::default()).await;
    let (_, run, body) = paused_run(&server).await;
    let pending = body["pending"].as_array().unwrap();
    assert_eq!(pending.len(), 2);
    let first = pending[0]["call_id"].as_str().unwrap();
    let second = pending[1]["call_id"].as_str().unwrap();

    let waiting = server
        .decide(ACME, &run, first, json!({ "decision": "approve" }))
        .await;
    assert_eq!(waiting.status(), 200);
    let body: Value = waiting.json().await.unwrap();
    assert_eq!(body["status"], "paused", "{body}");
    assert_eq!(body["pending"].as_array().unwrap().len(), 1);
    assert_eq!(body["pending"][0]["call_id"], second);
    assert_eq!(refund.executions(), 0, "nothing runs while a call waits");

    let twice = server
        .decide(
            ACME,
            &run,
            first,
            json!({ "decision": "reject", "reason": "no" }),
        )
        .await;
    expect_error(twice, 409, "already_decided").await;

    let listed = server.get_json(&approvals(&run), ACME).await;
    assert_eq!(listed["pending"][0]["call_id"], second);

    let last = server
        .decide(
            ACME,
            &run,
            second,
            json!({ "decision": "reject", "reason": "A-2 was not charged twice" }),
        )
        .await;
    assert_eq!(last.status(), 200);
    let body: Value = last.json().await.unwrap();
    assert_eq!(body["status"], "completed", "{body}");
    assert_eq!(
        body["output"],
        "done: refunded \"A-1\" (execution 1) | rejected by a person: A-2 was not charged twice"
    );
    assert_eq!(refund.executions(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_decision_that_leaves_calls_waiting_is_one_paused_event() {
    let (server, _) = refunds(&["A-1", "A-2"], RunOptions::default()).await;
    let (_, run, body) = paused_run(&server).await;
    let first = body["pending"][0]["call_id"].as_str().unwrap();
    let response = server
        .decide(
            ACME,
            &run,
            first,
            json!({ "decision": "approve", "for_run": true, "stream": true }),
        )
        .await;
    assert_eq!(response.status(), 200);
    let events = all_events(response).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].event, "paused");
    let paused: Value = serde_json::from_str(&events[0].data).unwrap();
    assert_eq!(paused["run_id"], run);
    assert_eq!(paused["pending"].as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_approval_is_gone() {
    let options = RunOptions::default().with_approval_timeout(Some(Duration::ZERO));
    let (server, refund) = refunds(&["A-1"], options).await;
    let (_, run, body) = paused_run(&server).await;
    let call = &body["pending"][0];
    assert!(call["expires_at_ms"].is_u64(), "{call}");
    let late = server
        .decide(
            ACME,
            &run,
            call["call_id"].as_str().unwrap(),
            json!({ "decision": "approve" }),
        )
        .await;
    let error = expect_error(late, 410, "approval_expired").await;
    assert!(
        error["message"].as_str().unwrap().contains("/resume"),
        "{error}"
    );
    assert_eq!(refund.executions(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweep_takes_up_a_run_whose_approval_expired_without_anyone_asking() {
    let mut config = config();
    config.approval_sweep = Some(Duration::from_millis(5));
    let options = RunOptions::default().with_approval_timeout(Some(Duration::ZERO));
    let (server, refund) = refunds_with(&["A-1"], options, config).await;
    let (_, run, _) = paused_run(&server).await;

    // Nobody decides, resumes or asks: the run ends by the sweep alone.
    let episodes = format!("/v1/runs/{run}/episodes");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let completed = loop {
        let log = server.get_json(&episodes, ACME).await;
        let ended = log["episodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|record| &record["episode"])
            .find(|episode| episode["type"] == "completed" || episode["type"] == "failed")
            .cloned();
        if let Some(ended) = ended {
            break ended;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the sweep did not take the run up: {log}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(completed["type"], "completed", "{completed}");
    let output = completed["output"].as_str().unwrap();
    assert!(output.contains("approval expired"), "{output}");
    assert_eq!(refund.executions(), 0, "an expired call never runs");

    // The sweep counts the run once its pass returns, which may be after the run ended.
    loop {
        let metrics = server.metrics().await;
        if metrics
            .lines()
            .any(|l| l == "baton_approvals_expired_total 1")
        {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{metrics}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_completion_that_pauses_says_so_and_stops() {
    let (server, refund) = refunds(&["A-1"], RunOptions::default()).await;
    let request = json!({
        "model": "refunds",
        "messages": [{ "role": "user", "content": "refund A-1" }],
    });

    let response = server.chat_completion(ACME, &request).await;
    assert_eq!(response.status(), 200);
    let run = run_id(&response).to_string();
    let thread = response.headers()["x-baton-thread-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["object"], "chat.completion");
    let choice = &body["choices"][0];
    assert_eq!(choice["finish_reason"], "stop");
    assert_eq!(choice["message"]["role"], "assistant");
    let content = choice["message"]["content"].as_str().unwrap();
    assert!(content.contains("waiting for approval"), "{content}");
    assert!(content.contains(&run), "{content}");
    assert!(content.contains("call_1 (refund)"), "{content}");
    assert!(content.contains(&approvals(&run)), "{content}");
    assert!(body["usage"]["total_tokens"].is_u64(), "{body}");

    // The run goes on through Baton's routes, and its answer lands on the thread.
    let approved = server
        .decide(ACME, &run, "call_1", json!({ "decision": "approve" }))
        .await;
    assert_eq!(approved.status(), 200);
    assert_eq!(refund.executions(), 1);
    let messages = server
        .get_json(&format!("/v1/threads/{thread}/messages"), ACME)
        .await;
    let last = messages["messages"].as_array().unwrap().last().unwrap();
    assert_eq!(last["content"], "done: refunded \"A-1\" (execution 1)");

    // Streamed: a last delta that says so, a final chunk with "stop", then [DONE].
    let streamed = server
        .chat_completion(
            ACME,
            &json!({
                "model": "refunds",
                "messages": [{ "role": "user", "content": "refund A-1" }],
                "stream": true,
                "stream_options": { "include_usage": true },
            }),
        )
        .await;
    assert_eq!(streamed.status(), 200);
    let run = run_id(&streamed).to_string();
    let events = all_events(streamed).await;
    assert_eq!(events.last().unwrap().data, "[DONE]");
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(&e.data).unwrap())
        .collect();
    assert!(
        chunks
            .iter()
            .all(|c| c["object"] == "chat.completion.chunk")
    );
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert!(text.contains("waiting for approval"), "{text}");
    assert!(text.contains(&run), "{text}");
    let finishes: Vec<&Value> = chunks
        .iter()
        .map(|c| &c["choices"][0]["finish_reason"])
        .filter(|reason| !reason.is_null())
        .collect();
    assert_eq!(finishes, [&json!("stop")]);
    assert!(chunks.last().unwrap()["usage"]["total_tokens"].is_u64());
}
