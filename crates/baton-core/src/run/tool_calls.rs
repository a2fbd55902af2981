//! A step's tool calls: which run as tools and which are handoffs, then running the tools.
//!
//! The calls run concurrently, in the run's own task (no task per call), each with the tool
//! timeout; every failure becomes a tool result the model sees. Handoff calls are not run: the
//! first valid one is followed and later ones are answered as ignored.

use super::event::{EventSink, RunEvent};
use crate::agent::{Agent, HandoffArgs};
use crate::context::RunContext;
use crate::error::RunError;
use crate::ids::AgentName;
use crate::llm::{Message, ToolCall};
use crate::tool::{ToolOutcome, ToolRegistry, execute_call, parse_arguments};
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// What to do with one tool call of a step.
pub(super) enum CallPlan {
    Run,
    Resolved(ToolOutcome),
}

/// Decides which calls run as tools and answers the handoff calls: the first valid one
/// is followed, later ones are ignored.
pub(super) fn plan(
    agent: &Agent,
    calls: &[ToolCall],
) -> (Vec<CallPlan>, Option<(AgentName, String)>) {
    let mut handoff: Option<(AgentName, String)> = None;
    let plans = calls
        .iter()
        .map(|call| {
            let Some(target) = agent.handoff_target(&call.name) else {
                return CallPlan::Run;
            };
            let outcome = if let Some((chosen, _)) = &handoff {
                ToolOutcome {
                    message: Message::tool_result(
                        call,
                        format!(
                            "ignored: only the first handoff of a response is followed, and the conversation goes to {chosen}"
                        ),
                    ),
                    ok: true,
                    latency: Duration::ZERO,
                }
            } else {
                match parse_arguments::<HandoffArgs>(&call.name, &call.arguments) {
                    Ok(args) => {
                        handoff = Some((target.clone(), args.reason));
                        ToolOutcome {
                            message: Message::tool_result(call, format!("transferred to {target}")),
                            ok: true,
                            latency: Duration::ZERO,
                        }
                    }
                    Err(error) => ToolOutcome::failed(call, &error, Duration::ZERO),
                }
            };
            CallPlan::Resolved(outcome)
        })
        .collect();
    (plans, handoff)
}

/// Runs the planned calls concurrently and returns every outcome in call order.
pub(super) async fn run(
    calls: &[ToolCall],
    plans: Vec<CallPlan>,
    tools: &ToolRegistry,
    timeout: Duration,
    run: RunContext<'_>,
    sink: Option<&EventSink>,
) -> Result<Vec<ToolOutcome>, RunError> {
    let cancel = run.cancel();
    let to_run = plans.iter().filter(|p| matches!(p, CallPlan::Run)).count();
    let mut outcomes: Vec<Option<ToolOutcome>> = Vec::with_capacity(calls.len());
    // One call (the common case) needs no set of futures, which allocates.
    let mut running = (to_run > 1).then(FuturesUnordered::new);
    let mut only = None;
    for (index, (call, plan)) in calls.iter().zip(plans).enumerate() {
        match plan {
            CallPlan::Run => {
                outcomes.push(None);
                match running.as_mut() {
                    Some(running) => running.push(async move {
                        (index, execute_call(tools, call, timeout, run).await)
                    }),
                    None => only = Some(index),
                }
            }
            CallPlan::Resolved(outcome) => {
                notify_finished(sink, call, &outcome, cancel).await?;
                outcomes.push(Some(outcome));
            }
        }
    }
    let cancelled = cancel.cancelled();
    tokio::pin!(cancelled);
    if let Some(index) = only {
        let outcome = tokio::select! {
            biased;
            () = &mut cancelled => return Err(RunError::Cancelled),
            outcome = execute_call(tools, &calls[index], timeout, run) => outcome,
        };
        notify_finished(sink, &calls[index], &outcome, cancel).await?;
        outcomes[index] = Some(outcome);
    }
    while let Some(running) = running.as_mut() {
        let finished = tokio::select! {
            biased;
            () = &mut cancelled => return Err(RunError::Cancelled),
            finished = running.next() => finished,
        };
        let Some((index, outcome)) = finished else {
            break;
        };
        tracing::debug!(tool = %calls[index].name, ok = outcome.ok, "tool call finished");
        notify_finished(sink, &calls[index], &outcome, cancel).await?;
        outcomes[index] = Some(outcome);
    }
    Ok(outcomes.into_iter().flatten().collect())
}

async fn notify_finished(
    sink: Option<&EventSink>,
    call: &ToolCall,
    outcome: &ToolOutcome,
    cancel: &CancellationToken,
) -> Result<(), RunError> {
    let Some(sink) = sink else { return Ok(()) };
    let event = RunEvent::ToolCallFinished {
        id: call.id.clone(),
        name: call.name.clone(),
        output: outcome.message.content().to_owned(),
        is_error: !outcome.ok,
    };
    sink.send(event, cancel).await
}
