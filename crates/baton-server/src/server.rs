//! Serving: bind, accept, and shut down gracefully.

use crate::config::ServerConfig;
use crate::error::ServerError;
use crate::routes;
use crate::state::AppState;
use baton_core::actor::Supervisor;
use std::future::{Future, IntoFuture};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Builds the router of `supervisor` for `config`, sharing `draining` with the shutdown.
pub(crate) fn build_router(
    supervisor: Supervisor,
    config: &ServerConfig,
    draining: Arc<AtomicBool>,
) -> axum::Router {
    routes::build(Arc::new(AppState::new(supervisor, config, draining)))
}

/// Binds `config.bind` and serves until `shutdown_signal` resolves; see [`serve_on`].
pub async fn serve(
    supervisor: Supervisor,
    config: ServerConfig,
    shutdown_signal: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    config.validate()?;
    let listener = TcpListener::bind(config.bind)
        .await
        .map_err(|source| ServerError::Bind {
            addr: config.bind,
            source,
        })?;
    serve_on(listener, supervisor, config, shutdown_signal).await
}

/// Serves on `listener` (its address wins over `config.bind`) until `shutdown_signal`
/// resolves, then shuts down gracefully:
///
/// 1. `/readyz` answers 503 and no new connection is accepted;
/// 2. the supervisor stops taking runs and lets those in flight finish within
///    `config.shutdown_grace`, then cancels the rest (each records `Failed`), so that their
///    streams end with a `failed` event and their requests get an answer;
/// 3. once every connection is closed, it returns.
pub async fn serve_on(
    listener: TcpListener,
    supervisor: Supervisor,
    config: ServerConfig,
    shutdown_signal: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    config.validate()?;
    let draining = Arc::new(AtomicBool::new(false));
    let app = build_router(supervisor.clone(), &config, Arc::clone(&draining));
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, tenants = config.tenants.len(), "serving");
    }
    let stop_accepting = CancellationToken::new();
    let server = axum::serve(listener, app)
        .with_graceful_shutdown(stop_accepting.clone().cancelled_owned())
        .into_future();
    let drain = async {
        shutdown_signal.await;
        tracing::info!(grace = ?config.shutdown_grace, "shutting down: draining runs");
        draining.store(true, Ordering::Release);
        stop_accepting.cancel();
        let report = supervisor.shutdown(config.shutdown_grace).await;
        tracing::info!(
            in_flight = report.in_flight,
            cancelled = report.cancelled,
            "runs drained"
        );
    };
    let (served, ()) = tokio::join!(server, drain);
    served.map_err(ServerError::Serve)
}
