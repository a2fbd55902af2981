use super::LeaseToken;
use crate::error::{FailureKind, RunError};
use crate::ids::{AgentName, ThreadId};
use crate::llm::{FinishReason, Message, Usage};
use crate::tool::OnInterrupt;
use serde::{Deserialize, Serialize};

/// One entry of a run's episodic log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Episode {
    /// An agent started working on the run (first, and again after each handoff).
    Started {
        /// The agent.
        agent: AgentName,
        /// The thread the run works on.
        thread: ThreadId,
    },
    /// A tool call of a step finished (successfully or not).
    ToolCalled {
        /// The step, from 1.
        step: u32,
        /// The call's id.
        call_id: String,
        /// The tool.
        tool: String,
        /// Whether it succeeded.
        ok: bool,
        /// How long it ran.
        latency_ms: u32,
    },
    /// The model's response of a step, recorded before any of its tool calls runs when one of
    /// them is tracked by the ledger or waits for approval: a resumed run goes on from these
    /// calls instead of asking the model again.
    Responded {
        /// The step, from 1.
        step: u32,
        /// The assistant message, with its tool calls.
        message: Message,
        /// Tokens the model call used.
        usage: Usage,
        /// Time from sending the request to the end of the response.
        latency_ms: u32,
        /// Why the model stopped.
        finish_reason: FinishReason,
    },
    /// The ledger's intent: a call of a tool with side effects is about to run.
    ToolIntended {
        /// The step, from 1.
        step: u32,
        /// The call's id.
        call_id: String,
        /// The tool.
        tool: String,
        /// The JSON arguments, as the model wrote them.
        arguments: String,
    },
    /// The ledger's result: a call of a tool with side effects returned. A resumed run uses
    /// this result and never runs the call again.
    ToolReturned {
        /// The step, from 1.
        step: u32,
        /// The call's id.
        call_id: String,
        /// The tool.
        tool: String,
        /// The result the model sees.
        output: String,
        /// Whether the call succeeded.
        ok: bool,
        /// How long it ran.
        latency_ms: u32,
    },
    /// A crash left a call with its intent and no result; `policy` is what the resumed run
    /// did about it.
    CallInterrupted {
        /// The step, from 1.
        step: u32,
        /// The call's id.
        call_id: String,
        /// The tool.
        tool: String,
        /// What was done: run again, answered as interrupted, or asked for approval.
        policy: OnInterrupt,
    },
    /// A call waits for a person's approval.
    ApprovalRequested {
        /// The step, from 1.
        step: u32,
        /// The call's id.
        call_id: String,
        /// The tool.
        tool: String,
        /// The JSON arguments, as the model wrote them.
        arguments: String,
        /// When an undecided request is rejected as expired, in milliseconds since the Unix
        /// epoch; `None` for never.
        expires_at_ms: Option<u64>,
    },
    /// A pending call was decided.
    ApprovalDecided {
        /// The step, from 1.
        step: u32,
        /// The call's id.
        call_id: String,
        /// The decision.
        decision: Decision,
    },
    /// The run paused: the calls in `pending` wait for decisions. The run holds its thread
    /// with a parked lease (token `lease`), which the run is taken up with once they are
    /// decided.
    Paused {
        /// The step whose calls wait.
        step: u32,
        /// The ids of the calls that wait.
        pending: Vec<String>,
        /// The token of the parked lease.
        lease: LeaseToken,
    },
    /// A step finished: the model answered and its tool calls, if any, ran.
    StepCompleted {
        /// The step, from 1.
        step: u32,
        /// Tokens the model call used.
        usage: Usage,
        /// Time from sending the request to the end of the response.
        latency_ms: u32,
        /// Why the model stopped.
        finish_reason: FinishReason,
        /// How many tool calls the step made.
        tool_calls: u32,
    },
    /// The run moved to another agent.
    HandedOff {
        /// The agent that handed off.
        from: AgentName,
        /// The agent that continues.
        to: AgentName,
        /// Why.
        reason: String,
    },
    /// The run finished with an answer.
    Completed {
        /// The final answer.
        output: String,
        /// Tokens used by the whole run.
        usage: Usage,
    },
    /// The run failed.
    Failed {
        /// What kind of failure it was (stable, machine-readable).
        #[serde(default = "unknown_kind")]
        kind: FailureKind,
        /// What went wrong, redacted (`"max steps exceeded: 5"`). Logs written before kinds
        /// were kept named this `error`.
        #[serde(alias = "error")]
        message: String,
    },
}

/// What a person decided about a call that waited for approval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Decision {
    /// Run the call.
    Approved {
        /// Also approve every later call of the same tool in this run.
        #[serde(default)]
        for_run: bool,
    },
    /// Do not run it: the model gets a tool result with the reason.
    Rejected {
        /// Why, for the model.
        reason: String,
    },
    /// Nobody decided before the request's deadline: rejected as expired.
    Expired,
}

impl Decision {
    /// Approve this call.
    #[must_use]
    pub const fn approve() -> Self {
        Self::Approved { for_run: false }
    }

    /// Approve this call and every later call of its tool in the run.
    #[must_use]
    pub const fn approve_for_run() -> Self {
        Self::Approved { for_run: true }
    }

    /// Reject this call, telling the model `reason`.
    #[must_use]
    pub fn reject(reason: impl Into<String>) -> Self {
        Self::Rejected {
            reason: reason.into(),
        }
    }

    /// Whether the call runs.
    #[must_use]
    pub const fn is_approved(&self) -> bool {
        matches!(self, Self::Approved { .. })
    }

    /// The tool result a call that does not run gives the model; `None` if it runs.
    #[must_use]
    pub fn refusal(&self) -> Option<String> {
        match self {
            Self::Approved { .. } => None,
            Self::Rejected { reason } => Some(format!("rejected by a person: {reason}")),
            Self::Expired => Some("not run: its approval expired before anyone decided".to_owned()),
        }
    }
}

fn unknown_kind() -> FailureKind {
    FailureKind::Other
}

impl Episode {
    /// The terminal episode of a run that failed with `error` (redacted).
    #[must_use]
    pub fn failed(error: &RunError) -> Self {
        let mut message = error.to_string();
        crate::redact::redact_string(&mut message);
        Self::Failed {
            kind: error.kind(),
            message,
        }
    }

    /// Whether this episode ends a run.
    #[must_use]
    pub const fn is_terminal(&self) -> bool {
        matches!(self, Self::Completed { .. } | Self::Failed { .. })
    }
}

/// An episode as stored: with its position in the log and when it was recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct EpisodeRecord {
    /// Position in the run's log, from 0.
    pub seq: u64,
    /// When it was recorded, in milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// The episode.
    pub episode: Episode,
}

/// The agent and thread a run started with: its log's first `Started` episode.
#[must_use]
pub fn started(log: &[EpisodeRecord]) -> Option<(&AgentName, ThreadId)> {
    log.iter().find_map(|record| match &record.episode {
        Episode::Started { agent, thread } => Some((agent, *thread)),
        _ => None,
    })
}

/// `episodes` as a log reads them back, numbered from 0 and stamped now (for tests of what
/// reads logs).
#[cfg(test)]
pub(crate) fn numbered(episodes: Vec<Episode>) -> Vec<EpisodeRecord> {
    episodes
        .into_iter()
        .enumerate()
        .map(|(seq, episode)| EpisodeRecord::now(seq as u64, episode))
        .collect()
}

impl EpisodeRecord {
    /// A record of `episode` at position `seq`, recorded at `at_ms` (milliseconds since the
    /// Unix epoch), as a store reads it back.
    #[must_use]
    pub const fn new(seq: u64, at_ms: u64, episode: Episode) -> Self {
        Self {
            seq,
            at_ms,
            episode,
        }
    }

    /// A record of `episode` at position `seq`, stamped now.
    #[must_use]
    pub fn now(seq: u64, episode: Episode) -> Self {
        Self::new(seq, super::lease::now_ms(), episode)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_keeps_its_kind_and_old_logs_still_read() {
        let episode = Episode::failed(&RunError::MaxSteps { steps: 2 });
        let json = serde_json::to_string(&episode).unwrap();
        assert_eq!(
            json,
            r#"{"type":"failed","kind":"max_steps","message":"max steps exceeded: 2"}"#
        );
        let old: Episode =
            serde_json::from_str(r#"{"type":"failed","error":"cancelled"}"#).unwrap();
        assert_eq!(
            old,
            Episode::Failed {
                kind: FailureKind::Other,
                message: "cancelled".into()
            }
        );
        let later: Episode =
            serde_json::from_str(r#"{"type":"failed","kind":"from_the_future","message":"x"}"#)
                .unwrap();
        assert!(matches!(
            later,
            Episode::Failed {
                kind: FailureKind::Other,
                ..
            }
        ));
    }
}
