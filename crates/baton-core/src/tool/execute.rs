use super::ToolRegistry;
use crate::context::RunContext;
use crate::error::{ToolError, panic_message};
use crate::llm::{Message, ToolCall};
use futures::FutureExt;
use std::panic::AssertUnwindSafe;
use std::time::Duration;
use tokio::time::Instant;

/// The result of one tool call, ready to append to the thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolOutcome {
    /// The tool-result message the model will see.
    pub message: Message,
    /// Whether the call succeeded.
    pub ok: bool,
    /// How long the call ran.
    pub latency: Duration,
}

impl ToolOutcome {
    /// The outcome of a call that failed with `error`.
    #[must_use]
    pub fn failed(call: &ToolCall, error: &ToolError, latency: Duration) -> Self {
        Self {
            message: Message::tool_error(call, error),
            ok: false,
            latency,
        }
    }
}

/// Runs one tool call of the step `run` describes and turns every failure into a tool-result
/// message: an unknown tool, arguments that do not parse, an error, a timeout, or a panic.
pub async fn execute_call(
    registry: &ToolRegistry,
    call: &ToolCall,
    timeout: Duration,
    run: RunContext<'_>,
) -> ToolOutcome {
    let started = Instant::now();
    let result = match registry.get(&call.name) {
        None => Err(ToolError::UnknownTool {
            name: call.name.clone(),
        }),
        Some(tool) => {
            let guarded = AssertUnwindSafe(tool.call_json(&call.arguments, run.for_call(&call.id)))
                .catch_unwind();
            match tokio::time::timeout(timeout, guarded).await {
                Ok(Ok(result)) => result,
                Ok(Err(panic)) => Err(ToolError::Panicked {
                    tool: call.name.clone(),
                    message: panic_message(panic.as_ref()),
                }),
                Err(_) => Err(ToolError::Timeout {
                    tool: call.name.clone(),
                    timeout,
                }),
            }
        }
    };
    let latency = started.elapsed();
    match result {
        Ok(output) => ToolOutcome {
            message: Message::tool_result(call, output),
            ok: true,
            latency,
        },
        Err(error) => {
            let outcome = ToolOutcome::failed(call, &error, latency);
            // Logged as the model sees it: redacted.
            tracing::warn!(
                tool = %call.name,
                call_id = %call.id,
                error = outcome.message.content(),
                "tool call failed"
            );
            outcome
        }
    }
}
