//! `/v1/threads`: create, list, read.

use super::PageQuery;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{IdPath, QueryParams};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use baton_core::ids::ThreadId;
use baton_core::llm::Message;
use serde::Serialize;
use std::sync::Arc;

#[derive(Debug, Serialize)]
pub(crate) struct ThreadObject {
    id: ThreadId,
}

#[derive(Debug, Serialize)]
pub(crate) struct ThreadList {
    threads: Vec<ThreadObject>,
    offset: u64,
    has_more: bool,
}

#[derive(Debug, Serialize)]
pub(crate) struct MessageList {
    thread_id: ThreadId,
    messages: Vec<Arc<Message>>,
    offset: u64,
    has_more: bool,
}

/// `POST /v1/threads`: a new, empty thread owned by the caller.
pub(crate) async fn create(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> (StatusCode, Json<ThreadObject>) {
    let id = state.threads.create(&caller.tenant);
    tracing::info!(thread_id = %id, tenant = %caller.tenant, "thread created");
    (StatusCode::CREATED, Json(ThreadObject { id }))
}

/// `GET /v1/threads`: the caller's threads, oldest first.
pub(crate) async fn list(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    QueryParams(query): QueryParams<PageQuery>,
) -> Result<Json<ThreadList>, ApiError> {
    let (page, limit) = query.page_with_lookahead()?;
    let all = state
        .threads
        .list(state.supervisor.store(), &caller.tenant)
        .await?;
    let start = usize::try_from(page.offset).unwrap_or(usize::MAX);
    let mut threads: Vec<ThreadObject> = all
        .into_iter()
        .skip(start)
        .take(limit + 1)
        .map(|id| ThreadObject { id })
        .collect();
    let has_more = threads.len() > limit;
    threads.truncate(limit);
    Ok(Json(ThreadList {
        threads,
        offset: page.offset,
        has_more,
    }))
}

/// `GET /v1/threads/{id}/messages`: a page of the thread's messages, oldest first.
pub(crate) async fn messages(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    IdPath(thread): IdPath<ThreadId>,
    QueryParams(query): QueryParams<PageQuery>,
) -> Result<Json<MessageList>, ApiError> {
    let (page, limit) = query.page_with_lookahead()?;
    let store = state.supervisor.store();
    let owned = state.threads.owns(store, &caller.tenant, thread).await?;
    if !owned {
        return Err(ApiError::thread_not_found());
    }
    let mut messages = store.list(thread, page).await?;
    let has_more = messages.len() > limit;
    messages.truncate(limit);
    Ok(Json(MessageList {
        thread_id: thread,
        messages,
        offset: page.offset,
        has_more,
    }))
}
