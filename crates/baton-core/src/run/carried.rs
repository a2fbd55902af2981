//! A run between two agents: what moves with it from the agent that handed off to the next
//! (its lease, and so its thread; the thread as read; its progress), and how it ends if it is
//! lost on the way.

use super::end::end_run;
use super::event::EventSink;
use super::history::History;
use super::keeper::KeptLease;
use crate::error::RunError;
use crate::ids::AgentName;
use crate::llm::Usage;
use crate::memory::{Lease, Store};
use std::sync::Arc;

/// What moves with a run from one agent to the next: its lease (and so its thread), the
/// thread as read, and its progress.
///
/// A run in transit holds its lease, so it must end even if it is lost on the way (a mailbox
/// that dies with the request still in it): dropping a `Carried` that was not taken up or
/// failed ends the run as [`RunError::Lost`], from a task.
pub(crate) struct Carried {
    pub(super) held: Option<Held>,
    /// Where the run ends if it is dropped on the way.
    pub(super) store: Arc<dyn Store>,
    pub(super) agent: AgentName,
    pub(super) sink: Option<EventSink>,
}

/// What a carried run holds, once taken up by its next agent.
#[derive(Debug)]
pub(crate) struct Held {
    pub(super) lease: Lease,
    pub(super) history: History,
    pub(super) steps: u32,
    pub(super) usage: Usage,
    pub(super) kept: Option<KeptLease>,
}

impl Drop for Carried {
    fn drop(&mut self) {
        let Some(held) = self.held.take() else { return };
        let run = held.lease.run;
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::error!(run_id = %run, "a run was lost with no runtime to end it; its lease will expire");
            return;
        };
        let store = Arc::clone(&self.store);
        let agent = self.agent.clone();
        let sink = self.sink.take();
        let lost = RunError::Lost {
            reason: format!("the run was lost on its way from agent {agent} to the next"),
        };
        runtime.spawn(async move {
            drop(held.kept);
            let outcome = Err(lost);
            let _ = end_run(
                store.as_ref(),
                &held.lease,
                agent.as_str(),
                sink.as_ref(),
                outcome,
                || {},
            )
            .await;
        });
    }
}

impl std::fmt::Debug for Carried {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Carried")
            .field("held", &self.held)
            .field("agent", &self.agent)
            .finish_non_exhaustive()
    }
}

impl Carried {
    /// What the run holds, for its next agent to take it up; `None` if it was taken already.
    pub(crate) fn take_up(mut self) -> Option<Held> {
        self.held.take()
    }
}

impl Carried {
    /// Ends a run that cannot go on to its next agent.
    pub(crate) async fn fail(
        mut self,
        store: &dyn Store,
        agent: &str,
        sink: Option<&EventSink>,
        error: RunError,
        released: impl FnOnce(),
    ) {
        let Some(held) = self.held.take() else { return };
        drop(held.kept);
        let _ = end_run(store, &held.lease, agent, sink, Err(error), released).await;
    }
}
