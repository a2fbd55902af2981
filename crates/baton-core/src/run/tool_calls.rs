//! A step's tool calls: which run as tools and which are handoffs, what the ledger says of
//! each (a resumed step), which wait for approval, then running the tools.
//!
//! The calls run concurrently, in the run's own task (no task per call), each with the tool
//! timeout; every failure becomes a tool result the model sees. Handoff calls are not run: the
//! first valid one is followed and later ones are answered as ignored. A call of a tracked tool
//! (see [`ledger`](super::ledger)) has its intent recorded before it runs and its result as
//! soon as it returns.

use super::contain::contained_try;
use super::event::{EventSink, RunEvent};
use super::ledger::CallRecord;
use crate::agent::{Agent, HandoffArgs};
use crate::context::RunContext;
use crate::error::{PanicSite, RunError};
use crate::ids::{AgentName, RunId};
use crate::llm::{Message, ToolCall};
use crate::memory::{Decision, Episode, Lease, Store, now_ms};
use crate::tool::{OnInterrupt, ToolOutcome, ToolRegistry, execute_call, parse_arguments};
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use std::collections::{HashMap, HashSet};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// What to do with one tool call of a step.
pub(super) enum CallPlan {
    /// Run it; the ledger records its intent and result if it is `tracked`.
    Run {
        /// Whether the ledger records it.
        tracked: bool,
    },
    /// Its result is known without running it (from the ledger, or a decision).
    Resolved(ToolOutcome),
    /// A handoff call, answered without running anything.
    Handoff(ToolOutcome),
    /// It waits for a person's approval.
    Pending,
}

/// What a step's calls add to the run's log before they run, and to its stream.
#[derive(Default)]
pub(super) struct Settled {
    /// Intents, approval requests, interruptions and expiries, in call order.
    pub(super) episodes: Vec<Episode>,
    /// The events that tell them.
    pub(super) events: Vec<RunEvent>,
    /// The calls that wait for approval: their indices, and when their requests expire.
    pub(super) pending: Vec<(usize, Option<u64>)>,
}

/// What the ledger of a step knows, and how the run decides about its calls.
pub(super) struct StepLedger<'a> {
    pub(super) run_id: RunId,
    pub(super) step: u32,
    pub(super) tools: &'a ToolRegistry,
    /// What the log says of each call, for a step taken up again.
    pub(super) recorded: Option<&'a HashMap<String, CallRecord>>,
    pub(super) approved_tools: Option<&'a HashSet<String>>,
    pub(super) approval_timeout: Option<Duration>,
}

impl StepLedger<'_> {
    /// Settles each call planned to run: from its recorded result or decision, by its
    /// interruption policy if a crash interrupted it, or by its tool's approval policy.
    pub(super) fn settle(
        &self,
        calls: &[ToolCall],
        plans: &mut [CallPlan],
        run: &RunContext<'_>,
    ) -> Settled {
        let mut settled = Settled::default();
        for (index, (call, plan)) in calls.iter().zip(plans.iter_mut()).enumerate() {
            if !matches!(plan, CallPlan::Run { .. }) {
                continue;
            }
            let policy = self.tools.policy(&call.name);
            let tracked = policy.is_some_and(|p| p.tracked());
            let record = self
                .recorded
                .and_then(|calls| calls.get(&call.id))
                .cloned()
                .unwrap_or_default();
            let needs_approval = policy.is_some_and(|p| p.approval.needed(&call.arguments, run))
                && !self
                    .approved_tools
                    .is_some_and(|tools| tools.contains(&call.name));
            let next = if let Some((output, ok, latency_ms)) = record.result {
                // Run already: its recorded result stands.
                Next::Resolved(ToolOutcome {
                    message: Message::tool(&call.id, &call.name, output, !ok),
                    ok,
                    latency: Duration::from_millis(u64::from(latency_ms)),
                })
            } else if record.intended {
                // Its intent and no result: a crash interrupted it.
                // A tool the agent no longer has is not run again on a guess.
                let on_interrupt = policy.map_or(OnInterrupt::Fail, |p| p.on_interrupt);
                settled.episodes.push(Episode::CallInterrupted {
                    step: self.step,
                    call_id: call.id.clone(),
                    tool: call.name.clone(),
                    policy: on_interrupt,
                });
                settled.events.push(RunEvent::CallInterrupted {
                    id: call.id.clone(),
                    name: call.name.clone(),
                    policy: on_interrupt,
                });
                match on_interrupt {
                    OnInterrupt::Retry => Next::Run,
                    OnInterrupt::Fail => Next::Resolved(interrupted(call)),
                    OnInterrupt::Ask => Next::Ask(CallRecord::default()),
                }
            } else if record.interrupted == Some(OnInterrupt::Fail) {
                Next::Resolved(interrupted(call))
            } else if record.decision.is_some()
                || record.interrupted == Some(OnInterrupt::Ask)
                || needs_approval
            {
                Next::Ask(record)
            } else {
                Next::Run
            };
            *plan = match next {
                Next::Run => self.run(call, tracked, &mut settled),
                Next::Resolved(outcome) => CallPlan::Resolved(outcome),
                Next::Ask(record) => match &record.decision {
                    Some(decision) => {
                        settled.events.push(RunEvent::ApprovalDecided {
                            id: call.id.clone(),
                            decision: decision.clone(),
                        });
                        match decision.refusal() {
                            None => self.run(call, tracked, &mut settled),
                            Some(refusal) => CallPlan::Resolved(refused(call, refusal)),
                        }
                    }
                    None => self.ask(index, call, record.requested, &mut settled),
                },
            };
        }
        if !settled.pending.is_empty() {
            // The step pauses: every call that runs now has its result recorded, read-only or
            // not, so that going on uses the result the person deciding was shown.
            for (call, plan) in calls.iter().zip(plans.iter_mut()) {
                if let CallPlan::Run { tracked: false } = plan {
                    *plan = self.run(call, true, &mut settled);
                }
            }
        }
        settled
    }

    fn run(&self, call: &ToolCall, tracked: bool, settled: &mut Settled) -> CallPlan {
        if tracked {
            settled.episodes.push(Episode::ToolIntended {
                step: self.step,
                call_id: call.id.clone(),
                tool: call.name.clone(),
                arguments: call.arguments.clone(),
            });
        }
        CallPlan::Run { tracked }
    }

    /// A call that waits: its request is recorded once; one past its deadline is expired.
    fn ask(
        &self,
        index: usize,
        call: &ToolCall,
        requested: Option<Option<u64>>,
        settled: &mut Settled,
    ) -> CallPlan {
        let expires_at_ms = match requested {
            Some(expires_at_ms) => expires_at_ms,
            None => {
                let expires_at_ms = self.approval_timeout.map(|timeout| {
                    now_ms().saturating_add(u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX))
                });
                settled.episodes.push(Episode::ApprovalRequested {
                    step: self.step,
                    call_id: call.id.clone(),
                    tool: call.name.clone(),
                    arguments: call.arguments.clone(),
                    expires_at_ms,
                });
                expires_at_ms
            }
        };
        if requested.is_some() && expires_at_ms.is_some_and(|at| at <= now_ms()) {
            let decision = Decision::Expired;
            settled.episodes.push(Episode::ApprovalDecided {
                step: self.step,
                call_id: call.id.clone(),
                decision: decision.clone(),
            });
            settled.events.push(RunEvent::ApprovalDecided {
                id: call.id.clone(),
                decision: decision.clone(),
            });
            let refusal = decision.refusal().unwrap_or_default();
            return CallPlan::Resolved(refused(call, refusal));
        }
        settled.events.push(RunEvent::ApprovalRequested {
            run_id: self.run_id,
            id: call.id.clone(),
            name: call.name.clone(),
            arguments: call.arguments.clone(),
            expires_at_ms,
        });
        settled.pending.push((index, expires_at_ms));
        CallPlan::Pending
    }
}

/// What a call comes to, before its plan is written.
enum Next {
    Run,
    Resolved(ToolOutcome),
    Ask(CallRecord),
}

/// The result of a call a crash interrupted and that is not run again.
fn interrupted(call: &ToolCall) -> ToolOutcome {
    refused(
        call,
        "interrupted: the call may or may not have taken effect, and it was not retried".into(),
    )
}

fn refused(call: &ToolCall, reason: String) -> ToolOutcome {
    ToolOutcome {
        message: Message::tool(&call.id, &call.name, reason, true),
        ok: false,
        latency: Duration::ZERO,
    }
}

/// Where a step's tracked calls record their results: the run's store, under its lease.
#[derive(Clone, Copy)]
pub(super) struct Recorder<'a> {
    pub(super) store: &'a dyn Store,
    pub(super) lease: &'a Lease,
    pub(super) step: u32,
    pub(super) sink: Option<&'a EventSink>,
}

impl Recorder<'_> {
    /// Records episodes under the run's lease.
    pub(super) async fn record(&self, episodes: &[Episode]) -> Result<(), RunError> {
        contained_try(
            PanicSite::Store,
            self.store.record_leased(self.lease, episodes),
        )
        .await
    }

    async fn returned(&self, call: &ToolCall, outcome: &ToolOutcome) -> Result<(), RunError> {
        let episode = Episode::ToolReturned {
            step: self.step,
            call_id: call.id.clone(),
            tool: call.name.clone(),
            output: outcome.message.content().to_owned(),
            ok: outcome.ok,
            latency_ms: u32::try_from(outcome.latency.as_millis()).unwrap_or(u32::MAX),
        };
        self.record(std::slice::from_ref(&episode)).await?;
        match self.sink {
            Some(sink) => {
                let event = RunEvent::ResultRecorded {
                    id: call.id.clone(),
                };
                sink.send(event, &CancellationToken::new()).await
            }
            None => Ok(()),
        }
    }
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
                return CallPlan::Run { tracked: false };
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
            CallPlan::Handoff(outcome)
        })
        .collect();
    (plans, handoff)
}

/// Runs the calls planned to run, concurrently, and returns every outcome in call order
/// (`None` for the calls that wait). A tracked call's result is recorded with `recorder` as
/// soon as it returns, and every call is told on its sink. In a step that is `pausing`, handoffs are not told (they happen once
/// the step goes on).
pub(super) async fn run(
    calls: &[ToolCall],
    plans: Vec<CallPlan>,
    tools: &ToolRegistry,
    timeout: Duration,
    run: RunContext<'_>,
    recorder: Recorder<'_>,
    pausing: bool,
) -> Result<Vec<Option<ToolOutcome>>, RunError> {
    let sink = recorder.sink;
    let cancel = run.cancel();
    let to_run = plans
        .iter()
        .filter(|p| matches!(p, CallPlan::Run { .. }))
        .count();
    let mut outcomes: Vec<Option<ToolOutcome>> = Vec::with_capacity(calls.len());
    // One call (the common case) needs no set of futures, which allocates.
    let mut running = (to_run > 1).then(FuturesUnordered::new);
    let mut only = None;
    let execute = |index: usize, tracked: bool| async move {
        let call = &calls[index];
        let outcome = execute_call(tools, call, timeout, run).await;
        if tracked {
            recorder.returned(call, &outcome).await?;
        }
        Ok::<_, RunError>((index, outcome))
    };
    for (index, (call, plan)) in calls.iter().zip(plans).enumerate() {
        match plan {
            CallPlan::Run { tracked } => {
                outcomes.push(None);
                match running.as_mut() {
                    Some(running) => running.push(execute(index, tracked)),
                    None => only = Some((index, tracked)),
                }
            }
            CallPlan::Handoff(outcome) if pausing => outcomes.push(Some(outcome)),
            CallPlan::Resolved(outcome) | CallPlan::Handoff(outcome) => {
                notify_finished(sink, call, &outcome, cancel).await?;
                outcomes.push(Some(outcome));
            }
            CallPlan::Pending => outcomes.push(None),
        }
    }
    let cancelled = cancel.cancelled();
    tokio::pin!(cancelled);
    if let Some((index, tracked)) = only {
        let (index, outcome) = tokio::select! {
            biased;
            () = &mut cancelled => return Err(RunError::Cancelled),
            outcome = execute(index, tracked) => outcome?,
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
        let Some(finished) = finished else {
            break;
        };
        let (index, outcome) = finished?;
        tracing::debug!(tool = %calls[index].name, ok = outcome.ok, "tool call finished");
        notify_finished(sink, &calls[index], &outcome, cancel).await?;
        outcomes[index] = Some(outcome);
    }
    Ok(outcomes)
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
