//! [`RunLoop`], the agent loop that the streaming and non-streaming entry points and the agent
//! actors share: take the run's lease, open the run, then step (request → guardrails →
//! provider with retry → response → guardrails → commit the step and run its tool calls) until
//! the model answers without tool calls, hands off, or the limits are hit; then end the run
//! ([`end`](super::end) records it, in one place).
//!
//! A step's tool calls are planned and run by [`tool_calls`](super::tool_calls), recorded by
//! `dispatch.rs` (the ledger, the commit); a run whose calls wait for approval is parked by
//! `park.rs`; a run that hands off travels as a [`Carried`] to its next agent.

mod dispatch;
mod park;

pub(crate) use park::{PARKED, PARKED_OWNER};

use super::carried::{Carried, Held};
use super::contain::{contained, contained_try};
use super::end::end_run;
use super::event::{EventSink, RunEvent, RunOutput};
use super::guardrails::{check_post_llm, check_pre_llm};
use super::history::History;
use super::keeper::{KeptLease, LeaseKeeper, keep_leased};
use super::ledger::{Ledger, PendingApproval};
use super::options::RunOptions;
use super::retry::{OpenedStream, stream_with_retry, with_retry};
use super::streaming_forward::forward_chunks;
use crate::agent::AgentContext;
use crate::context::{RequestRun, RunContext, RunScope};
use crate::error::{LlmError, PanicSite, RunError, StoreError};
use crate::ids::{AgentName, ThreadId};
use crate::llm::{ChatRequest, ChatResponse, Message, Usage};
use crate::memory::{Episode, Lease, LeaseOwner};
use std::sync::Arc;
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
pub(crate) enum AgentOutcome {
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
    /// Calls of the step wait for approval: the step's other calls ran and the pause is
    /// recorded. The run is parked ([`RunLoop::park`]).
    Paused(Vec<PendingApproval>),
}

/// What the loop does after a step.
#[derive(Debug, Clone, PartialEq, Eq)]
enum StepDisposition {
    /// Tool results were appended; ask the model again.
    Continue,
    /// The model answered; this is the output.
    Done(String),
    /// The model handed the thread to another agent.
    Handoff {
        /// The target.
        agent: AgentName,
        /// The model's reason.
        reason: String,
    },
    /// Calls wait for approval.
    Paused(Vec<PendingApproval>),
}

/// How a run's lease is taken: afresh on a thread, or from a paused run's parked lease.
enum Taking<'a> {
    Fresh(ThreadId),
    Parked(&'a Lease),
}

/// A step whose provider call has been made, ready for its response to be read.
pub(crate) struct OpenedStep {
    /// The request, checked by the guardrails; `None` for a response read from the ledger.
    request: Option<ChatRequest>,
    started: Instant,
    source: ResponseSource,
}

enum ResponseSource {
    Stream(OpenedStream),
    Complete(ChatResponse),
    /// The step's response as the ledger recorded it, before a pause or a crash.
    Recorded(ChatResponse, u32),
}

/// One agent's part of a run: its context, thread, lease, limits and the history it has seen.
///
/// The life of a run: [`start`](Self::start) takes the run's lease (which holds the thread;
/// nothing is written before), [`run`](Self::run) records `Started`, reads the thread's tail,
/// appends the input and steps, and [`end`](Self::end) records the outcome and frees the
/// lease. A run that started must be ended.
pub(crate) struct RunLoop {
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
    /// What the run's log says of its calls, for a run taken up again (after a pause or a
    /// crash); `None` for a run that has not been.
    ledger: Option<Box<Ledger>>,
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

impl RunLoop {
    /// Takes the lease of `ctx`'s run on `thread` for this process: the run becomes the
    /// thread's one writer, across processes. Nothing is written.
    ///
    /// # Errors
    ///
    /// [`RunError::Store`] with [`StoreError::ThreadBusy`] if another run holds the thread,
    /// [`StoreError::RunLeased`] if the run is driven elsewhere; [`RunError::Cancelled`] if
    /// the run is already cancelled.
    pub(crate) async fn start(
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
        Self::taking(ctx, Taking::Fresh(thread), opts, mode).await
    }

    /// Takes up a paused run with its parked lease (see [`park`](Self::park)): the run becomes
    /// the thread's writer again in this process, unless someone else took it up first.
    ///
    /// # Errors
    ///
    /// [`StoreError::LeaseLost`] if the parked lease is no longer the run's.
    pub(crate) async fn take_up(
        ctx: AgentContext,
        parked: &Lease,
        opts: RunOptions,
    ) -> Result<Self, RunError> {
        Self::taking(ctx, Taking::Parked(parked), opts, Mode::Streaming).await
    }

    /// Takes the run's lease for this process, as `how` says; nothing else is written.
    async fn taking(
        ctx: AgentContext,
        how: Taking<'_>,
        opts: RunOptions,
        mode: Mode,
    ) -> Result<Self, RunError> {
        if ctx.cancel.is_cancelled() {
            return Err(RunError::Cancelled);
        }
        let owner = LeaseOwner::process().as_str();
        let store = ctx.store.as_ref();
        let ttl = opts.lease_ttl;
        let lease = match how {
            Taking::Fresh(thread) => {
                let taken = store.acquire_lease(ctx.run_id, thread, owner, ttl);
                contained_try(PanicSite::Store, taken).await?
            }
            Taking::Parked(parked) => {
                let handed = store.hand_over_lease(parked, owner, ttl);
                match contained_try(PanicSite::Store, handed).await {
                    Ok(lease) => lease,
                    // The parked lease lapsed and was replaced, or was never made (a crash
                    // while parking): the run is taken like any other, if nobody holds it.
                    Err(RunError::Store {
                        error: StoreError::LeaseLost { .. },
                    }) => {
                        let taken = store.acquire_lease(ctx.run_id, parked.thread, owner, ttl);
                        contained_try(PanicSite::Store, taken).await?
                    }
                    Err(error) => return Err(error),
                }
            }
        };
        Ok(Self::leased(ctx, lease, opts, mode))
    }

    fn leased(ctx: AgentContext, lease: Lease, opts: RunOptions, mode: Mode) -> Self {
        let thread = lease.thread;
        let scope = scope_of(&ctx, thread);
        Self {
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
            ledger: None,
        }
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
            ledger: None,
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

    /// Continues a run from its `progress` (a resumed run): step numbers and usage go on, and
    /// `max_steps` counts the steps this agent took since the run came to it.
    #[must_use]
    pub(crate) fn continuing(mut self, progress: &crate::actor::Progress) -> Self {
        self.step = progress.steps;
        self.step_offset = progress.steps.saturating_sub(progress.agent_steps);
        self.usage = progress.usage;
        self
    }

    /// Goes on from what the run's log says of its calls: the step it was in the middle of is
    /// finished from its recorded response, and tools approved for the run stay approved.
    pub(crate) fn resume_from(&mut self, ledger: Ledger) {
        let ledger = ledger.for_agent(self.ctx.agent_name());
        let recorded = ledger
            .step
            .as_ref()
            .is_some_and(|recorded| recorded.step == self.step + 1);
        if recorded || !ledger.approved_tools.is_empty() {
            self.ledger = Some(Box::new(ledger));
        }
    }

    /// Steps taken so far in the run, by every agent.
    #[must_use]
    pub(crate) fn steps(&self) -> u32 {
        self.step
    }

    /// Tokens used so far in the run, by every agent.
    #[must_use]
    pub(crate) fn usage(&self) -> Usage {
        self.usage
    }

    /// The run's context.
    #[must_use]
    pub(crate) fn context(&self) -> &AgentContext {
        &self.ctx
    }

    /// The context of the current step, as tools and guardrails see it.
    #[must_use]
    pub(crate) fn run_context(&self) -> RunContext<'_> {
        RunContext::new(&self.scope, self.step)
    }

    /// Runs this agent's part of the run: records [`Episode::Started`], reads the thread's tail
    /// (only what the history budget can use), appends `input` to it, and steps until the
    /// model answers or hands off. The lease is renewed meanwhile.
    ///
    /// The caller ends the run with [`end`](Self::end), whatever this returns, unless the
    /// agent handed off (the run then goes on elsewhere).
    pub(crate) async fn run(
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
        if let Some(recorded) = self.ledger.as_mut().and_then(|ledger| {
            ledger
                .step
                .as_ref()
                .filter(|recorded| recorded.step == self.step)
                .map(|recorded| {
                    let response = ChatResponse {
                        message: recorded.message.clone(),
                        usage: recorded.usage,
                        finish_reason: recorded.finish_reason,
                    };
                    (response, recorded.latency_ms)
                })
        }) {
            return Ok(OpenedStep {
                request: None,
                started: Instant::now(),
                source: ResponseSource::Recorded(recorded.0, recorded.1),
            });
        }
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
            request: Some(request),
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
                StepDisposition::Paused(pending) => return Ok(AgentOutcome::Paused(pending)),
            }
        }
    }

    async fn finish_step(
        &mut self,
        opened: OpenedStep,
        sink: Option<&EventSink>,
    ) -> Result<StepDisposition, RunError> {
        let mut recorded_latency = None;
        let response = match opened.source {
            ResponseSource::Recorded(response, latency_ms) => {
                recorded_latency = Some(latency_ms);
                response
            }
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
        let latency_ms = recorded_latency.unwrap_or_else(|| {
            u32::try_from(opened.started.elapsed().as_millis()).unwrap_or(u32::MAX)
        });
        // A recorded response was checked before it was recorded.
        if let Some(request) = &opened.request
            && !self.opts.guardrails.is_empty()
        {
            let run = self.run_context();
            check_post_llm(&self.opts.guardrails, request, &response, &run).await?;
        }
        // Boxed: dispatch is large and short-lived; a waiting run should not carry its space.
        Box::pin(self.record_and_dispatch(response, latency_ms, sink)).await
    }

    /// Ends the run with `outcome`, the one place a run ends: an answer's `Completed` episode
    /// is already committed, so the lease is freed and the answer sent; a failure is
    /// classified, redacted, logged, recorded as the run's one `Failed` episode with the
    /// lease's release, and sent. Returns the outcome as recorded.
    pub(crate) async fn end(
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
