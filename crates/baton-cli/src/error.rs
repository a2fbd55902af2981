//! What can go wrong in a command, and the exit code it ends with.

use crate::commands::next::NextCommands;
use baton_core::actor::SupervisorError;
use baton_core::error::{RunError, StoreError};
use baton_topology::TopologyError;

/// Why a command failed. Each prints as `error: …`.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CliError {
    /// The topology file is invalid, or its store or providers could not be set up.
    #[error(transparent)]
    Topology(#[from] TopologyError),
    /// The supervisor refused a request.
    #[error(transparent)]
    Supervisor(#[from] SupervisorError),
    /// The supervisor refused a decision on a paused run's call; the message says what to do
    /// instead, with the flags the command was given.
    #[error("{error}{}", next.instead_of(error))]
    Decision {
        /// Why it was refused.
        error: SupervisorError,
        /// The flags to repeat in the command to try instead.
        next: Box<NextCommands>,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A run ended with an error.
    #[error("the run failed: {0}")]
    RunFailed(RunError),
    /// The terminal or standard input failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The command cannot do what was asked (a missing option, an unknown name).
    #[error("{0}")]
    Usage(String),
    /// The HTTP server failed.
    #[error("{0}")]
    Server(String),
}

impl CliError {
    /// Each line to print after `error: `.
    pub(crate) fn lines(&self) -> Vec<String> {
        match self {
            Self::Topology(error) if !error.problems().is_empty() => {
                error.problems().iter().map(ToString::to_string).collect()
            }
            other => vec![other.to_string()],
        }
    }
}
