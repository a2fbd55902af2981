//! A step's response recorded and its tool calls run: the ledger's records, the pause's
//! requests, the calls, and the step's commit.

use super::{RunLoop, StepDisposition};
use crate::error::{PanicSite, RunError};
use crate::llm::{ChatResponse, Message};
use crate::memory::{Episode, StepCommit};
use crate::run::contain::contained_try;
use crate::run::event::{EventSink, RunEvent};
use crate::run::ledger::PendingApproval;
use crate::run::tool_calls::{self, Recorder, StepLedger};
use std::sync::Arc;

impl RunLoop {
    /// Records the step and, if the model called tools, runs them and records their results.
    pub(super) async fn record_and_dispatch(
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
        let (mut plans, handoff) = tool_calls::plan(&self.ctx.agent, calls);
        let ledger = self.ledger.take();
        let recorded = ledger
            .as_ref()
            .and_then(|ledger| ledger.step.as_ref())
            .filter(|recorded| recorded.step == step);
        // A step whose calls the ledger does not track and none of which waits, on a run not
        // taken up from its log, has nothing to settle.
        let settled = if ledger.is_none() && self.ctx.agent.untracked() {
            tool_calls::Settled::default()
        } else {
            StepLedger {
                run_id: self.ctx.run_id,
                step,
                tools: self.ctx.agent.tools(),
                recorded: recorded.map(|recorded| &recorded.calls),
                approved_tools: ledger.as_ref().map(|ledger| &ledger.approved_tools),
                approval_timeout: self.opts.approval_timeout,
            }
            .settle(calls, &mut plans, &self.run_context())
        };
        let recorder = Recorder {
            store: self.ctx.store.as_ref(),
            lease: &self.lease,
            step,
            sink,
        };
        let mut episodes = Vec::new();
        if !settled.episodes.is_empty() {
            // The step's response first, once: a resumed run goes on from its calls.
            episodes.reserve(settled.episodes.len() + 1);
            if recorded.is_none() {
                episodes.push(Episode::Responded {
                    step,
                    message: (*assistant).clone(),
                    usage: response.usage,
                    latency_ms,
                    finish_reason: response.finish_reason,
                });
            }
            episodes.extend(settled.episodes);
            recorder.record(&episodes).await?;
        }
        // Tools approved for the run stay approved in its later steps.
        self.ledger = ledger
            .filter(|ledger| !ledger.approved_tools.is_empty())
            .map(|mut ledger| {
                ledger.step = None;
                ledger
            });
        if let Some(sink) = sink {
            let cancel = &self.ctx.cancel;
            for event in settled.events {
                sink.send(event, cancel).await?;
            }
            for episode in &episodes {
                if let Episode::ToolIntended { call_id, .. } = episode {
                    let id = call_id.clone();
                    sink.send(RunEvent::IntentRecorded { id }, cancel).await?;
                }
            }
            for (call, plan) in calls.iter().zip(&plans) {
                // Calls that run, and handoffs; not those that wait, nor those answered from
                // the ledger or by a decision (their result is told as they finish).
                let starts = match plan {
                    tool_calls::CallPlan::Run { .. } => true,
                    // A step that pauses hands off only once it goes on.
                    tool_calls::CallPlan::Handoff(_) => settled.pending.is_empty(),
                    _ => false,
                };
                if !starts {
                    continue;
                }
                let event = RunEvent::ToolCallStarted {
                    id: call.id.clone(),
                    name: call.name.clone(),
                    arguments: call.arguments.clone(),
                };
                sink.send(event, cancel).await?;
            }
        }
        let outcomes = tool_calls::run(
            calls,
            plans,
            self.ctx.agent.tools(),
            self.opts.tool_timeout,
            self.run_context(),
            recorder,
            !settled.pending.is_empty(),
        )
        .await?;
        if !settled.pending.is_empty() {
            let pending: Vec<PendingApproval> = settled
                .pending
                .iter()
                .map(|&(index, expires_at_ms)| PendingApproval {
                    run_id: self.ctx.run_id,
                    step,
                    call_id: calls[index].id.clone(),
                    tool: calls[index].name.clone(),
                    arguments: calls[index].arguments.clone(),
                    expires_at_ms,
                })
                .collect();
            return Ok(StepDisposition::Paused(pending));
        }
        let outcomes: Vec<_> = outcomes.into_iter().flatten().collect();

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
