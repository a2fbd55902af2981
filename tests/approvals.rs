//! Pausing for a person: calls that wait for approval, decisions, and the run going on from
//! those calls (in memory; the durable and cross-process cases are in baton-store's
//! `tests/ledger_processes.rs`).

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

/// Starts a run of `refunds` on a new thread and reads it to its pause.
async fn pause(supervisor: &Supervisor, input: &str) -> (RunId, Vec<PendingApproval>) {
    let stream = supervisor
        .run("refunds", ThreadId::new(), input)
        .await
        .unwrap();
    let run = stream.run_id();
    (run, paused(&collect(stream).await))
}

/// Decides `call`, which must be the last that waits: the run's stream goes on.
async fn resumed(supervisor: &Supervisor, run: RunId, call: &str, decision: Decision) -> RunStream {
    match supervisor.decide(run, call, decision).await.unwrap() {
        Decided::Resumed(stream) => stream,
        other => panic!("the last call was decided, but: {other:?}"),
    }
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
    let stream = resumed(&supervisor, run, &pending[0].call_id, Decision::approve()).await;
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
    let (run, pending) = pause(&supervisor, "refund A-1").await;
    let stream = resumed(
        &supervisor,
        run,
        &pending[0].call_id,
        Decision::reject("not a duplicate"),
    )
    .await;
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
    let stream = resumed(&supervisor, run, &pending[0].call_id, Decision::approve()).await;
    let (output, _) = stream.finish().await.unwrap();
    let parts: Vec<&str> = output.split(" | ").collect();
    assert_eq!(parts.len(), 3, "{output}");
    assert!(parts[0].starts_with("refunded 1 on A-1"), "{output}");
    assert_eq!(parts[1], "order A-1 was charged twice");
    assert_eq!(parts[2], "rejected by a person: too much");
    assert_eq!(refund.0.load(Ordering::SeqCst), 1);
    assert_eq!(llm.call_count(), 2);
    // The read-only call ran once, before the pause: its result was recorded, and used.
    let log = episodes(supervisor.store(), run).await;
    let lookups = |kind: fn(&Episode) -> bool| log.iter().filter(|e| kind(e)).count();
    assert_eq!(
        lookups(|e| matches!(e, Episode::ToolIntended { tool, .. } if tool == "order_lookup")),
        1,
        "{log:?}"
    );
    assert_eq!(
        lookups(|e| matches!(e, Episode::ToolReturned { tool, .. } if tool == "order_lookup")),
        1
    );
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
    let (run, pending) = pause(&supervisor, "refund three").await;
    let stream = resumed(
        &supervisor,
        run,
        &pending[0].call_id,
        Decision::approve_for_run(),
    )
    .await;
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

    // The same policy on a refund above 100: it waits.
    let refund = Refund::default();
    let llm = provider(ScriptedProvider::from_fn(|request| {
        match tool_results(request).last() {
            None => Script::tool_call("refund", json!({ "order": "A-9", "amount": 250.0 })),
            Some(result) => Script::text(&format!("done: {result}")),
        }
    }));
    let big = Approval::when(|args, _run| args["amount"].as_f64().is_none_or(|a| a > 100.0));
    let waiting = crate::supervisor(llm, refund.clone(), big).await;
    let stream = waiting
        .run("refunds", ThreadId::new(), "refund A-9")
        .await
        .unwrap();
    let pending = paused(&collect(stream).await);
    assert!(pending[0].arguments.contains("250"), "{pending:?}");
    assert_eq!(refund.0.load(Ordering::SeqCst), 0);
}

#[tokio::test(start_paused = true)]
async fn max_steps_counts_the_steps_before_and_after_each_pause() {
    let refund = Refund::default();
    // Refunds forever: only max_steps ends the run.
    let llm = provider(ScriptedProvider::from_fn(|request| {
        let n = tool_results(request).len();
        Script::tool_call(
            "refund",
            json!({ "order": format!("A-{n}"), "amount": 1.0 }),
        )
    }));
    let options = RunOptions::default().with_max_steps(2);
    let supervisor = supervisor_with(llm, refund.clone(), Approval::Always, options).await;
    let stream = supervisor
        .run("refunds", ThreadId::new(), "refund")
        .await
        .unwrap();
    let run = stream.run_id();
    let mut events = collect(stream).await;
    let mut pauses = 0;
    while let Some(RunEvent::Paused { pending, .. }) = events.last().cloned() {
        pauses += 1;
        assert!(pauses <= 2, "max_steps = 2 allows two steps, so two pauses");
        let Decided::Resumed(stream) = supervisor
            .decide(run, &pending[0].call_id, Decision::approve())
            .await
            .unwrap()
        else {
            panic!("the only call was decided")
        };
        events = collect(stream).await;
    }
    assert!(
        matches!(
            events.last(),
            Some(RunEvent::Failed {
                error: RunError::MaxSteps { steps: 2 }
            })
        ),
        "{events:?}"
    );
    assert_eq!(pauses, 2);
    assert_eq!(refund.0.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn a_decision_whose_run_could_not_go_on_is_taken_up_later() {
    let refund = Refund::default();
    let store: Arc<dyn Store> = InMemoryStore::shared();
    let build = |store: Arc<dyn Store>| {
        Supervisor::builder()
            .provider(refund_model())
            .store(store)
            .agent(
                Agent::builder("refunds")
                    .tool(refund.clone())
                    .approval("refund", Approval::Always)
                    .build()
                    .unwrap(),
            )
            .spawn()
    };
    let first = build(Arc::clone(&store)).await.unwrap();
    let (run, pending) = pause(&first, "refund A-1").await;
    // The process stops taking runs: the decision is recorded, and the run cannot go on here.
    first.shutdown(Duration::from_secs(1)).await;
    let err = first
        .decide(run, &pending[0].call_id, Decision::approve())
        .await
        .unwrap_err();
    assert!(matches!(err, SupervisorError::ShuttingDown), "{err}");
    // Another process finds it decided, with nothing waiting, and takes it up.
    let second = build(Arc::clone(&store)).await.unwrap();
    assert!(second.pending_approvals(run).await.unwrap().is_empty());
    assert_eq!(second.resume_expired().await.unwrap(), [run]);
    second.idle().await;
    let log = episodes(&store, run).await;
    assert!(
        matches!(log.last(), Some(Episode::Completed { output, .. }) if output.starts_with("done: refunded")),
        "{log:?}"
    );
    assert_eq!(refund.0.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn a_paused_run_can_be_cancelled_and_its_thread_is_free() {
    let refund = Refund::default();
    let supervisor = supervisor(refund_model(), refund.clone(), Approval::Always).await;
    let thread = ThreadId::new();
    let stream = supervisor
        .run("refunds", thread, "refund A-1")
        .await
        .unwrap();
    let run = stream.run_id();
    let pending = paused(&collect(stream).await);
    let expired = supervisor
        .decide(run, &pending[0].call_id, Decision::Expired)
        .await
        .unwrap_err();
    assert!(
        matches!(expired, SupervisorError::InvalidDecision(_)),
        "{expired}"
    );
    supervisor.cancel_paused(run).await.unwrap();
    let log = episodes(supervisor.store(), run).await;
    assert!(
        matches!(
            log.last(),
            Some(Episode::Failed {
                kind: baton::core::error::FailureKind::Cancelled,
                ..
            })
        ),
        "{log:?}"
    );
    let err = supervisor
        .decide(run, &pending[0].call_id, Decision::approve())
        .await
        .unwrap_err();
    assert!(matches!(err, SupervisorError::NotPaused { .. }), "{err}");
    // The thread is free: a new run on it is not refused (it asks for its own refund).
    let again = supervisor
        .run("refunds", thread, "hello again")
        .await
        .unwrap()
        .finish()
        .await;
    assert!(matches!(again, Err(RunError::Paused { .. })), "{again:?}");
    assert_eq!(refund.0.load(Ordering::SeqCst), 0);
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
    let (run, pending) = pause(&supervisor, "refund A-1").await;
    assert!(pending[0].expires_at_ms.is_some());
    let late = supervisor
        .decide(run, &pending[0].call_id, Decision::approve())
        .await
        .unwrap_err();
    assert!(
        matches!(late, SupervisorError::ApprovalExpired { .. }),
        "{late}"
    );
    // Past the deadline the run still holds its thread, with its parked lease; resuming it
    // takes it up and applies the expiry.
    let unfinished = supervisor.unfinished_runs().await.unwrap();
    assert_eq!(unfinished[0].driver.as_ref().unwrap().owner, "paused");
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
    let in_time = supervisor_with(
        refund_model(),
        refund.clone(),
        Approval::Always,
        RunOptions::default().with_approval_timeout(Some(Duration::from_secs(3600))),
    )
    .await;
    let waiting = in_time
        .run("refunds", ThreadId::new(), "refund A-1")
        .await
        .unwrap();
    paused(&collect(waiting).await);
    assert!(
        in_time.resume_expired().await.unwrap().is_empty(),
        "an hour is not up"
    );

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
