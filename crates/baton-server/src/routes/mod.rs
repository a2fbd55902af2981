//! The routes and the layers around them.

mod health;
mod openai;
mod runs;
mod threads;

use crate::auth;
use crate::error::ApiError;
use crate::state::AppState;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::middleware;
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
pub(crate) fn build(state: Arc<AppState>) -> Router {
    let authenticated = Router::new()
        .route("/v1/threads", post(threads::create).get(threads::list))
        .route("/v1/threads/{id}/messages", get(threads::messages))
        .route("/v1/threads/{id}/runs", post(runs::start))
        .route("/v1/runs/{id}/episodes", get(runs::episodes))
        .route("/v1/runs/{id}/cancel", post(runs::cancel))
        .route("/v1/runs/{id}/resume", post(runs::resume))
        .route("/v1/chat/completions", post(openai::chat_completions))
        .route("/v1/models", get(openai::models))
        .route_layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            auth::require_tenant,
        ));
    let open = Router::new()
        .route("/healthz", get(health::live))
        .route("/readyz", get(health::ready))
        .route("/metrics", get(health::metrics));
    authenticated
        .merge(open)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(state.max_body_bytes))
        // Failures are logged once, where they are handled, not again as 5xx responses.
        .layer(TraceLayer::new_for_http().on_failure(()))
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not take that method",
    )
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
