//! Probes and metrics: the endpoints without authentication.
//!
//! `/metrics` is open on purpose: Prometheus scrapers rarely hold an API token, and what it
//! shows is aggregate (counts and latencies per agent name; no tenant, thread, run or content).
//! A deployment that must hide even that mounts [`router`](crate::router) behind its own layer
//! or keeps the port off public networks, as the default bind (`127.0.0.1`) does.

use crate::error::ApiError;
use crate::metrics::CONTENT_TYPE;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::sync::Arc;

/// `GET /healthz`: the process answers.
pub(crate) async fn live() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// `GET /readyz`: ready while the supervisor takes runs; 503 once shutdown began.
pub(crate) async fn ready(
    State(state): State<Arc<AppState>>,
) -> Result<Json<serde_json::Value>, ApiError> {
    if state.shutting_down() {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            "the server is shutting down and takes no new runs",
        ));
    }
    Ok(Json(json!({ "status": "ready" })))
}

/// `GET /metrics`: Prometheus metrics in the OpenMetrics text format.
pub(crate) async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    match state.metrics.encode(&state.supervisor.status()) {
        Ok(text) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response(),
        Err(_) => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the metrics could not be encoded",
        )
        .into_response(),
    }
}
