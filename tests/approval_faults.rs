//! Approvals and the tool-call ledger under store faults, randomized: runs whose steps call
//! tools that may wait for a person (tracked or read-only), decisions drawn at random, and a
//! store that fails or panics on a drawn call of each kind (ledger writes, hand-overs, commits,
//! leases, log reads). After each case: every run ended (completed or failed, one terminal
//! episode), none is left paused or leased, no call with side effects ran twice, a rejected
//! call never ran, and a completed run ran every read-only call it did not reject.
//!
//! `BATON_APPROVAL_CASES` (default 300) and `BATON_APPROVAL_SEED` choose the cases.

mod support;

use baton::core::memory::InMemoryStore;
use baton::prelude::*;
use baton_testkit::{
    Ended, ObservedStore, Script, ScriptedProvider, StoreCall, StoreObserver, StoreOp,
};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, RngSeed, TestRunner};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// What a call of a step is.
#[derive(Debug, Clone, Copy)]
struct CallPlan {
    /// `charge` (tracked) or `look` (read-only).
    tracked: bool,
    /// Whether it waits for a person.
    asks: bool,
    /// The decision it gets if it waits: approve or reject.
    approve: bool,
}

/// A fault on the `nth` call of a kind.
#[derive(Debug, Clone, Copy)]
struct FaultPlan {
    call: StoreCall,
    nth: usize,
    panic: bool,
}

#[derive(Debug, Clone)]
struct Case {
    /// The tool steps; the model answers after the last.
    steps: Vec<Vec<CallPlan>>,
    faults: Vec<FaultPlan>,
}

fn case() -> impl Strategy<Value = Case> {
    let call = (
        any::<bool>(),
        prop::bool::weighted(0.5),
        prop::bool::weighted(0.7),
    )
        .prop_map(|(tracked, asks, approve)| CallPlan {
            tracked,
            asks,
            approve,
        });
    let fault = (
        prop_oneof![
            Just(StoreCall::RecordLeased),
            Just(StoreCall::HandOverLease),
            Just(StoreCall::CommitStep),
            Just(StoreCall::RenewLease),
            Just(StoreCall::AcquireLease),
            Just(StoreCall::ReleaseLease),
            Just(StoreCall::Episodes),
            Just(StoreCall::Record),
            Just(StoreCall::Append),
        ],
        0usize..6,
        prop::bool::weighted(0.2),
    )
        .prop_map(|(call, nth, panic)| FaultPlan { call, nth, panic });
    (vec(vec(call, 1..=3), 1..=3), vec(fault, 0..=3))
        .prop_map(|(steps, faults)| Case { steps, faults })
}

/// Fails (or panics on) the drawn calls, each once.
struct Faults {
    plans: Vec<FaultPlan>,
    seen: Mutex<HashMap<StoreCall, usize>>,
}

impl StoreObserver for Faults {
    fn before(&self, op: &StoreOp<'_>) -> Result<(), StoreError> {
        let call = op.call();
        let nth = {
            let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
            let count = seen.entry(call).or_default();
            *count += 1;
            *count - 1
        };
        match self.plans.iter().find(|f| f.call == call && f.nth == nth) {
            Some(fault) if fault.panic => panic!("injected: {call:?} #{nth} panicked"),
            Some(_) => Err(StoreError::Backend(format!(
                "injected: {call:?} #{nth} failed"
            ))),
            None => Ok(()),
        }
    }

    fn after(&self, _op: &StoreOp<'_>, _ended: Ended<'_>) {}
}

/// The arguments of both tools: where the call is in the case.
#[derive(Deserialize, JsonSchema)]
struct Args {
    /// The step, from 0.
    step: usize,
    /// The call, from 0.
    call: usize,
    /// Whether the call waits for a person.
    asks: bool,
}

type Executions = Arc<Mutex<HashMap<(usize, usize), usize>>>;

fn count(executions: &Executions, args: &Args) {
    *executions
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .entry((args.step, args.call))
        .or_default() += 1;
}

struct Charge(Executions);

impl Tool for Charge {
    type Args = Args;
    fn name(&self) -> &str {
        "charge"
    }
    fn description(&self) -> &str {
        "Charges: a side effect."
    }
    async fn call(&self, args: Args, _ctx: &ToolContext<'_>) -> Result<String, ToolError> {
        count(&self.0, &args);
        Ok(format!(
            "charged {} {} (approved: {})",
            args.step, args.call, args.asks
        ))
    }
}

struct Look(Executions);

impl Tool for Look {
    type Args = Args;
    fn name(&self) -> &str {
        "look"
    }
    fn description(&self) -> &str {
        "Looks something up."
    }
    fn read_only(&self) -> bool {
        true
    }
    async fn call(&self, args: Args, _ctx: &ToolContext<'_>) -> Result<String, ToolError> {
        count(&self.0, &args);
        Ok(format!(
            "looked {} {} (approved: {})",
            args.step, args.call, args.asks
        ))
    }
}

/// Steps through the case's tool steps (counted by the assistant messages with calls so far),
/// then answers.
fn model(case: &Case) -> ScriptedProvider {
    let steps = case.steps.clone();
    ScriptedProvider::from_fn(move |request| {
        let done = request
            .messages
            .iter()
            .filter(|m| m.role() == baton::core::llm::Role::Assistant)
            .count();
        match steps.get(done) {
            Some(calls) => Script::tool_calls(calls.iter().enumerate().map(|(k, c)| {
                let tool = if c.tracked { "charge" } else { "look" };
                (tool, json!({ "step": done, "call": k, "asks": c.asks }))
            })),
            None => Script::text("done"),
        }
    })
    .without_recording()
}

/// What a drawn case came to.
#[derive(Debug)]
struct Outcome {
    terminal: Vec<Episode>,
    completed: bool,
    executions: HashMap<(usize, usize), usize>,
    unfinished: usize,
    refused_start: bool,
}

async fn play(case: &Case) -> Outcome {
    let executions = Executions::default();
    let inner: Arc<dyn Store> = InMemoryStore::shared();
    let store: Arc<dyn Store> = Arc::new(ObservedStore::wrap(
        Arc::clone(&inner),
        Faults {
            plans: case.faults.clone(),
            seen: Mutex::default(),
        },
    ));
    let asks = Approval::when(|args, _run| args["asks"].as_bool().unwrap_or(true));
    let supervisor = Supervisor::builder()
        .provider(Arc::new(model(case)))
        .store(Arc::clone(&store))
        .restart_budget(1_000, Duration::from_secs(60))
        .agent(
            Agent::builder("worker")
                .tool(Charge(Arc::clone(&executions)))
                .tool(Look(Arc::clone(&executions)))
                .approval("charge", asks.clone())
                .approval("look", asks)
                .options(
                    RunOptions::default()
                        .with_retry(RetryPolicy::none())
                        .with_max_steps(10),
                )
                .build()
                .unwrap(),
        )
        .spawn()
        .await
        .unwrap();
    let decision_of = |call_id: &str, pending: &[PendingApproval]| {
        let tool_call = pending.iter().find(|p| p.call_id == call_id).unwrap();
        let args: serde_json::Value = serde_json::from_str(&tool_call.arguments).unwrap();
        let step = args["step"].as_u64().unwrap() as usize;
        let call = args["call"].as_u64().unwrap() as usize;
        if case.steps[step][call].approve {
            Decision::approve()
        } else {
            Decision::reject("no")
        }
    };

    let thread = ThreadId::new();
    let mut refused_start = false;
    let run = match supervisor.run("worker", thread, "go").await {
        Ok(stream) => {
            let run = stream.run_id();
            drain(stream).await;
            Some(run)
        }
        Err(_) => {
            refused_start = true;
            None
        }
    };
    if let Some(run) = run {
        // Decide, resume, sweep, until the run has ended (every fault strikes once).
        for _ in 0..40 {
            supervisor.idle().await;
            let log = inner.episodes(run).await.unwrap();
            if log.is_empty() {
                // Refused its lease: it never started, and wrote nothing.
                refused_start = true;
                break;
            }
            if log.iter().any(|r| r.episode.is_terminal()) {
                break;
            }
            // The store may panic under the supervisor's calls, as under the runs.
            let Some(Ok(pending)) = unwinding(supervisor.pending_approvals(run)).await else {
                continue;
            };
            if let Some(first) = pending.first() {
                let decision = decision_of(&first.call_id, &pending);
                if let Some(Ok(Decided::Resumed(stream))) =
                    unwinding(supervisor.decide(run, &first.call_id, decision)).await
                {
                    drain(stream).await;
                }
                continue;
            }
            // Nothing waits: a run whose last decision could not take it up, or whose driver
            // failed to record its end, or a run abandoned by a failed write.
            let swept = unwinding(supervisor.resume_expired()).await;
            if !matches!(swept, Some(Ok(runs)) if !runs.is_empty()) {
                tokio::time::advance(Duration::from_secs(31)).await;
                if let Some(Ok(stream)) = unwinding(supervisor.resume(run)).await {
                    drain(stream).await;
                }
            }
        }
    }
    supervisor.idle().await;
    tokio::time::advance(Duration::from_secs(31)).await;
    let (terminal, completed) = match run {
        Some(run) => {
            let log: Vec<Episode> = inner
                .episodes(run)
                .await
                .unwrap()
                .into_iter()
                .map(|r| r.episode)
                .collect();
            let completed = matches!(log.last(), Some(Episode::Completed { .. }));
            (
                log.into_iter().filter(Episode::is_terminal).collect(),
                completed,
            )
        }
        None => (Vec::new(), false),
    };
    let unfinished = inner
        .unfinished_runs()
        .await
        .map(|runs| runs.len())
        .unwrap_or(usize::MAX);
    supervisor.shutdown(Duration::ZERO).await;
    let executions = executions
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    Outcome {
        terminal,
        completed,
        executions,
        unfinished,
        refused_start,
    }
}

/// `future`'s output, or `None` if it panicked.
async fn unwinding<T>(future: impl std::future::Future<Output = T>) -> Option<T> {
    use futures::FutureExt;
    std::panic::AssertUnwindSafe(future)
        .catch_unwind()
        .await
        .ok()
}

async fn drain(mut stream: RunStream) {
    while stream.next_event().await.is_some() {}
}

fn check(case: &Case, outcome: &Outcome) -> Result<(), String> {
    for ((step, call), n) in &outcome.executions {
        let plan = case.steps[*step][*call];
        // A read-only call may run again when a failed run is resumed (its tool's default is
        // to retry it); a call with side effects never does.
        if plan.tracked && *n > 1 {
            return Err(format!("call {call} of step {step} ran {n} times"));
        }
        if plan.asks && !plan.approve {
            return Err(format!("rejected call {call} of step {step} ran"));
        }
    }
    if outcome.refused_start {
        return if outcome.executions.is_empty() && outcome.unfinished == 0 {
            Ok(())
        } else {
            Err("a run that never started left something behind".to_owned())
        };
    }
    if outcome.terminal.len() != 1 {
        return Err(format!("terminal episodes: {:?}", outcome.terminal));
    }
    if outcome.unfinished != 0 {
        return Err(format!("{} runs left unfinished", outcome.unfinished));
    }
    if outcome.completed {
        for (step, calls) in case.steps.iter().enumerate() {
            for (call, plan) in calls.iter().enumerate() {
                let ran = outcome.executions.get(&(step, call)).copied().unwrap_or(0);
                let runs = !plan.asks || plan.approve;
                // A call with side effects that a failure interrupted before it ran is not run
                // again (the model is told), so it may have run once or not at all.
                if runs && !plan.tracked && ran == 0 {
                    return Err(format!(
                        "completed, but read-only call {call} of step {step} never ran"
                    ));
                }
            }
        }
    }
    Ok(())
}

#[test]
fn approvals_and_the_ledger_hold_under_store_faults() {
    let cases = std::env::var("BATON_APPROVAL_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(300);
    let seed: u64 = std::env::var("BATON_APPROVAL_SEED")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0x0a99_2025);
    // Panics are injected on purpose; the case's outcome says what they did.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let injected = info
            .payload()
            .downcast_ref::<String>()
            .is_some_and(|m| m.starts_with("injected:"));
        if !injected {
            default_hook(info);
        }
    }));
    let config = Config {
        cases,
        failure_persistence: None,
        rng_algorithm: RngAlgorithm::ChaCha,
        rng_seed: RngSeed::Fixed(seed),
        ..Config::default()
    };
    let played = AtomicUsize::new(0);
    let mut runner = TestRunner::new(config);
    let result = runner.run(&case(), |case| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .unwrap();
        let outcome = runtime.block_on(async {
            tokio::time::timeout(Duration::from_secs(24 * 3600), play(&case))
                .await
                .map_err(|_| "the case did not finish".to_owned())
        });
        played.fetch_add(1, Ordering::Relaxed);
        let outcome = outcome.map_err(TestCaseError::fail)?;
        check(&case, &outcome).map_err(|e| {
            TestCaseError::fail(format!("{e}\n  case: {case:?}\n  outcome: {outcome:?}"))
        })
    });
    if let Err(error) = result {
        panic!("{error}");
    }
    assert!(played.load(Ordering::Relaxed) >= cases as usize);
}
