//! `baton serve`: serve a topology over HTTP with `baton-server` until interrupted.

use super::{Exit, load};
use crate::cli::ServeArgs;
use crate::error::CliError;
use crate::interrupt::Interrupts;
use crate::render::Printer;

pub(crate) async fn serve(args: ServeArgs) -> Result<Exit, CliError> {
    let topology = load(&args.topology)?;
    let mut config = topology.server_config()?;
    if let Some(bind) = args.bind {
        config.bind = bind;
    }
    let listener = tokio::net::TcpListener::bind(config.bind)
        .await
        .map_err(|error| {
            CliError::Server(format!("could not listen on {}: {error}", config.bind))
        })?;
    let address = listener.local_addr()?;
    let supervisor = topology.build().await?;
    let mut interrupts = Interrupts::new()?.with_terminate()?;
    let mut printer = Printer::new();
    let agents: Vec<&str> = topology.agent_names().map(|name| name.as_str()).collect();
    printer.line(&format!(
        "serving {} on http://{address} (agents: {}; tenants: {})",
        args.topology.file.display(),
        agents.join(", "),
        config.tenants.len()
    ))?;
    if config.tenants.is_empty() {
        printer.note(
            "no tenants: every /v1 request will be refused; add [[server.tenants]] to the file",
        )?;
    }
    printer.note("Ctrl-C (or SIGTERM) stops taking runs and shuts down")?;
    let grace = config.shutdown_grace;
    baton_server::serve_on(listener, supervisor, config, async move {
        interrupts.next().await;
    })
    .await
    .map_err(|error| CliError::Server(error.to_string()))?;
    printer.note(&format!(
        "stopped (runs had {} s to finish)",
        grace.as_secs_f32()
    ))?;
    Ok(Exit::Success)
}
