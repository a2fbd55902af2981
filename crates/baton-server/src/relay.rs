//! Starting a run and relaying its events: the one path every endpoint that runs an agent
//! takes, so that ownership, metrics and cancellation behave the same for all of them.

use crate::auth::{Caller, CallerTenant};
use crate::error::ApiError;
use crate::state::AppState;
use baton_core::actor::{BusyThread, RunSettings};
use baton_core::error::RunError;
use baton_core::ids::{RunId, ThreadId};
use baton_core::llm::{FinishReason, Message, Usage};
use baton_core::run::{RunEvent, RunStream};
use futures::{Stream, StreamExt};
use serde::Serialize;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

/// A run's events on their way to a client, observed for metrics on the way.
///
/// Dropping it (the client went away) drops the [`RunStream`], which cancels the run.
#[must_use = "a run stops when its relay is dropped"]
pub(crate) struct RelayedRun {
    stream: RunStream,
    state: Arc<AppState>,
    thread: ThreadId,
    entry_agent: String,
    current_agent: String,
    started: Instant,
    step_started: Instant,
    finished: bool,
}

/// The answer of a run that completed.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Finished {
    pub(crate) run_id: RunId,
    pub(crate) thread_id: ThreadId,
    pub(crate) output: String,
    pub(crate) usage: Usage,
    pub(crate) steps: u32,
    /// Why the model stopped in the last step.
    #[serde(skip)]
    pub(crate) finish_reason: Option<FinishReason>,
}

/// Starts a run of `agent` on `thread`, which the caller must own. A busy thread is refused
/// (409) rather than waited for: an HTTP client waiting on a queue it cannot see is worse off
/// than one told to retry.
pub(crate) async fn start_run(
    state: &Arc<AppState>,
    caller: &Caller,
    agent: &str,
    thread: ThreadId,
    input: Vec<Message>,
) -> Result<RelayedRun, ApiError> {
    let settings = RunSettings::default()
        .with_busy_thread(BusyThread::Fail)
        .with_extension(CallerTenant(Arc::clone(&caller.tenant)));
    let stream = state
        .supervisor
        .run_with(agent, thread, input, settings)
        .await?;
    Ok(relay(state, caller, agent, thread, stream))
}

/// Continues an interrupted run of the caller's (see [`Supervisor::resume`]); `agent` is the
/// agent that started it.
///
/// [`Supervisor::resume`]: baton_core::actor::Supervisor::resume
pub(crate) async fn resume_run(
    state: &Arc<AppState>,
    caller: &Caller,
    run: RunId,
    agent: &str,
    thread: ThreadId,
) -> Result<RelayedRun, ApiError> {
    let settings = RunSettings::default().with_extension(CallerTenant(Arc::clone(&caller.tenant)));
    let stream = state.supervisor.resume_with(run, settings).await?;
    Ok(relay(state, caller, agent, thread, stream))
}

/// Registers a run to the caller and wraps its stream to relay it, with metrics.
fn relay(
    state: &Arc<AppState>,
    caller: &Caller,
    agent: &str,
    thread: ThreadId,
    stream: baton_core::run::RunStream,
) -> RelayedRun {
    let run_id = stream.run_id();
    state.runs.insert(run_id, Arc::clone(&caller.tenant));
    state.metrics.run_started(agent);
    tracing::info!(%run_id, thread_id = %thread, agent, tenant = %caller.tenant, "run started");
    let now = Instant::now();
    RelayedRun {
        stream,
        state: Arc::clone(state),
        thread,
        entry_agent: agent.to_owned(),
        current_agent: agent.to_owned(),
        started: now,
        step_started: now,
        finished: false,
    }
}

impl RelayedRun {
    pub(crate) fn run_id(&self) -> RunId {
        self.stream.run_id()
    }

    pub(crate) fn thread(&self) -> ThreadId {
        self.thread
    }

    /// Whether a failure now is most likely the shutdown's doing.
    pub(crate) fn shutting_down(&self) -> bool {
        self.state.shutting_down()
    }

    /// Waits for the run's end: its answer, or the failure as an [`ApiError`].
    pub(crate) async fn finish(mut self) -> Result<Finished, ApiError> {
        let run_id = self.run_id();
        let mut steps = 0;
        let mut finish_reason = None;
        while let Some(event) = self.next().await {
            match event {
                RunEvent::StepFinished {
                    finish_reason: reason,
                    ..
                } => {
                    steps += 1;
                    finish_reason = Some(reason);
                }
                RunEvent::Completed { output, usage } => {
                    return Ok(Finished {
                        run_id,
                        thread_id: self.thread,
                        output,
                        usage,
                        steps,
                        finish_reason,
                    });
                }
                RunEvent::Failed { error } => {
                    return Err(ApiError::run_failed(run_id, &error, self.shutting_down()));
                }
                _ => {}
            }
        }
        let lost = RunError::Lost {
            reason: "the run ended without a result".into(),
        };
        Err(ApiError::run_failed(run_id, &lost, self.shutting_down()))
    }

    fn observe(&mut self, event: &RunEvent) {
        match event {
            RunEvent::AgentStarted { agent } => {
                agent.as_str().clone_into(&mut self.current_agent);
                self.step_started = Instant::now();
            }
            RunEvent::StepFinished { usage, .. } => {
                let now = Instant::now();
                self.state.metrics.step_finished(
                    &self.current_agent,
                    *usage,
                    now - self.step_started,
                );
                self.step_started = now;
            }
            RunEvent::HandedOff { from, to, .. } => {
                self.state.metrics.handed_off(from.as_str(), to.as_str());
            }
            RunEvent::Completed { .. } => self.end(true),
            RunEvent::Failed { error } => {
                tracing::debug!(run_id = %self.run_id(), %error, "run failed");
                self.end(false);
            }
            _ => {}
        }
    }

    fn end(&mut self, completed: bool) {
        if self.finished {
            return;
        }
        self.finished = true;
        self.state
            .metrics
            .run_finished(&self.entry_agent, completed, self.started.elapsed());
        self.state.runs.remove(&self.run_id());
    }
}

impl Stream for RelayedRun {
    type Item = RunEvent;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<RunEvent>> {
        let this = self.get_mut();
        let polled = this.stream.poll_next_unpin(cx);
        if let Poll::Ready(Some(event)) = &polled {
            this.observe(event);
        }
        polled
    }
}

impl Drop for RelayedRun {
    fn drop(&mut self) {
        if !self.finished {
            tracing::debug!(run_id = %self.run_id(), "client went away; the run is cancelled");
            self.end(false);
        }
    }
}
