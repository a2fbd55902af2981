//! The agent loop.
//!
//! A run builds a request from the thread's history, checks it with the pre-LLM guardrails,
//! calls the provider (retrying transient failures before the first chunk), forwards the
//! response to the consumer with backpressure, checks it with the post-LLM guardrails, records
//! the step and runs its tool calls, and repeats until the model answers without tool calls
//! or `max_steps` is reached.
//!
//! Entry points: [`run_steps_streaming`] (events as they happen) and [`run_steps`] (the
//! answer); a [`Supervisor`](crate::actor::Supervisor)'s agent actors drive the same loop.
//!
//! | file | what it holds |
//! |---|---|
//! | `run_loop/` | `RunLoop`: one agent's part of a run, from its lease to its end (`dispatch.rs`: a step's records, calls and commit; `park.rs`: a paused run parked) |
//! | `tool_calls.rs` | a step's tool calls: handoffs picked out, approvals and the ledger applied, tools run concurrently |
//! | `ledger.rs` | the tool-call ledger as a run's log tells it: the step to go on from, approvals, the pause |
//! | `end.rs` | the one place a run's end is recorded and told |
//! | `carried.rs` | a run between two agents, after a handoff |
//! | `keeper.rs` | renewing runs' leases |
//! | `history.rs`, `retry.rs`, `streaming_forward.rs`, `guardrails.rs` | the request from the thread, the provider call with retry, the chunks forwarded, the checks |
//! | `event.rs` | the events and the stream a consumer reads |
//! | `streaming.rs`, `whole.rs` | the two entry points |

mod carried;
mod contain;
mod end;
mod event;
mod guardrails;
pub(crate) mod history;
mod keeper;
pub(crate) mod ledger;
mod options;
mod retry;
mod run_loop;
mod streaming;
mod streaming_forward;
mod tool_calls;
mod whole;

pub(crate) use carried::Carried;
pub(crate) use contain::contained_try;
pub(crate) use end::end_unstarted;
pub(crate) use event::EventSink;
pub use event::{RunEvent, RunOutput, RunStream, STREAM_BUFFER};
pub use guardrails::{Guardrail, Verdict};
pub(crate) use keeper::LeaseKeeper;
pub use ledger::{PendingApproval, pending_approvals};
pub use options::{RetryPolicy, RunOptions};
pub(crate) use run_loop::{AgentOutcome, PARKED, PARKED_OWNER, RunLoop};
pub use streaming::run_steps_streaming;
pub use whole::run_steps;
