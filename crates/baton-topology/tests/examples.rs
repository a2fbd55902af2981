//! The example topologies of the repository load, check and run offline.

use baton_core::ids::ThreadId;
use baton_core::run::RunEvent;
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
