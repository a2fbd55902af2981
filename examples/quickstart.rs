//! Quickstart: one agent with a tool, streamed to the terminal.
//!
//! Runs offline on the scripted provider, or on a real model with
//! `--provider openai|anthropic` (keys and base URLs from the environment):
//!
//! ```text
//! cargo run --example quickstart
//! ```

mod common;

use baton::prelude::*;
use baton_testkit::{Script, ScriptedProvider};
use futures::StreamExt;
use schemars::JsonSchema;
use serde::Deserialize;
use std::io::Write;
use std::sync::Arc;

/// Converts between currencies at fixed demo rates.
struct ConvertCurrency;

#[derive(Deserialize, JsonSchema)]
struct ConvertArgs {
    /// Amount to convert.
    amount: f64,
    /// ISO code of the source currency, e.g. "EUR".
    from: String,
    /// ISO code of the target currency, e.g. "USD".
    to: String,
}

impl Tool for ConvertCurrency {
    type Args = ConvertArgs;

    fn name(&self) -> &str {
        "convert_currency"
    }

    fn description(&self) -> &str {
        "Converts an amount between two currencies."
    }

    async fn call(&self, args: ConvertArgs, _ctx: &ToolContext<'_>) -> Result<String, ToolError> {
        let rate = match (args.from.as_str(), args.to.as_str()) {
            ("EUR", "USD") => 1.08,
            ("USD", "EUR") => 0.93,
            (from, to) if from == to => 1.0,
            (from, to) => return Err(ToolError::failed(format!("no rate for {from}->{to}"))),
        };
        Ok(format!("{:.2} {}", args.amount * rate, args.to))
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The scripted model first calls the tool, then answers with its result.
    let provider = common::provider_from_args()?.or_scripted(
        ScriptedProvider::new()
            .respond(Script::tool_call(
                "convert_currency",
                serde_json::json!({"amount": 250, "from": "EUR", "to": "USD"}),
            ))
            .respond(Script::text(
                "250 EUR is about 270.00 USD at today's demo rate. Safe travels!",
            )),
    );
    let agent = Agent::builder("assistant")
        .instructions("You help travellers with money questions. Use tools for numbers.")
        .tool(ConvertCurrency)
        .build()?;
    let store = InMemoryStore::shared();
    let ctx = AgentContext::new(Arc::new(agent), provider, store.clone());
    let thread = ThreadId::new();

    println!("you> How much is 250 EUR in dollars?");
    let mut events = run_steps_streaming(
        &ctx,
        thread,
        vec![Message::user("How much is 250 EUR in dollars?")],
        RunOptions::default(),
    )
    .await?;

    let mut stdout = std::io::stdout();
    while let Some(event) = events.next().await {
        match event {
            RunEvent::AgentStarted { agent } => print!("{agent}> "),
            RunEvent::TextDelta { delta } => print!("{delta}"),
            RunEvent::ToolCallStarted {
                name, arguments, ..
            } => {
                println!("[calling {name} {arguments}]");
            }
            RunEvent::ToolCallFinished { name, output, .. } => {
                print!("[{name} -> {output}]\nassistant> ");
            }
            RunEvent::Completed { usage, .. } => {
                println!(
                    "\n(done: {} input + {} output tokens)",
                    usage.input_tokens, usage.output_tokens
                );
            }
            RunEvent::Failed { error } => println!("\nrun failed: {error}"),
            _ => {}
        }
        stdout.flush()?;
    }

    let log = store.episodes(ctx.run_id).await?;
    println!("episodic log: {} entries for run {}", log.len(), ctx.run_id);
    Ok(())
}
