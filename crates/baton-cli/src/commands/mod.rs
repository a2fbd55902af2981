//! One module per command; each is glue over the library crates.

pub(crate) mod ask;
pub(crate) mod check;
pub(crate) mod decide;
pub(crate) mod log;
pub(crate) mod next;
pub(crate) mod run;
pub(crate) mod serve;
pub(crate) mod store;

use crate::cli::TopologyArgs;
use crate::error::CliError;
use baton_topology::{StoreSpec, Topology};
use std::path::Path;
use std::process::ExitCode;

/// What a command ends with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exit {
    /// Done (exit code 0).
    Success,
    /// A run paused: calls wait for approval (exit code 4, see [`Exit::PAUSED`]).
    Paused,
    /// The user interrupted it (exit code 130, as a shell reports SIGINT).
    Cancelled,
}

impl Exit {
    /// The exit code of a run that paused for approval: distinct from success (0), errors (1)
    /// and command-line mistakes (2), so that a script can tell a run that waits from one
    /// that is done.
    pub(crate) const PAUSED: u8 = 4;

    /// The process's exit code.
    pub(crate) fn code(self) -> ExitCode {
        match self {
            Self::Success => ExitCode::SUCCESS,
            Self::Paused => ExitCode::from(Self::PAUSED),
            Self::Cancelled => ExitCode::from(130),
        }
    }
}

/// Loads the topology and applies the command line's changes to it.
pub(crate) fn load(args: &TopologyArgs) -> Result<Topology, CliError> {
    load_with(&args.file, args.store.as_ref(), args.provider.as_deref())
}

/// Loads the topology `file`, with `store` and `provider` instead of the file's, if given.
pub(crate) fn load_with(
    file: &Path,
    store: Option<&StoreSpec>,
    provider: Option<&str>,
) -> Result<Topology, CliError> {
    let mut topology = Topology::load(file)?;
    if let Some(store) = store {
        topology.set_store(store.clone());
    }
    if let Some(provider) = provider {
        topology.use_provider(provider)?;
    }
    Ok(topology)
}
