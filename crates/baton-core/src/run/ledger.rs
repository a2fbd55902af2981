//! The tool-call ledger as a run's log tells it: the step a run was in the middle of (its
//! recorded response, and what became of each of its calls), the tools approved for the rest of
//! the run, and the pause the run is in, if any.
//!
//! A run records into its log, under its lease, before and after each call of a tracked tool
//! (one that is not read-only): the step's response ([`Episode::Responded`]), each call's intent
//! ([`Episode::ToolIntended`]) and result ([`Episode::ToolReturned`]), approval requests and
//! decisions, interruptions and pauses. A resumed run reads it back here and goes on from those
//! calls: a call with a recorded result never runs again.

use crate::ids::RunId;
use crate::llm::{FinishReason, Message, Usage};
use crate::memory::{Decision, Episode, EpisodeRecord, LeaseToken};
use crate::tool::OnInterrupt;
use std::collections::{HashMap, HashSet};

/// What the log says of a run's calls and approvals.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Ledger {
    /// The step begun but not committed, if its response was recorded.
    pub(crate) step: Option<RecordedStep>,
    /// Tools approved for the rest of the run.
    pub(crate) approved_tools: HashSet<String>,
    /// The run's pause, if the last thing it did was to pause.
    pub(crate) paused: Option<Pause>,
}

/// A step whose response was recorded and that was not committed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RecordedStep {
    pub(crate) step: u32,
    pub(crate) message: Message,
    pub(crate) usage: Usage,
    pub(crate) latency_ms: u32,
    pub(crate) finish_reason: FinishReason,
    /// What became of each call, by id.
    pub(crate) calls: HashMap<String, CallRecord>,
}

/// What the log says of one call of a recorded step.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct CallRecord {
    /// Its intent was recorded (since its last interruption, if any) and no result after it.
    pub(crate) intended: bool,
    /// Its recorded result: output, success, latency.
    pub(crate) result: Option<(String, bool, u32)>,
    /// An approval was asked for (since its last interruption), expiring then.
    pub(crate) requested: Option<Option<u64>>,
    /// The decision on that request.
    pub(crate) decision: Option<Decision>,
    /// The policy applied at its last interruption.
    pub(crate) interrupted: Option<OnInterrupt>,
}

/// A run's pause: the step whose calls wait, which calls, and the parked lease's token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pause {
    pub(crate) step: u32,
    pub(crate) pending: Vec<String>,
    pub(crate) token: LeaseToken,
}

impl Ledger {
    /// Reads the ledger out of a run's log.
    pub(crate) fn read(log: &[EpisodeRecord]) -> Self {
        let mut ledger = Self::default();
        let mut tools: HashMap<String, String> = HashMap::new();
        for record in log {
            let episode = &record.episode;
            if !matches!(
                episode,
                Episode::Paused { .. } | Episode::ApprovalDecided { .. }
            ) {
                // A pause holds while nothing but decisions happened after it.
                ledger.paused = None;
            }
            match episode {
                Episode::Responded {
                    step,
                    message,
                    usage,
                    latency_ms,
                    finish_reason,
                } => {
                    for call in message.tool_calls() {
                        tools.insert(call.id.clone(), call.name.clone());
                    }
                    ledger.step = Some(RecordedStep {
                        step: *step,
                        message: message.clone(),
                        usage: *usage,
                        latency_ms: *latency_ms,
                        finish_reason: *finish_reason,
                        calls: HashMap::new(),
                    });
                }
                Episode::StepCompleted { step, .. }
                    if ledger.step.as_ref().is_some_and(|s| s.step <= *step) =>
                {
                    ledger.step = None;
                }
                Episode::ToolIntended { step, call_id, .. } => {
                    if let Some(call) = ledger.call(*step, call_id) {
                        call.intended = true;
                    }
                }
                Episode::ToolReturned {
                    step,
                    call_id,
                    output,
                    ok,
                    latency_ms,
                    ..
                } => {
                    if let Some(call) = ledger.call(*step, call_id) {
                        call.intended = false;
                        call.result = Some((output.clone(), *ok, *latency_ms));
                    }
                }
                Episode::CallInterrupted {
                    step,
                    call_id,
                    policy,
                    ..
                } => {
                    if let Some(call) = ledger.call(*step, call_id) {
                        *call = CallRecord {
                            interrupted: Some(*policy),
                            ..CallRecord::default()
                        };
                    }
                }
                Episode::ApprovalRequested {
                    step,
                    call_id,
                    expires_at_ms,
                    ..
                } => {
                    if let Some(call) = ledger.call(*step, call_id) {
                        call.requested = Some(*expires_at_ms);
                        call.decision = None;
                    }
                }
                Episode::ApprovalDecided {
                    step,
                    call_id,
                    decision,
                } => {
                    // The first decision after a request counts; later ones were too late.
                    let counts = match ledger.call(*step, call_id) {
                        Some(call) if call.decision.is_none() => {
                            call.decision = Some(decision.clone());
                            true
                        }
                        _ => false,
                    };
                    if counts
                        && let Decision::Approved { for_run: true } = decision
                        && let Some(tool) = tools.get(call_id)
                    {
                        ledger.approved_tools.insert(tool.clone());
                    }
                }
                Episode::Paused {
                    step,
                    pending,
                    lease,
                } => {
                    ledger.paused = Some(Pause {
                        step: *step,
                        pending: pending.clone(),
                        token: *lease,
                    });
                }
                _ => {}
            }
        }
        ledger
    }

    /// The record of call `id` of `step`, if that step is the one recorded.
    fn call(&mut self, step: u32, id: &str) -> Option<&mut CallRecord> {
        let recorded = self.step.as_mut().filter(|s| s.step == step)?;
        Some(recorded.calls.entry(id.to_owned()).or_default())
    }
}

impl Pause {
    /// The calls of the pause that are still undecided, per `ledger`.
    pub(crate) fn undecided<'a>(&'a self, ledger: &'a Ledger) -> impl Iterator<Item = &'a str> {
        self.pending.iter().map(String::as_str).filter(move |id| {
            ledger
                .step
                .as_ref()
                .and_then(|step| step.calls.get(*id))
                .is_none_or(|call| call.decision.is_none())
        })
    }
}

/// The run's pause as a caller sees it: which calls wait, with their tools and arguments.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct PendingApproval {
    /// The run.
    pub run_id: RunId,
    /// The step whose call waits.
    pub step: u32,
    /// The call's id.
    pub call_id: String,
    /// The tool.
    pub tool: String,
    /// The JSON arguments, as the model wrote them.
    pub arguments: String,
    /// When the request expires, in milliseconds since the Unix epoch; `None` for never.
    pub expires_at_ms: Option<u64>,
}

/// The undecided approvals of `run`, read from its log: empty unless the run is paused.
#[must_use]
pub fn pending_approvals(run: RunId, log: &[EpisodeRecord]) -> Vec<PendingApproval> {
    let ledger = Ledger::read(log);
    let (Some(pause), Some(step)) = (&ledger.paused, &ledger.step) else {
        return Vec::new();
    };
    pause
        .undecided(&ledger)
        .filter_map(|id| {
            let call = step.message.tool_calls().iter().find(|c| c.id == id)?;
            let expires_at_ms = step
                .calls
                .get(id)
                .and_then(|record| record.requested)
                .flatten();
            Some(PendingApproval {
                run_id: run,
                step: step.step,
                call_id: call.id.clone(),
                tool: call.name.clone(),
                arguments: call.arguments.clone(),
                expires_at_ms,
            })
        })
        .collect()
}
