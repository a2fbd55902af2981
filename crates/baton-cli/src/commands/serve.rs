//! `baton serve`: serve a topology over HTTP with `baton-server` until interrupted.

use super::{Exit, load};
use crate::cli::ServeArgs;
use crate::error::CliError;
use crate::interrupt::Interrupts;
use crate::render::Printer;
use baton_server::{ServerConfig, Tenant};
use baton_topology::Topology;
use std::net::SocketAddr;

pub(crate) async fn serve(args: ServeArgs) -> Result<Exit, CliError> {
    let topology = load(&args.topology)?;
    let config = server_config(&topology, args.bind)?;
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

/// The server's configuration: the topology's `[server]` settings, tokens read from the
/// environment, `bind` instead of the file's if given.
///
/// `baton-topology` refuses, at the key's place in the file, everything `validate` refuses;
/// `validate` still runs, so a check added to the server alone cannot be skipped.
pub(crate) fn server_config(
    topology: &Topology,
    bind: Option<SocketAddr>,
) -> Result<ServerConfig, CliError> {
    let settings = topology.server_settings()?;
    let tenants: Vec<Tenant> = settings
        .tenants
        .into_iter()
        .map(|tenant| Tenant::new(tenant.name, tenant.token))
        .collect();
    let mut config = ServerConfig::new(tenants);
    config.bind = bind.unwrap_or(settings.bind);
    config.max_body_bytes = settings.max_body_bytes;
    config.shutdown_grace = settings.shutdown_grace;
    config.header_read_timeout = settings.header_read_timeout;
    config.idle_timeout = settings.idle_timeout;
    config.body_read_timeout = settings.body_read_timeout;
    config.max_connections = settings.max_connections;
    config
        .validate()
        .map_err(|error| CliError::Server(error.to_string()))?;
    Ok(config)
}
