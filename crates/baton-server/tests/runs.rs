//! Threads and runs over HTTP: SSE across a handoff, JSON answers, logs, cancellation,
//! metrics.

mod common;

use baton_core::memory::Episode;
use baton_testkit::ScriptedProvider;
use common::*;
use futures::StreamExt;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_run_relays_typed_events_in_order_across_a_handoff() {
    let (supervisor, _) = triage_and_billing().await;
    let server = TestServer::start(supervisor).await;
    let thread = server.thread(ACME).await;

    let response = server
        .run(ACME, &thread, "triage", "I was charged twice", true)
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    let events = all_events(response).await;

    let names: Vec<&str> = events
        .iter()
        .map(|e| e.event.as_str())
        .filter(|name| *name != "text_delta")
        .collect();
    assert_eq!(
        names,
        [
            "agent_started",
            "tool_call_started",
            "tool_call_finished",
            "step_finished",
            "handed_off",
            "agent_started",
            "step_finished",
            "completed",
        ]
    );
    let data: Vec<Value> = events
        .iter()
        .map(|e| serde_json::from_str(&e.data).unwrap())
        .collect();
    for (event, json) in events.iter().zip(&data) {
        assert_eq!(
            json["type"],
            event.event.as_str(),
            "the data is the typed event"
        );
    }
    let handoff = &data[names.iter().position(|n| *n == "handed_off").unwrap()];
    assert_eq!(
        (&handoff["from"], &handoff["to"], &handoff["reason"]),
        (&"triage".into(), &"billing".into(), &"double charge".into())
    );
    let text: String = data
        .iter()
        .filter(|json| json["type"] == "text_delta")
        .map(|json| json["delta"].as_str().unwrap())
        .collect();
    assert_eq!(text, "Refund issued for A17.");
    let completed = data.last().unwrap();
    assert_eq!(completed["output"], "Refund issued for A17.");
    assert_eq!(completed["usage"]["input_tokens"], 30);
    assert_eq!(completed["usage"]["output_tokens"], 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_without_streaming_answers_once_and_leaves_its_messages_and_log() {
    let (supervisor, billing_llm) = triage_and_billing().await;
    let server = TestServer::start(supervisor).await;
    let thread = server.thread(ACME).await;

    let response = server
        .run(ACME, &thread, "triage", "I was charged twice", false)
        .await;
    assert_eq!(response.status(), 200);
    let run = run_id(&response);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["run_id"], run.to_string());
    assert_eq!(body["thread_id"], thread);
    assert_eq!(body["output"], "Refund issued for A17.");
    assert_eq!(body["steps"], 2);
    assert_eq!(body["usage"]["input_tokens"], 30);
    assert_eq!(billing_llm.call_count(), 1);

    let messages = server
        .get_json(&format!("/v1/threads/{thread}/messages"), ACME)
        .await;
    let roles: Vec<&str> = messages["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["user", "assistant", "tool", "assistant"]);
    assert_eq!(messages["messages"][0]["content"], "I was charged twice");
    assert_eq!(messages["has_more"], false);

    let page = server
        .get_json(
            &format!("/v1/threads/{thread}/messages?offset=1&limit=2"),
            ACME,
        )
        .await;
    assert_eq!(page["messages"].as_array().unwrap().len(), 2);
    assert_eq!(page["messages"][0]["role"], "assistant");
    assert_eq!(page["has_more"], true);

    let log = server
        .get_json(&format!("/v1/runs/{run}/episodes"), ACME)
        .await;
    let kinds: Vec<&str> = log["episodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|record| record["episode"]["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.first(), Some(&"started"));
    assert!(kinds.contains(&"handed_off"));
    assert_eq!(kinds.last(), Some(&"completed"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn threads_are_listed_per_tenant_oldest_first() {
    let server = TestServer::start(assistant(shared(ScriptedProvider::new())).await).await;
    let first = server.thread(ACME).await;
    let second = server.thread(ACME).await;
    let theirs = server.thread(GLOBEX).await;

    let list = server.get_json("/v1/threads", ACME).await;
    let ids: Vec<&str> = list["threads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [first.as_str(), second.as_str()]);
    assert!(!ids.contains(&theirs.as_str()));

    let page = server.get_json("/v1/threads?offset=1&limit=1", ACME).await;
    assert_eq!(page["threads"][0]["id"], second);
    assert_eq!(page["has_more"], false);

    let bad = server
        .get("/v1/threads?limit=0", ACME)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_thread_is_refused_and_a_run_can_be_cancelled_by_id() {
    let StalledRun {
        supervisor,
        server,
        thread,
        run,
        events,
    } = stalled_run("a b c d").await;

    let second = server.run(ACME, &thread, "assistant", "again", false).await;
    expect_error(second, 409, "thread_busy").await;

    let cancel = server
        .post_json(&format!("/v1/runs/{run}/cancel"), ACME)
        .await;
    assert_eq!(cancel["cancelled"], true);
    let rest: Vec<Sse> = events.collect().await;
    let last = rest.last().unwrap();
    assert_eq!(last.event, "failed");
    assert!(last.data.contains("cancelled"), "{}", last.data);
    supervisor.idle().await;
    assert_eq!(
        episodes(&supervisor, run).await.last(),
        Some(&Episode::failed(&baton_core::error::RunError::Cancelled))
    );

    let again = server
        .post_json(&format!("/v1/runs/{run}/cancel"), ACME)
        .await;
    assert_eq!(again["cancelled"], false, "a finished run is not in flight");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_agents_and_empty_input_are_client_errors() {
    let server = TestServer::start(assistant(shared(ScriptedProvider::new())).await).await;
    let thread = server.thread(ACME).await;

    let unknown = server.run(ACME, &thread, "nobody", "hi", false).await;
    let error = expect_error(unknown, 404, "unknown_agent").await;
    assert!(error["message"].as_str().unwrap().contains("nobody"));

    let empty = server.run(ACME, &thread, "assistant", "  ", false).await;
    assert_eq!(empty.status(), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_runs_steps_tokens_latency_and_handoffs() {
    let (supervisor, _) = triage_and_billing().await;
    let server = TestServer::start(supervisor.clone()).await;
    let thread = server.thread(ACME).await;
    let response = server
        .run(ACME, &thread, "triage", "I was charged twice", false)
        .await;
    assert_eq!(response.status(), 200);
    supervisor.idle().await;

    let text = server.metrics().await;
    for line in [
        r#"baton_runs_started_total{agent="triage"} 1"#,
        r#"baton_runs_completed_total{agent="triage"} 1"#,
        r#"baton_steps_total{agent="triage"} 1"#,
        r#"baton_steps_total{agent="billing"} 1"#,
        r#"baton_input_tokens_total{agent="triage"} 10"#,
        r#"baton_input_tokens_total{agent="billing"} 20"#,
        r#"baton_output_tokens_total{agent="billing"} 2"#,
        r#"baton_handoffs_total{from="triage",to="billing"} 1"#,
        r#"baton_run_duration_seconds_count{agent="triage"} 1"#,
        r#"baton_step_duration_seconds_count{agent="billing"} 1"#,
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }
    assert!(
        text.contains(r#"baton_active_runs{agent="billing"}"#),
        "{text}"
    );
    assert!(!text.contains("baton_runs_failed_total{"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_run_is_resumed_by_its_tenant_only() {
    use baton_core::ids::{AgentName, RunId, ThreadId};
    use baton_core::llm::Message;
    use baton_testkit::Script;

    let provider = shared(ScriptedProvider::from_fn(|_| {
        Script::text("Yes, still here.")
    }));
    let supervisor = assistant(provider).await;
    let server = TestServer::start(supervisor.clone()).await;
    let thread: ThreadId = server.thread(ACME).await.parse().unwrap();

    // A run that stopped right after it started: its start and the question are stored.
    let run = RunId::new();
    let store = supervisor.store();
    let started = Episode::Started {
        agent: AgentName::new("assistant").unwrap(),
        thread,
    };
    store.record(run, started).await.unwrap();
    let question = std::sync::Arc::new(Message::user("are you there?"));
    store.append(thread, Some(0), &[question]).await.unwrap();

    let path = format!("/v1/runs/{run}/resume");
    let foreign = server
        .post(&path, GLOBEX)
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    expect_error(foreign, 404, "not_found").await;

    let resumed = server
        .post(&path, ACME)
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(resumed.status(), 200);
    let body: Value = resumed.json().await.unwrap();
    assert_eq!(body["output"], "Yes, still here.");
    assert_eq!(body["run_id"], run.to_string());
    assert!(matches!(
        episodes(&supervisor, run).await.last(),
        Some(Episode::Completed { .. })
    ));

    let again = server
        .post(&path, ACME)
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    expect_error(again, 409, "not_resumable").await;
    let unknown = format!("/v1/runs/{}/resume", RunId::new());
    let unknown = server
        .post(&unknown, ACME)
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    expect_error(unknown, 404, "not_found").await;
}

/// Answers with the tenant the server attached to the run.
struct WhichTenant;

impl baton_core::tool::Tool for WhichTenant {
    type Args = serde_json::Value;
    fn name(&self) -> &str {
        "which_tenant"
    }
    fn description(&self) -> &str {
        "Says which tenant the run is for."
    }
    async fn call(
        &self,
        _: serde_json::Value,
        ctx: &baton_core::context::ToolContext<'_>,
    ) -> Result<String, baton_core::error::ToolError> {
        Ok(ctx
            .extension::<baton_server::CallerTenant>()
            .map_or("none", baton_server::CallerTenant::name)
            .to_owned())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tool_sees_the_tenant_the_server_attached() {
    let provider = shared(
        ScriptedProvider::new()
            .respond(baton_testkit::Script::tool_call(
                "which_tenant",
                serde_json::json!({}),
            ))
            .respond(baton_testkit::Script::text("checked")),
    );
    let supervisor = baton_core::actor::Supervisor::builder()
        .provider(provider)
        .agent(
            baton_core::agent::Agent::builder("assistant")
                .tool(WhichTenant)
                .build()
                .unwrap(),
        )
        .spawn()
        .await
        .unwrap();
    let server = TestServer::start(supervisor.clone()).await;
    let thread = server.thread(ACME).await;
    let response = server
        .run(ACME, &thread, "assistant", "who am I?", false)
        .await;
    assert_eq!(response.status(), 200);
    supervisor.idle().await;
    let messages = server
        .get_json(&format!("/v1/threads/{thread}/messages"), ACME)
        .await;
    let result = messages["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "tool")
        .expect("the tool's result is on the thread");
    assert_eq!(result["content"], "acme");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_run_gives_its_thread_up_before_it_answers() {
    let provider = shared(
        ScriptedProvider::new()
            .respond(baton_testkit::Script::error(
                baton_core::error::LlmError::InvalidRequest("no such model".into()),
            ))
            .respond(baton_testkit::Script::text("second answer")),
    );
    let server = TestServer::start(assistant(provider).await).await;
    let thread = server.thread(ACME).await;
    let failed = server.run(ACME, &thread, "assistant", "first", false).await;
    expect_error(failed, 502, "provider_error").await;
    // At once, on the same thread: the failed run no longer holds it.
    let response = server
        .run(ACME, &thread, "assistant", "second", false)
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["output"], "second answer");
}
