use crate::error::{RunError, StoreError};
use crate::ids::{AgentName, RunId, ThreadId};

/// Why the supervisor could not take or finish a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SupervisorError {
    /// No agent has this name.
    #[error("no agent named {0:?}")]
    UnknownAgent(String),
    /// The agent failed more often than its restart budget allows and is down.
    #[error("agent {0} is down: it failed more often than its restart budget allows")]
    AgentDown(AgentName),
    /// The agent's actor is restarting or stopping; try again.
    #[error("agent {0} is unavailable right now; try again")]
    AgentUnavailable(AgentName),
    /// The agent has as many runs running and queued as it accepts.
    #[error("agent {0} is overloaded: too many runs in flight")]
    Overloaded(AgentName),
    /// Another run is active on the thread and the request asked not to wait.
    #[error("thread {0} is busy with another run")]
    ThreadBusy(ThreadId),
    /// No run with this id is known to the store.
    #[error("no run {0} in the store")]
    UnknownRun(RunId),
    /// The run cannot be resumed (it finished, or it is in flight).
    #[error("run {run} cannot be resumed: {reason}")]
    NotResumable {
        /// The run.
        run: RunId,
        /// Why not.
        reason: String,
    },
    /// The run is not paused for approval (it runs, finished, or was taken up meanwhile).
    #[error("run {run} is not waiting for approval: {reason}")]
    NotPaused {
        /// The run.
        run: RunId,
        /// Why not.
        reason: String,
    },
    /// The paused run has no undecided call with this id.
    #[error("run {run} has no call {call:?} waiting for approval")]
    UnknownCall {
        /// The run.
        run: RunId,
        /// The call asked for.
        call: String,
    },
    /// The call was decided by someone else first: the first decision counts.
    #[error("call {call:?} of run {run} was decided already")]
    AlreadyDecided {
        /// The run.
        run: RunId,
        /// The call.
        call: String,
    },
    /// The decision is not one a caller can make.
    #[error("invalid decision: {0}")]
    InvalidDecision(String),
    /// The call's approval expired before the decision came: it is rejected as expired when
    /// the run goes on.
    #[error("the approval of call {call:?} of run {run} expired")]
    ApprovalExpired {
        /// The run.
        run: RunId,
        /// The call.
        call: String,
    },
    /// The supervisor is shutting down and takes no new runs.
    #[error("the supervisor is shutting down")]
    ShuttingDown,
    /// The supervisor or an agent actor could not be started.
    #[error("could not start the actors: {0}")]
    Spawn(String),
    /// The configuration is invalid.
    #[error("invalid supervisor configuration: {0}")]
    Config(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The run failed; this is its terminal error.
    #[error("run failed: {0}")]
    Run(RunError),
}
