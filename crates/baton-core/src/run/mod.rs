//! The agent loop.
//!
//! A run builds a request from the thread's history, checks it with the pre-LLM guardrails,
//! calls the provider (retrying transient failures before the first chunk), forwards the
//! response to the consumer with backpressure, checks it with the post-LLM guardrails, records
//! the step and runs its tool calls, and repeats until the model answers without tool calls
//! or `max_steps` is reached.
//!
//! Entry points: [`run_steps_streaming`] (events as they happen) and [`run_steps`] (the
//! answer). [`RunLoop`] is the lower-level form the actor layer drives.

mod contain;
mod driver;
mod event;
mod guardrails;
pub(crate) mod history;
mod keeper;
mod options;
mod retry;
mod step;
mod streaming;
mod streaming_forward;
mod whole;

pub(crate) use contain::contained_try;
pub use driver::{AgentOutcome, RunLoop};
pub(crate) use driver::{Carried, end_unstarted};
pub use event::{EventSink, RunEvent, RunOutput, RunStream, STREAM_BUFFER};
pub use guardrails::{Guardrail, Verdict};
pub(crate) use keeper::LeaseKeeper;
pub use options::{RetryPolicy, RunOptions};
pub use streaming::run_steps_streaming;
pub use whole::run_steps;
