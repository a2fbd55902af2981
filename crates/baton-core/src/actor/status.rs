//! Snapshots of a supervisor: [`SupervisorStatus`], [`AgentStatus`], [`ShutdownReport`].

use crate::ids::AgentName;
use serde::{Deserialize, Serialize};

/// A snapshot of a supervisor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SupervisorStatus {
    /// Whether new runs are taken.
    pub accepting: bool,
    /// Runs in flight (running, waiting, or between agents).
    pub active_runs: usize,
    /// Every agent, by name.
    pub agents: Vec<AgentStatus>,
}

/// A snapshot of one agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentStatus {
    /// The agent.
    pub name: AgentName,
    /// Whether its actor is up (false once the restart budget is exhausted).
    pub up: bool,
    /// Runs admitted (running or waiting).
    pub admitted_runs: usize,
    /// How often its actor was restarted.
    pub restarts: u32,
}

/// What [`Supervisor::shutdown`](super::Supervisor::shutdown) did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Runs in flight when shutdown began.
    pub in_flight: usize,
    /// Runs cancelled because they did not finish within the grace period.
    pub cancelled: usize,
}
