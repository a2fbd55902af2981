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
//! See [`SupervisorBuilder`] for an example.

mod agent_actor;
mod builder;
mod error;
mod registry;
mod resume;
mod settings;
mod status;
mod supervisor;
mod supervisor_actor;
mod thread_turns;

pub use builder::SupervisorBuilder;
pub use error::SupervisorError;
pub use settings::{BusyThread, RunSettings};
pub use status::{AgentStatus, ShutdownReport, SupervisorStatus};
pub use supervisor::{SHUTDOWN_BOUND, Supervisor};
