//! Serving: bind, accept, and shut down gracefully.
//!
//! The accept loop is Baton's own, on hyper's HTTP/1.1 connection builder (what axum's
//! `serve` uses underneath), so that every accepted socket sends without delay
//! (`TCP_NODELAY`), connections have header-read and idle timeouts, and their number is
//! bounded with idle ones giving way (see `connection`). Beside it, the approval sweep takes
//! up runs whose approvals expired (see `sweep`).

use crate::config::ServerConfig;
use crate::connection::limit::{ConnectionLimit, Throttle};
use crate::connection::{self, Timeouts};
use crate::error::ServerError;
use crate::routes;
use crate::state::AppState;
use crate::sweep::sweep_expired_approvals;
use baton_core::actor::Supervisor;
use std::future::Future;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

/// The first pause after accepting failed (for want of descriptors, say); it doubles up to
/// [`MAX_ACCEPT_PAUSE`] while accepting keeps failing.
const FIRST_ACCEPT_PAUSE: Duration = Duration::from_millis(10);
/// The longest pause between attempts to accept.
const MAX_ACCEPT_PAUSE: Duration = Duration::from_secs(1);
/// How often a failure to accept may be logged.
const ACCEPT_ERROR_INTERVAL: Duration = Duration::from_secs(10);

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
/// 1. `/readyz` answers 503, no new connection is accepted, and the approval sweep stops
///    (after its pass under way, if any);
/// 2. the supervisor stops taking runs and lets those in flight finish within
///    `config.shutdown_grace`, then cancels the rest (each records `Failed`), so that their
///    streams end with a `failed` event and their requests get an answer;
/// 3. once every connection is closed, it returns. Idle connections close at once, others
///    after their request in progress (a connection still sending a head, within
///    `config.header_read_timeout`).
///
/// While serving, at most `config.max_connections` connections are open: at the limit, the
/// connection idle the longest closes for a new one (see [`ServerConfig::max_connections`]).
/// A failure to accept (out of file descriptors, say) closes the connection idle the longest
/// too, and accepting pauses briefly before it is tried again. Every
/// `config.approval_sweep`, the paused runs whose approvals expired undecided are taken up
/// (see [`ServerConfig::approval_sweep`]).
pub async fn serve_on(
    listener: TcpListener,
    supervisor: Supervisor,
    config: ServerConfig,
    shutdown_signal: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    config.validate()?;
    let draining = Arc::new(AtomicBool::new(false));
    let state = Arc::new(AppState::new(
        supervisor.clone(),
        &config,
        Arc::clone(&draining),
    ));
    let app = routes::build(Arc::clone(&state));
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(
            %addr,
            tenants = config.tenants.len(),
            max_connections = config.max_connections,
            approval_sweep = ?config.approval_sweep_interval(),
            "serving"
        );
    }
    // Cancelled when shutdown begins: stop accepting and sweeping.
    let shutdown_begun = CancellationToken::new();
    let acceptor = Acceptor {
        app,
        timeouts: Timeouts {
            header_read: config.header_read_timeout,
            idle: config.idle_timeout,
        },
        limit: ConnectionLimit::new(config.max_connections),
        stop: shutdown_begun.clone(),
    };
    let sweep = sweep_expired_approvals(
        state,
        config.approval_sweep_interval(),
        shutdown_begun.clone(),
    );
    let drain = async {
        let begin = async {
            shutdown_signal.await;
            tracing::info!(grace = ?config.shutdown_grace, "shutting down: draining runs");
            draining.store(true, Ordering::Release);
            shutdown_begun.cancel();
        };
        // The sweep has stopped before the runs drain, so it takes up none meanwhile.
        tokio::join!(sweep, begin);
        let report = supervisor.shutdown(config.shutdown_grace).await;
        tracing::info!(
            in_flight = report.in_flight,
            cancelled = report.cancelled,
            "runs drained"
        );
    };
    tokio::join!(acceptor.run(listener), drain);
    Ok(())
}

/// What the accept loop hands each connection.
struct Acceptor {
    app: axum::Router,
    timeouts: Timeouts,
    limit: Arc<ConnectionLimit>,
    /// Cancelled when shutdown begins: stop accepting, and let connections finish.
    stop: CancellationToken,
}

impl Acceptor {
    /// Accepts connections until stopped, then waits for every connection to close.
    async fn run(self, listener: TcpListener) {
        let connections = TaskTracker::new();
        let mut pause = FIRST_ACCEPT_PAUSE;
        let mut accept_errors = Throttle::new(ACCEPT_ERROR_INTERVAL);
        loop {
            let accepted = tokio::select! {
                biased;
                () = self.stop.cancelled() => break,
                accepted = accept(&listener) => accepted,
            };
            let (stream, peer) = match accepted {
                Ok(accepted) => {
                    pause = FIRST_ACCEPT_PAUSE;
                    accepted
                }
                // The client gave up before it was accepted; the next one may be waiting.
                Err(error) if is_connection_error(&error) => continue,
                Err(error) => {
                    if let Some(since_last) = accept_errors.allow() {
                        tracing::error!(
                            %error,
                            pause = ?pause,
                            times_since_last_error = since_last,
                            "accepting a connection failed; closing the longest idle \
                             connection and trying again after a pause"
                        );
                    }
                    self.limit.evict_longest_idle();
                    tokio::select! {
                        biased;
                        () = self.stop.cancelled() => break,
                        () = tokio::time::sleep(pause) => {}
                    }
                    pause = (pause * 2).min(MAX_ACCEPT_PAUSE);
                    continue;
                }
            };
            let slot = tokio::select! {
                biased;
                () = self.stop.cancelled() => break,
                slot = self.limit.admit() => slot,
            };
            let span = tracing::debug_span!("connection", %peer);
            connections.spawn(
                connection::serve(
                    stream,
                    self.app.clone(),
                    self.timeouts,
                    slot,
                    self.stop.clone(),
                )
                .instrument(span),
            );
        }
        drop(listener);
        connections.close();
        connections.wait().await;
    }
}

/// Accepts the next connection, ready to serve: without Nagle's algorithm, since a streamed
/// response is many small writes, and with it each write after the first would wait for the
/// client's delayed acknowledgement (40 ms on Linux) of the one before.
async fn accept(listener: &TcpListener) -> io::Result<(TcpStream, std::net::SocketAddr)> {
    let (stream, peer) = listener.accept().await?;
    stream.set_nodelay(true)?;
    Ok((stream, peer))
}

/// Whether accepting failed because of that one connection, not for want of resources.
fn is_connection_error(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::NotConnected
            | io::ErrorKind::InvalidInput
            | io::ErrorKind::Interrupted
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn accepted_connections_have_nagles_algorithm_off() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (accepted, client) = tokio::join!(accept(&listener), TcpStream::connect(address));
        let (stream, _) = accepted.unwrap();
        assert!(stream.nodelay().unwrap());
        assert!(
            !client.unwrap().nodelay().unwrap(),
            "only the server's side"
        );
    }

    #[test]
    fn a_failure_of_one_connection_is_not_a_failure_to_accept() {
        assert!(is_connection_error(
            &io::ErrorKind::ConnectionAborted.into()
        ));
        let out_of_descriptors = io::Error::other("Too many open files");
        assert!(!is_connection_error(&out_of_descriptors));
    }
}
