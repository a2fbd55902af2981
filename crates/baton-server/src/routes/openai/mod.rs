//! The OpenAI-compatible endpoints: `POST /v1/chat/completions` (where `model` names an agent)
//! and `GET /v1/models` (the agents).
//!
//! Each chat completion runs on a new thread owned by the caller: the request's messages before
//! the last become the thread's history, the last (a user message) the run's input. The
//! response names the thread in `x-baton-thread-id`, so a client may read it later with
//! `GET /v1/threads/{id}/messages`.
//!
//! # A run that pauses for approval
//!
//! When the agent calls a tool that waits for a person's approval, the run pauses and the
//! completion ends there, cleanly: a `chat.completion` (or, streaming, a last content delta
//! and a final chunk, then `[DONE]`) whose assistant message says that the run waits, names
//! the run and each waiting call with its tool, and says where to decide them, with
//! `finish_reason` `"stop"`. It is not `"tool_calls"`: those calls are not the client's to
//! run, and an OpenAI SDK that saw them would offer to. `usage` counts the steps that
//! finished; the paused step's tokens count when it finishes, after the decisions.
//! The response's `x-baton-run-id` names the run, so a client can list its calls with
//! `GET /v1/runs/{id}/approvals` and decide them with `POST /v1/runs/{id}/approvals/{call}`;
//! the last decision takes the run up, and its answer lands on the thread of
//! `x-baton-thread-id`. The message has no extension fields: the endpoint has none, and
//! the headers and Baton's own routes carry what a client of Baton needs.

mod conversation;
mod wire;

use super::runs::run_headers;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::JsonBody;
use crate::relay::{RelayedRun, RunAnswer, start_run};
use crate::state::{AppState, unix_seconds};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use baton_core::ids::RunId;
use baton_core::llm::{FinishReason, Message, Usage};
use baton_core::run::{PendingApproval, RunEvent};
use conversation::Conversation;
use futures::{Stream, StreamExt, stream};
use serde::Serialize;
use std::convert::Infallible;
use std::sync::Arc;
use wire::{
    AssistantMessage, ChatCompletion, ChatCompletionChunk, ChatCompletionRequest, Choice,
    ChunkChoice, CompletionUsage, Delta, Model, ModelList,
};

/// `GET /v1/models`: one model per agent.
pub(crate) async fn models(State(state): State<Arc<AppState>>, _caller: Caller) -> Json<ModelList> {
    let data = state
        .supervisor
        .status()
        .agents
        .into_iter()
        .map(|agent| Model {
            id: agent.name.as_str().to_owned(),
            object: "model",
            created: state.started_at,
            owned_by: "baton",
        })
        .collect();
    Json(ModelList {
        object: "list",
        data,
    })
}

/// `POST /v1/chat/completions`; errors speak OpenAI's vocabulary.
pub(crate) async fn chat_completions(
    state: State<Arc<AppState>>,
    caller: Caller,
    body: JsonBody<ChatCompletionRequest>,
) -> Response {
    match complete(state, caller, body).await {
        Ok(response) => response,
        Err(error) => error.openai().into_response(),
    }
}

async fn complete(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    JsonBody(request): JsonBody<ChatCompletionRequest>,
) -> Result<Response, ApiError> {
    let conversation = Conversation::from_wire(request.messages)?;
    // Checked before the thread is written, so that a bad name leaves nothing behind.
    let known = state
        .supervisor
        .status()
        .agents
        .iter()
        .any(|agent| agent.name.as_str() == request.model);
    if !known {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "model_not_found",
            format!(
                "no agent named {:?}; GET /v1/models lists them",
                request.model
            ),
        ));
    }
    let thread = state.threads.create(&caller.tenant);
    if !conversation.history.is_empty() {
        let history: Vec<Arc<Message>> = conversation.history.into_iter().map(Arc::new).collect();
        state
            .supervisor
            .store()
            .append(thread, Some(0), &history)
            .await?;
    }
    let run = start_run(
        &state,
        &caller,
        &request.model,
        thread,
        vec![conversation.input],
    )
    .await?;
    let headers = run_headers(run.run_id(), thread);
    let completion = CompletionMeta {
        id: wire::completion_id(run.run_id()),
        created: unix_seconds(),
        model: request.model,
    };
    if request.stream.unwrap_or(false) {
        let include_usage = request
            .stream_options
            .and_then(|options| options.include_usage)
            .unwrap_or(false);
        let chunks = chunk_stream(Arc::clone(&state), run, completion, include_usage);
        return Ok((headers, chunks).into_response());
    }
    let (content, finish_reason, usage) = match run.finish().await? {
        RunAnswer::Completed(finished) => (
            finished.output,
            wire::finish_reason(finished.finish_reason),
            finished.usage,
        ),
        RunAnswer::Paused(paused) => (
            waiting_for_approval(paused.run_id, &paused.pending),
            "stop",
            paused.usage,
        ),
    };
    let body = ChatCompletion {
        id: &completion.id,
        object: "chat.completion",
        created: completion.created,
        model: &completion.model,
        choices: [Choice {
            index: 0,
            message: AssistantMessage {
                role: "assistant",
                content: &content,
            },
            finish_reason,
            logprobs: None,
        }],
        usage: usage.into(),
    };
    Ok((headers, Json(body)).into_response())
}

/// The assistant message of a completion whose run paused: what waits, and where to decide.
fn waiting_for_approval(run: RunId, pending: &[PendingApproval]) -> String {
    let calls: Vec<String> = pending
        .iter()
        .map(|call| format!("{} ({})", call.call_id, call.tool))
        .collect();
    format!(
        "Run {run} is waiting for approval of tool calls {}. Decide each with \
         POST /v1/runs/{run}/approvals/{{call_id}} (GET /v1/runs/{run}/approvals lists them); \
         the run goes on once all are decided.",
        calls.join(", ")
    )
}

/// What every chunk of one completion repeats.
#[derive(Debug)]
struct CompletionMeta {
    id: String,
    created: u64,
    model: String,
}

impl CompletionMeta {
    fn chunk<'a>(
        &'a self,
        choices: Vec<ChunkChoice<'a>>,
        usage: Option<CompletionUsage>,
    ) -> ChatCompletionChunk<'a> {
        ChatCompletionChunk {
            id: &self.id,
            object: "chat.completion.chunk",
            created: self.created,
            model: &self.model,
            choices,
            usage,
        }
    }

    /// The last events of a stream: the chunk with the finish reason, the usage if asked for,
    /// `[DONE]`.
    fn ending(&self, finish_reason: &'static str, usage: Usage, include_usage: bool) -> Vec<Event> {
        let mut events = vec![self.delta(Delta::default(), Some(finish_reason))];
        if include_usage {
            events.push(data_event(&self.chunk(Vec::new(), Some(usage.into()))));
        }
        events.push(Event::default().data("[DONE]"));
        events
    }

    fn delta<'a>(&'a self, delta: Delta<'a>, finish_reason: Option<&'static str>) -> Event {
        data_event(&self.chunk(
            vec![ChunkChoice {
                index: 0,
                delta,
                finish_reason,
                logprobs: None,
            }],
            None,
        ))
    }
}

/// The run as `chat.completion.chunk` events: the assistant role, the text deltas, a final
/// chunk with the finish reason, the usage if asked for, then `[DONE]`. A run that pauses
/// ends the same way, after a delta that says it waits for approval. A failure is sent as an
/// `{"error": …}` event and ends the stream.
fn chunk_stream(
    state: Arc<AppState>,
    run: RelayedRun,
    completion: CompletionMeta,
    include_usage: bool,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let run_id = run.run_id();
    let opening = completion.delta(
        Delta {
            role: Some("assistant"),
            content: Some(""),
        },
        None,
    );
    let mut last_finish: Option<FinishReason> = None;
    let mut step_usage = Usage::default();
    let mut wrote_text = false;
    let events = run.flat_map(move |event| {
        let events = match event {
            RunEvent::TextDelta { delta } => {
                wrote_text = true;
                vec![completion.delta(
                    Delta {
                        role: None,
                        content: Some(&delta),
                    },
                    None,
                )]
            }
            RunEvent::StepFinished {
                finish_reason,
                usage,
                ..
            } => {
                last_finish = Some(finish_reason);
                step_usage += usage;
                Vec::new()
            }
            RunEvent::Completed { usage, .. } => {
                completion.ending(wire::finish_reason(last_finish), usage, include_usage)
            }
            RunEvent::Paused { run_id, pending } => {
                // Set apart from whatever the model wrote before it called the tools.
                let gap = if wrote_text { "\n\n" } else { "" };
                let waiting = format!("{gap}{}", waiting_for_approval(run_id, &pending));
                let mut events = vec![completion.delta(
                    Delta {
                        role: None,
                        content: Some(&waiting),
                    },
                    None,
                )];
                events.extend(completion.ending("stop", step_usage, include_usage));
                events
            }
            RunEvent::Failed { error } => {
                let error = ApiError::run_failed(run_id, &error, state.shutting_down()).openai();
                vec![data_event(&error.body())]
            }
            _ => Vec::new(),
        };
        stream::iter(events.into_iter().map(Ok))
    });
    Sse::new(stream::once(async move { Ok(opening) }).chain(events))
        .keep_alive(KeepAlive::default())
}

/// An SSE event whose data is `value` as JSON.
fn data_event(value: &impl Serialize) -> Event {
    match serde_json::to_string(value) {
        Ok(json) => Event::default().data(json),
        Err(error) => {
            tracing::error!(%error, "a chunk could not be encoded");
            Event::default()
                .data(r#"{"error":{"type":"internal","message":"a chunk could not be encoded"}}"#)
        }
    }
}
