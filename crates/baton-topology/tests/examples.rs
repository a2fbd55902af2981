//! The example topologies of the repository load, check and run offline.

use baton_core::actor::{Decided, Supervisor};
use baton_core::ids::{RunId, ThreadId};
use baton_core::memory::Decision;
use baton_core::run::{PendingApproval, RunEvent, RunStream};
use baton_topology::{StoreSpec, Topology};
use std::path::PathBuf;
use std::time::Duration;

fn example(name: &str) -> Topology {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/topologies")
        .join(name);
    let mut topology = Topology::load(path).unwrap();
    topology.set_store(StoreSpec::Memory);
    topology
}

/// Runs `input` from the entry agent; returns the agents that spoke, the handoffs, the tools
/// called and the answer.
async fn run(topology: &Topology, input: &str) -> (Vec<String>, Vec<String>, Vec<String>, String) {
    let supervisor = topology.build().await.unwrap();
    let mut stream = supervisor
        .run(topology.entry().as_str(), ThreadId::new(), input)
        .await
        .unwrap();
    let (mut agents, mut handoffs, mut tools) = (Vec::new(), Vec::new(), Vec::new());
    let output = loop {
        match stream.next_event().await.unwrap() {
            RunEvent::AgentStarted { agent } => agents.push(agent.to_string()),
            RunEvent::HandedOff { from, to, .. } => handoffs.push(format!("{from}->{to}")),
            RunEvent::ToolCallFinished {
                name,
                is_error,
                output,
                ..
            } => {
                assert!(!is_error, "{name}: {output}");
                tools.push(name);
            }
            RunEvent::Completed { output, .. } => break output,
            RunEvent::Failed { error } => panic!("the run failed: {error}"),
            _ => {}
        }
    };
    supervisor.shutdown(Duration::from_secs(5)).await;
    (agents, handoffs, tools, output)
}

#[tokio::test(flavor = "multi_thread")]
async fn support_refunds_a_double_charge() {
    let topology = example("support.toml");
    topology.check().unwrap();
    let (agents, handoffs, tools, output) = run(&topology, "I was charged twice").await;
    assert_eq!(agents, ["triage", "billing", "refunds"]);
    assert_eq!(handoffs, ["triage->billing", "billing->refunds"]);
    assert_eq!(
        tools,
        [
            "transfer_to_billing",
            "lookup_order",
            "transfer_to_refunds",
            "refund_policy",
            "current_time"
        ]
    );
    assert!(
        output.starts_with(
            "I've refunded 49.90 EUR for the duplicate payment on order A-1042 (refund filed 20"
        ),
        "{output}"
    );
    assert!(output.contains("within 5 business days"), "{output}");
}

#[tokio::test(flavor = "multi_thread")]
async fn support_answers_from_the_order_data() {
    let topology = example("support.toml");
    let (agents, _, _, output) = run(&topology, "Where is order A-2001?").await;
    assert_eq!(agents, ["triage", "billing"]);
    assert!(output.contains("shipped, arriving 2026-05-04"), "{output}");
    let (agents, _, _, output) = run(&topology, "hello").await;
    assert_eq!(agents, ["triage"]);
    assert!(output.starts_with("Hello!"), "{output}");
}

#[tokio::test(flavor = "multi_thread")]
async fn research_plans_researches_and_writes() {
    let topology = example("research.toml");
    topology.check().unwrap();
    let (agents, handoffs, tools, output) =
        run(&topology, "Write a brief on Rust's release history").await;
    assert_eq!(agents, ["planner", "researcher", "writer"]);
    assert_eq!(handoffs, ["planner->researcher", "researcher->writer"]);
    assert_eq!(
        tools,
        [
            "transfer_to_researcher",
            "facts",
            "current_time",
            "calculator",
            "transfer_to_writer"
        ]
    );
    assert!(
        output.starts_with("Rust release history (as of 20"),
        "{output}"
    );
    assert!(output.contains("about 8.5 a year"), "{output}");
    assert!(
        !output.contains("{{"),
        "every placeholder is filled: {output}"
    );
}

/// Reads `stream` to its end: the tools that finished (name and output) and the last event.
async fn events(mut stream: RunStream) -> (Vec<(String, String)>, RunEvent) {
    let mut tools = Vec::new();
    let mut last = None;
    while let Some(event) = stream.next_event().await {
        if let RunEvent::ToolCallFinished { name, output, .. } = &event {
            tools.push((name.clone(), output.clone()));
        }
        last = Some(event);
    }
    (tools, last.expect("a run ends with an event"))
}

/// Starts approvals.toml on a double charge: the run pauses at the refund.
async fn paused_refund() -> (Supervisor, RunId, PendingApproval) {
    paused_refund_in(&example("approvals.toml")).await
}

/// Starts `topology` (approvals.toml) on a double charge: the run pauses at the refund.
async fn paused_refund_in(topology: &Topology) -> (Supervisor, RunId, PendingApproval) {
    let supervisor = topology.build().await.unwrap();
    let stream = supervisor
        .run(
            topology.entry().as_str(),
            ThreadId::new(),
            "I was charged twice",
        )
        .await
        .unwrap();
    let run = stream.run_id();
    let (tools, last) = events(stream).await;
    let names: Vec<&str> = tools.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(
        names,
        ["transfer_to_refunds", "lookup_order"],
        "the refund waits"
    );
    let RunEvent::Paused { mut pending, .. } = last else {
        panic!("the run should pause for the refund: {last:?}")
    };
    assert_eq!(pending.len(), 1, "{pending:?}");
    let call = pending.remove(0);
    assert_eq!(call.tool, "refund");
    assert_eq!(call.arguments, r#"{"key":"A-1042"}"#);
    assert!(
        call.expires_at_ms.is_some(),
        "approval_timeout sets a deadline"
    );
    // A paused run can be decided once it is no longer in flight: its task lets go of it
    // just after its stream ends.
    supervisor.idle().await;
    (supervisor, run, call)
}

/// Decides the paused call and reads the resumed run to its answer.
async fn decide(
    supervisor: &Supervisor,
    run: RunId,
    call: &PendingApproval,
    decision: Decision,
) -> (Vec<(String, String)>, String) {
    let Decided::Resumed(stream) = supervisor
        .decide(run, &call.call_id, decision)
        .await
        .unwrap()
    else {
        panic!("the refund was the only call waiting")
    };
    match events(stream).await {
        (tools, RunEvent::Completed { output, .. }) => (tools, output),
        (_, other) => panic!("the run should complete: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn approvals_says_which_tools_wait_for_a_person() {
    let topology = example("approvals.toml");
    let summary = topology.check().unwrap();
    assert_eq!(summary.agents[1].approvals, ["refund"]);
    assert!(
        summary
            .to_string()
            .ends_with("refunds (offline) tools: lookup_order, refund (needs approval)"),
        "{summary}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_approved_refund_runs_and_is_confirmed() {
    let (supervisor, run, call) = paused_refund().await;
    let (tools, output) = decide(&supervisor, run, &call, Decision::approve()).await;
    assert_eq!(tools.len(), 1, "{tools:?}");
    assert_eq!(tools[0].0, "refund");
    assert!(tools[0].1.contains("issued"), "{tools:?}");
    assert_eq!(
        output,
        "Refund R-1 is issued: 49.90 EUR back to your card ending 4242 within 5 business days. \
         Sorry for the trouble!"
    );
    supervisor.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rejected_refund_is_not_made_and_the_customer_hears_why() {
    let (supervisor, run, call) = paused_refund().await;
    let reason = "the bank already reversed the second payment";
    let (_, output) = decide(&supervisor, run, &call, Decision::reject(reason)).await;
    assert_eq!(
        output,
        format!(
            "I'm sorry, the refund was not made: rejected by a person: {reason}. Reply here if \
             you would like us to look again."
        )
    );
    supervisor.shutdown(Duration::from_secs(5)).await;
}

/// As `baton run` and then `baton runs approve` do: the decision comes from another
/// supervisor, started from the same file on the same store after the first one stopped.
#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread")]
async fn a_refund_paused_in_one_process_is_approved_in_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let mut topology = example("approvals.toml");
    topology.set_store(StoreSpec::Sqlite(dir.path().join("approvals.db")));
    let (first, run, call) = paused_refund_in(&topology).await;
    first.shutdown(Duration::from_secs(5)).await;
    drop(first);

    let next = topology.build().await.unwrap();
    let pending = next.pending_approvals(run).await.unwrap();
    assert_eq!(pending, std::slice::from_ref(&call));
    let (tools, output) = decide(&next, run, &call, Decision::approve()).await;
    assert_eq!(tools.len(), 1, "the refund runs once: {tools:?}");
    assert!(output.starts_with("Refund R-1 is issued"), "{output}");
    next.shutdown(Duration::from_secs(5)).await;
}
