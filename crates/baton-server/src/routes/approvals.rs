//! `/v1/runs/{id}/approvals`: the calls a paused run waits on, and the decisions that take it
//! up again.
//!
//! A decision is recorded durably before it is answered. While other calls of the run still
//! wait, the answer is the calls that do (`{"status": "paused", "pending": […]}`, or with
//! `stream` one SSE `paused` event with them). The decision that leaves none waiting takes
//! the run up, and it is answered as `POST /v1/runs/{id}/resume` answers: SSE of the rest of
//! the run with `stream`, its end as JSON without.

use super::runs::{answer, ensure_belongs_to, run_headers, sse_event};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{IdAndNamePath, IdPath, JsonBody};
use crate::relay::{PausedRun, RunAnswer, relay, settings_of};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::sse::Sse;
use axum::response::{IntoResponse, Response};
use baton_core::actor::{Decided, SupervisorError};
use baton_core::ids::{RunId, ThreadId};
use baton_core::memory::{Decision, Episode, EpisodeRecord, started};
use baton_core::run::{PendingApproval, RunEvent, pending_approvals};
use futures::stream;
use serde::{Deserialize, Serialize};
use std::convert::Infallible;
use std::sync::Arc;

/// The calls a run waits on.
#[derive(Debug, Serialize)]
pub(crate) struct ApprovalList {
    run_id: RunId,
    /// Empty unless the run is paused.
    pending: Vec<PendingApproval>,
}

/// The body of `POST /v1/runs/{id}/approvals/{call}`, as the client wrote it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DecisionRequest {
    decision: DecisionKind,
    /// With `approve`: also approve every later call of the tool in this run.
    #[serde(default)]
    for_run: Option<bool>,
    /// With `reject`: why, for the model.
    #[serde(default)]
    reason: Option<String>,
    /// Stream the taken-up run's events as SSE instead of answering once it ended.
    #[serde(default)]
    stream: bool,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum DecisionKind {
    Approve,
    Reject,
}

const DECISION_SHAPES: &str = r#"send {"decision": "approve"}, {"decision": "approve", "for_run": true} or {"decision": "reject", "reason": "..."}"#;

fn invalid_decision(reason: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request(
        "invalid_decision",
        format!("invalid decision: {reason}; {DECISION_SHAPES}"),
    )
}

/// A body read as a decision, and whether to stream what follows.
fn parse_decision(body: serde_json::Value) -> Result<(Decision, bool), ApiError> {
    let request: DecisionRequest = serde_json::from_value(body).map_err(invalid_decision)?;
    let decision = match (request.decision, request.for_run, request.reason) {
        (DecisionKind::Approve, for_run, None) => Decision::Approved {
            for_run: for_run.unwrap_or(false),
        },
        (DecisionKind::Approve, _, Some(_)) => {
            return Err(invalid_decision(
                "\"reason\" goes with \"reject\"; an approval takes only \"for_run\"",
            ));
        }
        (DecisionKind::Reject, Some(_), _) => {
            return Err(invalid_decision("\"for_run\" goes with \"approve\""));
        }
        (DecisionKind::Reject, None, reason) => match reason {
            Some(reason) if !reason.trim().is_empty() => Decision::reject(reason),
            _ => {
                return Err(invalid_decision(
                    "a rejection needs a non-empty \"reason\": the model is told it",
                ));
            }
        },
    };
    Ok((decision, request.stream))
}

/// `GET /v1/runs/{id}/approvals`: the calls the run waits on.
pub(crate) async fn list(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    IdPath(run): IdPath<RunId>,
) -> Result<Json<ApprovalList>, ApiError> {
    let log = state.supervisor.store().episodes(run).await?;
    ensure_belongs_to(&state, &caller, run, Some(&log)).await?;
    Ok(Json(ApprovalList {
        run_id: run,
        pending: pending_approvals(run, &log),
    }))
}

/// `POST /v1/runs/{id}/approvals/{call}`: decides one call of a paused run (see the module
/// docs for the answer).
pub(crate) async fn decide(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    IdAndNamePath(run, call): IdAndNamePath<RunId>,
    JsonBody(body): JsonBody<serde_json::Value>,
) -> Result<Response, ApiError> {
    let (decision, stream) = parse_decision(body)?;
    let store = state.supervisor.store();
    let log = store.episodes(run).await?;
    ensure_belongs_to(&state, &caller, run, Some(&log)).await?;
    let Some((agent, thread)) = started(&log) else {
        return Err(ApiError::run_not_found());
    };
    let agent = agent.to_string();
    let approved = decision.is_approved();
    let decided = match state
        .supervisor
        .decide_with(run, &call, decision, settings_of(&caller))
        .await
    {
        Ok(decided) => decided,
        Err(SupervisorError::UnknownCall { .. })
            if decided_already(&store.episodes(run).await?, &call) =>
        {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "already_decided",
                format!(
                    "call {call:?} of run {run} was decided already; \
                     GET /v1/runs/{run}/approvals lists the calls that still wait"
                ),
            ));
        }
        Err(error) => return Err(error.into()),
    };
    tracing::info!(run_id = %run, call_id = %call, approved, tenant = %caller.tenant, "approval decided");
    match decided {
        Decided::Waiting { pending } => Ok(still_waiting(run, thread, pending, stream)),
        Decided::Resumed(resumed) => {
            answer(relay(&state, &caller, &agent, thread, resumed), stream).await
        }
        other => {
            tracing::error!(run_id = %run, ?other, "a decision came to something this server does not know");
            Err(ApiError::for_status(StatusCode::INTERNAL_SERVER_ERROR))
        }
    }
}

/// The answer to a decision that left other calls waiting: they, as JSON or as the one event
/// of an SSE stream.
fn still_waiting(
    run: RunId,
    thread: ThreadId,
    pending: Vec<PendingApproval>,
    stream: bool,
) -> Response {
    let headers = run_headers(run, thread);
    if stream {
        let paused = sse_event(&RunEvent::Paused {
            run_id: run,
            pending,
        });
        let events = stream::once(async move { Ok::<_, Infallible>(paused) });
        return (headers, Sse::new(events)).into_response();
    }
    let body = RunAnswer::Paused(PausedRun {
        run_id: run,
        thread_id: thread,
        pending,
        usage: baton_core::llm::Usage::default(),
    });
    (headers, Json(body)).into_response()
}

/// Whether `call` was decided in the step the run last paused in.
fn decided_already(log: &[EpisodeRecord], call: &str) -> bool {
    let paused_step = log.iter().rev().find_map(|record| match &record.episode {
        Episode::Paused { step, .. } => Some(*step),
        _ => None,
    });
    paused_step.is_some_and(|paused| {
        log.iter().any(|record| {
            matches!(
                &record.episode,
                Episode::ApprovalDecided { step, call_id, .. } if *step == paused && call_id == call
            )
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_three_shapes_are_decisions() {
        assert_eq!(
            parse_decision(json!({"decision": "approve"})).unwrap(),
            (Decision::approve(), false)
        );
        assert_eq!(
            parse_decision(json!({"decision": "approve", "for_run": true, "stream": true}))
                .unwrap(),
            (Decision::approve_for_run(), true)
        );
        assert_eq!(
            parse_decision(json!({"decision": "reject", "reason": "too much"})).unwrap(),
            (Decision::reject("too much"), false)
        );
    }

    #[test]
    fn other_bodies_are_refused_with_what_to_send() {
        for (body, says) in [
            (json!({}), "missing field `decision`"),
            (json!({"decision": "maybe"}), "unknown variant `maybe`"),
            (json!({"decision": "reject"}), "non-empty \"reason\""),
            (
                json!({"decision": "reject", "reason": "  "}),
                "non-empty \"reason\"",
            ),
            (
                json!({"decision": "approve", "reason": "why not"}),
                "\"reason\" goes with \"reject\"",
            ),
            (
                json!({"decision": "reject", "reason": "no", "for_run": true}),
                "\"for_run\" goes with \"approve\"",
            ),
            (
                json!({"decision": "approve", "extra": 1}),
                "unknown field `extra`",
            ),
            (json!([1]), "invalid decision"),
        ] {
            let error = parse_decision(body.clone()).unwrap_err();
            assert_eq!(
                (error.status, error.kind),
                (StatusCode::BAD_REQUEST, "invalid_decision"),
                "{body}"
            );
            assert!(error.message.contains(says), "{body}: {}", error.message);
            assert!(error.message.contains(DECISION_SHAPES), "{}", error.message);
        }
    }
}
