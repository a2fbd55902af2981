//! The non-streaming entry point: one complete response per model call.

use super::driver::{Mode, RunLoop, record_failure};
use super::event::RunOutput;
use super::options::RunOptions;
use crate::agent::AgentContext;
use crate::error::Error;
use crate::ids::ThreadId;
use crate::llm::Message;
use tracing::Instrument;

/// Runs `ctx`'s agent on `thread` with `input` to its end, with non-streaming provider calls.
///
/// Same loop, limits, guardrails, retry and records as
/// [`run_steps_streaming`](super::run_steps_streaming); failures are recorded and returned.
pub async fn run_steps(
    ctx: &AgentContext,
    thread: ThreadId,
    input: Vec<Message>,
    opts: RunOptions,
) -> Result<RunOutput, Error> {
    let span = tracing::info_span!("run", run_id = %ctx.run_id, thread_id = %thread, agent = %ctx.agent_name());
    async {
        let outcome =
            match RunLoop::start_with(ctx.clone(), thread, input, opts, Mode::Blocking).await {
                Ok(mut run) => run.drive(None, None).await,
                Err(error) => Err(error),
            };
        if let Err(error) = &outcome {
            record_failure(ctx, None, error.clone()).await;
        }
        outcome
    }
    .instrument(span)
    .await
}
