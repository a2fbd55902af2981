//! The agent actor: its mailbox takes run requests and control messages; each run executes in
//! a task the actor owns ([`run_task`](super::run_task)), so the mailbox never waits on a
//! model.
//!
//! What the agent owns lives in the actor's state: its permits (runs executing at once), its
//! admission count (runs admitted, running or waiting) and its runs. A run that panics (in a
//! provider, a guardrail, a store) is a failure of the agent: the run ends recording it, then
//! the actor fails, and the supervisor restarts it with fresh state (which cancels the runs it
//! still owned) or, past the restart budget, marks the agent down.

use super::registry::{AgentSpec, Shared};
use super::run_request::RunRequest;
use super::run_task::RunSegment;
use super::supervisor_actor::SupervisorMsg;
use crate::ids::RunId;
use dashmap::DashMap;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

/// Messages of an agent actor.
#[derive(Debug)]
pub(crate) enum AgentMsg {
    /// Start (or continue, after a handoff) a run.
    Run(Box<RunRequest>),
    /// Report the runs this actor owns.
    Status(RpcReplyPort<Vec<RunId>>),
    /// A run of this actor panicked: the agent failed.
    RunPanicked(String),
}

pub(crate) struct AgentActor;

pub(crate) struct AgentArgs {
    pub(crate) spec: Arc<AgentSpec>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) supervisor: ActorRef<SupervisorMsg>,
    /// This incarnation's admission count, which the registry reads to admit runs.
    pub(crate) admitted: Arc<AtomicUsize>,
    /// Set while a failure of this agent is reported and not yet handled.
    pub(crate) failing: Arc<AtomicBool>,
}

pub(crate) struct AgentState {
    spec: Arc<AgentSpec>,
    shared: Arc<Shared>,
    supervisor: ActorRef<SupervisorMsg>,
    permits: Arc<Semaphore>,
    runs: OwnedRuns,
    failing: Arc<AtomicBool>,
    /// Kept so the admission count lives as long as this incarnation.
    _admitted: Arc<AtomicUsize>,
}

/// The run tasks this actor owns. Each task removes its own entry when it ends, so the mailbox
/// hears nothing per finished run. If the actor's state is dropped (it stopped or failed),
/// every run's work here is cancelled, and each task records its end.
#[derive(Default)]
struct OwnedRuns {
    tokens: Arc<DashMap<RunId, CancellationToken>>,
    tasks: TaskTracker,
}

impl Drop for OwnedRuns {
    fn drop(&mut self) {
        for token in self.tokens.iter() {
            token.cancel();
        }
    }
}

impl Actor for AgentActor {
    type Msg = AgentMsg;
    type State = AgentState;
    type Arguments = AgentArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<AgentMsg>,
        args: AgentArgs,
    ) -> Result<AgentState, ActorProcessingErr> {
        Ok(AgentState {
            permits: Arc::new(Semaphore::new(args.spec.max_concurrent_runs)),
            spec: args.spec,
            shared: args.shared,
            supervisor: args.supervisor,
            runs: OwnedRuns::default(),
            failing: args.failing,
            _admitted: args.admitted,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<AgentMsg>,
        message: AgentMsg,
        state: &mut AgentState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            AgentMsg::Run(request) => {
                let run_id = request.run_id;
                // This agent's part of the run has its own token, a child of the run's: the
                // run's cancellation reaches it, and this actor's end cancels only its part.
                let cancel = request.cancel.child_token();
                let segment = RunSegment {
                    spec: Arc::clone(&state.spec),
                    shared: Arc::clone(&state.shared),
                    supervisor: state.supervisor.clone(),
                    actor: myself,
                    failing: Arc::clone(&state.failing),
                    permits: Arc::clone(&state.permits),
                    cancel: cancel.clone(),
                };
                let span = tracing::info_span!("run", run_id = %run_id, thread_id = %request.thread, agent = %state.spec.agent.name());
                state.runs.tokens.insert(run_id, cancel);
                let tokens = Arc::clone(&state.runs.tokens);
                state.runs.tasks.spawn(
                    async move {
                        segment.execute(request).await;
                        tokens.remove(&run_id);
                    }
                    .instrument(span),
                );
            }
            AgentMsg::Status(reply) => {
                let runs = state.runs.tokens.iter().map(|run| *run.key()).collect();
                let _ = reply.send(runs);
            }
            AgentMsg::RunPanicked(message) => {
                return Err(format!(
                    "a run of agent {} panicked: {message}",
                    state.spec.agent.name()
                )
                .into());
            }
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<AgentMsg>,
        state: &mut AgentState,
    ) -> Result<(), ActorProcessingErr> {
        // Stopping cancels this agent's runs; wait for each to record its end.
        for token in state.runs.tokens.iter() {
            token.cancel();
        }
        state.runs.tasks.close();
        state.runs.tasks.wait().await;
        Ok(())
    }
}
