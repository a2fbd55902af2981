//! The agent actor: its mailbox takes run requests and control messages; each run executes in
//! a task the actor owns, so the mailbox never waits on a model.

use super::shared::{Admission, AgentSpec, RunTicket, Shared};
use super::supervisor::{HandoffRequest, SupervisorMsg};
use super::thread_lock::{ThreadGuard, ThreadTurn};
use crate::agent::AgentContext;
use crate::error::Error;
use crate::ids::{AgentName, RunId, ThreadId};
use crate::llm::{Message, Usage};
use crate::memory::Episode;
use crate::run::history::History;
use crate::run::{EventSink, RunEvent, RunLoop, RunOptions, record_failure};
use dashmap::DashMap;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use std::sync::Arc;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

/// What a run has done before reaching this agent (after handoffs, or before a crash).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Progress {
    /// Handoffs so far.
    pub(crate) handoffs: u32,
    /// Steps so far, by every agent.
    pub(crate) steps: u32,
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
    /// The run's place on its thread (always held after a handoff).
    pub(crate) thread_turn: ThreadTurn,
    pub(crate) progress: Progress,
    /// The agent that handed the run over, if it arrives by a handoff.
    pub(crate) handed_off_by: Option<AgentName>,
    /// The thread as the previous agent had it (after a handoff), so it is not read again.
    pub(crate) history: Option<History>,
    pub(crate) ticket: RunTicket,
    pub(crate) admission: Admission,
}

/// Messages of an agent actor.
#[derive(Debug)]
pub(crate) enum AgentMsg {
    /// Start (or continue, after a handoff) a run.
    Run(Box<RunRequest>),
    /// Report the runs this actor owns.
    Status(RpcReplyPort<Vec<RunId>>),
    /// Fault injection: panic in the handler, to exercise supervision.
    Panic,
}

pub(crate) struct AgentActor;

pub(crate) struct AgentArgs {
    pub(crate) spec: Arc<AgentSpec>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) supervisor: ActorRef<SupervisorMsg>,
}

pub(crate) struct AgentState {
    spec: Arc<AgentSpec>,
    shared: Arc<Shared>,
    supervisor: ActorRef<SupervisorMsg>,
    permits: Arc<Semaphore>,
    runs: OwnedRuns,
}

/// The run tasks this actor owns. Each task removes its own entry when it ends, so the mailbox
/// hears nothing per finished run. If the actor's state is dropped (it stopped or crashed),
/// every run's work here is cancelled, and each task records its failure.
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
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<AgentMsg>,
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
            AgentMsg::Panic => panic!("fault injected into agent {}", state.spec.agent.name()),
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<AgentMsg>,
        state: &mut AgentState,
    ) -> Result<(), ActorProcessingErr> {
        // Stopping cancels this agent's runs; wait for each to record its failure.
        for token in state.runs.tokens.iter() {
            token.cancel();
        }
        state.runs.tasks.close();
        state.runs.tasks.wait().await;
        Ok(())
    }
}

/// What a run task needs from its actor.
struct RunSegment {
    spec: Arc<AgentSpec>,
    shared: Arc<Shared>,
    supervisor: ActorRef<SupervisorMsg>,
    permits: Arc<Semaphore>,
    cancel: CancellationToken,
}

impl RunSegment {
    async fn execute(self, request: Box<RunRequest>) {
        let ctx = AgentContext {
            run_id: request.run_id,
            agent: Arc::clone(&self.spec.agent),
            llm: Arc::clone(&self.spec.provider),
            store: Arc::clone(&self.shared.store),
            cancel: self.cancel.clone(),
        };
        let RunRequest {
            thread,
            input,
            options,
            sink,
            cancel: run_cancel,
            thread_turn,
            progress,
            history,
            ticket,
            admission,
            ..
        } = *request;

        // Wait for the thread, then for a place among this agent's concurrent runs.
        let Some(thread_guard): Option<ThreadGuard> =
            until_cancelled(&ctx.cancel, thread_turn.acquire()).await
        else {
            return record_failure(&ctx, Some(&sink), Error::Cancelled).await;
        };
        let Some(Ok(_permit)) =
            until_cancelled(&ctx.cancel, Arc::clone(&self.permits).acquire_owned()).await
        else {
            return record_failure(&ctx, Some(&sink), Error::Cancelled).await;
        };

        let options = options.unwrap_or_else(|| self.spec.agent.options().clone());
        // Boxed: starting is short and its future large; the waiting run should not carry it.
        let started = match history {
            Some(history) => {
                Box::pin(RunLoop::start_carrying(
                    ctx.clone(),
                    thread,
                    options,
                    history,
                ))
                .await
            }
            None => Box::pin(RunLoop::start(ctx.clone(), thread, input, options)).await,
        };
        let mut run = match started {
            Ok(run) => run.continuing(progress.steps, progress.usage),
            Err(error) => return record_failure(&ctx, Some(&sink), error).await,
        };
        match run.run(Some(&sink)).await {
            Ok(_) => {}
            Err(Error::Handoff { agent: to, reason }) => {
                let progress = Progress {
                    handoffs: progress.handoffs + 1,
                    steps: run.steps(),
                    usage: run.usage(),
                };
                let request = Box::new(RunRequest {
                    run_id: ctx.run_id,
                    thread,
                    input: Vec::new(),
                    options: None,
                    sink: sink.clone(),
                    cancel: run_cancel,
                    thread_turn: ThreadTurn::Held(thread_guard),
                    progress,
                    handed_off_by: Some(ctx.agent_name().clone()),
                    history: Some(run.into_history()),
                    ticket,
                    admission,
                });
                Box::pin(self.hand_off(&ctx, to, reason, request)).await;
            }
            Err(error) => Box::pin(record_failure(&ctx, Some(&sink), error)).await,
        }
    }

    /// Records the handoff, tells the consumer, and asks the supervisor to route the run.
    async fn hand_off(
        &self,
        ctx: &AgentContext,
        to: AgentName,
        reason: String,
        request: Box<RunRequest>,
    ) {
        let sink = request.sink.clone();
        let from = ctx.agent_name().clone();
        let episode = Episode::HandedOff {
            from: from.clone(),
            to: to.clone(),
            reason: reason.clone(),
        };
        if let Err(error) = ctx.store.record(ctx.run_id, episode).await {
            return record_failure(ctx, Some(&sink), error.into()).await;
        }
        let event = RunEvent::HandedOff {
            from,
            to: to.clone(),
            reason,
        };
        if let Err(error) = sink.send(event, &ctx.cancel).await {
            return record_failure(ctx, Some(&sink), error).await;
        }
        let handoff = SupervisorMsg::Handoff(HandoffRequest { to, request });
        if let Err(refused) = self.supervisor.cast(handoff) {
            // The supervisor is gone (shutting down): the run cannot go on. The refused request
            // (its thread and registration) is released once the failure is recorded.
            let error = Error::Routing("the supervisor is not running".to_owned());
            record_failure(ctx, Some(&sink), error).await;
            drop(refused);
        }
    }
}

/// Awaits `future` unless `cancel` fires first.
async fn until_cancelled<F: std::future::Future>(
    cancel: &CancellationToken,
    future: F,
) -> Option<F::Output> {
    tokio::select! {
        biased;
        () = cancel.cancelled() => None,
        output = future => Some(output),
    }
}
