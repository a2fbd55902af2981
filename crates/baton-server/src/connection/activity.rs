//! What one connection is doing: serving a request, or idle between requests (since when, and
//! whether the next request's head has begun to arrive).
//!
//! Three observers keep it: [`ObservedService`] counts the requests hyper hands to the router
//! (a request lasts until its response body is dropped), the socket wrapper (`io`) records
//! bytes read and flushes, and a response counts as done only at the first flush after its
//! body is dropped, when its last bytes have left hyper's buffer. The connection's task reads
//! the [`Activity`] for its timeouts, the connection limit for choosing whom to close.

use super::Timeouts;
use super::limit::IdleSignal;
use axum::Router;
use axum::body::{Body, Bytes, HttpBody};
use axum::http::{Request, Response};
use hyper::body::{Frame, Incoming, SizeHint};
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use tokio::sync::Notify;
use tokio::time::Instant;
use tower::ServiceExt;

/// The shared record of one connection's activity.
#[derive(Debug)]
pub(crate) struct Activity {
    state: Mutex<State>,
    /// Notified (once, with a stored permit) when the limit chose this connection to close.
    evicted: Notify,
    idle_signal: Arc<IdleSignal>,
}

#[derive(Debug, Clone)]
struct State {
    /// Requests handed to the router whose responses are not done.
    in_progress: usize,
    /// A response body was dropped, and its last bytes may still be in hyper's buffer.
    unflushed: bool,
    /// When the connection was accepted or its last response was done.
    idle_since: Instant,
    /// When the first byte after `idle_since` arrived, if one has.
    head_started: Option<Instant>,
    /// Requests started on the connection.
    requests: u64,
    /// Whether the limit chose this connection to close.
    evicted: bool,
}

/// Why a connection's deadline is there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expiry {
    /// Nothing of a request arrived: close the connection silently.
    Idle,
    /// Part of a request's head arrived: answer 408, then close.
    Head,
}

impl Activity {
    /// The activity of a connection accepted now.
    pub(crate) fn new(idle_signal: Arc<IdleSignal>) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(State {
                in_progress: 0,
                unflushed: false,
                idle_since: Instant::now(),
                head_started: None,
                requests: 0,
                evicted: false,
            }),
            evicted: Notify::new(),
            idle_signal,
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // The state stays consistent whatever panicked while holding it: every update is one
        // assignment or counter step.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A request was handed to the router; it is in progress until the guard is dropped.
    pub(crate) fn begin_request(self: &Arc<Self>) -> RequestGuard {
        let mut state = self.state();
        state.in_progress += 1;
        state.requests += 1;
        state.head_started = None;
        RequestGuard {
            activity: Arc::clone(self),
        }
    }

    /// Bytes arrived from the client.
    pub(crate) fn on_read(&self) {
        let mut state = self.state();
        if state.is_idle() && state.head_started.is_none() {
            state.head_started = Some(Instant::now());
        }
    }

    /// Everything hyper wrote so far reached the socket.
    pub(crate) fn on_flushed(&self) {
        let became_idle = {
            let mut state = self.state();
            if state.in_progress == 0 && state.unflushed {
                state.unflushed = false;
                state.idle_since = Instant::now();
                state.head_started = None;
                true
            } else {
                false
            }
        };
        if became_idle {
            self.idle_signal.became_idle();
        }
    }

    /// Whether no request is in progress.
    pub(crate) fn is_idle(&self) -> bool {
        self.state().is_idle()
    }

    /// When the connection must close unless a request begins, and why; `None` while a
    /// request is in progress.
    pub(crate) fn deadline(&self, timeouts: Timeouts) -> Option<(Instant, Expiry)> {
        self.state().deadline(timeouts)
    }

    /// Since when the connection has been idle, if it is and has not been chosen to close.
    pub(crate) fn idle_since(&self) -> Option<Instant> {
        let state = self.state();
        (state.is_idle() && !state.evicted).then_some(state.idle_since)
    }

    /// Chooses this connection to close.
    pub(crate) fn evict(&self) {
        self.state().evicted = true;
        self.evicted.notify_one();
    }

    /// Resolves once the connection was chosen to close.
    pub(crate) async fn evicted(&self) {
        self.evicted.notified().await;
    }
}

impl State {
    fn is_idle(&self) -> bool {
        self.in_progress == 0 && !self.unflushed
    }

    fn deadline(&self, timeouts: Timeouts) -> Option<(Instant, Expiry)> {
        if !self.is_idle() {
            return None;
        }
        let expiry = if self.head_started.is_some() {
            Expiry::Head
        } else {
            Expiry::Idle
        };
        let deadline = if self.requests == 0 {
            // The first request's head is due soon after the connection was accepted.
            self.idle_since + timeouts.header_read
        } else if let Some(started) = self.head_started {
            started + timeouts.header_read
        } else {
            self.idle_since + timeouts.idle
        };
        Some((deadline, expiry))
    }
}

/// A request in progress; dropping it (with its response body, or with the request's future
/// if the client left) ends the request.
#[derive(Debug)]
pub(crate) struct RequestGuard {
    activity: Arc<Activity>,
}

impl Drop for RequestGuard {
    fn drop(&mut self) {
        let mut state = self.activity.state();
        state.in_progress = state.in_progress.saturating_sub(1);
        state.unflushed = true;
    }
}

/// The router as hyper's service on one connection, recording each request in the
/// connection's [`Activity`].
#[derive(Debug, Clone)]
pub(crate) struct ObservedService {
    router: Router,
    activity: Arc<Activity>,
}

impl ObservedService {
    pub(crate) fn new(router: Router, activity: Arc<Activity>) -> Self {
        Self { router, activity }
    }
}

impl hyper::service::Service<Request<Incoming>> for ObservedService {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let guard = self.activity.begin_request();
        let response = self.router.clone().oneshot(request.map(Body::new));
        Box::pin(async move {
            let response = response.await?;
            Ok(response.map(|body| {
                Body::new(GuardedBody {
                    body,
                    _guard: guard,
                })
            }))
        })
    }
}

/// A response body that ends its request when hyper drops it (after its last frame).
struct GuardedBody {
    body: Body,
    _guard: RequestGuard,
}

impl HttpBody for GuardedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const TIMEOUTS: Timeouts = Timeouts {
        header_read: Duration::from_secs(10),
        idle: Duration::from_secs(60),
    };

    fn fresh() -> State {
        State {
            in_progress: 0,
            unflushed: false,
            idle_since: Instant::now(),
            head_started: None,
            requests: 0,
            evicted: false,
        }
    }

    #[test]
    fn a_new_connection_has_the_header_timeout_from_its_acceptance() {
        let state = fresh();
        assert_eq!(
            state.deadline(TIMEOUTS),
            Some((state.idle_since + TIMEOUTS.header_read, Expiry::Idle))
        );
        let started = State {
            head_started: Some(state.idle_since + Duration::from_secs(3)),
            ..state.clone()
        };
        assert_eq!(
            started.deadline(TIMEOUTS),
            Some((state.idle_since + TIMEOUTS.header_read, Expiry::Head))
        );
    }

    #[test]
    fn a_kept_alive_connection_has_the_idle_timeout_until_a_head_begins() {
        let idle = State {
            requests: 1,
            ..fresh()
        };
        assert_eq!(
            idle.deadline(TIMEOUTS),
            Some((idle.idle_since + TIMEOUTS.idle, Expiry::Idle))
        );
        let first_byte = idle.idle_since + Duration::from_secs(30);
        let started = State {
            head_started: Some(first_byte),
            ..idle
        };
        assert_eq!(
            started.deadline(TIMEOUTS),
            Some((first_byte + TIMEOUTS.header_read, Expiry::Head))
        );
    }

    #[test]
    fn a_request_in_progress_or_unflushed_has_no_deadline() {
        let busy = State {
            in_progress: 1,
            ..fresh()
        };
        assert_eq!(busy.deadline(TIMEOUTS), None);
        let unflushed = State {
            unflushed: true,
            ..fresh()
        };
        assert_eq!(unflushed.deadline(TIMEOUTS), None);
    }

    #[tokio::test]
    async fn a_response_is_done_at_the_first_flush_after_its_body_is_dropped() {
        let activity = Activity::new(Arc::new(IdleSignal::default()));
        let guard = activity.begin_request();
        assert!(!activity.is_idle());
        activity.on_read();
        activity.on_flushed();
        assert!(!activity.is_idle(), "still in progress");
        drop(guard);
        assert!(!activity.is_idle(), "dropped but not flushed");
        activity.on_flushed();
        assert!(activity.is_idle());
        assert!(activity.idle_since().is_some());
        activity.evict();
        assert!(activity.idle_since().is_none(), "chosen once only");
        activity.evicted().await;
    }
}
