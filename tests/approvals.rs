//! Pausing for a person: calls that wait for approval, decisions, and the run going on from
//! those calls (in memory; the durable and cross-process cases are in `tool_ledger.rs`).

mod support;

use baton::core::memory::InMemoryStore;
use baton::prelude::*;
use baton_testkit::{Script, ScriptedProvider};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use support::*;

/// Refunds an order; counts its executions.
#[derive(Clone, Default)]
struct Refund(Arc<AtomicUsize>);

#[derive(Deserialize, JsonSchema)]
struct RefundArgs {
    /// The order.
    order: String,
    /// The amount.
    amount: f64,
}

impl Tool for Refund {
    type Args = RefundArgs;
    fn name(&self) -> &str {
        "refund"
    }
    fn description(&self) -> &str {
        "Refunds an order."
    }
    async fn call(&self, args: RefundArgs, ctx: &ToolContext<'_>) -> Result<String, ToolError> {
        let n = self.0.fetch_add(1, Ordering::SeqCst) + 1;
        Ok(format!(
            "refunded {} on {} (execution {n}, key {})",
            args.amount,
            args.order,
            ctx.idempotency_key()
        ))
    }
}

/// Every tool result the model saw in its last request.
fn tool_results(request: &ChatRequest) -> Vec<String> {
    request
        .messages
        .iter()
        .filter(|m| m.role() == baton::core::llm::Role::Tool)
        .map(|m| m.content().to_owned())
        .collect()
}

async fn supervisor(llm: Arc<ScriptedProvider>, refund: Refund, approval: Approval) -> Supervisor {
    supervisor_with(llm, refund, approval, RunOptions::default()).await
}

async fn supervisor_with(
    llm: Arc<ScriptedProvider>,
    refund: Refund,
    approval: Approval,
    options: RunOptions,
) -> Supervisor {
    Supervisor::builder()
        .provider(llm)
        .store(InMemoryStore::shared())
        .agent(
            Agent::builder("refunds")
                .tool(refund)
                .tool(OrderLookup)
                .approval("refund", approval)
                .options(options)
                .build()
                .unwrap(),
        )
        .spawn()
        .await
        .unwrap()
}

/// Approvals expire as soon as they are asked for.
fn expiring_at_once() -> RunOptions {
    RunOptions::default().with_approval_timeout(Some(Duration::ZERO))
}

/// Calls `refund` until it has a result, then answers with what the tool said.
fn refund_model() -> Arc<ScriptedProvider> {
    provider(ScriptedProvider::from_fn(|request| {
        let results = tool_results(request);
        match results.last() {
            None => Script::tool_call("refund", json!({ "order": "A-1", "amount": 49.9 })),
            Some(result) => Script::text(&format!("done: {result}")),
        }
    }))
}

fn paused(events: &[RunEvent]) -> Vec<PendingApproval> {
    match events.last() {
        Some(RunEvent::Paused { pending, .. }) => pending.clone(),
        other => panic!("the run should have paused: {other:?} in {events:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn an_approved_call_runs_once_and_the_model_sees_its_result() {
    let refund = Refund::default();
    let llm = refund_model();
    let supervisor = supervisor(llm.clone(), refund.clone(), Approval::Always).await;
    let thread = ThreadId::new();
    let stream = supervisor
        .run("refunds", thread, "refund A-1")
        .await
        .unwrap();
    let run = stream.run_id();
    let events = collect(stream).await;
    let pending = paused(&events);
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].tool, "refund");
    assert!(pending[0].arguments.contains("A-1"));
    assert!(events.iter().any(|e| matches!(
        e,
        RunEvent::ApprovalRequested { run_id, name, .. } if *run_id == run && name == "refund"
    )));
    assert_eq!(
        refund.0.load(Ordering::SeqCst),
        0,
        "nothing ran before approval"
    );
    assert_eq!(llm.call_count(), 1);
    assert_eq!(
        supervisor.status().active_runs,
        0,
        "a paused run holds no task"
    );

    // The thread stays the run's: another run on it is refused, and says by which run.
    let other = supervisor.run("refunds", thread, "hello").await.unwrap();
    let refused = other.finish().await.unwrap_err();
    assert!(
        matches!(&refused, RunError::Store { error: StoreError::ThreadBusy { holder, .. } } if *holder == run),
        "{refused:?}"
    );
    // It cannot be resumed without a decision.
    let err = supervisor.resume(run).await.unwrap_err();
    assert!(err.to_string().contains("waiting for approval"), "{err}");

    let listed = supervisor.pending_approvals(run).await.unwrap();
    assert_eq!(listed, pending);
    let Decided::Resumed(stream) = supervisor
        .decide(run, &pending[0].call_id, Decision::approve())
        .await
        .unwrap()
    else {
        panic!("the only call was decided")
    };
    let (output, _) = stream.finish().await.unwrap();
    assert!(
        output.starts_with("done: refunded 49.9 on A-1 (execution 1"),
        "{output}"
    );
    assert_eq!(refund.0.load(Ordering::SeqCst), 1);
    // The model was asked again only after the call, not for the paused step.
    assert_eq!(llm.call_count(), 2);
    assert_eq!(tool_results(&llm.requests()[1]).len(), 1);
    let log = episodes(supervisor.store(), run).await;
    assert!(
        matches!(log.last(), Some(Episode::Completed { .. })),
        "{log:?}"
    );
    assert!(log.iter().any(|e| matches!(e, Episode::Paused { .. })));
    assert!(
        log.iter()
            .any(|e| matches!(e, Episode::ApprovalDecided { .. }))
    );
    assert!(
        log.iter()
            .any(|e| matches!(e, Episode::ToolReturned { ok: true, .. }))
    );
    // Decided already: nothing waits any more.
    let again = supervisor
        .decide(run, &pending[0].call_id, Decision::approve())
        .await
        .unwrap_err();
    assert!(
        matches!(again, SupervisorError::NotPaused { .. }),
        "{again}"
    );
    // The thread is free again.
    supervisor
        .run_to_completion("refunds", thread, "thanks")
        .await
        .unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_rejected_call_never_runs_and_the_model_sees_why() {
    let refund = Refund::default();
    let llm = refund_model();
    let supervisor = supervisor(llm.clone(), refund.clone(), Approval::Always).await;
    let stream = supervisor
        .run("refunds", ThreadId::new(), "refund A-1")
        .await
        .unwrap();
    let run = stream.run_id();
    let pending = paused(&collect(stream).await);
    let Decided::Resumed(stream) = supervisor
        .decide(
            run,
            &pending[0].call_id,
            Decision::reject("not a duplicate"),
        )
        .await
        .unwrap()
    else {
        panic!("the only call was decided")
    };
    let (output, _) = stream.finish().await.unwrap();
    assert_eq!(output, "done: rejected by a person: not a duplicate");
    assert_eq!(refund.0.load(Ordering::SeqCst), 0);
}

#[tokio::test(start_paused = true)]
async fn two_waiting_calls_are_decided_one_by_one_and_other_calls_run_before_the_pause() {
    let refund = Refund::default();
    let llm = provider(ScriptedProvider::from_fn(|request| {
        let results = tool_results(request);
        if results.is_empty() {
            Script::tool_calls([
                ("refund", json!({ "order": "A-1", "amount": 1.0 })),
                ("order_lookup", json!({ "order": "A-1" })),
                ("refund", json!({ "order": "A-2", "amount": 2.0 })),
            ])
        } else {
            Script::text(&results.join(" | "))
        }
    }));
    let supervisor = supervisor(llm.clone(), refund.clone(), Approval::Always).await;
    let stream = supervisor
        .run("refunds", ThreadId::new(), "refund both")
        .await
        .unwrap();
    let run = stream.run_id();
    let events = collect(stream).await;
    let pending = paused(&events);
    assert_eq!(pending.len(), 2);
    // The call that needs no approval ran before the pause.
    assert!(
        events.iter().any(
            |e| matches!(e, RunEvent::ToolCallFinished { name, .. } if name == "order_lookup")
        )
    );
    let first = supervisor
        .decide(run, &pending[1].call_id, Decision::reject("too much"))
        .await
        .unwrap();
    let Decided::Waiting { pending: left } = first else {
        panic!("one call still waits")
    };
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].call_id, pending[0].call_id);
    let Decided::Resumed(stream) = supervisor
        .decide(run, &pending[0].call_id, Decision::approve())
        .await
        .unwrap()
    else {
        panic!("the last call was decided")
    };
    let (output, _) = stream.finish().await.unwrap();
    let parts: Vec<&str> = output.split(" | ").collect();
    assert_eq!(parts.len(), 3, "{output}");
    assert!(parts[0].starts_with("refunded 1 on A-1"), "{output}");
    assert_eq!(parts[1], "order A-1 was charged twice");
    assert_eq!(parts[2], "rejected by a person: too much");
    assert_eq!(refund.0.load(Ordering::SeqCst), 1);
    assert_eq!(llm.call_count(), 2);
}

#[tokio::test(start_paused = true)]
async fn approving_for_the_run_lets_later_calls_of_the_tool_through() {
    let refund = Refund::default();
    let llm = provider(ScriptedProvider::from_fn(|request| {
        let results = tool_results(request);
        if results.len() < 3 {
            Script::tool_call(
                "refund",
                json!({ "order": format!("A-{}", results.len()), "amount": 1.0 }),
            )
        } else {
            Script::text("three refunds")
        }
    }));
    let supervisor = supervisor(llm.clone(), refund.clone(), Approval::Always).await;
    let stream = supervisor
        .run("refunds", ThreadId::new(), "refund three")
        .await
        .unwrap();
    let run = stream.run_id();
    let pending = paused(&collect(stream).await);
    let Decided::Resumed(stream) = supervisor
        .decide(run, &pending[0].call_id, Decision::approve_for_run())
        .await
        .unwrap()
    else {
        panic!("the only call was decided")
    };
    let (output, _) = stream.finish().await.unwrap();
    assert_eq!(output, "three refunds");
    assert_eq!(refund.0.load(Ordering::SeqCst), 3);
}

#[tokio::test(start_paused = true)]
async fn a_policy_function_decides_from_the_arguments() {
    let refund = Refund::default();
    let llm = refund_model();
    let big = Approval::when(|args, _run| args["amount"].as_f64().is_none_or(|a| a > 100.0));
    let supervisor = supervisor(llm, refund.clone(), big).await;
    let (output, _) = supervisor
        .run("refunds", ThreadId::new(), "refund A-1")
        .await
        .unwrap()
        .finish()
        .await
        .unwrap();
    assert!(output.starts_with("done: refunded 49.9"), "{output}");
    assert_eq!(refund.0.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn an_undecided_approval_past_its_deadline_is_rejected_as_expired() {
    let refund = Refund::default();
    let llm = refund_model();
    let supervisor = supervisor_with(
        llm.clone(),
        refund.clone(),
        Approval::Always,
        expiring_at_once(),
    )
    .await;
    let stream = supervisor
        .run("refunds", ThreadId::new(), "refund A-1")
        .await
        .unwrap();
    let run = stream.run_id();
    let pending = paused(&collect(stream).await);
    assert!(pending[0].expires_at_ms.is_some());
    let late = supervisor
        .decide(run, &pending[0].call_id, Decision::approve())
        .await
        .unwrap_err();
    assert!(
        matches!(late, SupervisorError::ApprovalExpired { .. }),
        "{late}"
    );
    // The parked lease lasts until the deadline; past it, the run is abandoned and resumes.
    tokio::time::advance(Duration::from_millis(5)).await;
    assert!(supervisor.unfinished_runs().await.unwrap()[0].is_abandoned());
    let stream = supervisor.resume(run).await.unwrap();
    let events = collect(stream).await;
    assert!(events.iter().any(|e| matches!(
        e,
        RunEvent::ApprovalDecided {
            decision: Decision::Expired,
            ..
        }
    )));
    let Some(RunEvent::Completed { output, .. }) = events.last() else {
        panic!("{events:?}")
    };
    assert!(output.contains("approval expired"), "{output}");
    assert_eq!(refund.0.load(Ordering::SeqCst), 0);
}

#[tokio::test(start_paused = true)]
async fn expired_approvals_are_swept_up_and_rejected() {
    let refund = Refund::default();
    let supervisor = supervisor_with(
        refund_model(),
        refund.clone(),
        Approval::Always,
        expiring_at_once(),
    )
    .await;
    let waiting = supervisor
        .run("refunds", ThreadId::new(), "refund A-1")
        .await
        .unwrap();
    let run = waiting.run_id();
    paused(&collect(waiting).await);
    // The deadline passed, but the parked lease still holds the run (it lapses a moment
    // after): nothing is swept yet.
    assert!(supervisor.resume_expired().await.unwrap().is_empty());
    tokio::time::advance(Duration::from_millis(5)).await;
    assert_eq!(supervisor.resume_expired().await.unwrap(), [run]);
    supervisor.idle().await;
    let log = episodes(supervisor.store(), run).await;
    assert!(
        matches!(log.last(), Some(Episode::Completed { output, .. }) if output.contains("approval expired")),
        "{log:?}"
    );
    assert_eq!(refund.0.load(Ordering::SeqCst), 0);
    assert!(supervisor.resume_expired().await.unwrap().is_empty());
}
