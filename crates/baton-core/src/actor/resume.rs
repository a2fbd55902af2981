//! Where an interrupted run goes on, read from its episodic log.

use super::run_request::Progress;
use crate::ids::{AgentName, ThreadId};
use crate::memory::{Episode, EpisodeRecord};

/// Where an interrupted run goes on: its thread, the agent working on it, and its progress.
#[derive(Debug, PartialEq)]
pub(super) struct ResumePoint {
    pub(super) thread: ThreadId,
    pub(super) agent: AgentName,
    pub(super) progress: Progress,
}

/// Reads a run's log to find where it stopped.
pub(super) fn resume_point(log: &[EpisodeRecord]) -> Result<ResumePoint, String> {
    let mut thread = None;
    let mut agent = None;
    let mut progress = Progress::default();
    for record in log {
        match &record.episode {
            Episode::Started {
                agent: started,
                thread: on,
            } => {
                thread.get_or_insert(*on);
                agent = Some(started.clone());
            }
            Episode::StepCompleted { step, usage, .. } => {
                progress.steps = progress.steps.max(*step);
                progress.agent_steps += 1;
                progress.usage += *usage;
            }
            Episode::HandedOff { to, .. } => {
                agent = Some(to.clone());
                progress.handoffs += 1;
                progress.agent_steps = 0;
            }
            Episode::Completed { .. } | Episode::Failed { .. } => {
                return Err("it already finished".into());
            }
            _ => {}
        }
    }
    match (thread, agent) {
        (Some(thread), Some(agent)) => Ok(ResumePoint {
            thread,
            agent,
            progress,
        }),
        _ => Err("its log does not say where it started".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{AgentName, ThreadId};
    use crate::llm::{FinishReason, Usage};

    use crate::memory::numbered as log;

    fn step(step: u32, usage: Usage) -> Episode {
        Episode::StepCompleted {
            step,
            usage,
            latency_ms: 1,
            finish_reason: FinishReason::ToolCalls,
            tool_calls: 1,
        }
    }

    #[test]
    fn the_resume_point_follows_steps_and_handoffs() {
        let thread = ThreadId::new();
        let (a, b) = (AgentName::new("a").unwrap(), AgentName::new("b").unwrap());
        let point = resume_point(&log(vec![
            Episode::Started {
                agent: a.clone(),
                thread,
            },
            step(1, Usage::new(10, 1)),
            Episode::HandedOff {
                from: a.clone(),
                to: b.clone(),
                reason: "r".into(),
            },
            Episode::Started {
                agent: b.clone(),
                thread,
            },
            step(2, Usage::new(20, 2)),
        ]))
        .unwrap();
        assert_eq!(
            point,
            ResumePoint {
                thread,
                agent: b.clone(),
                progress: Progress {
                    handoffs: 1,
                    steps: 2,
                    agent_steps: 1,
                    usage: Usage::new(30, 3)
                }
            }
        );
        // Handed off, but the target never started: the target goes on.
        let point = resume_point(&log(vec![
            Episode::Started {
                agent: a.clone(),
                thread,
            },
            Episode::HandedOff {
                from: a.clone(),
                to: b.clone(),
                reason: "r".into(),
            },
        ]))
        .unwrap();
        assert_eq!(point.agent, b);
    }

    #[test]
    fn finished_runs_are_not_resumable() {
        let thread = ThreadId::new();
        let a = AgentName::new("a").unwrap();
        let finished = log(vec![
            Episode::Started { agent: a, thread },
            Episode::failed(&crate::error::RunError::Cancelled),
        ]);
        assert_eq!(resume_point(&finished).unwrap_err(), "it already finished");
        assert!(resume_point(&[]).is_err());
    }
}
