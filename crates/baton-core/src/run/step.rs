//! Recording a step and dispatching its tool calls.
//!
//! A response without tool calls ends the run. Otherwise the step's tool calls run
//! concurrently (in the run's own task, no task per call), each with the tool timeout; every
//! failure becomes a tool result the model sees. Handoff calls are not run: the first one wins
//! and the others are answered as ignored. The assistant message, the tool results and the
//! step's episodes are committed together.

use super::contain::contained_try;
use super::driver::RunLoop;
use super::event::{EventSink, RunEvent};
use crate::agent::HandoffArgs;
use crate::error::{PanicSite, RunError};
use crate::ids::AgentName;
use crate::llm::{ChatResponse, Message, ToolCall};
use crate::memory::{Episode, StepCommit};
use crate::tool::{ToolOutcome, execute_call, parse_arguments};
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use std::sync::Arc;
use std::time::Duration;

/// What the loop does after a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StepDisposition {
    /// Tool results were appended; ask the model again.
    Continue,
    /// The model answered; this is the output.
    Done(String),
    /// The model handed the thread to another agent.
    Handoff {
        /// The target.
        agent: AgentName,
        /// The model's reason.
        reason: String,
    },
}

/// What to do with one tool call of a step.
enum CallPlan {
    Run,
    Resolved(ToolOutcome),
}

impl RunLoop {
    /// Records the step and, if the model called tools, runs them and records their results.
    pub(crate) async fn record_and_dispatch(
        &mut self,
        response: ChatResponse,
        latency_ms: u32,
        sink: Option<&EventSink>,
    ) -> Result<StepDisposition, RunError> {
        let step = self.step;
        self.usage += response.usage;
        let step_completed = Episode::StepCompleted {
            step,
            usage: response.usage,
            latency_ms,
            finish_reason: response.finish_reason,
            tool_calls: u32::try_from(response.message.tool_calls().len()).unwrap_or(u32::MAX),
        };
        let assistant = Arc::new(response.message);

        if assistant.tool_calls().is_empty() {
            let output = assistant.content().to_owned();
            let completed = Episode::Completed {
                output: output.clone(),
                usage: self.usage,
            };
            // The run's end is committed with its last step: from here on nothing can fail it,
            // and a consumer that leaves only misses the events.
            self.commit(vec![assistant], &[step_completed, completed])
                .await?;
            let _ = self
                .step_finished(sink, response.usage, response.finish_reason)
                .await;
            return Ok(StepDisposition::Done(output));
        }

        let calls = assistant.tool_calls();
        let (plans, handoff) = self.plan_calls(calls);
        if let Some(sink) = sink {
            for call in calls {
                let event = RunEvent::ToolCallStarted {
                    id: call.id.clone(),
                    name: call.name.clone(),
                    arguments: call.arguments.clone(),
                };
                sink.send(event, &self.ctx.cancel).await?;
            }
        }
        let outcomes = self.run_calls(calls, plans, sink).await?;

        let mut episodes = Vec::with_capacity(outcomes.len() + 2);
        let mut messages = Vec::with_capacity(outcomes.len() + 1);
        messages.push(Arc::clone(&assistant));
        for (call, outcome) in calls.iter().zip(outcomes) {
            episodes.push(Episode::ToolCalled {
                step,
                call_id: call.id.clone(),
                tool: call.name.clone(),
                ok: outcome.ok,
                latency_ms: u32::try_from(outcome.latency.as_millis()).unwrap_or(u32::MAX),
            });
            messages.push(Arc::new(outcome.message));
        }
        episodes.push(step_completed);
        if let Some((to, reason)) = &handoff {
            // The handoff is committed with the step that made it.
            episodes.push(Episode::HandedOff {
                from: self.ctx.agent_name().clone(),
                to: to.clone(),
                reason: reason.clone(),
            });
        }
        self.commit(messages, &episodes).await?;
        self.step_finished(sink, response.usage, response.finish_reason)
            .await?;
        Ok(match handoff {
            Some((agent, reason)) => StepDisposition::Handoff { agent, reason },
            None => StepDisposition::Continue,
        })
    }

    /// Decides which calls run as tools and answers the handoff calls: the first valid one
    /// is followed, later ones are ignored.
    fn plan_calls(&self, calls: &[ToolCall]) -> (Vec<CallPlan>, Option<(AgentName, String)>) {
        let mut handoff: Option<(AgentName, String)> = None;
        let plans = calls
            .iter()
            .map(|call| {
                let Some(target) = self.ctx.agent.handoff_target(&call.name) else {
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
    async fn run_calls(
        &self,
        calls: &[ToolCall],
        plans: Vec<CallPlan>,
        sink: Option<&EventSink>,
    ) -> Result<Vec<ToolOutcome>, RunError> {
        let tools = self.ctx.agent.tools();
        let timeout = self.opts.tool_timeout;
        let run = self.run_context();
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
                    notify_finished(sink, call, &outcome, &self.ctx.cancel).await?;
                    outcomes.push(Some(outcome));
                }
            }
        }
        let cancelled = self.ctx.cancel.cancelled();
        tokio::pin!(cancelled);
        if let Some(index) = only {
            let outcome = tokio::select! {
                biased;
                () = &mut cancelled => return Err(RunError::Cancelled),
                outcome = execute_call(tools, &calls[index], timeout, run) => outcome,
            };
            notify_finished(sink, &calls[index], &outcome, &self.ctx.cancel).await?;
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
            notify_finished(sink, &calls[index], &outcome, &self.ctx.cancel).await?;
            outcomes[index] = Some(outcome);
        }
        Ok(outcomes.into_iter().flatten().collect())
    }

    async fn commit(
        &mut self,
        messages: Vec<Arc<Message>>,
        episodes: &[Episode],
    ) -> Result<(), RunError> {
        let commit = StepCommit {
            thread: self.thread,
            expected_len: Some(self.history.len()),
            messages: &messages,
            run: self.ctx.run_id,
            step: self.step,
            episodes,
            lease: Some(&self.lease),
        };
        contained_try(PanicSite::Store, self.ctx.store.commit_step(commit)).await?;
        for message in messages {
            self.history.push(message);
        }
        Ok(())
    }

    async fn step_finished(
        &self,
        sink: Option<&EventSink>,
        usage: crate::llm::Usage,
        finish_reason: crate::llm::FinishReason,
    ) -> Result<(), RunError> {
        match sink {
            Some(sink) => {
                let event = RunEvent::StepFinished {
                    step: self.step,
                    usage,
                    finish_reason,
                };
                sink.send(event, &self.ctx.cancel).await
            }
            None => Ok(()),
        }
    }
}

async fn notify_finished(
    sink: Option<&EventSink>,
    call: &ToolCall,
    outcome: &ToolOutcome,
    cancel: &tokio_util::sync::CancellationToken,
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
