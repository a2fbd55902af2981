//! The non-streaming entry point: one complete response per model call.

use super::contain::contained;
use super::event::RunOutput;
use super::options::RunOptions;
use super::run_loop::{AgentOutcome, Mode, RunLoop};
use crate::agent::AgentContext;
use crate::error::{PanicSite, RunError};
use crate::ids::ThreadId;
use crate::llm::Message;
use tracing::Instrument;

/// Runs `ctx`'s agent on `thread` with `input` to its end, with non-streaming provider calls.
///
/// Same loop, limits, guardrails, retry and records as
/// [`run_steps_streaming`](super::run_steps_streaming). The run's outcome is recorded (one
/// terminal episode) and returned. A run refused its thread (another run holds it, here or in
/// another process) writes nothing. A run whose calls wait for approval is parked, recording
/// no end, and a [`Supervisor`](crate::actor::Supervisor) on the same store takes it up once
/// they are decided.
///
/// # Errors
///
/// Any [`RunError`]; a handoff is [`RunError::Routing`], since only a
/// [`Supervisor`](crate::actor::Supervisor) routes handoffs; a pause is [`RunError::Paused`].
pub async fn run_steps(
    ctx: &AgentContext,
    thread: ThreadId,
    input: Vec<Message>,
    opts: RunOptions,
) -> Result<RunOutput, RunError> {
    let span = tracing::info_span!("run", run_id = %ctx.run_id, thread_id = %thread, agent = %ctx.agent_name());
    async {
        let run = RunLoop::start_with(ctx.clone(), thread, opts, Mode::Whole).await?;
        run_to_answer(run, input, None).await
    }
    .instrument(span)
    .await
}

/// Runs a bare loop's steps, containing any panic, and reads the outcome as a bare loop must:
/// there is no one to route a handoff to.
pub(crate) async fn run_to_answer(
    mut run: RunLoop,
    input: Vec<Message>,
    sink: Option<&super::EventSink>,
) -> Result<RunOutput, RunError> {
    let outcome = match contained(PanicSite::Run, run.run(input, sink)).await {
        Ok(Ok(AgentOutcome::Answered(output))) => Ok(output),
        Ok(Ok(AgentOutcome::HandedOff { to, .. })) => Err(RunError::routing(format!(
            "the model handed off to {to}, and only a supervisor routes handoffs"
        ))),
        Ok(Ok(AgentOutcome::Paused(pending))) => {
            return Err(run.park(pending, sink, || {}).await);
        }
        Ok(Err(error)) | Err(error) => Err(error),
    };
    run.end(outcome, sink).await
}
