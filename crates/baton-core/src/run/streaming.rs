//! The streaming entry point: a run whose events reach the caller as they happen.

use super::driver::{Mode, RunLoop, record_failure};
use super::event::RunStream;
use super::options::RunOptions;
use crate::agent::AgentContext;
use crate::error::Error;
use crate::ids::ThreadId;
use crate::llm::Message;
use tracing::Instrument;

/// Runs `ctx`'s agent on `thread` with `input`, streaming its events.
///
/// The run starts here: it records [`Episode::Started`](crate::memory::Episode::Started),
/// appends `input` to the thread and makes the first provider call (with retry). Failures up to
/// that point are returned as `Err` (and recorded); later ones end the stream with
/// [`RunEvent::Failed`](super::RunEvent::Failed). The rest of the run executes in a task that
/// ends with the run: when it completes, fails, is cancelled through `ctx.cancel`, or when the
/// returned stream is dropped.
///
/// A handoff ends this run with `Failed` ("handoff to …"); the supervisor's actors route
/// handoffs instead.
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
pub async fn run_steps_streaming(
    ctx: &AgentContext,
    thread: ThreadId,
    input: Vec<Message>,
    opts: RunOptions,
) -> Result<RunStream, Error> {
    let span = tracing::info_span!("run", run_id = %ctx.run_id, thread_id = %thread, agent = %ctx.agent_name());
    let opened = async {
        let mut run =
            RunLoop::start_with(ctx.clone(), thread, input, opts, Mode::Streaming).await?;
        let first = run.open_step().await?;
        Ok::<_, Error>((run, first))
    }
    .instrument(span.clone())
    .await;
    let (mut run, first) = match opened {
        Ok(opened) => opened,
        Err(error) => {
            let reported = error.clone();
            record_failure(ctx, None, error).instrument(span).await;
            return Err(reported);
        }
    };
    let (sink, stream) = RunStream::channel(ctx.run_id);
    let ctx = ctx.clone();
    // The task ends with the run: on completion, failure, cancellation, or when the consumer
    // drops the stream (the loop watches for that even while the provider is silent).
    tokio::spawn(
        async move {
            if let Err(error) = run.drive(Some(&sink), Some(first)).await {
                record_failure(&ctx, Some(&sink), error).await;
            }
        }
        .instrument(span),
    );
    Ok(stream)
}
