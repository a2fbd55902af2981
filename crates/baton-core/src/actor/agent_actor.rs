//! The agent actor: its mailbox takes run requests and control messages; each run executes in
//! a task the actor owns, so the mailbox never waits on a model.
//!
//! What the agent owns lives in the actor's state: its permits (runs executing at once), its
//! admission count (runs admitted, running or waiting) and its runs. A run that panics (in a
//! provider, a guardrail, a store) is a failure of the agent: the run ends recording it, then
//! the actor fails, and the supervisor restarts it with fresh state (which cancels the runs it
//! still owned) or, past the restart budget, marks the agent down.

use super::registry::{Admission, AgentSpec, RunTicket, Shared};
use super::supervisor_actor::{HandoffRequest, SupervisorMsg};
use super::thread_turns::{ThreadGuard, ThreadTurn};
use crate::agent::AgentContext;
use crate::error::{PanicSite, RunError};
use crate::ids::{AgentName, RunId, ThreadId};
use crate::llm::{Message, Usage};
use crate::run::{
    AgentOutcome, Carried, EventSink, RunEvent, RunLoop, RunOptions, contained_try, end_unstarted,
};
use dashmap::DashMap;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
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
    /// The run's place on its thread (always held after a handoff; taken when the run gets
    /// its turn).
    pub(crate) thread_turn: Option<ThreadTurn>,
    pub(crate) progress: Progress,
    /// The caller's typed data for the run's tools, guardrails and provider.
    pub(crate) extensions: Arc<http::Extensions>,
    /// Whether the run is resumed from its log (it must still be unfinished once leased).
    pub(crate) resumed: bool,
    /// The agent that handed the run over, and what the run carries, if it arrives by a
    /// handoff.
    pub(crate) handoff: Option<(AgentName, Carried)>,
    /// The run's registration, held until the request is done with.
    pub(crate) _ticket: RunTicket,
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

/// What a run task needs from its actor.
struct RunSegment {
    spec: Arc<AgentSpec>,
    shared: Arc<Shared>,
    supervisor: ActorRef<SupervisorMsg>,
    actor: ActorRef<AgentMsg>,
    failing: Arc<AtomicBool>,
    permits: Arc<Semaphore>,
    cancel: CancellationToken,
}

impl RunSegment {
    /// The run's task. It stays small while it waits (in line for the thread, for a permit, on
    /// the model): the request and the run live on the heap, and the steps' state in one box.
    async fn execute(self, mut request: Box<RunRequest>) {
        let ctx = AgentContext {
            run_id: request.run_id,
            agent: Arc::clone(&self.spec.agent),
            llm: Arc::clone(&self.spec.provider),
            store: Arc::clone(&self.shared.store),
            cancel: self.cancel.clone(),
            extensions: Arc::clone(&request.extensions),
        };
        let store = Arc::clone(&self.shared.store);

        // Wait for the thread, then for a place among this agent's concurrent runs. A run that
        // is cancelled or whose consumer leaves meanwhile ends here, having written nothing.
        let Some(turn) = request.thread_turn.take() else {
            let error = RunError::Lost {
                reason: "a run request without its place on the thread".to_owned(),
            };
            return Box::pin(request.refuse(store.as_ref(), error)).await;
        };
        let Some(thread_guard): Option<ThreadGuard> =
            until_cancelled(&ctx.cancel, turn.acquire()).await
        else {
            let error = self.stopped_reason(&request.cancel);
            return Box::pin(request.refuse(store.as_ref(), error)).await;
        };
        let Some(Ok(_permit)) =
            until_cancelled(&ctx.cancel, Arc::clone(&self.permits).acquire_owned()).await
        else {
            let error = self.stopped_reason(&request.cancel);
            request.thread_turn = Some(ThreadTurn::Held(thread_guard));
            return Box::pin(request.refuse(store.as_ref(), error)).await;
        };

        let options = request
            .options
            .take()
            .unwrap_or_else(|| self.spec.agent.options().clone());
        let mut run = Box::new(match request.handoff.take() {
            Some((from, carried)) => match carried.take_up() {
                Some(held) => RunLoop::continue_with(ctx.clone(), options, held),
                None => {
                    request.thread_turn = Some(ThreadTurn::Held(thread_guard));
                    let error = RunError::Lost {
                        reason: format!("the run handed over by {from} was taken up already"),
                    };
                    return Box::pin(request.refuse(store.as_ref(), error)).await;
                }
            },
            None => match Box::pin(RunLoop::start(ctx.clone(), request.thread, options)).await {
                Ok(mut run) => {
                    // The supervisor's keeper renews the lease, for every agent of the run.
                    run.kept_by(&self.shared.keeper, request.cancel.clone());
                    run.continuing(request.progress.steps, request.progress.usage)
                }
                Err(error) => {
                    request.thread_turn = Some(ThreadTurn::Held(thread_guard));
                    let panicked = match &error {
                        RunError::Panicked { message, .. } => Some(message.clone()),
                        _ => None,
                    };
                    if panicked.is_some() {
                        self.failing.store(true, Ordering::Release);
                    }
                    Box::pin(request.refuse(store.as_ref(), error)).await;
                    if let Some(message) = panicked {
                        self.fail_agent(message);
                    }
                    return;
                }
            },
        });
        let input = std::mem::take(&mut request.input);
        let outcome = if request.resumed {
            match still_unfinished(&run).await {
                Ok(()) => Box::pin(self.run_contained(&mut run, input, &request.sink)).await,
                Err(error) => {
                    // Finished meanwhile by its other driver: give the lease back untouched.
                    drop(thread_guard);
                    return Box::pin(run.let_go(Some(&request.sink), error)).await;
                }
            }
        } else {
            Box::pin(self.run_contained(&mut run, input, &request.sink)).await
        };
        match outcome {
            Ok(AgentOutcome::Answered(output)) => {
                let _ =
                    Box::pin(run.end_then(Ok(output), Some(&request.sink), || drop(thread_guard)))
                        .await;
            }
            Ok(AgentOutcome::HandedOff { to, reason }) => {
                request.progress = Progress {
                    handoffs: request.progress.handoffs + 1,
                    steps: run.steps(),
                    usage: run.usage(),
                };
                request.thread_turn = Some(ThreadTurn::Held(thread_guard));
                request.handoff = Some((ctx.agent_name().clone(), run.carry(&request.sink)));
                Box::pin(self.hand_off(&ctx, to, reason, request)).await;
            }
            Err(error) => {
                let panicked = match &error {
                    RunError::Panicked { message, .. } => Some(message.clone()),
                    _ => None,
                };
                if panicked.is_some() {
                    // Marked before the run's end is told, so that whoever hears of it can
                    // wait for the supervisor to have dealt with the agent.
                    self.failing.store(true, Ordering::Release);
                }
                let error = match error {
                    RunError::Cancelled => self.stopped_reason(&request.cancel),
                    other => other,
                };
                let _ =
                    Box::pin(run.end_then(Err(error), Some(&request.sink), || drop(thread_guard)))
                        .await;
                if let Some(message) = panicked {
                    self.fail_agent(message);
                }
            }
        }
    }

    /// Runs the agent's steps; a panic anywhere in them is contained.
    async fn run_contained(
        &self,
        run: &mut RunLoop,
        input: Vec<Message>,
        sink: &EventSink,
    ) -> Result<AgentOutcome, RunError> {
        contained_try(PanicSite::Run, run.run(input, Some(sink))).await
    }

    /// Why this agent's part of the run was cancelled: by the run's own token (its caller,
    /// a shutdown), or because the agent's actor stopped under it.
    fn stopped_reason(&self, run_cancel: &CancellationToken) -> RunError {
        if run_cancel.is_cancelled() {
            RunError::Cancelled
        } else {
            RunError::Lost {
                reason: format!(
                    "agent {} stopped while the run was in it",
                    self.spec.agent.name()
                ),
            }
        }
    }

    /// Reports a failure of the agent to its actor, which fails so the supervisor sees it.
    fn fail_agent(&self, message: String) {
        if self.actor.cast(AgentMsg::RunPanicked(message)).is_err() {
            // The actor is already gone, so that failure is being handled.
            self.failing.store(false, Ordering::Release);
            self.shared.agent_changed.notify_waiters();
        }
    }

    /// Tells the consumer, and asks the supervisor to route the run (its step, with the
    /// `HandedOff` episode, is committed).
    async fn hand_off(
        &self,
        ctx: &AgentContext,
        to: AgentName,
        reason: String,
        request: Box<RunRequest>,
    ) {
        let event = RunEvent::HandedOff {
            from: ctx.agent_name().clone(),
            to: to.clone(),
            reason,
        };
        if let Err(error) = request.sink.send(event, &ctx.cancel).await {
            let error = match error {
                RunError::Cancelled => self.stopped_reason(&request.cancel),
                other => other,
            };
            return Box::pin(request.refuse(ctx.store.as_ref(), error)).await;
        }
        let handoff = SupervisorMsg::Handoff(HandoffRequest { to, request });
        if let Err(refused) = self.supervisor.cast(handoff) {
            // The supervisor is gone (shutting down): the run cannot go on.
            let error = RunError::routing("the supervisor is not running");
            if let ractor::MessagingErr::SendErr(SupervisorMsg::Handoff(refused)) = refused {
                refused.request.refuse(ctx.store.as_ref(), error).await;
            }
        }
    }
}

/// A resumed run whose lease was taken: its log must still have no end (another driver may
/// have finished it between reading the log and taking the lease).
async fn still_unfinished(run: &RunLoop) -> Result<(), RunError> {
    let ctx = run.context();
    let log = ctx.store.episodes(ctx.run_id).await?;
    if log.iter().any(|record| record.episode.is_terminal()) {
        return Err(RunError::invalid(format!(
            "run {} already finished",
            ctx.run_id
        )));
    }
    Ok(())
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
