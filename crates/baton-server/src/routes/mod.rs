//! The routes and the layers around them.

mod approvals;
mod health;
mod openai;
mod runs;
mod threads;

use crate::auth;
use crate::error::ApiError;
use crate::limits;
use crate::state::AppState;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use baton_core::memory::Page;
use serde::Deserialize;
use std::sync::Arc;
use tower_http::trace::TraceLayer;

/// Response header naming the run a request started.
pub(crate) const RUN_ID_HEADER: &str = "x-baton-run-id";
/// Response header naming the thread a request ran on.
pub(crate) const THREAD_ID_HEADER: &str = "x-baton-thread-id";

/// Every route: the API behind bearer authentication, probes and metrics without.
///
/// The layers, from the outside in: tracing; [`json_errors`] (every error response has
/// Baton's JSON shape); the head limits (414, 431); authentication of `/v1` (401); the body's
/// announced size (413) and deadline (408); axum's body limit for bodies of unknown length.
/// `Router::layer` wraps every route, the fallback and the method fallbacks alike, so each
/// layer sees every request, whichever route it matches.
pub(crate) fn build(state: Arc<AppState>) -> Router {
    let authenticated = Router::new()
        .route("/v1/threads", post(threads::create).get(threads::list))
        .route("/v1/threads/{id}/messages", get(threads::messages))
        .route("/v1/threads/{id}/runs", post(runs::start))
        .route("/v1/runs/{id}/episodes", get(runs::episodes))
        .route("/v1/runs/{id}/cancel", post(runs::cancel))
        .route("/v1/runs/{id}/resume", post(runs::resume))
        .route("/v1/runs/{id}/approvals", get(approvals::list))
        .route("/v1/runs/{id}/approvals/{call}", post(approvals::decide))
        .route("/v1/chat/completions", post(openai::chat_completions))
        .route("/v1/models", get(openai::models));
    let open = Router::new()
        .route("/healthz", get(health::live))
        .route("/readyz", get(health::ready))
        .route("/metrics", get(health::metrics));
    authenticated
        .merge(open)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(state.max_body_bytes))
        .layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            limits::limit_body,
        ))
        .layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            auth::require_tenant,
        ))
        .layer(middleware::from_fn(limits::check_head))
        .layer(middleware::from_fn(json_errors))
        // Failures are logged once, where they are handled, not again as 5xx responses.
        .layer(TraceLayer::new_for_http().on_failure(()))
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::for_status(StatusCode::NOT_FOUND)
}

async fn method_not_allowed() -> ApiError {
    ApiError::for_status(StatusCode::METHOD_NOT_ALLOWED)
}

/// Middleware: gives an error response that lacks Baton's JSON shape that shape, keeping its
/// status and headers. Baton's own errors are JSON already; this catches what a layer or an
/// extractor of a library answers by itself, so that no error reaches a client without it.
async fn json_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) || is_json(response.headers()) {
        return response;
    }
    tracing::debug!(%status, "an error response without a JSON body; giving it one");
    let (mut parts, _) = response.into_parts();
    let (json_parts, body) = ApiError::for_status(status).into_response().into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.extend(json_parts.headers);
    Response::from_parts(parts, body)
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"))
}

/// `?offset=&limit=` of the listing endpoints.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PageQuery {
    offset: Option<u64>,
    limit: Option<u64>,
}

impl PageQuery {
    const DEFAULT_LIMIT: u64 = 100;
    const MAX_LIMIT: u64 = 1000;

    /// The page asked for, with one more item than the limit so that `has_more` can be told.
    fn page_with_lookahead(&self) -> Result<(Page, usize), ApiError> {
        let limit = self.limit.unwrap_or(Self::DEFAULT_LIMIT);
        if !(1..=Self::MAX_LIMIT).contains(&limit) {
            return Err(ApiError::bad_request(
                "invalid_query",
                format!("limit must be between 1 and {}", Self::MAX_LIMIT),
            ));
        }
        let offset = self.offset.unwrap_or(0);
        // `limit` is at most MAX_LIMIT, so it fits any usize.
        let size = usize::try_from(limit).unwrap_or(usize::MAX);
        Ok((Page::new(offset, limit + 1), size))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use tower::ServiceExt;

    async fn answer(router: Router, path: &str) -> (StatusCode, HeaderMap, serde_json::Value) {
        let request = axum::http::Request::get(path).body(Body::empty()).unwrap();
        let response = router.oneshot(request).await.unwrap();
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
        (
            parts.status,
            parts.headers,
            serde_json::from_slice(&bytes).unwrap(),
        )
    }

    #[tokio::test]
    async fn errors_without_a_json_body_get_one_and_keep_their_headers() {
        let router = Router::new()
            .route(
                "/plain",
                get(|| async {
                    (
                        StatusCode::UNSUPPORTED_MEDIA_TYPE,
                        [("x-kept", "yes")],
                        "plain text",
                    )
                }),
            )
            .route(
                "/json",
                get(|| async { ApiError::bad_request("mine", "own") }),
            )
            .layer(middleware::from_fn(json_errors));

        let (status, headers, body) = answer(router.clone(), "/plain").await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(headers["x-kept"], "yes");
        assert_eq!(headers[header::CONTENT_TYPE], "application/json");
        assert_eq!(body["error"]["type"], "invalid_request");

        let (_, _, body) = answer(router, "/json").await;
        assert_eq!(
            body["error"]["type"], "mine",
            "Baton's own errors pass unchanged"
        );
    }
}
