//! Research pipeline: a planner breaks the question down and hands off to a researcher, who
//! gathers facts with tools (two lookups in parallel) and hands off to a writer, who answers.
//!
//! Runs offline on scripted models, or on a real model with `--provider openai|anthropic`:
//!
//! ```text
//! cargo run --example research
//! ```

mod common;

use baton::prelude::*;
use baton_testkit::{Script, ScriptedProvider};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

/// Searches a small built-in library of notes.
struct SearchNotes;

#[derive(Deserialize, JsonSchema)]
struct SearchArgs {
    /// What to look for.
    query: String,
}

const NOTES: &[(&str, &str)] = &[
    (
        "actor model",
        "Actors own their state and talk only through messages; a supervisor restarts failed actors.",
    ),
    (
        "backpressure",
        "A bounded channel makes a fast producer wait for a slow consumer instead of buffering without limit.",
    ),
    (
        "handoff",
        "A handoff moves a conversation to another agent, with the whole history.",
    ),
];

impl Tool for SearchNotes {
    type Args = SearchArgs;
    fn name(&self) -> &str {
        "search_notes"
    }
    fn description(&self) -> &str {
        "Searches the research notes."
    }
    async fn call(&self, args: SearchArgs, _ctx: &ToolContext<'_>) -> Result<String, ToolError> {
        let query = args.query.to_lowercase();
        NOTES
            .iter()
            .find(|(topic, _)| query.contains(topic))
            .map(|(topic, note)| format!("{topic}: {note}"))
            .ok_or_else(|| ToolError::failed(format!("no note matches {:?}", args.query)))
    }
}

fn has_tool_results(request: &ChatRequest) -> bool {
    request.messages.iter().any(|m| {
        m.role() == baton::core::llm::Role::Tool
            && m.content().contains(':')
            && !m.content().starts_with("transferred")
    })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let choice = common::provider_from_args()?;
    let planner = ScriptedProvider::from_fn(|_| {
        Script::tool_call(
            "transfer_to_researcher",
            json!({"reason": "plan: 1) what the actor model is, 2) how backpressure works"}),
        )
    });
    let researcher = ScriptedProvider::from_fn(|request| {
        if has_tool_results(request) {
            Script::tool_call(
                "transfer_to_writer",
                json!({"reason": "facts gathered on actors and backpressure"}),
            )
        } else {
            Script::tool_calls([
                ("search_notes", json!({"query": "actor model"})),
                ("search_notes", json!({"query": "backpressure"})),
            ])
        }
    });
    let writer = ScriptedProvider::from_fn(|_| {
        Script::text(
            "Baton runs each agent as an actor: it owns its state, talks through messages, and a \
             supervisor restarts it when it fails. Output flows through bounded channels, so a \
             slow reader slows the model instead of filling memory.",
        )
    });

    let supervisor = Supervisor::builder()
        .agent_with_provider(
            Agent::builder("planner")
                .instructions(
                    "Break the question into research steps, then hand off to the researcher.",
                )
                .handoff("researcher")
                .build()?,
            choice.or_scripted(planner),
        )
        .agent_with_provider(
            Agent::builder("researcher")
                .instructions("Gather facts with your tools, then hand off to the writer.")
                .tool(SearchNotes)
                .handoff("writer")
                .build()?,
            choice.or_scripted(researcher),
        )
        .agent_with_provider(
            Agent::builder("writer")
                .instructions("Write a short, accurate answer from the facts on the thread.")
                .build()?,
            choice.or_scripted(writer),
        )
        .spawn()
        .await?;

    let question = "How does an actor-based orchestrator stay fast and robust?";
    println!("user> {question}");
    let events = supervisor.run("planner", ThreadId::new(), question).await?;
    common::print_run(events).await;
    supervisor.shutdown(std::time::Duration::from_secs(5)).await;
    Ok(())
}
