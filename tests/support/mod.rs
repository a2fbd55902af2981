//! Shared helpers of the root integration tests.
#![allow(dead_code)]

use baton::core::memory::Page;
use baton::prelude::*;
use baton_testkit::ScriptedProvider;
use schemars::JsonSchema;
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;

/// Looks up an order; takes `delay_ms` of (virtual) time.
pub struct OrderLookup;

#[derive(Deserialize, JsonSchema)]
pub struct OrderArgs {
    /// The order id.
    pub order: String,
    /// Milliseconds the lookup takes.
    #[serde(default)]
    pub delay_ms: u64,
}

impl Tool for OrderLookup {
    type Args = OrderArgs;
    fn name(&self) -> &str {
        "order_lookup"
    }
    fn description(&self) -> &str {
        "Looks up an order."
    }
    fn read_only(&self) -> bool {
        true
    }
    async fn call(&self, args: OrderArgs, _ctx: &ToolContext<'_>) -> Result<String, ToolError> {
        if args.delay_ms > 0 {
            tokio::time::sleep(Duration::from_millis(args.delay_ms)).await;
        }
        Ok(format!("order {} was charged twice", args.order))
    }
}

pub async fn thread_messages(store: &Arc<dyn Store>, thread: ThreadId) -> Vec<Message> {
    store
        .list(thread, Page::ALL)
        .await
        .unwrap()
        .iter()
        .map(|m| (**m).clone())
        .collect()
}

pub async fn episodes(store: &Arc<dyn Store>, run: RunId) -> Vec<Episode> {
    store
        .episodes(run)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.episode)
        .collect()
}

/// Drains a run's events.
pub async fn collect(mut stream: RunStream) -> Vec<RunEvent> {
    let mut events = Vec::new();
    while let Some(event) = stream.next_event().await {
        events.push(event);
    }
    events
}

/// The event sequence without text deltas, as short labels.
pub fn outline(events: &[RunEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            RunEvent::AgentStarted { agent } => Some(format!("start {agent}")),
            RunEvent::ToolCallStarted { name, .. } => Some(format!("call {name}")),
            RunEvent::ToolCallFinished { name, .. } => Some(format!("done {name}")),
            RunEvent::HandedOff { from, to, .. } => Some(format!("handoff {from}->{to}")),
            RunEvent::StepFinished { step, .. } => Some(format!("step {step}")),
            RunEvent::Completed { output, .. } => Some(format!("completed: {output}")),
            RunEvent::Failed { error } => Some(format!("failed: {error}")),
            _ => None,
        })
        .collect()
}

pub fn provider(provider: ScriptedProvider) -> Arc<ScriptedProvider> {
    Arc::new(provider)
}
