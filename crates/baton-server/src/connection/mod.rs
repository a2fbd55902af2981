//! Serving one accepted connection: hyper's HTTP/1.1 over an observed socket, with the
//! timeouts hyper does not keep the way Baton needs, and an end on eviction or shutdown.
//!
//! hyper's own header-read timeout starts as soon as a response is done, so on a kept-alive
//! connection it is also the idle timeout; it is disabled, and the connection's
//! [`Activity`](activity::Activity) decides instead:
//!
//! - a new connection must send its first head within the header timeout of its acceptance;
//! - a kept-alive connection may wait the idle timeout for its next request, which must then
//!   arrive within the header timeout of its first byte;
//! - nothing is timed while a request is in progress (a streamed run may take long; its body
//!   has its own deadline, see `limits`).
//!
//! At a deadline with part of a head received, the client gets 408 (JSON) and the connection
//! closes; with nothing received, it just closes, as it does when the connection limit
//! chooses an idle connection to give way.
//!
//! hyper's limits are set above Baton's (`limits`) so that Baton's answer precisely: a head
//! up to [`MAX_BUF_BYTES`] with up to [`MAX_HEADERS`] headers reaches the router. Beyond
//! that, hyper answers 431 (or 414 for a target over 64 KiB) itself, with the JSON body the
//! socket wrapper (`io`) gives it, and closes the connection.

pub(crate) mod activity;
mod io;
pub(crate) mod limit;

use crate::error::ApiError;
use activity::{Expiry, ObservedService};
use axum::Router;
use axum::http::StatusCode;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use io::ObservedIo;
use limit::Slot;
use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::task::Poll;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// hyper's read buffer, which bounds a request's head: 64 KiB (its minimum is 8 KiB).
pub(crate) const MAX_BUF_BYTES: usize = 64 * 1024;
/// The most headers hyper parses.
pub(crate) const MAX_HEADERS: usize = 128;
/// How long the last answer of a connection (408) may take to write.
const FAREWELL_TIMEOUT: Duration = Duration::from_secs(1);

/// How long a connection may take over a head, and wait between requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Timeouts {
    pub(crate) header_read: Duration,
    pub(crate) idle: Duration,
}

type Connection = http1::Connection<TokioIo<ObservedIo>, ObservedService>;

/// What ended a wait on the connection.
enum Event {
    Closed(Result<(), hyper::Error>),
    Shutdown,
    Evicted,
    Expired(Expiry),
}

/// Serves `stream` with `router` until the connection closes, times out, is chosen to give
/// way, or (after `shutdown`) is done with the request in progress.
pub(crate) async fn serve(
    stream: TcpStream,
    router: Router,
    timeouts: Timeouts,
    slot: Slot,
    shutdown: CancellationToken,
) {
    let activity = slot.activity();
    let io = TokioIo::new(ObservedIo::new(stream, std::sync::Arc::clone(activity)));
    let service = ObservedService::new(router, std::sync::Arc::clone(activity));
    let mut connection = http1::Builder::new()
        .max_buf_size(MAX_BUF_BYTES)
        .max_headers(MAX_HEADERS)
        .header_read_timeout(None)
        .serve_connection(io, service);
    let mut draining = false;
    loop {
        match next_event(&mut connection, activity, timeouts, &shutdown, draining).await {
            Event::Closed(Ok(())) => return,
            Event::Closed(Err(error)) => {
                tracing::debug!(%error, "the connection ended with an error");
                return;
            }
            Event::Shutdown => {
                Pin::new(&mut connection).graceful_shutdown();
                draining = true;
            }
            Event::Evicted if activity.is_idle() => {
                tracing::debug!("closing an idle connection to make room for a new one");
                return;
            }
            // A request began since the connection was chosen: finish it, then close.
            Event::Evicted => Pin::new(&mut connection).graceful_shutdown(),
            Event::Expired(Expiry::Idle) => {
                tracing::debug!("closing a connection that sent nothing in time");
                return;
            }
            Event::Expired(Expiry::Head) => {
                tracing::debug!("a request's head did not arrive in time");
                answer_timeout(connection, timeouts.header_read).await;
                return;
            }
        }
    }
}

/// Drives the connection until something happens to it. The deadline is read again after
/// every poll of the connection, since only serving it changes the activity.
async fn next_event(
    connection: &mut Connection,
    activity: &activity::Activity,
    timeouts: Timeouts,
    shutdown: &CancellationToken,
    draining: bool,
) -> Event {
    let mut evicted = pin!(activity.evicted());
    let mut shutdown_requested = pin!(shutdown.cancelled());
    let mut timer = pin!(tokio::time::sleep_until(Instant::now()));
    let mut armed = None;
    poll_fn(|cx| {
        if let Poll::Ready(result) = Pin::new(&mut *connection).poll(cx) {
            return Poll::Ready(Event::Closed(result));
        }
        if !draining && shutdown_requested.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Event::Shutdown);
        }
        if evicted.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Event::Evicted);
        }
        if let Some((deadline, expiry)) = activity.deadline(timeouts) {
            if armed != Some(deadline) {
                timer.as_mut().reset(deadline);
                armed = Some(deadline);
            }
            if timer.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Event::Expired(expiry));
            }
        }
        Poll::Pending
    })
    .await
}

/// Answers 408 on a connection whose head did not arrive in time, and closes it.
async fn answer_timeout(connection: Connection, timeout: Duration) {
    let mut stream = connection.into_parts().io.into_inner().into_stream();
    let response = ApiError::new(
        StatusCode::REQUEST_TIMEOUT,
        "request_timeout",
        format!(
            "the request's line and headers did not arrive within {} s",
            timeout.as_secs_f64()
        ),
    )
    .to_http1_bytes();
    let farewell = async {
        stream.write_all(&response).await?;
        stream.shutdown().await
    };
    // The client may be gone or not reading; the connection closes either way.
    let _ = tokio::time::timeout(FAREWELL_TIMEOUT, farewell).await;
}
