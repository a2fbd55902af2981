//! What a request may be, checked by layers before any handler runs: the length of its target
//! and the size of its headers (414, 431), the size its body announces (413), and the time its
//! body may take to arrive (408). Every refusal is a JSON [`ApiError`].
//!
//! These are Baton's limits. The HTTP layer below (hyper) has looser hard limits of its own
//! (see `connection`), so that a request over Baton's limits reaches these layers and gets a
//! precise answer; one over hyper's limits is answered by hyper, with the same JSON shape.

use crate::error::ApiError;
use crate::state::AppState;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper::body::{Frame, SizeHint};
use std::error::Error as StdError;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio::time::{Instant, Sleep};

/// The longest request target (path and query) accepted: 8 KiB.
pub(crate) const MAX_URI_BYTES: usize = 8 * 1024;
/// The most header lines a request may have.
pub(crate) const MAX_HEADERS: usize = 100;
/// The most bytes a request's headers may take, counted as on the wire (`name: value\r\n`).
pub(crate) const MAX_HEADER_BYTES: usize = 16 * 1024;

/// Middleware: refuses a request whose target or headers are over Baton's limits, before
/// authentication (the limits are the same for everyone and say nothing about routes).
pub(crate) async fn check_head(request: Request, next: Next) -> Response {
    match head_within_limits(request.uri(), request.headers()) {
        Ok(()) => next.run(request).await,
        Err(error) => error.into_response(),
    }
}

fn head_within_limits(uri: &Uri, headers: &HeaderMap) -> Result<(), ApiError> {
    let target = uri.scheme_str().map_or(0, |scheme| scheme.len() + 3)
        + uri
            .authority()
            .map_or(0, |authority| authority.as_str().len())
        + uri.path_and_query().map_or(0, |path| path.as_str().len());
    if target > MAX_URI_BYTES {
        return Err(ApiError::new(
            StatusCode::URI_TOO_LONG,
            "uri_too_long",
            format!("the request target is longer than the limit of {MAX_URI_BYTES} bytes"),
        ));
    }
    if headers.len() > MAX_HEADERS {
        return Err(ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            format!("the request has more than the limit of {MAX_HEADERS} headers"),
        ));
    }
    let bytes: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if bytes > MAX_HEADER_BYTES {
        return Err(ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            format!("the request's headers are larger than the limit of {MAX_HEADER_BYTES} bytes"),
        ));
    }
    Ok(())
}

/// Middleware: refuses a body announced (`Content-Length`) over the limit before any of it is
/// read, and gives the body a deadline.
///
/// It runs right after authentication, not before: authentication needs only the headers, so
/// the body is still unread either way, and a caller without a valid token learns nothing but
/// 401 (not the limit, nor which paths take a body). A body without a `Content-Length`
/// (chunked) is counted as it is read, and refused with the same 413 by [`JsonBody`] once it
/// passes the limit.
///
/// [`JsonBody`]: crate::extract::JsonBody
pub(crate) async fn limit_body(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    if declared_length(request.headers()).is_some_and(|length| length > state.max_body_bytes) {
        return ApiError::too_large(state.max_body_bytes).into_response();
    }
    let deadline = Instant::now() + state.body_read_timeout;
    let request = request.map(|body| {
        if body.is_end_stream() {
            body
        } else {
            Body::new(DeadlineBody::new(body, deadline, state.body_read_timeout))
        }
    });
    next.run(request).await
}

/// The `Content-Length` of a request, if it has one. hyper has already refused one that does
/// not parse or that conflicts with another, so an unreadable value cannot reach here.
fn declared_length(headers: &HeaderMap) -> Option<usize> {
    let value = headers.get(header::CONTENT_LENGTH)?.to_str().ok()?;
    // hyper accepts a list of equal lengths (`42, 42`); a length too large for a number is
    // over any limit.
    let first = value.split(',').next().unwrap_or_default().trim();
    Some(first.parse::<u64>().ok().map_or(usize::MAX, |length| {
        usize::try_from(length).unwrap_or(usize::MAX)
    }))
}

/// A request body that fails with [`BodyTimedOut`] if it has not ended by its deadline.
pub(crate) struct DeadlineBody {
    inner: Body,
    deadline: Instant,
    timeout: Duration,
    /// Made on the first read that has to wait, so that bodies that arrive at once cost no
    /// timer.
    timer: Option<Pin<Box<Sleep>>>,
}

impl DeadlineBody {
    fn new(inner: Body, deadline: Instant, timeout: Duration) -> Self {
        Self {
            inner,
            deadline,
            timeout,
            timer: None,
        }
    }
}

impl HttpBody for DeadlineBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame);
        }
        let deadline = this.deadline;
        let timer = this
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        ready!(timer.as_mut().poll(cx));
        Poll::Ready(Some(Err(axum::Error::new(BodyTimedOut {
            timeout: this.timeout,
        }))))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The error of a request body that did not arrive by its deadline.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {timeout:?}")]
pub(crate) struct BodyTimedOut {
    timeout: Duration,
}

impl BodyTimedOut {
    /// The timeout among the causes of `error`, if a body's deadline is why it failed.
    pub(crate) fn cause_of<'a>(error: &'a (dyn StdError + 'static)) -> Option<&'a Self> {
        std::iter::successors(Some(error), |&error| error.source())
            .find_map(|error| error.downcast_ref::<Self>())
    }

    /// The answer: 408.
    pub(crate) fn to_api_error(&self) -> ApiError {
        ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            format!(
                "the request body did not arrive within {} s; send it faster or in one piece",
                self.timeout.as_secs_f64()
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn targets_and_headers_over_the_limits_are_refused() {
        let long: Uri = format!("/v1/threads?{}", "a".repeat(MAX_URI_BYTES))
            .parse()
            .unwrap();
        let refused = head_within_limits(&long, &HeaderMap::new()).unwrap_err();
        assert_eq!(refused.status, StatusCode::URI_TOO_LONG);

        let short: Uri = "/v1/threads".parse().unwrap();
        let mut many = HeaderMap::new();
        for index in 0..=MAX_HEADERS {
            many.append(
                axum::http::HeaderName::try_from(format!("x-{index}")).unwrap(),
                HeaderValue::from_static("1"),
            );
        }
        let refused = head_within_limits(&short, &many).unwrap_err();
        assert_eq!(refused.status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);

        let mut big = HeaderMap::new();
        big.insert(
            "x-big",
            HeaderValue::try_from("b".repeat(MAX_HEADER_BYTES)).unwrap(),
        );
        let refused = head_within_limits(&short, &big).unwrap_err();
        assert_eq!(refused.kind, "headers_too_large");
        assert!(head_within_limits(&short, &HeaderMap::new()).is_ok());
    }

    #[test]
    fn announced_lengths_parse_and_overflow_to_over_any_limit() {
        let mut headers = HeaderMap::new();
        assert_eq!(declared_length(&headers), None);
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from_static("42"));
        assert_eq!(declared_length(&headers), Some(42));
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from_static("42, 42"));
        assert_eq!(declared_length(&headers), Some(42));
        headers.insert(
            header::CONTENT_LENGTH,
            HeaderValue::from_static("99999999999999999999999"),
        );
        assert_eq!(declared_length(&headers), Some(usize::MAX));
    }

    #[test]
    fn a_timeout_is_found_among_the_causes_of_an_error() {
        let timed_out = axum::Error::new(axum::Error::new(BodyTimedOut {
            timeout: Duration::from_secs(3),
        }));
        let found = BodyTimedOut::cause_of(&timed_out).unwrap();
        assert_eq!(found.to_api_error().status, StatusCode::REQUEST_TIMEOUT);
        assert!(BodyTimedOut::cause_of(&axum::Error::new("other")).is_none());
    }
}
