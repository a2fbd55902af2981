//! `baton check`: validate a topology file and the environment it needs.

use super::Exit;
use crate::cli::CheckArgs;
use crate::error::CliError;
use crate::render::Printer;
use baton_topology::Topology;

pub(crate) fn check(args: &CheckArgs) -> Result<Exit, CliError> {
    let topology = Topology::load(&args.file)?;
    let summary = topology.check()?;
    // What `baton serve` would refuse of the [server] section, refused now.
    topology.server_config()?;
    let mut printer = Printer::new();
    printer.line(&summary.to_string())?;
    printer.line("ok")?;
    Ok(Exit::Success)
}
