//! Starting a run and relaying its events: the one path every endpoint that runs an agent
//! takes (starting, resuming, deciding the last approval of a paused run), so that ownership,
//! metrics and cancellation behave the same for all of them.
//!
//! A relayed run's stream ends with `completed`, `failed` or `paused`. A pause is not a
//! failure: the run holds its thread and waits for decisions, and the relay removes it from
//! the runs in flight (its ownership is read from its log from then on, like any run's that
//! is not in flight).

use crate::auth::{Caller, CallerTenant};
use crate::error::ApiError;
use crate::metrics::RunEnd;
use crate::state::AppState;
use baton_core::actor::{BusyThread, RunSettings};
use baton_core::error::{RunError, StoreError};
use baton_core::ids::{RunId, ThreadId};
use baton_core::llm::{FinishReason, Message, Usage};
use baton_core::run::{PendingApproval, RunEvent, RunStream};
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
    /// An event read ahead (see [`start_run`]), relayed before the stream's next.
    first: Option<RunEvent>,
    finished: bool,
}

/// How a run ended, for a client that waited for its end: the body of a run request without
/// streaming, tagged by `status`.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub(crate) enum RunAnswer {
    /// The run completed with an answer.
    Completed(Finished),
    /// The run paused: calls wait for decisions.
    Paused(PausedRun),
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

/// A run that paused: the calls that wait for a decision.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct PausedRun {
    pub(crate) run_id: RunId,
    pub(crate) thread_id: ThreadId,
    pub(crate) pending: Vec<PendingApproval>,
    /// Tokens of the steps that finished before the pause (the paused step's count once it
    /// finishes, after the decisions); not part of the JSON answer, whose steps and usage
    /// wait for the run's end.
    #[serde(skip)]
    pub(crate) usage: Usage,
}

/// Starts a run of `agent` on `thread`, which the caller must own. A busy thread is refused
/// (409) rather than waited for: an HTTP client waiting on a queue it cannot see is worse off
/// than one told to retry.
///
/// The run's first event is read before this returns, so that a run refused before it began
/// (its thread held by a run of another process, or by a paused run) is an error response
/// with its status, not a stream that fails at once.
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
    let mut run = relay(state, caller, agent, thread, stream);
    match run.next().await {
        Some(RunEvent::Failed { error }) => Err(run.refusal(&error).await),
        first => {
            run.first = first;
            Ok(run)
        }
    }
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
    let stream = state
        .supervisor
        .resume_with(run, settings_of(caller))
        .await?;
    Ok(relay(state, caller, agent, thread, stream))
}

/// The settings of a run taken up again for the caller (resumed, or decided): its tenant.
pub(crate) fn settings_of(caller: &Caller) -> RunSettings {
    RunSettings::default().with_extension(CallerTenant(Arc::clone(&caller.tenant)))
}

/// Registers a run to the caller and wraps its stream to relay it, with metrics. Every run
/// the server relays goes through here: started, resumed, or taken up by a decision.
pub(crate) fn relay(
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
        first: None,
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

    /// Waits for the run's end: its answer (completed or paused), or the failure as an
    /// [`ApiError`].
    pub(crate) async fn finish(mut self) -> Result<RunAnswer, ApiError> {
        let run_id = self.run_id();
        let mut steps = 0;
        let mut step_usage = Usage::default();
        let mut finish_reason = None;
        while let Some(event) = self.next().await {
            match event {
                RunEvent::StepFinished {
                    finish_reason: reason,
                    usage,
                    ..
                } => {
                    steps += 1;
                    step_usage += usage;
                    finish_reason = Some(reason);
                }
                RunEvent::Completed { output, usage } => {
                    return Ok(RunAnswer::Completed(Finished {
                        run_id,
                        thread_id: self.thread,
                        output,
                        usage,
                        steps,
                        finish_reason,
                    }));
                }
                RunEvent::Paused { pending, .. } => {
                    return Ok(RunAnswer::Paused(PausedRun {
                        run_id,
                        thread_id: self.thread,
                        pending,
                        usage: step_usage,
                    }));
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

    /// The error of a run that failed before it began. A thread held by a paused run says so,
    /// and where its calls are decided: the holder runs on the same thread, so it is the
    /// caller's own run.
    async fn refusal(&self, error: &RunError) -> ApiError {
        let refused = ApiError::run_failed(self.run_id(), error, self.shutting_down());
        let RunError::Store {
            error: StoreError::ThreadBusy { thread, holder },
        } = error
        else {
            return refused;
        };
        match self.state.supervisor.pending_approvals(*holder).await {
            Ok(pending) if !pending.is_empty() => {
                let calls: Vec<&str> = pending.iter().map(|p| p.call_id.as_str()).collect();
                ApiError {
                    message: format!(
                        "thread {thread} is held by run {holder}, which is paused waiting for \
                         approval of {}; decide them with POST /v1/runs/{holder}/approvals/{{call}} \
                         (GET /v1/runs/{holder}/approvals lists them) before starting another run \
                         on this thread",
                        calls.join(", ")
                    ),
                    ..refused
                }
            }
            _ => refused,
        }
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
            RunEvent::Completed { .. } => self.end(RunEnd::Completed),
            RunEvent::Failed { error } => {
                tracing::debug!(run_id = %self.run_id(), %error, "run failed");
                self.end(RunEnd::Failed);
            }
            RunEvent::Paused { pending, .. } => {
                tracing::info!(
                    run_id = %self.run_id(),
                    thread_id = %self.thread,
                    pending = pending.len(),
                    "run paused for approval"
                );
                self.end(RunEnd::Paused);
            }
            _ => {}
        }
    }

    fn end(&mut self, end: RunEnd) {
        if self.finished {
            return;
        }
        self.finished = true;
        self.state
            .metrics
            .run_ended(&self.entry_agent, end, self.started.elapsed());
        self.state.runs.remove(&self.run_id());
    }
}

impl Stream for RelayedRun {
    type Item = RunEvent;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<RunEvent>> {
        let this = self.get_mut();
        if let Some(first) = this.first.take() {
            // Observed when it was read ahead.
            return Poll::Ready(Some(first));
        }
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
            self.end(RunEnd::Failed);
        }
    }
}
