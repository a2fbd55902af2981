//! The tool-call ledger as a run's log tells it: the step a run was in the middle of (its
//! recorded response, and what became of each of its calls), the tools approved for the rest of
//! the run, and the pause the run is in, if any.
//!
//! A run records into its log, under its lease, before and after each call of a tracked tool
//! (one that is not read-only): the step's response ([`Episode::Responded`]), each call's intent
//! ([`Episode::ToolIntended`]) and result ([`Episode::ToolReturned`]), approval requests and
//! decisions, interruptions and pauses. A resumed run reads it back here and goes on from those
//! calls: a call with a recorded result never runs again.

use crate::ids::{AgentName, RunId};
use crate::llm::{FinishReason, Message, Usage};
use crate::memory::{Decision, Episode, EpisodeRecord, LeaseToken};
use crate::tool::OnInterrupt;
use std::collections::{HashMap, HashSet};

/// What the log says of a run's calls and approvals.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Ledger {
    /// The step begun but not committed, if its response was recorded.
    pub(crate) step: Option<RecordedStep>,
    /// Tools approved for the rest of the run, by the agent whose call was approved.
    pub(crate) approved: Vec<(AgentName, String)>,
    /// Of those, the tools of the agent the run goes on with ([`Ledger::for_agent`]).
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
        let mut agent: Option<&AgentName> = None;
        for record in log {
            let episode = &record.episode;
            match episode {
                Episode::Started { agent: started, .. } => agent = Some(started),
                Episode::HandedOff { to, .. } => agent = Some(to),
                _ => {}
            }
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
                        && let (Some(tool), Some(agent)) = (tools.get(call_id), agent)
                    {
                        ledger.approved.push((agent.clone(), tool.clone()));
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

    /// This ledger for a run that goes on with `agent`: the tools approved for the run are
    /// those of its calls.
    #[must_use]
    pub(crate) fn for_agent(mut self, agent: &AgentName) -> Self {
        self.approved_tools = self
            .approved
            .iter()
            .filter(|(approver, _)| approver == agent)
            .map(|(_, tool)| tool.clone())
            .collect();
        self
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
    Ledger::read(log).pending(run)
}

impl Ledger {
    /// The undecided approvals of `run`, whose ledger this is: empty unless it is paused.
    pub(crate) fn pending(&self, run: RunId) -> Vec<PendingApproval> {
        let (Some(pause), Some(step)) = (&self.paused, &self.step) else {
            return Vec::new();
        };
        pause
            .undecided(self)
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::ThreadId;
    use crate::llm::ToolCall;

    use crate::memory::numbered as log;

    fn responded(step: u32, calls: &[(&str, &str)]) -> Episode {
        let calls = calls
            .iter()
            .map(|(id, tool)| ToolCall::new(*id, *tool, "{}"))
            .collect();
        Episode::Responded {
            step,
            message: Message::assistant_calling("", calls),
            usage: Usage::default(),
            latency_ms: 1,
            finish_reason: FinishReason::ToolCalls,
        }
    }

    fn requested(step: u32, call: &str) -> Episode {
        Episode::ApprovalRequested {
            step,
            call_id: call.into(),
            tool: "refund".into(),
            arguments: "{}".into(),
            expires_at_ms: None,
        }
    }

    fn decided(step: u32, call: &str, decision: Decision) -> Episode {
        Episode::ApprovalDecided {
            step,
            call_id: call.into(),
            decision,
        }
    }

    fn agent(name: &str) -> AgentName {
        AgentName::new(name).unwrap()
    }

    #[test]
    fn the_first_decision_counts_and_approvals_for_the_run_belong_to_their_agent() {
        let thread = ThreadId::new();
        let token = LeaseToken::new();
        let ledger = Ledger::read(&log(vec![
            Episode::Started {
                agent: agent("refunds"),
                thread,
            },
            responded(1, &[("c1", "refund"), ("c2", "refund")]),
            requested(1, "c1"),
            requested(1, "c2"),
            Episode::Paused {
                step: 1,
                pending: vec!["c1".into(), "c2".into()],
                lease: token,
            },
            decided(1, "c1", Decision::approve_for_run()),
            decided(1, "c1", Decision::reject("too late")),
        ]));
        let pause = ledger.paused.as_ref().expect("decisions keep the pause");
        assert_eq!(pause.token, token);
        assert_eq!(pause.undecided(&ledger).collect::<Vec<_>>(), ["c2"]);
        let step = ledger.step.as_ref().unwrap();
        assert_eq!(step.calls["c1"].decision, Some(Decision::approve_for_run()));
        let refunds = ledger.clone().for_agent(&agent("refunds"));
        assert!(refunds.approved_tools.contains("refund"));
        let other = ledger.for_agent(&agent("billing"));
        assert!(other.approved_tools.is_empty());
    }

    #[test]
    fn an_interruption_that_asks_starts_the_call_over_and_a_commit_ends_the_step() {
        let mut episodes = vec![
            responded(3, &[("c1", "refund")]),
            Episode::ToolIntended {
                step: 3,
                call_id: "c1".into(),
                tool: "refund".into(),
                arguments: "{}".into(),
            },
        ];
        let ledger = Ledger::read(&log(episodes.clone()));
        assert!(ledger.step.as_ref().unwrap().calls["c1"].intended);
        episodes.push(Episode::CallInterrupted {
            step: 3,
            call_id: "c1".into(),
            tool: "refund".into(),
            policy: OnInterrupt::Ask,
        });
        let ledger = Ledger::read(&log(episodes.clone()));
        let call = &ledger.step.as_ref().unwrap().calls["c1"];
        assert!(!call.intended && call.requested.is_none());
        assert_eq!(call.interrupted, Some(OnInterrupt::Ask));
        episodes.push(Episode::StepCompleted {
            step: 3,
            usage: Usage::default(),
            latency_ms: 1,
            finish_reason: FinishReason::ToolCalls,
            tool_calls: 1,
        });
        assert!(Ledger::read(&log(episodes)).step.is_none());
    }
}
