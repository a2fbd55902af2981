//! Messages, episodes and assertions the checks share.

use baton_core::error::{FailureKind, StoreError};
use baton_core::ids::{AgentName, RunId, ThreadId};
use baton_core::llm::{FinishReason, Message, ToolCall, Usage};
use baton_core::memory::{Episode, Page, Store, UnfinishedRun};
use std::sync::Arc;

/// A user message.
pub(super) fn user(text: impl Into<String>) -> Arc<Message> {
    Arc::new(Message::user(text))
}

/// One message of each role, with the optional fields set.
pub(super) fn every_role() -> Vec<Arc<Message>> {
    let call = ToolCall::new("call_1", "lookup", r#"{"word":"baton"}"#);
    vec![
        Arc::new(Message::system("You are terse.")),
        user("What is a baton?"),
        Arc::new(Message::assistant_calling("", vec![call.clone()])),
        Arc::new(Message::tool_result(&call, "a stick")),
        Arc::new(Message::tool_error(&call, "timeout")),
        Arc::new(Message::assistant("A stick.")),
    ]
}

/// An agent name that is valid.
pub(super) fn agent(name: &str) -> AgentName {
    AgentName::new(name).expect("a valid agent name")
}

/// The episode that marks `step` committed.
pub(super) fn step_completed(step: u32) -> Episode {
    Episode::StepCompleted {
        step,
        usage: Usage::new(100, 20),
        latency_ms: 300,
        finish_reason: FinishReason::ToolCalls,
        tool_calls: 1,
    }
}

/// The terminal episode of a run that failed as `kind` says, with `message`.
pub(super) fn failed(kind: FailureKind, message: impl Into<String>) -> Episode {
    Episode::Failed {
        kind,
        message: message.into(),
    }
}

/// The terminal episode of a run that answered.
pub(super) fn completed(output: &str) -> Episode {
    Episode::Completed {
        output: output.into(),
        usage: Usage::new(1, 1),
    }
}

/// The ids of `runs`, in order.
pub(super) fn ids(runs: &[UnfinishedRun]) -> Vec<RunId> {
    runs.iter().map(|unfinished| unfinished.run).collect()
}

/// A tool call of `step`.
pub(super) fn tool_called(step: u32) -> Episode {
    Episode::ToolCalled {
        step,
        call_id: format!("call_{step}"),
        tool: "lookup".into(),
        ok: true,
        latency_ms: 5,
    }
}

/// The texts of `thread`'s messages.
pub(super) async fn texts(store: &dyn Store, thread: ThreadId) -> Vec<String> {
    store
        .list(thread, Page::ALL)
        .await
        .expect("list")
        .iter()
        .map(|m| m.content().to_owned())
        .collect()
}

/// Asserts that `result` is the conflict of a writer expecting `expected` messages on a thread
/// that holds `actual`.
pub(super) fn assert_conflict(
    result: Result<u64, StoreError>,
    thread: ThreadId,
    expected: u64,
    actual: u64,
) {
    assert_eq!(
        result,
        Err(StoreError::Conflict {
            thread,
            expected,
            actual
        }),
        "a writer expecting {expected} messages on a thread of {actual} must get a conflict"
    );
}
