//! Agents as actors under a supervisor.
//!
//! Each agent runs as a `ractor` actor. Its mailbox takes run requests; the handler starts the
//! run as a task the actor owns and returns at once, so one agent serves many threads at
//! once. A [`Supervisor`] owns the agent actors: it starts them linked to itself, restarts a
//! failed one within a restart budget, and routes handoffs: when a model calls
//! `transfer_to_<agent>`, the run, with the same thread and the same output stream, moves to
//! that agent's actor.
//!
//! ```text
//!   Supervisor (handle) ──run()──▶ agent actor "triage" ──spawns──▶ run task
//!                                        ▲                            │ handed off
//!   SupervisorActor ◀──Handoff(request)──┼────────────────────────────┘
//!        │ route                          
//!        └──────────────▶ agent actor "billing" ──spawns──▶ run task ──▶ same RunStream
//! ```
//!
//! One thread has one writer: a run holds its thread from start to end, across handoffs; a
//! second request for a busy thread waits its turn (or fails with
//! [`SupervisorError::ThreadBusy`] if it asked to).
//!
//! A run with one handoff, hop by hop, each in one file:
//!
//! | hop | file |
//! |---|---|
//! | the caller's request is admitted and becomes a `RunRequest` | `supervisor.rs` (`Supervisor::dispatch`), `run_request.rs` |
//! | the agent's mailbox spawns the run's task | `agent_actor.rs` |
//! | the task waits for the thread, steps the run, ends it or hands it off | `run_task.rs`, then `run/run_loop/` |
//! | the supervisor routes the handoff to the next agent's mailbox | `supervisor_actor.rs` |
//! | the next agent's task continues the run | `agent_actor.rs`, `run_task.rs` |
//! | the run's end is recorded and its stream told | `run/end.rs`, `run/event.rs` |
//!
//! The rest: `builder.rs` (starting a tree), `registry.rs` (what the handle and the actors
//! share: agents, admissions, runs in flight), `thread_turns.rs` (one run per thread in this
//! process), `resume.rs` (where a crashed run picks up), `settings.rs`, `status.rs`,
//! `error.rs`.
//!
//! See [`SupervisorBuilder`] for an example.

mod agent_actor;
mod approvals;
mod builder;
mod error;
mod registry;
mod resume;
mod run_request;
pub(crate) use run_request::Progress;
mod run_task;
mod settings;
mod status;
mod supervisor;
mod supervisor_actor;
mod thread_turns;

pub use approvals::Decided;
pub use builder::SupervisorBuilder;
pub use error::SupervisorError;
pub use settings::{BusyThread, RunSettings};
pub use status::{AgentStatus, ShutdownReport, SupervisorStatus};
pub use supervisor::{SHUTDOWN_BOUND, Supervisor};
