//! One module per command; each is glue over the library crates.

pub(crate) mod check;
pub(crate) mod run;
pub(crate) mod serve;
pub(crate) mod store;

use crate::cli::TopologyArgs;
use crate::error::CliError;
use baton_topology::Topology;

/// What a command ends with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exit {
    /// Done (exit code 0).
    Success,
    /// The user interrupted it (exit code 130, as a shell reports SIGINT).
    Cancelled,
}

/// Loads the topology and applies the command line's changes to it.
pub(crate) fn load(args: &TopologyArgs) -> Result<Topology, CliError> {
    let mut topology = Topology::load(&args.file)?;
    if let Some(store) = &args.store {
        topology.set_store(store.clone());
    }
    if let Some(provider) = &args.provider {
        topology.use_provider(provider)?;
    }
    Ok(topology)
}
