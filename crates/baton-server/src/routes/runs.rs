//! Runs: start one on a thread (streamed as SSE or answered as JSON), read its episodic log,
//! cancel it, resume it after a crash.
//!
//! However a run is started or taken up again, it is answered the same way
//! ([`answer`]): with `stream`, SSE of its events to the terminal one (`completed`, `failed`
//! or `paused`); without, JSON once it ended, `{"status": "completed", …}` or
//! `{"status": "paused", "pending": […], …}`.

use super::{RUN_ID_HEADER, THREAD_ID_HEADER};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{IdPath, JsonBody};
use crate::relay::{RelayedRun, resume_run, start_run};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderName, HeaderValue};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use baton_core::ids::{RunId, ThreadId};
use baton_core::llm::Message;
use baton_core::memory::{EpisodeRecord, started};
use baton_core::run::RunEvent;
use futures::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use std::convert::Infallible;
use std::sync::Arc;

/// The body of `POST /v1/threads/{id}/runs`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RunRequest {
    /// The agent that takes the run first.
    agent: String,
    /// The user's message.
    input: String,
    /// Stream the run's events as SSE instead of answering once it is done.
    #[serde(default)]
    stream: bool,
}

/// The body of `POST /v1/runs/{id}/resume` (`{}` for a JSON answer).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ResumeRequest {
    /// Stream the run's events as SSE instead of answering once it is done.
    #[serde(default)]
    stream: bool,
}

#[derive(Debug, Serialize)]
pub(crate) struct EpisodeList {
    run_id: RunId,
    episodes: Vec<EpisodeRecord>,
}

#[derive(Debug, Serialize)]
pub(crate) struct CancelResult {
    run_id: RunId,
    /// Whether the run was in flight (and is now cancelled).
    cancelled: bool,
}

/// `POST /v1/threads/{id}/runs`.
pub(crate) async fn start(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    IdPath(thread): IdPath<ThreadId>,
    JsonBody(request): JsonBody<RunRequest>,
) -> Result<Response, ApiError> {
    if request.input.trim().is_empty() {
        return Err(ApiError::bad_request(
            "invalid_request",
            "input must not be empty",
        ));
    }
    let owned = state
        .threads
        .owns(state.supervisor.store(), &caller.tenant, thread)
        .await?;
    if !owned {
        return Err(ApiError::thread_not_found());
    }
    let run = start_run(
        &state,
        &caller,
        &request.agent,
        thread,
        vec![Message::user(request.input)],
    )
    .await?;
    answer(run, request.stream).await
}

/// The answer to a request that started or took up `run`: SSE of its events with `stream`,
/// else its end as JSON. Either way with the headers naming the run and its thread.
pub(crate) async fn answer(run: RelayedRun, stream: bool) -> Result<Response, ApiError> {
    let headers = run_headers(run.run_id(), run.thread());
    if stream {
        Ok((headers, event_stream(run)).into_response())
    } else {
        let answer = run.finish().await?;
        Ok((headers, Json(answer)).into_response())
    }
}

/// `GET /v1/runs/{id}/episodes`.
pub(crate) async fn episodes(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    IdPath(run): IdPath<RunId>,
) -> Result<Json<EpisodeList>, ApiError> {
    let log = state.supervisor.store().episodes(run).await?;
    ensure_belongs_to(&state, &caller, run, Some(&log)).await?;
    Ok(Json(EpisodeList {
        run_id: run,
        episodes: log,
    }))
}

/// `POST /v1/runs/{id}/cancel`.
pub(crate) async fn cancel(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    IdPath(run): IdPath<RunId>,
) -> Result<Json<CancelResult>, ApiError> {
    ensure_belongs_to(&state, &caller, run, None).await?;
    let cancelled = state.supervisor.cancel(run);
    tracing::info!(run_id = %run, cancelled, "cancel requested");
    Ok(Json(CancelResult {
        run_id: run,
        cancelled,
    }))
}

/// `POST /v1/runs/{id}/resume`: continues a run interrupted by a crash from its last completed
/// step (404 for an unknown run, 409 for one that finished or is in flight).
pub(crate) async fn resume(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    IdPath(run): IdPath<RunId>,
    JsonBody(request): JsonBody<ResumeRequest>,
) -> Result<Response, ApiError> {
    let log = state.supervisor.store().episodes(run).await?;
    ensure_belongs_to(&state, &caller, run, Some(&log)).await?;
    let Some((agent, thread)) = started(&log) else {
        return Err(ApiError::run_not_found());
    };
    let agent = agent.to_string();
    let run = resume_run(&state, &caller, run, &agent, thread).await?;
    answer(run, request.stream).await
}

/// Fails with "run not found" unless `run` belongs to the caller, so that another tenant's
/// run looks like one that does not exist. `log` is the run's log if already read.
pub(crate) async fn ensure_belongs_to(
    state: &AppState,
    caller: &Caller,
    run: RunId,
    log: Option<&[EpisodeRecord]>,
) -> Result<(), ApiError> {
    if belongs_to(state, caller, run, log).await? {
        Ok(())
    } else {
        Err(ApiError::run_not_found())
    }
}

/// Whether `run` belongs to the caller: a run in flight here by who started it, any other by
/// the owner of the thread its log says it ran on. `log` is the run's log if already read.
async fn belongs_to(
    state: &AppState,
    caller: &Caller,
    run: RunId,
    log: Option<&[EpisodeRecord]>,
) -> Result<bool, ApiError> {
    let starter = state
        .runs
        .get(&run)
        .map(|tenant| Arc::clone(tenant.value()));
    if let Some(starter) = starter {
        return Ok(starter == caller.tenant);
    }
    let store = state.supervisor.store();
    let read;
    let log = match log {
        Some(log) => log,
        None => {
            read = store.episodes(run).await?;
            &read
        }
    };
    match started(log).map(|(_, thread)| thread) {
        Some(thread) => Ok(state.threads.owns(store, &caller.tenant, thread).await?),
        None => Ok(false),
    }
}

/// The headers naming a run and its thread.
pub(crate) fn run_headers(run: RunId, thread: ThreadId) -> [(HeaderName, HeaderValue); 2] {
    [
        (HeaderName::from_static(RUN_ID_HEADER), id_header(run)),
        (HeaderName::from_static(THREAD_ID_HEADER), id_header(thread)),
    ]
}

fn id_header(id: impl std::fmt::Display) -> HeaderValue {
    // A UUID's text is always a valid header value.
    HeaderValue::try_from(id.to_string()).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The run's events as SSE: `event: <type>` and the event as JSON, with keep-alive comments
/// while the model is silent. The stream ends after the terminal event.
fn event_stream(run: RelayedRun) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    Sse::new(run.map(|event| Ok(sse_event(&event)))).keep_alive(KeepAlive::default())
}

/// One run event as SSE: `event: <type>`, the event as JSON.
pub(crate) fn sse_event(event: &RunEvent) -> Event {
    match serde_json::to_value(event) {
        Ok(value) => {
            let kind = value
                .get("type")
                .and_then(serde_json::Value::as_str)
                .unwrap_or("event")
                .to_owned();
            Event::default().event(kind).data(value.to_string())
        }
        Err(error) => {
            tracing::error!(%error, "a run event could not be encoded");
            Event::default()
                .event("error")
                .data(r#"{"type":"error","message":"an event could not be encoded"}"#)
        }
    }
}
