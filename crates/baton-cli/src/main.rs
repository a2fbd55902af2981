//! The `baton` command: run, chat with, check and serve Baton topology files.
//!
//! ```text
//! baton run examples/topologies/support.toml "I was charged twice"
//! baton chat examples/topologies/support.toml
//! baton check examples/topologies/support.toml
//! baton threads list --store sqlite:baton.db
//! baton runs show RUN_ID --file examples/topologies/support.toml
//! baton runs pending RUN_ID --file refunds.toml
//! baton runs approve RUN_ID CALL_ID --file refunds.toml
//! baton runs reject RUN_ID CALL_ID --reason "not a duplicate" --file refunds.toml
//! baton serve examples/topologies/support.toml
//! ```
//!
//! The command is glue over the library crates: `baton-topology` loads and builds the file,
//! `baton-core`'s supervisor runs it, and this crate only prints. Errors print as
//! `error: …` with exit code 1; a run that paused for approval exits with 4 (after printing
//! the commands that decide its calls); an interrupted run exits with 130.
#![forbid(unsafe_code)]

mod cli;
mod commands;
mod error;
mod interrupt;
mod logging;
mod render;

use clap::Parser;
use cli::{Cli, Command};
use commands::Exit;
use error::CliError;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => return fail(&CliError::Io(error)),
    };
    match runtime.block_on(dispatch(cli.command)) {
        Ok(exit) => exit.code(),
        Err(error) => fail(&error),
    }
}

async fn dispatch(command: Command) -> Result<Exit, CliError> {
    match command {
        Command::Run(args) => commands::run::run(args).await,
        Command::Chat(args) => commands::run::chat(args).await,
        Command::Check(args) => commands::check::check(&args),
        Command::Threads(command) => commands::store::threads(command).await,
        Command::Runs(command) => commands::store::runs(command).await,
        Command::Serve(args) => commands::serve::serve(args).await,
    }
}

fn fail(error: &CliError) -> ExitCode {
    for line in error.lines() {
        eprintln!("error: {}", baton_core::redact::redact(&line));
    }
    ExitCode::FAILURE
}
