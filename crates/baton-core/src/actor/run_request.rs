//! A request for an agent to work on a thread: built once, when the supervisor admits a run
//! ([`Supervisor::dispatch`](super::Supervisor)), and carried on from agent to agent by
//! handoffs with the run's progress.

use super::registry::{Admission, RunTicket};
use super::thread_turns::ThreadTurn;
use crate::error::RunError;
use crate::ids::{AgentName, RunId, ThreadId};
use crate::llm::{Message, Usage};
use crate::run::{Carried, EventSink, RunOptions, end_unstarted};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// What a run has done before reaching this agent (after handoffs, or before a crash).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Progress {
    /// Handoffs so far.
    pub(crate) handoffs: u32,
    /// Steps so far, by every agent.
    pub(crate) steps: u32,
    /// Of those, the steps the current agent took since the run came to it (a resumed run
    /// goes on counting them against the agent's `max_steps`).
    pub(crate) agent_steps: u32,
    /// Tokens used so far.
    pub(crate) usage: Usage,
}

/// A request for an agent to work on a thread.
#[derive(Debug)]
pub(crate) struct RunRequest {
    pub(crate) run_id: RunId,
    pub(crate) thread: ThreadId,
    pub(crate) input: Vec<Message>,
    pub(crate) options: Option<RunOptions>,
    pub(crate) sink: EventSink,
    /// The run's token: cancelling it cancels the run wherever it is.
    pub(crate) cancel: CancellationToken,
    /// The run's place on its thread (always held after a handoff; taken when the run gets
    /// its turn).
    pub(crate) thread_turn: Option<ThreadTurn>,
    pub(crate) progress: Progress,
    /// The caller's typed data for the run's tools, guardrails and provider.
    pub(crate) extensions: Arc<http::Extensions>,
    /// Whether the run is resumed from its log (it must still be unfinished once leased).
    pub(crate) resumed: bool,
    /// The parked lease of a paused run that is taken up (after its last decision).
    pub(crate) parked: Option<crate::memory::Lease>,
    /// The agent that handed the run over, and what the run carries, if it arrives by a
    /// handoff.
    pub(crate) handoff: Option<(AgentName, Carried)>,
    /// The run's registration, held until the request is done with, or until its end is
    /// recorded: a consumer that hears of the end finds the run no longer in flight (it can
    /// resume it, or decide its approvals, at once).
    pub(crate) ticket: Option<RunTicket>,
    pub(crate) admission: Admission,
}

impl RunRequest {
    /// Ends a request that will not run: a run that carries its lease records the failure,
    /// one that never started only tells its consumer.
    pub(crate) async fn refuse(mut self, store: &dyn crate::memory::Store, error: RunError) {
        // The run's turn on the thread is given back before its consumer hears of the end.
        let turn = self.thread_turn.take();
        match self.handoff {
            Some((from, carried)) => {
                carried
                    .fail(store, from.as_str(), Some(&self.sink), error, || drop(turn))
                    .await;
            }
            None => {
                drop(turn);
                end_unstarted(&self.sink, self.run_id, error);
            }
        }
    }
}
