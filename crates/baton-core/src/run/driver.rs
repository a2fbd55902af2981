//! The agent loop shared by the streaming and non-streaming entry points: take the run's lease,
//! open the run, then step (request → guardrails → provider with retry → response →
//! guardrails → record and dispatch) until the model answers without tool calls, hands off, or
//! the limits are hit; then end the run, in one place.

use super::contain::{contained, contained_try};
use super::event::{EventSink, RunEvent, RunOutput};
use super::guardrails::{check_post_llm, check_pre_llm};
use super::history::History;
use super::keeper::{KeptLease, LeaseKeeper};
use super::options::RunOptions;
use super::retry::{OpenedStream, stream_with_retry, with_retry};
use super::step::StepDisposition;
use super::streaming_forward::forward_chunks;
use crate::agent::AgentContext;
use crate::context::{RequestRun, RunContext, RunScope};
use crate::error::{LlmError, PanicSite, RunError, StoreError};
use crate::ids::{AgentName, ThreadId};
use crate::llm::{ChatRequest, ChatResponse, Message, Usage};
use crate::memory::{Episode, Lease, LeaseOwner, Store};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// How a step gets its response.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Mode {
    /// Streamed, forwarding text to the consumer as it arrives.
    Streaming,
    /// One whole response per call.
    Whole,
}

/// How an agent's part of a run ended, when it did not fail.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AgentOutcome {
    /// The model answered: the run is complete, and its `Completed` episode was committed with
    /// its last step.
    Answered(RunOutput),
    /// The model handed the thread to another agent; the step that did it is committed. The
    /// run goes on with `to` (the actor layer routes it).
    HandedOff {
        /// The agent that continues.
        to: AgentName,
        /// The model's reason.
        reason: String,
    },
}

/// A step whose provider call has been made, ready for its response to be read.
pub(crate) struct OpenedStep {
    request: ChatRequest,
    started: Instant,
    source: ResponseSource,
}

enum ResponseSource {
    Stream(OpenedStream),
    Complete(ChatResponse),
}

/// One agent's part of a run: its context, thread, lease, limits and the history it has seen.
///
/// The life of a run: [`start`](Self::start) takes the run's lease (which holds the thread;
/// nothing is written before), [`run`](Self::run) records `Started`, reads the thread's tail,
/// appends the input and steps, and [`end`](Self::end) records the outcome and frees the
/// lease. A run that started must be ended.
pub struct RunLoop {
    pub(crate) ctx: AgentContext,
    pub(crate) thread: ThreadId,
    pub(crate) opts: RunOptions,
    pub(crate) history: History,
    /// Whether `history` holds the thread (read, or carried over from the previous agent).
    loaded: bool,
    pub(crate) step: u32,
    /// Steps taken by agents before this one in the same run (handoffs).
    step_offset: u32,
    pub(crate) usage: Usage,
    mode: Mode,
    pub(crate) lease: Lease,
    /// What tools, guardrails and providers are told of the run.
    pub(crate) scope: Arc<RunScope>,
    /// The run's place in a shared [`LeaseKeeper`], if one renews its lease; else the run
    /// renews it itself.
    kept: Option<KeptLease>,
}

impl std::fmt::Debug for RunLoop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunLoop")
            .field("run_id", &self.ctx.run_id)
            .field("thread", &self.thread)
            .field("agent", self.ctx.agent_name())
            .field("step", &self.step)
            .finish_non_exhaustive()
    }
}

/// What moves with a run from one agent to the next: its lease (and so its thread), the
/// thread as read, and its progress.
///
/// A run in transit holds its lease, so it must end even if it is lost on the way (a mailbox
/// that dies with the request still in it): dropping a `Carried` that was not taken up or
/// failed ends the run as [`RunError::Lost`], from a task.
pub(crate) struct Carried {
    held: Option<Held>,
    /// Where the run ends if it is dropped on the way.
    store: Arc<dyn Store>,
    agent: AgentName,
    sink: Option<EventSink>,
}

/// What a carried run holds, once taken up by its next agent.
#[derive(Debug)]
pub(crate) struct Held {
    lease: Lease,
    history: History,
    steps: u32,
    usage: Usage,
    kept: Option<KeptLease>,
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

impl RunLoop {
    /// Takes the lease of `ctx`'s run on `thread` for this process: the run becomes the
    /// thread's one writer, across processes. Nothing is written.
    ///
    /// # Errors
    ///
    /// [`RunError::Store`] with [`StoreError::ThreadBusy`] if another run holds the thread,
    /// [`StoreError::RunLeased`] if the run is driven elsewhere; [`RunError::Cancelled`] if
    /// the run is already cancelled.
    pub async fn start(
        ctx: AgentContext,
        thread: ThreadId,
        opts: RunOptions,
    ) -> Result<Self, RunError> {
        Self::start_with(ctx, thread, opts, Mode::Streaming).await
    }

    pub(crate) async fn start_with(
        ctx: AgentContext,
        thread: ThreadId,
        opts: RunOptions,
        mode: Mode,
    ) -> Result<Self, RunError> {
        if ctx.cancel.is_cancelled() {
            return Err(RunError::Cancelled);
        }
        let owner = LeaseOwner::process().as_str();
        let lease = contained_try(
            PanicSite::Store,
            ctx.store
                .acquire_lease(ctx.run_id, thread, owner, opts.lease_ttl),
        )
        .await?;
        let scope = scope_of(&ctx, thread);
        Ok(Self {
            ctx,
            thread,
            opts,
            history: History::from_tail(0, Vec::new()),
            loaded: false,
            step: 0,
            step_offset: 0,
            usage: Usage::default(),
            mode,
            lease,
            scope,
            kept: None,
        })
    }

    /// Has `keeper` renew the run's lease (cancelling `cancel` if it is lost), instead of the
    /// run's own timer.
    pub(crate) fn kept_by(&mut self, keeper: &Arc<LeaseKeeper>, cancel: CancellationToken) {
        self.kept = Some(keeper.keep(&self.lease, self.opts.lease_ttl, cancel));
    }

    /// Continues a run on another agent with what the previous agent carried: its lease and
    /// the thread as it had read it (the run is the thread's one writer, so it is current).
    pub(crate) fn continue_with(ctx: AgentContext, opts: RunOptions, held: Held) -> Self {
        let Held {
            lease,
            mut history,
            steps,
            usage,
            kept,
        } = held;
        history.rewind();
        let scope = scope_of(&ctx, lease.thread);
        Self {
            ctx,
            thread: lease.thread,
            opts,
            history,
            loaded: true,
            step: steps,
            step_offset: steps,
            usage,
            mode: Mode::Streaming,
            lease,
            scope,
            kept,
        }
    }

    /// What the next agent needs, after this one handed off.
    pub(crate) fn carry(self, sink: &EventSink) -> Carried {
        Carried {
            store: Arc::clone(&self.ctx.store),
            agent: self.ctx.agent_name().clone(),
            sink: Some(sink.clone()),
            held: Some(Held {
                lease: self.lease,
                history: self.history,
                steps: self.step,
                usage: self.usage,
                kept: self.kept,
            }),
        }
    }

    /// Continues a run that other agents started: step numbers go on from `steps` and the
    /// run's usage from `usage`. `max_steps` still counts this agent's steps only.
    #[must_use]
    pub fn continuing(mut self, steps: u32, usage: Usage) -> Self {
        self.step = steps;
        self.step_offset = steps;
        self.usage = usage;
        self
    }

    /// Steps taken so far in the run, by every agent.
    #[must_use]
    pub fn steps(&self) -> u32 {
        self.step
    }

    /// Tokens used so far in the run, by every agent.
    #[must_use]
    pub fn usage(&self) -> Usage {
        self.usage
    }

    /// The run's context.
    #[must_use]
    pub fn context(&self) -> &AgentContext {
        &self.ctx
    }

    /// The run's lease.
    #[must_use]
    pub fn lease(&self) -> &Lease {
        &self.lease
    }

    /// The context of the current step, as tools and guardrails see it.
    #[must_use]
    pub fn run_context(&self) -> RunContext<'_> {
        RunContext::new(&self.scope, self.step)
    }

    /// Runs this agent's part of the run: records [`Episode::Started`], reads the thread's tail
    /// (only what the history budget can use), appends `input` to it, and steps until the
    /// model answers or hands off. The lease is renewed meanwhile.
    ///
    /// The caller ends the run with [`end`](Self::end), whatever this returns, unless the
    /// agent handed off (the run then goes on elsewhere).
    pub async fn run(
        &mut self,
        input: Vec<Message>,
        sink: Option<&EventSink>,
    ) -> Result<AgentOutcome, RunError> {
        let outcome = if self.kept.is_some() {
            self.open(input).await?;
            self.drive(sink, None).await
        } else {
            let store = Arc::clone(&self.ctx.store);
            let lease = self.lease.clone();
            let ttl = self.opts.lease_ttl;
            let work = async {
                self.open(input).await?;
                self.drive(sink, None).await
            };
            // Boxed: a run kept by a supervisor's keeper does not carry this path's space.
            Box::pin(keep_leased(store.as_ref(), lease, ttl, work)).await
        };
        match outcome {
            // Cancelled because another owner took the run over.
            Err(_) if self.kept.as_ref().is_some_and(KeptLease::lost) => {
                Err(StoreError::LeaseLost {
                    run: self.lease.run,
                }
                .into())
            }
            outcome => outcome,
        }
    }

    async fn open(&mut self, input: Vec<Message>) -> Result<(), RunError> {
        let store = self.ctx.store.as_ref();
        let started = Episode::Started {
            agent: self.ctx.agent_name().clone(),
            thread: self.thread,
        };
        contained_try(PanicSite::Store, store.record(self.ctx.run_id, started)).await?;
        if self.ctx.cancel.is_cancelled() {
            return Err(RunError::Cancelled);
        }
        if self.opts.max_steps == 0 {
            return Err(RunError::MaxSteps { steps: 0 });
        }
        if !self.loaded {
            let limit = History::read_limit(self.opts.max_history_tokens);
            let tail = contained_try(PanicSite::Store, store.tail(self.thread, limit)).await?;
            self.history = History::from_tail(tail.offset(), tail.messages);
            self.loaded = true;
        }
        if !input.is_empty() {
            let input: Vec<Arc<Message>> = input.into_iter().map(Arc::new).collect();
            contained_try(
                PanicSite::Store,
                store.append(self.thread, Some(self.history.len()), &input),
            )
            .await?;
            for message in input {
                self.history.push(message);
            }
        }
        Ok(())
    }

    /// Builds the next request, checks it, and calls the provider (with retry).
    pub(crate) async fn open_step(&mut self) -> Result<OpenedStep, RunError> {
        if self.ctx.cancel.is_cancelled() {
            return Err(RunError::Cancelled);
        }
        if self.step - self.step_offset >= self.opts.max_steps {
            return Err(RunError::MaxSteps {
                steps: self.opts.max_steps,
            });
        }
        self.step += 1;
        let mut request = self
            .history
            .build_request(&self.ctx.agent, self.opts.max_history_tokens);
        request.run = Some(RequestRun {
            scope: Arc::clone(&self.scope),
            step: self.step,
        });
        if !self.opts.guardrails.is_empty() {
            check_pre_llm(&self.opts.guardrails, &request, &self.run_context()).await?;
        }
        let started = Instant::now();
        let llm = self.ctx.llm.as_ref();
        let source = match self.mode {
            Mode::Streaming => ResponseSource::Stream(
                Box::pin(stream_with_retry(
                    llm,
                    &self.ctx.cancel,
                    &request,
                    &self.opts.retry,
                ))
                .await?,
            ),
            Mode::Whole => ResponseSource::Complete(
                Box::pin(with_retry(&self.opts.retry, &self.ctx.cancel, || {
                    contained(PanicSite::Provider, async {
                        llm.chat(&request).await.map_err(LlmError::redacted)
                    })
                }))
                .await?,
            ),
        };
        Ok(OpenedStep {
            request,
            started,
            source,
        })
    }

    /// Runs steps until the model answers or hands off. `first` is a step already opened.
    pub(crate) async fn drive(
        &mut self,
        sink: Option<&EventSink>,
        mut first: Option<OpenedStep>,
    ) -> Result<AgentOutcome, RunError> {
        let cancel = self.ctx.cancel.clone();
        if let Some(sink) = sink {
            let agent = self.ctx.agent_name().clone();
            sink.send(RunEvent::AgentStarted { agent }, &cancel).await?;
        }
        loop {
            let opened = match first.take() {
                Some(opened) => opened,
                None => self.open_step().await?,
            };
            let span = tracing::debug_span!("step", step = self.step);
            let disposition = self.finish_step(opened, sink).instrument(span).await?;
            match disposition {
                StepDisposition::Continue => {}
                StepDisposition::Done(output) => {
                    return Ok(AgentOutcome::Answered(RunOutput {
                        run_id: self.ctx.run_id,
                        thread: self.thread,
                        output,
                        usage: self.usage,
                        steps: self.step,
                    }));
                }
                StepDisposition::Handoff { agent, reason } => {
                    return Ok(AgentOutcome::HandedOff { to: agent, reason });
                }
            }
        }
    }

    async fn finish_step(
        &mut self,
        opened: OpenedStep,
        sink: Option<&EventSink>,
    ) -> Result<StepDisposition, RunError> {
        let response = match opened.source {
            ResponseSource::Stream(stream) => {
                Box::pin(forward_chunks(
                    stream,
                    sink,
                    &self.ctx.cancel,
                    self.opts.max_response_bytes,
                ))
                .await?
            }
            ResponseSource::Complete(response) => {
                check_response_size(&response, self.opts.max_response_bytes)?;
                response
            }
        };
        let latency_ms = u32::try_from(opened.started.elapsed().as_millis()).unwrap_or(u32::MAX);
        if !self.opts.guardrails.is_empty() {
            let run = self.run_context();
            check_post_llm(&self.opts.guardrails, &opened.request, &response, &run).await?;
        }
        // Boxed: dispatch is large and short-lived; a waiting run should not carry its space.
        Box::pin(self.record_and_dispatch(response, latency_ms, sink)).await
    }

    /// Ends the run with `outcome`, the one place a run ends: an answer's `Completed` episode
    /// is already committed, so the lease is freed and the answer sent; a failure is
    /// classified, redacted, logged, recorded as the run's one `Failed` episode with the
    /// lease's release, and sent. Returns the outcome as recorded.
    pub async fn end(
        self,
        outcome: Result<RunOutput, RunError>,
        sink: Option<&EventSink>,
    ) -> Result<RunOutput, RunError> {
        self.end_then(outcome, sink, || {}).await
    }

    /// [`end`](Self::end), calling `released` once the store has freed the run and before the
    /// consumer hears of its end, so that whatever else the run held (its turn on the thread
    /// in this process) is free by the time the consumer can ask for the thread again.
    pub(crate) async fn end_then(
        self,
        outcome: Result<RunOutput, RunError>,
        sink: Option<&EventSink>,
        released: impl FnOnce(),
    ) -> Result<RunOutput, RunError> {
        // No renewal may race the release.
        drop(self.kept);
        let agent = self.ctx.agent_name().as_str();
        end_run(
            self.ctx.store.as_ref(),
            &self.lease,
            agent,
            sink,
            outcome,
            released,
        )
        .await
    }
}

impl RunLoop {
    /// Gives the lease back without recording an end (the run was finished by another
    /// driver), telling the consumer why this one did not drive it.
    pub(crate) async fn let_go(self, sink: Option<&EventSink>, error: RunError) {
        if let Err(release) = contained_try(
            PanicSite::Store,
            self.ctx.store.release_lease(&self.lease, None),
        )
        .await
        {
            tracing::warn!(run_id = %self.lease.run, error = %release, "could not give the run's lease back");
        }
        if let Some(sink) = sink {
            sink.end(RunEvent::Failed { error });
        }
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

/// Ends a leased run; see [`RunLoop::end`].
async fn end_run(
    store: &dyn Store,
    lease: &Lease,
    agent: &str,
    sink: Option<&EventSink>,
    outcome: Result<RunOutput, RunError>,
    released: impl FnOnce(),
) -> Result<RunOutput, RunError> {
    let outcome = outcome.map_err(|error| classify(error, sink));
    let terminal = match &outcome {
        Ok(_) => None,
        Err(error) => {
            tracing::warn!(run_id = %lease.run, %agent, kind = %error.kind(), %error, "run failed");
            Some(Episode::failed(error))
        }
    };
    match contained_try(
        PanicSite::Store,
        store.release_lease(lease, terminal.as_ref()),
    )
    .await
    {
        Ok(()) => {}
        Err(RunError::Store {
            error: StoreError::LeaseLost { .. },
        }) => {
            tracing::warn!(run_id = %lease.run, "the run's lease was lost: its new driver ends it");
        }
        Err(error) => {
            tracing::error!(run_id = %lease.run, %error, "could not end the run in the store");
        }
    }
    released();
    if let Some(sink) = sink {
        sink.end(terminal_event(&outcome));
    }
    outcome
}

/// Ends a run that never took its lease (it waited for its thread or a permit, or was
/// refused the lease): nothing was written, so nothing is recorded; the consumer is told.
pub(crate) fn end_unstarted(sink: &EventSink, run: crate::ids::RunId, error: RunError) -> RunError {
    let error = classify(error, Some(sink));
    tracing::info!(run_id = %run, kind = %error.kind(), %error, "run ended before it started");
    sink.end(RunEvent::Failed {
        error: error.clone(),
    });
    error
}

/// A cancellation seen after the consumer dropped its stream is the consumer leaving; every
/// failure's text is redacted on its way out.
fn classify(error: RunError, sink: Option<&EventSink>) -> RunError {
    match error {
        RunError::Cancelled if sink.is_some_and(EventSink::consumer_gone) => RunError::ConsumerGone,
        error => error.redacted(),
    }
}

fn terminal_event(outcome: &Result<RunOutput, RunError>) -> RunEvent {
    match outcome {
        Ok(output) => RunEvent::Completed {
            output: output.output.clone(),
            usage: output.usage,
        },
        Err(error) => RunEvent::Failed {
            error: error.clone(),
        },
    }
}

/// Drives `work` while renewing `lease` every third of `ttl`, in the same task. If the lease
/// is lost, the work is dropped (nothing more is written) and the run fails with
/// [`StoreError::LeaseLost`].
async fn keep_leased<T>(
    store: &dyn Store,
    mut lease: Lease,
    ttl: Duration,
    work: impl Future<Output = Result<T, RunError>>,
) -> Result<T, RunError> {
    tokio::pin!(work);
    let every = ttl / 3;
    loop {
        let renew_at = Instant::now() + every;
        tokio::select! {
            biased;
            outcome = &mut work => return outcome,
            () = tokio::time::sleep_until(renew_at) => {}
        }
        match contained_try(PanicSite::Store, store.renew_lease(&lease, ttl)).await {
            Ok(renewed) => lease = renewed,
            Err(
                error @ RunError::Store {
                    error: StoreError::LeaseLost { .. },
                },
            ) => return Err(error),
            // A store that fails to renew now may succeed next time; the fence on every commit
            // keeps a lease that did expire from writing.
            Err(error) => {
                tracing::warn!(run_id = %lease.run, %error, "could not renew the run's lease")
            }
        }
    }
}

fn scope_of(ctx: &AgentContext, thread: ThreadId) -> Arc<RunScope> {
    Arc::new(RunScope::new(
        ctx.run_id,
        thread,
        ctx.agent_name().clone(),
        Arc::clone(&ctx.extensions),
        ctx.cancel.clone(),
    ))
}

fn check_response_size(response: &ChatResponse, limit: usize) -> Result<(), RunError> {
    let bytes = response.message.content().len()
        + response
            .message
            .tool_calls()
            .iter()
            .map(|c| c.arguments.len())
            .sum::<usize>();
    if bytes > limit {
        return Err(LlmError::ResponseTooLarge { limit }.into());
    }
    Ok(())
}
