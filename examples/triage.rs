//! Customer-support triage: a triage agent hands the customer to billing, which looks the order
//! up and hands off to refunds, which issues the refund. One stream carries the whole run.
//!
//! Runs offline on scripted models, or on a real model:
//!
//! ```text
//! cargo run --example triage
//! OPENAI_API_KEY=… cargo run --example triage -- --provider openai
//! ANTHROPIC_API_KEY=… cargo run --example triage -- --provider anthropic
//! OPENAI_BASE_URL=http://127.0.0.1:8080/v1 OPENAI_MODEL=qwen2.5 cargo run --example triage -- --provider openai
//! ```

mod common;

use baton::prelude::*;
use baton_testkit::{Script, ScriptedProvider};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

/// Looks an order up in the (demo) order system.
struct LookupOrder;

#[derive(Deserialize, JsonSchema)]
struct LookupOrderArgs {
    /// The order number, e.g. "A-1042".
    order: String,
}

impl Tool for LookupOrder {
    type Args = LookupOrderArgs;
    fn name(&self) -> &str {
        "lookup_order"
    }
    fn description(&self) -> &str {
        "Finds an order and its payments."
    }
    async fn call(
        &self,
        args: LookupOrderArgs,
        _ctx: &ToolContext<'_>,
    ) -> Result<String, ToolError> {
        Ok(json!({
            "order": args.order,
            "total": "49.90 EUR",
            "payments": ["2026-11-20 49.90 EUR", "2026-11-20 49.90 EUR"],
        })
        .to_string())
    }
}

/// Issues a refund for one payment.
struct IssueRefund;

#[derive(Deserialize, JsonSchema)]
struct IssueRefundArgs {
    /// The order number.
    order: String,
    /// Amount to refund, e.g. "49.90 EUR".
    amount: String,
}

impl Tool for IssueRefund {
    type Args = IssueRefundArgs;
    fn name(&self) -> &str {
        "issue_refund"
    }
    fn description(&self) -> &str {
        "Refunds an amount on an order."
    }
    async fn call(
        &self,
        args: IssueRefundArgs,
        _ctx: &ToolContext<'_>,
    ) -> Result<String, ToolError> {
        Ok(format!(
            "refund R-7781 of {} on {} issued",
            args.amount, args.order
        ))
    }
}

/// Each scripted model answers according to what it has already seen on the thread.
fn tool_results(request: &ChatRequest) -> usize {
    request
        .messages
        .iter()
        .filter(|m| m.role() == baton::core::llm::Role::Tool)
        .count()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let choice = common::provider_from_args()?;
    let triage_model = ScriptedProvider::from_fn(|_| {
        Script::tool_call(
            "transfer_to_billing",
            json!({"reason": "customer reports a double charge"}),
        )
    });
    let billing_model = ScriptedProvider::from_fn(|request| match tool_results(request) {
        1 => Script::tool_call("lookup_order", json!({"order": "A-1042"})),
        _ => Script::tool_call(
            "transfer_to_refunds",
            json!({"reason": "order A-1042 was paid twice; refund one payment of 49.90 EUR"}),
        ),
    });
    let refunds_model = ScriptedProvider::from_fn(|request| match tool_results(request) {
        3 => Script::tool_call(
            "issue_refund",
            json!({"order": "A-1042", "amount": "49.90 EUR"}),
        ),
        _ => Script::text(
            "I'm sorry about the double charge. I refunded 49.90 EUR on order A-1042 \
             (refund R-7781); it reaches your card within 5 business days.",
        ),
    });

    let supervisor = Supervisor::builder()
        .agent_with_provider(
            Agent::builder("triage")
                .instructions("Find out what the customer needs and hand them to the right team.")
                .handoff("billing")
                .handoff("technical")
                .build()?,
            choice.or_scripted(triage_model),
        )
        .agent_with_provider(
            Agent::builder("billing")
                .instructions("Investigate payments. Hand refunds to the refunds team.")
                .tool(LookupOrder)
                .handoff("refunds")
                .build()?,
            choice.or_scripted(billing_model),
        )
        .agent_with_provider(
            Agent::builder("refunds")
                .instructions("Issue refunds and tell the customer what happens next.")
                .tool(IssueRefund)
                .build()?,
            choice.or_scripted(refunds_model),
        )
        .agent_with_provider(
            Agent::builder("technical")
                .instructions("Solve technical problems.")
                .build()?,
            choice.or_scripted(ScriptedProvider::from_fn(|_| {
                Script::text("Have you tried turning it off and on again?")
            })),
        )
        .spawn()
        .await?;

    let thread = ThreadId::new();
    println!("customer> I was charged twice for order A-1042.");
    let events = supervisor
        .run("triage", thread, "I was charged twice for order A-1042.")
        .await?;
    let run_id = events.run_id();
    common::print_run(events).await;

    println!("episodic log of run {run_id}:");
    for record in supervisor.store().episodes(run_id).await? {
        println!(
            "  {:>2} {}",
            record.seq,
            serde_json::to_string(&record.episode)?
        );
    }
    supervisor.shutdown(std::time::Duration::from_secs(5)).await;
    Ok(())
}
