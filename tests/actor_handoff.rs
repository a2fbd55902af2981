//! Handoffs between agent actors under a supervisor.

mod support;

use baton::prelude::*;
use baton_testkit::{Script, ScriptedProvider};
use serde_json::json;
use support::*;

fn triage() -> Agent {
    Agent::builder("triage")
        .instructions("Route the customer.")
        .handoff("billing")
        .build()
        .unwrap()
}

fn billing() -> Agent {
    Agent::builder("billing")
        .instructions("Solve billing problems.")
        .tool(OrderLookup)
        .handoff("refunds")
        .build()
        .unwrap()
}

fn refunds() -> Agent {
    Agent::builder("refunds")
        .instructions("Issue refunds.")
        .build()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_triage_billing_refunds_chain_is_one_stream() {
    let triage_llm = provider(
        ScriptedProvider::new().respond(
            Script::tool_call("transfer_to_billing", json!({"reason": "double charge"}))
                .with_usage(Usage::new(10, 1)),
        ),
    );
    let billing_llm = provider(
        ScriptedProvider::new()
            .respond(
                Script::tool_call("order_lookup", json!({"order": "A17"}))
                    .with_usage(Usage::new(20, 2)),
            )
            .respond(
                Script::tool_call("transfer_to_refunds", json!({"reason": "refund A17"}))
                    .with_usage(Usage::new(30, 3)),
            ),
    );
    let refunds_llm = provider(
        ScriptedProvider::new()
            .respond(Script::text("Refund issued for A17.").with_usage(Usage::new(40, 4))),
    );
    let supervisor = Supervisor::builder()
        .agent_with_provider(triage(), triage_llm.clone())
        .agent_with_provider(billing(), billing_llm.clone())
        .agent_with_provider(refunds(), refunds_llm.clone())
        .spawn()
        .await
        .unwrap();
    let thread = ThreadId::new();
    let stream = supervisor
        .run("triage", thread, "I was charged twice")
        .await
        .unwrap();
    let run_id = stream.run_id();
    let events = collect(stream).await;

    assert_eq!(
        outline(&events),
        [
            "start triage",
            "call transfer_to_billing",
            "done transfer_to_billing",
            "step 1",
            "handoff triage->billing",
            "start billing",
            "call order_lookup",
            "done order_lookup",
            "step 2",
            "call transfer_to_refunds",
            "done transfer_to_refunds",
            "step 3",
            "handoff billing->refunds",
            "start refunds",
            "step 4",
            "completed: Refund issued for A17.",
        ]
    );
    assert_eq!(
        events.last(),
        Some(&RunEvent::Completed {
            output: "Refund issued for A17.".into(),
            usage: Usage::new(100, 10)
        })
    );
    assert!(events.contains(&RunEvent::HandedOff {
        from: AgentName::new("triage").unwrap(),
        to: AgentName::new("billing").unwrap(),
        reason: "double charge".into(),
    }));

    // Each agent's model saw the whole thread so far, under its own instructions.
    let user = Message::user("I was charged twice");
    let billing_first = &billing_llm.requests()[0];
    let seen: Vec<Message> = billing_first
        .messages
        .iter()
        .map(|m| (**m).clone())
        .collect();
    let transfer = ToolCall::new(
        "call_1",
        "transfer_to_billing",
        r#"{"reason":"double charge"}"#,
    );
    assert_eq!(
        seen,
        [
            Message::system("Solve billing problems."),
            user.clone(),
            Message::assistant_calling("", vec![transfer.clone()]),
            Message::tool_result(&transfer, "transferred to billing"),
        ]
    );
    let tool_names: Vec<&str> = billing_first
        .tools
        .iter()
        .map(|t| t.name.as_str())
        .collect();
    assert_eq!(tool_names, ["order_lookup", "transfer_to_refunds"]);
    let refunds_seen = &refunds_llm.requests()[0];
    assert_eq!(*refunds_seen.messages[0], Message::system("Issue refunds."));
    assert_eq!(refunds_seen.messages.len(), 1 + 7);
    assert_eq!(
        refunds_seen.messages[5].content(),
        "order A17 was charged twice"
    );
    assert_eq!(
        refunds_seen.messages.last().unwrap().content(),
        "transferred to refunds"
    );
    assert!(refunds_seen.tools.is_empty());

    // The thread and the log tell the same story.
    let thread_messages = thread_messages(supervisor.store(), thread).await;
    assert_eq!(thread_messages.len(), 8);
    assert_eq!(
        thread_messages[7],
        Message::assistant("Refund issued for A17.")
    );
    let log = episodes(supervisor.store(), run_id).await;
    let labels: Vec<String> = log
        .iter()
        .map(|e| match e {
            Episode::Started { agent, .. } => format!("started {agent}"),
            Episode::HandedOff { from, to, .. } => format!("handed_off {from}->{to}"),
            Episode::StepCompleted { step, .. } => format!("step {step}"),
            Episode::ToolCalled { tool, .. } => format!("tool {tool}"),
            Episode::Completed { .. } => "completed".into(),
            Episode::Failed { message, .. } => format!("failed {message}"),
            _ => "other".into(),
        })
        .collect();
    assert_eq!(
        labels,
        [
            "started triage",
            "tool transfer_to_billing",
            "step 1",
            "handed_off triage->billing",
            "started billing",
            "tool order_lookup",
            "step 2",
            "tool transfer_to_refunds",
            "step 3",
            "handed_off billing->refunds",
            "started refunds",
            "step 4",
            "completed",
        ]
    );
    supervisor.shutdown(std::time::Duration::from_secs(1)).await;
}

#[tokio::test(start_paused = true)]
async fn a_handoff_to_an_unknown_agent_fails_clearly() {
    let llm = provider(ScriptedProvider::new().respond(Script::tool_call(
        "transfer_to_ghost",
        json!({"reason": "nobody home"}),
    )));
    let supervisor = Supervisor::builder()
        .provider(llm)
        .agent(Agent::builder("front").handoff("ghost").build().unwrap())
        .spawn()
        .await
        .unwrap();
    let stream = supervisor
        .run("front", ThreadId::new(), "hello")
        .await
        .unwrap();
    let run_id = stream.run_id();
    let events = collect(stream).await;
    let expected = RunError::routing("handoff to ghost failed: no agent named ghost");
    assert_eq!(
        events.last(),
        Some(&RunEvent::Failed {
            error: expected.clone()
        })
    );
    let log = episodes(supervisor.store(), run_id).await;
    assert!(matches!(log[log.len() - 2], Episode::HandedOff { .. }));
    assert_eq!(log.last(), Some(&Episode::failed(&expected)));
    assert_eq!(supervisor.status().active_runs, 0);

    let err = supervisor
        .run("ghost", ThreadId::new(), "hi")
        .await
        .unwrap_err();
    assert_eq!(err, SupervisorError::UnknownAgent("ghost".into()));
    assert_eq!(err.to_string(), "no agent named \"ghost\"");
}

#[tokio::test(start_paused = true)]
async fn a_handoff_loop_is_stopped_by_max_handoffs() {
    let ping = provider(ScriptedProvider::from_fn(|_| {
        Script::tool_call("transfer_to_pong", json!({"reason": "your turn"}))
    }));
    let pong = provider(ScriptedProvider::from_fn(|_| {
        Script::tool_call("transfer_to_ping", json!({"reason": "no, yours"}))
    }));
    let supervisor = Supervisor::builder()
        .agent_with_provider(
            Agent::builder("ping").handoff("pong").build().unwrap(),
            ping.clone(),
        )
        .agent_with_provider(
            Agent::builder("pong").handoff("ping").build().unwrap(),
            pong.clone(),
        )
        .max_handoffs(3)
        .spawn()
        .await
        .unwrap();
    let events = collect(supervisor.run("ping", ThreadId::new(), "go").await.unwrap()).await;
    let handoffs = events
        .iter()
        .filter(|e| matches!(e, RunEvent::HandedOff { .. }))
        .count();
    assert_eq!(handoffs, 4, "three routed, the fourth refused");
    assert_eq!(
        events.last(),
        Some(&RunEvent::Failed {
            error: RunError::routing(
                "handoff to ping refused: the run reached its limit of 3 handoffs"
            )
        })
    );
    assert_eq!(ping.call_count() + pong.call_count(), 4);
}

#[tokio::test(start_paused = true)]
async fn several_handoffs_in_one_response_follow_the_first_and_run_the_tools() {
    let front = provider(ScriptedProvider::new().respond(Script::tool_calls([
        ("transfer_to_billing", json!({"reason": "money"})),
        ("order_lookup", json!({"order": "B2"})),
        ("transfer_to_refunds", json!({"reason": "also money"})),
    ])));
    let back = provider(ScriptedProvider::from_fn(|_| Script::text("Billing here.")));
    let supervisor = Supervisor::builder()
        .agent_with_provider(
            Agent::builder("front")
                .tool(OrderLookup)
                .handoff("billing")
                .handoff("refunds")
                .build()
                .unwrap(),
            front,
        )
        .agent_with_provider(billing(), back.clone())
        .agent_with_provider(refunds(), back.clone())
        .spawn()
        .await
        .unwrap();
    let thread = ThreadId::new();
    let output = supervisor
        .run_to_completion("front", thread, "help")
        .await
        .unwrap();
    assert_eq!(output.output, "Billing here.");
    let seen = &back.requests()[0];
    assert_eq!(
        *seen.messages[0],
        Message::system("Solve billing problems.")
    );
    let results: Vec<&str> = seen.messages[3..].iter().map(|m| m.content()).collect();
    assert_eq!(
        results,
        [
            "transferred to billing",
            "order B2 was charged twice",
            "ignored: only the first handoff of a response is followed, and the conversation goes to billing",
        ]
    );
}
