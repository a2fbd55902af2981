//! A run's task in an agent: wait for the thread and a place among the agent's concurrent
//! runs, take up the run (start it, or continue it after a handoff), step it, then end it or
//! hand it to the supervisor to route. A panic in the run fails the agent.

use super::agent_actor::AgentMsg;
use super::registry::{AgentSpec, Shared};
use super::run_request::{Progress, RunRequest};
use super::supervisor_actor::{HandoffRequest, SupervisorMsg};
use super::thread_turns::{ThreadGuard, ThreadTurn};
use crate::agent::AgentContext;
use crate::error::{PanicSite, RunError};
use crate::ids::AgentName;
use crate::llm::Message;
use crate::memory::EpisodeRecord;
use crate::run::ledger::Ledger;
use crate::run::{AgentOutcome, EventSink, RunEvent, RunLoop, contained_try};
use ractor::ActorRef;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

/// What a run task needs from its actor.
pub(super) struct RunSegment {
    pub(super) spec: Arc<AgentSpec>,
    pub(super) shared: Arc<Shared>,
    pub(super) supervisor: ActorRef<SupervisorMsg>,
    pub(super) actor: ActorRef<AgentMsg>,
    pub(super) failing: Arc<AtomicBool>,
    pub(super) permits: Arc<Semaphore>,
    pub(super) cancel: CancellationToken,
}

impl RunSegment {
    /// The run's task. It stays small while it waits (in line for the thread, for a permit, on
    /// the model): the request and the run live on the heap, and the steps' state in one box.
    pub(super) async fn execute(self, mut request: Box<RunRequest>) {
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
            None => match Box::pin(async {
                match request.parked.take() {
                    // A paused run, taken up with its parked lease.
                    Some(parked) => RunLoop::take_up(ctx.clone(), &parked, options).await,
                    None => RunLoop::start(ctx.clone(), request.thread, options).await,
                }
            })
            .await
            {
                Ok(mut run) => {
                    // The supervisor's keeper renews the lease, for every agent of the run.
                    run.kept_by(&self.shared.keeper, request.cancel.clone());
                    run.continuing(&request.progress)
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
                Ok(log) => {
                    run.resume_from(Ledger::read(&log));
                    Box::pin(self.run_contained(&mut run, input, &request.sink)).await
                }
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
                let ticket = request.ticket.take();
                let released = || drop((thread_guard, ticket));
                let _ = Box::pin(run.end_then(Ok(output), Some(&request.sink), released)).await;
            }
            Ok(AgentOutcome::Paused(pending)) => {
                let ticket = request.ticket.take();
                let released = || drop((thread_guard, ticket));
                let _ = Box::pin(run.park(pending, Some(&request.sink), released)).await;
            }
            Ok(AgentOutcome::HandedOff { to, reason }) => {
                request.progress = Progress {
                    handoffs: request.progress.handoffs + 1,
                    steps: run.steps(),
                    agent_steps: 0,
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
                let ticket = request.ticket.take();
                let released = || drop((thread_guard, ticket));
                let _ = Box::pin(run.end_then(Err(error), Some(&request.sink), released)).await;
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
/// Returns the log, which the run goes on from.
async fn still_unfinished(run: &RunLoop) -> Result<Vec<EpisodeRecord>, RunError> {
    let ctx = run.context();
    let log = ctx.store.episodes(ctx.run_id).await?;
    if log.iter().any(|record| record.episode.is_terminal()) {
        return Err(RunError::invalid(format!(
            "run {} already finished",
            ctx.run_id
        )));
    }
    Ok(log)
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
