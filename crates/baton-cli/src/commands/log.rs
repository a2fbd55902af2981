//! A run's episodic log as lines to read: `baton runs show` and `baton runs unfinished`.

use crate::render::{decision_text, interruption, one_line, timestamp};
use baton_core::memory::{Episode, EpisodeRecord, UnfinishedRun};

/// How much of a message, a result or arguments a line shows.
const PREVIEW_CHARS: usize = 60;

/// One unfinished run: abandoned (resumable), or in flight and by whom.
pub(crate) fn unfinished_line(run: &UnfinishedRun) -> String {
    match &run.driver {
        None => format!("{}  abandoned: resumable", run.run),
        Some(driver) => format!(
            "{}  in flight: driven by {}, lease until {}",
            run.run,
            driver.owner,
            timestamp(driver.expires_at_ms)
        ),
    }
}

/// One line of a run's log: position, time, what happened and to what.
pub(crate) fn episode_line(record: &EpisodeRecord) -> String {
    let at = timestamp(record.at_ms);
    let (label, what) = describe(&record.episode);
    format!("{:>3}  {at}  {label:<10} {what}", record.seq)
}

/// An episode's label (a word) and what it says.
fn describe(episode: &Episode) -> (&'static str, String) {
    match episode {
        Episode::Started { agent, thread } => ("started", format!("{agent} on thread {thread}")),
        Episode::ToolCalled {
            step,
            tool,
            ok,
            latency_ms,
            ..
        } => {
            let result = if *ok { "ok" } else { "failed" };
            (
                "tool",
                format!("step {step}: {tool} {result} in {latency_ms} ms"),
            )
        }
        Episode::Responded {
            step,
            message,
            usage,
            ..
        } => {
            let calls: Vec<String> = message
                .tool_calls()
                .iter()
                .map(|call| format!("{}({})", call.name, call.id))
                .collect();
            (
                "responded",
                format!(
                    "step {step}: {} tokens, calls {}",
                    usage.total(),
                    calls.join(", ")
                ),
            )
        }
        Episode::ToolIntended {
            step,
            call_id,
            tool,
            arguments,
        } => (
            "intent",
            format!(
                "step {step}: {tool}({call_id}) {}",
                one_line(arguments, PREVIEW_CHARS)
            ),
        ),
        Episode::ToolReturned {
            step,
            call_id,
            tool,
            output,
            ok,
            latency_ms,
        } => {
            let result = if *ok { "ok" } else { "failed" };
            (
                "result",
                format!(
                    "step {step}: {tool}({call_id}) {result} in {latency_ms} ms: {}",
                    one_line(output, PREVIEW_CHARS)
                ),
            )
        }
        Episode::CallInterrupted {
            step,
            call_id,
            tool,
            policy,
        } => (
            "interrupt",
            format!(
                "step {step}: {tool}({call_id}) was interrupted: {policy}, {}",
                interruption(*policy)
            ),
        ),
        Episode::ApprovalRequested {
            step,
            call_id,
            tool,
            arguments,
            expires_at_ms,
        } => {
            let expiry = expires_at_ms.map_or_else(
                || "no deadline".to_owned(),
                |at| format!("expires {}", timestamp(at)),
            );
            (
                "approval",
                format!(
                    "step {step}: {tool}({call_id}) {} requested, {expiry}",
                    one_line(arguments, PREVIEW_CHARS)
                ),
            )
        }
        Episode::ApprovalDecided {
            step,
            call_id,
            decision,
        } => (
            "decided",
            format!("step {step}: {call_id} {}", decision_text(decision)),
        ),
        Episode::Paused { step, pending, .. } => (
            "paused",
            format!("step {step}: waiting for {}", pending.join(", ")),
        ),
        Episode::StepCompleted {
            step,
            usage,
            latency_ms,
            finish_reason,
            tool_calls,
        } => (
            "step",
            format!(
                "step {step}: {} tokens ({} in, {} out) in {latency_ms} ms, {tool_calls} tool calls, finish {}",
                usage.total(),
                usage.input_tokens,
                usage.output_tokens,
                serde_json::to_value(finish_reason)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default()
            ),
        ),
        Episode::HandedOff { from, to, reason } => (
            "handoff",
            format!("{from} → {to}: {}", one_line(reason, PREVIEW_CHARS)),
        ),
        Episode::Completed { output, usage } => (
            "completed",
            format!(
                "{} tokens: {}",
                usage.total(),
                one_line(output, PREVIEW_CHARS)
            ),
        ),
        Episode::Failed { kind, message } => ("failed", format!("{kind}: {message}")),
        // An episode this build does not know: as recorded.
        other => ("episode", serde_json::to_string(other).unwrap_or_default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use baton_core::ids::{AgentName, RunId, ThreadId};
    use baton_core::llm::{FinishReason, Usage};
    use baton_core::memory::{Decision, LeaseHolder, LeaseToken};
    use baton_core::tool::OnInterrupt;

    const AT: u64 = 1_777_627_800_123;

    fn line(seq: u64, episode: Episode) -> String {
        episode_line(&EpisodeRecord::new(seq, AT, episode))
    }

    #[test]
    fn episodes_read_as_one_line_each() {
        let thread = ThreadId::new();
        let started = Episode::Started {
            agent: AgentName::new("triage").unwrap(),
            thread,
        };
        assert_eq!(
            line(0, started),
            format!("  0  2026-05-01T09:30:00.123Z  started    triage on thread {thread}")
        );
        let step = Episode::StepCompleted {
            step: 1,
            usage: Usage::new(10, 5),
            latency_ms: 12,
            finish_reason: FinishReason::ToolCalls,
            tool_calls: 2,
        };
        let step = line(1, step);
        assert!(
            step.ends_with(
                "step       step 1: 15 tokens (10 in, 5 out) in 12 ms, 2 tool calls, finish tool_calls"
            ),
            "{step}"
        );
        let failed = line(
            2,
            Episode::failed(&baton_core::error::RunError::MaxSteps { steps: 3 }),
        );
        assert!(
            failed.ends_with("failed     max_steps: max steps exceeded: 3"),
            "{failed}"
        );
    }

    #[test]
    fn the_ledger_and_approvals_read_as_one_line_each() {
        let cases = [
            (
                Episode::ToolIntended {
                    step: 2,
                    call_id: "call_1".into(),
                    tool: "refund".into(),
                    arguments: r#"{"key":"A-1"}"#.into(),
                },
                r#"intent     step 2: refund(call_1) {"key":"A-1"}"#,
            ),
            (
                Episode::ToolReturned {
                    step: 2,
                    call_id: "call_1".into(),
                    tool: "refund".into(),
                    output: "refunded\n49.90 EUR".into(),
                    ok: true,
                    latency_ms: 3,
                },
                "result     step 2: refund(call_1) ok in 3 ms: refunded 49.90 EUR",
            ),
            (
                Episode::CallInterrupted {
                    step: 2,
                    call_id: "call_1".into(),
                    tool: "refund".into(),
                    policy: OnInterrupt::Fail,
                },
                "interrupt  step 2: refund(call_1) was interrupted: fail, not running it again \
                 (the model is told)",
            ),
            (
                Episode::ApprovalRequested {
                    step: 2,
                    call_id: "call_1".into(),
                    tool: "refund".into(),
                    arguments: "{}".into(),
                    expires_at_ms: Some(AT),
                },
                "approval   step 2: refund(call_1) {} requested, expires 2026-05-01T09:30:00.123Z",
            ),
            (
                Episode::ApprovalDecided {
                    step: 2,
                    call_id: "call_1".into(),
                    decision: Decision::approve_for_run(),
                },
                "decided    step 2: call_1 approved for the run",
            ),
            (
                Episode::ApprovalDecided {
                    step: 2,
                    call_id: "call_2".into(),
                    decision: Decision::reject("not a duplicate"),
                },
                "decided    step 2: call_2 rejected: not a duplicate",
            ),
            (
                Episode::ApprovalDecided {
                    step: 2,
                    call_id: "call_3".into(),
                    decision: Decision::Expired,
                },
                "decided    step 2: call_3 expired: nobody decided in time",
            ),
            (
                Episode::Paused {
                    step: 2,
                    pending: vec!["call_1".into(), "call_2".into()],
                    lease: LeaseToken::new(),
                },
                "paused     step 2: waiting for call_1, call_2",
            ),
        ];
        for (episode, expected) in cases {
            let line = line(5, episode);
            assert_eq!(
                line,
                format!("  5  2026-05-01T09:30:00.123Z  {expected}"),
                "{line}"
            );
        }
    }

    #[test]
    fn unfinished_runs_say_whether_they_can_be_resumed() {
        let run = RunId::new();
        assert_eq!(
            unfinished_line(&UnfinishedRun { run, driver: None }),
            format!("{run}  abandoned: resumable")
        );
        let driven = UnfinishedRun {
            run,
            driver: Some(LeaseHolder {
                owner: "host:7:ab".into(),
                expires_at_ms: AT,
            }),
        };
        assert_eq!(
            unfinished_line(&driven),
            format!("{run}  in flight: driven by host:7:ab, lease until 2026-05-01T09:30:00.123Z")
        );
    }
}
