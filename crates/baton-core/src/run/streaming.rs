//! The streaming entry point: a run whose events reach the caller as they happen.

use super::event::RunStream;
use super::options::RunOptions;
use super::run_loop::{Mode, RunLoop};
use super::whole::run_to_answer;
use crate::agent::AgentContext;
use crate::error::RunError;
use crate::ids::ThreadId;
use crate::llm::Message;
use tracing::Instrument;

/// Runs `ctx`'s agent on `thread` with `input`, streaming its events.
///
/// The run takes its thread here (its lease, [`Store::acquire_lease`](crate::memory::Store::acquire_lease)); a refusal is returned as
/// `Err` and writes nothing. Everything after (recording `Started`, appending `input`, the
/// steps) happens in a task that ends with the run, and every failure from there on ends the
/// stream with [`RunEvent::Failed`](super::RunEvent::Failed). Cancelling `ctx.cancel` cancels
/// the run; dropping the stream does too, unless it was
/// [`detach`](RunStream::detach)ed.
///
/// A handoff ends this run with [`RunError::Routing`]: the supervisor's actors route handoffs.
///
/// ```
/// use baton_core::prelude::*;
/// use baton_testkit::{Script, ScriptedProvider};
/// use futures::StreamExt;
/// use std::sync::Arc;
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let provider = Arc::new(ScriptedProvider::new().respond(Script::text("Hi there!")));
/// let agent = Arc::new(Agent::builder("greeter").build().unwrap());
/// let ctx = AgentContext::new(agent, provider, InMemoryStore::shared());
/// let mut events = run_steps_streaming(&ctx, ThreadId::new(), vec![Message::user("hi")], RunOptions::default())
///     .await
///     .unwrap();
/// let mut text = String::new();
/// while let Some(event) = events.next().await {
///     if let RunEvent::TextDelta { delta } = event {
///         text.push_str(&delta);
///     }
/// }
/// assert_eq!(text, "Hi there!");
/// # });
/// ```
///
/// # Errors
///
/// The lease's refusal ([`RunError::Store`]), or [`RunError::Cancelled`].
pub async fn run_steps_streaming(
    ctx: &AgentContext,
    thread: ThreadId,
    input: Vec<Message>,
    opts: RunOptions,
) -> Result<RunStream, RunError> {
    let span = tracing::info_span!("run", run_id = %ctx.run_id, thread_id = %thread, agent = %ctx.agent_name());
    // The run's own token, under the caller's: dropping the stream cancels this run only.
    let cancel = ctx.cancel.child_token();
    let ctx = ctx.clone().with_cancel(cancel.clone());
    let run_id = ctx.run_id;
    let run = RunLoop::start_with(ctx, thread, opts, Mode::Streaming)
        .instrument(span.clone())
        .await?;
    let (sink, stream) = RunStream::channel(run_id, cancel);
    tokio::spawn(
        async move {
            let _ = run_to_answer(run, input, Some(&sink)).await;
        }
        .instrument(span),
    );
    Ok(stream)
}
