//! The agent loop shared by the streaming and non-streaming entry points: start a run, then
//! step (request → guardrails → provider with retry → response → guardrails → record and
//! dispatch) until the model answers without tool calls, hands off, or the limits are hit.

use super::event::{EventSink, RunEvent, RunOutput};
use super::guardrails::{check_post_llm, check_pre_llm};
use super::history::History;
use super::options::RunOptions;
use super::retry::{OpenedStream, stream_with_retry, with_retry};
use super::step::StepDisposition;
use super::streaming_forward::forward_chunks;
use crate::agent::AgentContext;
use crate::error::{Error, LlmError};
use crate::ids::ThreadId;
use crate::llm::{ChatRequest, ChatResponse, Message, Usage};
use crate::memory::{Episode, Page};
use std::sync::Arc;
use tokio::time::Instant;
use tracing::Instrument;

/// How a step gets its response.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Mode {
    /// Streamed, forwarding text to the consumer as it arrives.
    Streaming,
    /// One complete response per call.
    Blocking,
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

/// One agent's part of a run: its context, thread, limits and the history it has seen.
pub struct RunLoop {
    pub(crate) ctx: AgentContext,
    pub(crate) thread: ThreadId,
    pub(crate) opts: RunOptions,
    pub(crate) history: History,
    pub(crate) step: u32,
    /// Steps taken by agents before this one in the same run (handoffs).
    step_offset: u32,
    pub(crate) usage: Usage,
    mode: Mode,
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
    /// Starts an agent's part of a run: records [`Episode::Started`], checks that the run may
    /// go on, loads the thread and appends `input` to it.
    ///
    /// Fails with [`Error::Cancelled`] if the run is already cancelled and with
    /// [`Error::MaxStepsExceeded`] if `opts.max_steps` is 0. The caller records the failure
    /// (see [`record_failure`]).
    pub async fn start(
        ctx: AgentContext,
        thread: ThreadId,
        input: Vec<Message>,
        opts: RunOptions,
    ) -> Result<Self, Error> {
        Self::start_with(ctx, thread, input, opts, Mode::Streaming).await
    }

    pub(crate) async fn start_with(
        ctx: AgentContext,
        thread: ThreadId,
        input: Vec<Message>,
        opts: RunOptions,
        mode: Mode,
    ) -> Result<Self, Error> {
        Self::start_inner(ctx, thread, input, opts, mode, None).await
    }

    /// Continues a run on another agent with the history the previous agent had: the thread
    /// is not read again (the run is its one writer, so the history is the thread).
    pub(crate) async fn start_carrying(
        ctx: AgentContext,
        thread: ThreadId,
        opts: RunOptions,
        mut history: History,
    ) -> Result<Self, Error> {
        history.rewind();
        Self::start_inner(
            ctx,
            thread,
            Vec::new(),
            opts,
            Mode::Streaming,
            Some(history),
        )
        .await
    }

    /// The history this agent saw, to hand to the next.
    pub(crate) fn into_history(self) -> History {
        self.history
    }

    async fn start_inner(
        ctx: AgentContext,
        thread: ThreadId,
        input: Vec<Message>,
        opts: RunOptions,
        mode: Mode,
        history: Option<History>,
    ) -> Result<Self, Error> {
        ctx.store
            .record(
                ctx.run_id,
                Episode::Started {
                    agent: ctx.agent_name().clone(),
                    thread,
                },
            )
            .await?;
        if ctx.cancel.is_cancelled() {
            return Err(Error::Cancelled);
        }
        if opts.max_steps == 0 {
            return Err(Error::MaxStepsExceeded {
                steps: opts.max_steps,
            });
        }
        let mut history = match history {
            Some(history) => history,
            None => History::new(ctx.store.list(thread, Page::ALL).await?),
        };
        if !input.is_empty() {
            let input: Vec<Arc<Message>> = input.into_iter().map(Arc::new).collect();
            ctx.store
                .append(thread, Some(history.len()), &input)
                .await?;
            for message in input {
                history.push(message);
            }
        }
        Ok(Self {
            ctx,
            thread,
            opts,
            history,
            step: 0,
            step_offset: 0,
            usage: Usage::default(),
            mode,
        })
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

    /// Builds the next request, checks it, and calls the provider (with retry).
    pub(crate) async fn open_step(&mut self) -> Result<OpenedStep, Error> {
        if self.ctx.cancel.is_cancelled() {
            return Err(Error::Cancelled);
        }
        if self.step - self.step_offset >= self.opts.max_steps {
            return Err(Error::MaxStepsExceeded {
                steps: self.opts.max_steps,
            });
        }
        self.step += 1;
        let request = self
            .history
            .build_request(&self.ctx.agent, self.opts.max_history_tokens);
        check_pre_llm(&self.opts.guardrails, &request).await?;
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
            Mode::Blocking => ResponseSource::Complete(
                Box::pin(with_retry(&self.opts.retry, &self.ctx.cancel, || async {
                    llm.chat(&request).await.map_err(LlmError::redacted)
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

    /// Runs steps until the run ends. `first` is a step already opened by the caller.
    pub(crate) async fn drive(
        &mut self,
        sink: Option<&EventSink>,
        mut first: Option<OpenedStep>,
    ) -> Result<RunOutput, Error> {
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
                    if let Some(sink) = sink {
                        let event = RunEvent::Completed {
                            output: output.clone(),
                            usage: self.usage,
                        };
                        sink.send(event, &cancel).await?;
                    }
                    return Ok(RunOutput {
                        run_id: self.ctx.run_id,
                        thread: self.thread,
                        output,
                        usage: self.usage,
                        steps: self.step,
                    });
                }
                StepDisposition::Handoff { agent, reason } => {
                    return Err(Error::Handoff { agent, reason });
                }
            }
        }
    }

    /// Runs an agent's part of a run to its end, without recording a failure: the caller
    /// decides what an error means (a handoff is routed, anything else recorded).
    pub async fn run(&mut self, sink: Option<&EventSink>) -> Result<RunOutput, Error> {
        self.drive(sink, None).await
    }

    async fn finish_step(
        &mut self,
        opened: OpenedStep,
        sink: Option<&EventSink>,
    ) -> Result<StepDisposition, Error> {
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
            check_post_llm(&self.opts.guardrails, &opened.request, &response).await?;
        }
        // Boxed: dispatch is large and short-lived; a waiting run should not carry its space.
        Box::pin(self.record_and_dispatch(response, latency_ms, sink)).await
    }
}

fn check_response_size(response: &ChatResponse, limit: usize) -> Result<(), Error> {
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

/// The terminal event and the `Failed` episode text for a run that ended with `error`.
///
/// `cancel_observed` tells a cancellation (`"cancelled"`) from a consumer that went away
/// (`"consumer-dropped"`).
#[must_use]
pub fn terminal_chunk_for(error: Error, cancel_observed: bool) -> (LlmError, String) {
    match error {
        Error::Cancelled if cancel_observed => (LlmError::Cancelled, "cancelled".to_owned()),
        Error::Cancelled => (LlmError::Cancelled, "consumer-dropped".to_owned()),
        Error::Llm(llm_error) => {
            let message = llm_error.to_string();
            (llm_error, message)
        }
        other => {
            let message = other.to_string();
            (LlmError::Server(message.clone()), message)
        }
    }
}

/// Ends a run that failed with `error`: sends the terminal [`RunEvent::Failed`] if the
/// consumer is still there, and records [`Episode::Failed`]. The error is logged here, once.
pub async fn record_failure(ctx: &AgentContext, sink: Option<&EventSink>, error: Error) {
    let failed = FailedRun {
        store: ctx.store.as_ref(),
        run_id: ctx.run_id,
        agent: ctx.agent_name().as_str(),
        cancel: &ctx.cancel,
    };
    failed.record(sink, error).await;
}

/// What recording a failure needs, for callers that have no [`AgentContext`].
pub(crate) struct FailedRun<'a> {
    pub(crate) store: &'a dyn crate::memory::Store,
    pub(crate) run_id: crate::ids::RunId,
    pub(crate) agent: &'a str,
    pub(crate) cancel: &'a tokio_util::sync::CancellationToken,
}

impl FailedRun<'_> {
    pub(crate) async fn record(self, sink: Option<&EventSink>, error: Error) {
        let cancel_observed = self.cancel.is_cancelled();
        let (terminal, mut episode_text) = terminal_chunk_for(error, cancel_observed);
        // The one point a failure's text passes before it becomes an event, an episode and a
        // log line: whatever built it (a provider, a guardrail, a store), no secret goes on.
        let terminal = terminal.redacted();
        crate::redact::redact_string(&mut episode_text);
        tracing::warn!(run_id = %self.run_id, agent = %self.agent, error = %episode_text, "run failed");
        if let Some(sink) = sink
            && !sink.is_closed()
        {
            sink.deliver(RunEvent::Failed { error: terminal }).await;
        }
        let failed = Episode::Failed {
            error: episode_text,
        };
        if let Err(store_error) = self.store.record(self.run_id, failed).await {
            tracing::error!(run_id = %self.run_id, %store_error, "could not record the run's failure");
        }
    }
}
