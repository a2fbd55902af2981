//! Runs under random faults: a seeded, reproducible property test of how runs end.
//!
//! Each case builds a supervisor of two or three agents (each with a tool, a guardrail and
//! handoffs to the others) over an in-memory store behind a [`FaultyStore`], starts a few runs
//! on a few shared threads at random (virtual) times, and draws for each run what goes wrong:
//!
//! - the provider fails before its first chunk (retryable, retryable with a `Retry-After`
//!   that is honoured or too long, not retryable), fails after its first chunk, stalls, or
//!   panics;
//! - the guardrail panics (on the request or the response) or refuses;
//! - a tool panics (the model sees an error result and the run goes on) or times out;
//! - the store fails or panics in `commit_step`, `append`, `record`, `tail`, `acquire_lease`
//!   or `release_lease` (faults injected at random times strike whichever run calls next);
//! - the caller cancels the run, after k events or at a time;
//! - the consumer leaves, after k events (0: before the first, which is also while queued
//!   behind another run on its thread) or at a time (during backoff, tools, handoffs);
//! - a shutdown comes mid-flight (then the case ends).
//!
//! Time is tokio's paused clock, models are scripted and stores live in memory, so a case
//! plays the same way for a given seed. The restart budget is large: a panic restarts its
//! agent (whose other runs end as `lost`) but never takes it down.
//!
//! Once every run of a case has ended (every stream drained or dropped,
//! [`Supervisor::idle`], [`Supervisor::settled`]), the case checks:
//!
//! 1. a run that recorded `Started` has exactly one terminal episode, its last; a run that
//!    never took its lease recorded nothing, and one whose consumer left or that was
//!    cancelled before it took its lease never took it;
//! 2. the terminal event of a consumer that stayed matches the terminal episode
//!    (`Completed` with the same output and usage; `Failed { error }` with
//!    `Episode::failed(&error)`), and is its last event; a run whose consumer left ends as
//!    `consumer_gone`, and one that was cancelled as `cancelled`, unless it had ended before
//!    (or the supervisor had refused its handoff: that end is decided as it routes); every
//!    failure recorded has a cause in the case (the failing step's plan, a fault that struck
//!    the run's store calls, its consumer, a cancel, a shutdown, a panic that restarted its
//!    agent);
//! 3. each thread holds exactly the messages of its runs, in the order the runs took the
//!    thread (which is the order they were requested): each run's input, if written, then
//!    per committed step one assistant message and one tool result per call;
//! 4. no tool call ran twice (executions are keyed by `ToolContext::idempotency_key`), every
//!    recorded tool call ran, and its `ok` says what the call did;
//! 5. nothing is left in flight or leased: no active run, no unfinished run with a driver,
//!    and every thread can be leased by a fresh run.
//!
//! A run whose `release_lease` failed is the one exception the store forces: its end (the
//! `Failed` episode travels with the release) could not be written, so its log stays
//! unfinished and its lease holds the thread until it expires. The case checks exactly that:
//! the run is then abandoned (no driver) and the thread free once the lease's time has passed.
//!
//! Size and seed come from the environment (CI runs the default, in a debug build):
//!
//! ```text
//! cargo test --all-features --test fault_run                                   # 2000 cases
//! BATON_FAULT_CASES=20000 cargo test --all-features --test fault_run --release # larger
//! BATON_FAULT_SEED=7 cargo test --all-features --test fault_run                # another draw
//! ```
//!
//! A failure prints the seed, the reason and the smallest failing case proptest found, also as
//! JSON: `BATON_FAULT_REPLAY='<json>' cargo test --all-features --test fault_run` plays just
//! that case. The smallest failing cases the draw has found are also kept as tests of their
//! own, below the property.

use async_trait::async_trait;
use baton::core::actor::{RunSettings, SupervisorError};
use baton::core::error::{FailureKind, StoreError};
use baton::core::llm::Role;
use baton::core::memory::Page;
use baton::prelude::*;
use baton_testkit::{
    Ended, FaultyStore, ObservedStore, Script, ScriptedProvider, StoreCall, StoreFault,
    StoreObserver, StoreOp,
};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, RngSeed, TestError, TestRunner};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::time::{Instant, sleep, sleep_until, timeout, timeout_at};

/// Cases at the default size.
const DEFAULT_CASES: u32 = 2_000;
/// The default seed.
const DEFAULT_SEED: u64 = 0x00ba_7015;
/// Every injected failure's text starts with this (and such panics print nothing).
const INJECTED: &str = "injected:";
/// Agents of a case, in order.
const AGENTS: [&str; 3] = ["a", "b", "c"];
/// Model calls per agent's part of a run.
const MAX_STEPS: u32 = 4;
/// How long a tool call may run.
const TOOL_TIMEOUT: Duration = Duration::from_secs(5);
/// The lease's time to live (the default).
const LEASE_TTL: Duration = Duration::from_secs(30);
/// Virtual time a case's runs may take before the case counts as hung.
const WATCHDOG: Duration = Duration::from_secs(6 * 3600);
/// Virtual time the supervisor may take to settle once every run has ended.
const SETTLING: Duration = Duration::from_secs(3600);

// ---------------------------------------------------------------------------------------------
// What a case is made of.

/// One case: agents, threads, runs and what goes wrong.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Case {
    /// Agents `a`, `b` (and `c`), each able to hand off to the others.
    agents: usize,
    /// Threads the runs share.
    threads: usize,
    /// The supervisor's handoff limit (1 refuses a run's second handoff).
    max_handoffs: u32,
    runs: Vec<RunPlan>,
    store_faults: Vec<StoreFaultPlan>,
    shutdown: Option<ShutdownPlan>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct RunPlan {
    thread: usize,
    /// The agent the run starts with.
    agent: usize,
    /// When the run is requested, in virtual milliseconds from the case's start.
    start_ms: u64,
    /// How many user messages the run's input holds.
    inputs: usize,
    /// What the model does at each step of the run (counted across handoffs); past the
    /// last, it answers.
    steps: Vec<StepPlan>,
    consumer: Consumer,
    /// Pause of the consumer after each event (a slow consumer).
    read_delay_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct StepPlan {
    action: Action,
    fault: ProviderFault,
    guard: GuardFault,
    /// Time before the response's first chunk (or its error).
    latency_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
enum Action {
    /// A text answer: the run completes.
    Answer,
    /// Calls of the `work` tool.
    Tools(Vec<ToolPlan>),
    /// A handoff to another agent (which one: `offset` past the current), after a tool call
    /// in the same response if `with_tool`.
    Handoff {
        offset: usize,
        with_tool: Option<ToolPlan>,
    },
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct ToolPlan {
    panic: bool,
    delay_ms: u64,
}

impl ToolPlan {
    /// Whether the call succeeds: it does not panic and finishes within the tool timeout.
    fn ok(self) -> bool {
        !self.panic && Duration::from_millis(self.delay_ms) < TOOL_TIMEOUT
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum ProviderFault {
    None,
    /// The first `failures` attempts fail with a 503 before any chunk (more than the three
    /// retries fails the run).
    Retryable {
        failures: u32,
    },
    /// The first attempt asks to retry after 2 s, which is honoured.
    RetryAfter,
    /// Every attempt asks to retry after 120 s, more than the run waits: it fails.
    RetryAfterTooLong,
    /// A 400 before any chunk: not retried.
    Fatal,
    /// The stream breaks after `chunks` chunks: final.
    AfterFirstChunk {
        chunks: usize,
    },
    /// The provider panics.
    Panic,
    /// The stream goes silent after `chunks` chunks (only for runs whose consumer acts at a
    /// time, which ends them).
    Stall {
        chunks: usize,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum GuardFault {
    None,
    PanicOnRequest,
    PanicOnResponse,
    Refuse,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum Consumer {
    /// Reads every event.
    Read,
    /// Drops the stream after reading `k` events.
    LeaveAfter(usize),
    /// Drops the stream `ms` after the request, unless it ended.
    LeaveAt(u64),
    /// Cancels the run after reading `k` events, and reads on.
    CancelAfter(usize),
    /// Cancels the run `ms` after the request, and reads on.
    CancelAt(u64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct StoreFaultPlan {
    at_ms: u64,
    call: Call,
    panic: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct ShutdownPlan {
    at_ms: u64,
    grace_ms: u64,
}

/// The store calls faults are injected into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
enum Call {
    Append,
    Tail,
    Record,
    CommitStep,
    AcquireLease,
    ReleaseLease,
    /// The tool-call ledger's writes (intents, results).
    RecordLeased,
}

impl Call {
    fn store_call(self) -> StoreCall {
        match self {
            Self::Append => StoreCall::Append,
            Self::Tail => StoreCall::Tail,
            Self::Record => StoreCall::Record,
            Self::CommitStep => StoreCall::CommitStep,
            Self::AcquireLease => StoreCall::AcquireLease,
            Self::ReleaseLease => StoreCall::ReleaseLease,
            Self::RecordLeased => StoreCall::RecordLeased,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Drawing cases.

fn tool_plan() -> impl Strategy<Value = ToolPlan> {
    (
        prop::bool::weighted(0.1),
        prop_oneof![5 => Just(0u64), 2 => Just(10), 2 => Just(700), 1 => Just(8_000)],
    )
        .prop_map(|(panic, delay_ms)| ToolPlan { panic, delay_ms })
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        2 => Just(Action::Answer),
        4 => vec(tool_plan(), 1..=3).prop_map(Action::Tools),
        2 => (0usize..2, prop::option::weighted(0.3, tool_plan()))
            .prop_map(|(offset, with_tool)| Action::Handoff { offset, with_tool }),
    ]
}

fn provider_fault() -> impl Strategy<Value = ProviderFault> {
    prop_oneof![
        24 => Just(ProviderFault::None),
        3 => (1u32..=4).prop_map(|failures| ProviderFault::Retryable { failures }),
        1 => Just(ProviderFault::RetryAfter),
        1 => Just(ProviderFault::RetryAfterTooLong),
        1 => Just(ProviderFault::Fatal),
        2 => (1usize..=2).prop_map(|chunks| ProviderFault::AfterFirstChunk { chunks }),
        1 => Just(ProviderFault::Panic),
        1 => (0usize..=2).prop_map(|chunks| ProviderFault::Stall { chunks }),
    ]
}

fn guard_fault() -> impl Strategy<Value = GuardFault> {
    prop_oneof![
        40 => Just(GuardFault::None),
        1 => Just(GuardFault::PanicOnRequest),
        1 => Just(GuardFault::PanicOnResponse),
        1 => Just(GuardFault::Refuse),
    ]
}

fn step_plan() -> impl Strategy<Value = StepPlan> {
    (
        action(),
        provider_fault(),
        guard_fault(),
        prop_oneof![3 => Just(0u64), 2 => 1u64..=2_500],
    )
        .prop_map(|(action, fault, guard, latency_ms)| StepPlan {
            action,
            fault,
            guard,
            latency_ms,
        })
}

fn consumer() -> impl Strategy<Value = Consumer> {
    prop_oneof![
        8 => Just(Consumer::Read),
        3 => (0usize..=14).prop_map(Consumer::LeaveAfter),
        2 => (0u64..=6_000).prop_map(Consumer::LeaveAt),
        2 => (0usize..=14).prop_map(Consumer::CancelAfter),
        2 => (0u64..=6_000).prop_map(Consumer::CancelAt),
    ]
}

fn run_plan() -> impl Strategy<Value = RunPlan> {
    (
        0usize..3,
        0usize..3,
        prop_oneof![2 => Just(0u64), 3 => 0u64..=5_000],
        1usize..=2,
        vec(step_plan(), 0..=5),
        consumer(),
        prop_oneof![4 => Just(0u64), 1 => Just(50)],
    )
        .prop_map(
            |(thread, agent, start_ms, inputs, mut steps, consumer, read_delay_ms)| {
                // A stalled model is ended only by a consumer that acts at a time.
                if !matches!(consumer, Consumer::LeaveAt(_) | Consumer::CancelAt(_)) {
                    for step in &mut steps {
                        if let ProviderFault::Stall { .. } = step.fault {
                            step.fault = ProviderFault::None;
                        }
                    }
                }
                RunPlan {
                    thread,
                    agent,
                    start_ms,
                    inputs,
                    steps,
                    consumer,
                    read_delay_ms,
                }
            },
        )
}

fn store_fault() -> impl Strategy<Value = StoreFaultPlan> {
    (
        0u64..=6_000,
        prop_oneof![
            Just(Call::Append),
            Just(Call::Tail),
            Just(Call::Record),
            Just(Call::CommitStep),
            Just(Call::AcquireLease),
            Just(Call::ReleaseLease),
            Just(Call::RecordLeased),
        ],
        prop::bool::weighted(0.3),
    )
        .prop_map(|(at_ms, call, panic)| StoreFaultPlan { at_ms, call, panic })
}

fn case() -> impl Strategy<Value = Case> {
    (
        2usize..=3,
        1usize..=3,
        prop_oneof![3 => Just(8u32), 1 => Just(1u32)],
        vec(run_plan(), 1..=8),
        vec(store_fault(), 0..=3),
        prop::option::weighted(
            0.15,
            (
                0u64..=8_000,
                prop_oneof![Just(0u64), Just(300), Just(2_000)],
            )
                .prop_map(|(at_ms, grace_ms)| ShutdownPlan { at_ms, grace_ms }),
        ),
    )
        .prop_map(
            |(agents, threads, max_handoffs, mut runs, store_faults, shutdown)| {
                for run in &mut runs {
                    run.thread %= threads;
                    run.agent %= agents;
                }
                Case {
                    agents,
                    threads,
                    max_handoffs,
                    runs,
                    store_faults,
                    shutdown,
                }
            },
        )
}

// ---------------------------------------------------------------------------------------------
// The model, the tool and the guardrail: they read the run's plan from its extensions.

/// A run's plan, attached to the run.
#[derive(Clone)]
struct Planned {
    index: usize,
    plan: Arc<RunPlan>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn ms(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

fn input_text(run: usize, k: usize) -> String {
    format!("input {k} of run {run}")
}

fn answer_text(run: usize, step: u32) -> String {
    format!("run {run} answers at step {step}")
}

fn call_id(step: u32, call: usize) -> String {
    format!("s{step}c{call}")
}

/// The step and call a tool call id names.
fn parse_call_id(id: &str) -> Option<(u32, usize)> {
    let (step, call) = id.strip_prefix('s')?.split_once('c')?;
    Some((step.parse().ok()?, call.parse().ok()?))
}

fn work_arguments(tool: ToolPlan) -> String {
    serde_json::json!({"panic": tool.panic, "delay_ms": tool.delay_ms}).to_string()
}

/// The tool calls a step's action makes, as (id, tool, arguments).
fn planned_calls(
    action: &Action,
    step: u32,
    agents: &[AgentName],
    current: &AgentName,
) -> Vec<(String, String, String)> {
    match action {
        Action::Answer => Vec::new(),
        Action::Tools(tools) => tools
            .iter()
            .enumerate()
            .map(|(i, tool)| (call_id(step, i), "work".to_owned(), work_arguments(*tool)))
            .collect(),
        Action::Handoff { offset, with_tool } => {
            let mut calls = Vec::new();
            if let Some(tool) = with_tool {
                calls.push((call_id(step, 0), "work".to_owned(), work_arguments(*tool)));
            }
            let here = agents.iter().position(|a| a == current).unwrap_or(0);
            let n = agents.len();
            let target = &agents[(here + 1 + offset % (n - 1)) % n];
            calls.push((
                call_id(step, calls.len()),
                format!("transfer_to_{target}"),
                serde_json::json!({"reason": format!("step {step} hands off")}).to_string(),
            ));
            calls
        }
    }
}

/// What the model answers to one request.
fn respond(
    request: &ChatRequest,
    agents: &[AgentName],
    attempts: &Mutex<HashMap<(RunId, u32), u32>>,
) -> Script {
    let run = request.run.as_ref().expect("a run's request names its run");
    let planned = run
        .scope
        .extensions()
        .get::<Planned>()
        .expect("every run carries its plan");
    let step = run.step;
    let attempt = {
        let mut attempts = lock(attempts);
        let n = attempts.entry((run.scope.run_id(), step)).or_insert(0);
        *n += 1;
        *n
    };
    let Some(plan) = planned.plan.steps.get(step as usize - 1) else {
        return Script::text(&answer_text(planned.index, step));
    };
    let script = match &plan.action {
        Action::Answer => Script::text(&answer_text(planned.index, step)),
        action => {
            let calls = planned_calls(action, step, agents, run.scope.agent());
            Script::raw_tool_calls(
                calls
                    .iter()
                    .map(|(id, name, args)| (id.as_str(), name.as_str(), args.as_str())),
            )
        }
    };
    let status = |status: u16, retry_after: Option<Duration>| {
        Script::error(LlmError::Status {
            status,
            message: format!("{INJECTED} status {status}"),
            retry_after,
        })
    };
    let script = match plan.fault {
        ProviderFault::None => script,
        ProviderFault::Retryable { failures } if attempt <= failures => status(503, None),
        ProviderFault::Retryable { .. } => script,
        ProviderFault::RetryAfter if attempt == 1 => status(429, Some(Duration::from_secs(2))),
        ProviderFault::RetryAfter => script,
        ProviderFault::RetryAfterTooLong => status(429, Some(Duration::from_secs(120))),
        ProviderFault::Fatal => status(400, None),
        ProviderFault::AfterFirstChunk { chunks } => {
            script.fail_after(chunks, LlmError::Connection(format!("{INJECTED} reset")))
        }
        ProviderFault::Panic => panic!("{INJECTED} the provider panicked"),
        ProviderFault::Stall { chunks } => script.stall_after(chunks),
    };
    script.with_latency(ms(plan.latency_ms))
}

/// Every execution of the `work` tool, by idempotency key.
type Executions = Arc<Mutex<BTreeMap<String, Execution>>>;

/// The executions of the `work` tool under one idempotency key.
#[derive(Debug, Clone)]
struct Execution {
    /// The call they were for: run, step and call id.
    call: (RunId, u32, String),
    count: u32,
}

/// A tool that records each execution, then waits, then panics if asked.
struct Work {
    executions: Executions,
}

#[derive(Deserialize, JsonSchema)]
struct WorkArgs {
    /// Whether the tool panics.
    panic: bool,
    /// How long the tool takes.
    delay_ms: u64,
}

impl Tool for Work {
    type Args = WorkArgs;
    fn name(&self) -> &str {
        "work"
    }
    fn description(&self) -> &str {
        "Does some work, once per call."
    }
    async fn call(&self, args: WorkArgs, ctx: &ToolContext<'_>) -> Result<String, ToolError> {
        let call = (
            ctx.run().run_id(),
            ctx.run().step(),
            ctx.call_id().to_owned(),
        );
        lock(&self.executions)
            .entry(ctx.idempotency_key())
            .or_insert(Execution { call, count: 0 })
            .count += 1;
        if args.delay_ms > 0 {
            sleep(ms(args.delay_ms)).await;
        }
        assert!(!args.panic, "{INJECTED} the tool panicked");
        Ok(format!("worked on {}", ctx.call_id()))
    }
}

/// A guardrail that does what the run's plan says for the step.
struct FaultGuard;

fn guard_of(run: &RunContext<'_>) -> GuardFault {
    run.extension::<Planned>()
        .and_then(|planned| planned.plan.steps.get(run.step() as usize - 1))
        .map_or(GuardFault::None, |step| step.guard)
}

#[async_trait]
impl Guardrail for FaultGuard {
    fn name(&self) -> &str {
        "faults"
    }
    async fn check_request(&self, _request: &ChatRequest, run: &RunContext<'_>) -> Verdict {
        match guard_of(run) {
            GuardFault::PanicOnRequest => panic!("{INJECTED} the guardrail panicked"),
            GuardFault::Refuse => Verdict::Refuse(format!("{INJECTED} refused")),
            GuardFault::None | GuardFault::PanicOnResponse => Verdict::Allow,
        }
    }
    async fn check_response(
        &self,
        _request: &ChatRequest,
        _response: &ChatResponse,
        run: &RunContext<'_>,
    ) -> Verdict {
        if guard_of(run) == GuardFault::PanicOnResponse {
            panic!("{INJECTED} the guardrail panicked on the response");
        }
        Verdict::Allow
    }
}

// ---------------------------------------------------------------------------------------------
// A store that watches: it forwards to the faulty store and notes, in one order shared with
// the consumers, who took which thread, whose calls a fault struck, and when each run ended.

/// One order of what happened in a case (its tasks share one thread, so it is total).
#[derive(Clone, Default)]
struct Clock(Arc<AtomicU64>);

impl Clock {
    fn tick(&self) -> u64 {
        self.0.fetch_add(1, Ordering::SeqCst) + 1
    }
}

#[derive(Debug, Default, Clone)]
struct RunTrace {
    /// When the run took its lease.
    leased_at: Option<u64>,
    /// Calls of the run that a fault struck, and whether it was a panic.
    faults: Vec<(Call, bool)>,
    /// What the run appended (its input), per successful append.
    appended: Vec<Vec<Arc<Message>>>,
    /// When the run's end was written (`Completed` with its last step, or `Failed` with the
    /// lease's release).
    ended_at: Option<u64>,
    /// How many ends were written.
    ends: usize,
    /// Whether a release of its lease failed (its `Failed`, if any, is then not written).
    release_failed: bool,
}

#[derive(Debug, Default)]
struct Trace {
    /// Who holds each thread's lease.
    holders: HashMap<ThreadId, RunId>,
    /// The runs that took each thread, in order.
    takers: HashMap<ThreadId, Vec<RunId>>,
    runs: HashMap<RunId, RunTrace>,
    /// Writes to a thread no run held.
    unleased: Vec<String>,
}

impl Trace {
    /// The trace of `run`; with no run, `unleased` says what was done by none, and there is no
    /// trace to add to.
    fn of(
        &mut self,
        run: Option<RunId>,
        unleased: impl FnOnce() -> String,
    ) -> Option<&mut RunTrace> {
        match run {
            Some(run) => Some(self.runs.entry(run).or_default()),
            None => {
                self.unleased.push(unleased());
                None
            }
        }
    }
}

struct Probe {
    clock: Clock,
    trace: Mutex<Trace>,
}

impl Probe {
    fn trace(&self) -> MutexGuard<'_, Trace> {
        lock(&self.trace)
    }

    fn holder(&self, thread: ThreadId) -> Option<RunId> {
        self.trace().holders.get(&thread).copied()
    }

    /// The watched call `op` is, and the run that made it (if known).
    fn watched(&self, op: &StoreOp<'_>) -> Option<(Call, Option<RunId>)> {
        Some(match op {
            StoreOp::Append { thread, .. } => (Call::Append, self.holder(*thread)),
            StoreOp::Tail { thread, .. } => (Call::Tail, self.holder(*thread)),
            StoreOp::Record { run, .. } => (Call::Record, Some(*run)),
            StoreOp::CommitStep(commit) => (Call::CommitStep, Some(commit.run)),
            StoreOp::AcquireLease { run, .. } => (Call::AcquireLease, Some(*run)),
            StoreOp::ReleaseLease { lease, .. } => (Call::ReleaseLease, Some(lease.run)),
            StoreOp::RecordLeased { lease, .. } => (Call::RecordLeased, Some(lease.run)),
            _ => return None,
        })
    }

    /// Notes an injected fault that struck the call.
    fn note_fault(&self, call: Call, run: Option<RunId>, ended: Ended<'_>) {
        let panicked = match ended {
            Ended::Panicked => true,
            Ended::Failed(StoreError::Backend(message)) if message.starts_with(INJECTED) => false,
            _ => return,
        };
        let mut trace = self.trace();
        if let Some(run) = trace.of(run, || format!("{call:?} struck by a fault, by no run")) {
            run.faults.push((call, panicked));
        }
    }
}

impl StoreObserver for Probe {
    fn after(&self, op: &StoreOp<'_>, ended: Ended<'_>) {
        let Some((call, run)) = self.watched(op) else {
            return;
        };
        self.note_fault(call, run, ended);
        let returned = matches!(ended, Ended::Returned);
        match *op {
            StoreOp::Append {
                thread, messages, ..
            } if returned => {
                let mut trace = self.trace();
                if let Some(run) =
                    trace.of(run, || format!("an append to thread {thread} by no run"))
                {
                    run.appended.push(messages.to_vec());
                }
            }
            StoreOp::CommitStep(commit)
                if returned
                    && commit
                        .episodes
                        .iter()
                        .any(|e| matches!(e, Episode::Completed { .. })) =>
            {
                let at = self.clock.tick();
                let mut trace = self.trace();
                let run = trace.runs.entry(commit.run).or_default();
                run.ended_at = Some(at);
                run.ends += 1;
            }
            StoreOp::AcquireLease { run, thread, .. } if returned => {
                let at = self.clock.tick();
                let mut trace = self.trace();
                trace.holders.insert(thread, run);
                trace.takers.entry(thread).or_default().push(run);
                trace
                    .runs
                    .entry(run)
                    .or_default()
                    .leased_at
                    .get_or_insert(at);
            }
            StoreOp::ReleaseLease { lease, terminal } => {
                let at = self.clock.tick();
                let mut trace = self.trace();
                if returned {
                    if trace.holders.get(&lease.thread) == Some(&lease.run) {
                        trace.holders.remove(&lease.thread);
                    }
                    if terminal.is_some() {
                        let run = trace.runs.entry(lease.run).or_default();
                        run.ended_at = Some(at);
                        run.ends += 1;
                    }
                } else {
                    trace.runs.entry(lease.run).or_default().release_failed = true;
                }
            }
            _ => {}
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Playing a case.

/// What one consumer did and saw.
#[derive(Debug)]
struct Seen {
    index: usize,
    run: Option<RunId>,
    refused: Option<SupervisorError>,
    dispatched_at: u64,
    events: Vec<RunEvent>,
    /// When the consumer dropped its stream.
    left_at: Option<u64>,
    /// When the consumer cancelled the run (and the run was in flight).
    cancelled_at: Option<u64>,
    /// An event the stream yielded after its terminal one.
    after_end: Option<RunEvent>,
}

impl Seen {
    fn stayed(&self) -> bool {
        self.left_at.is_none()
    }
}

/// Requests a run at its time and consumes it as planned.
async fn consume(
    supervisor: Supervisor,
    clock: Clock,
    index: usize,
    plan: Arc<RunPlan>,
    thread: ThreadId,
    agent: AgentName,
) -> Seen {
    sleep(ms(plan.start_ms)).await;
    let mut seen = Seen {
        index,
        run: None,
        refused: None,
        dispatched_at: 0,
        events: Vec::new(),
        left_at: None,
        cancelled_at: None,
        after_end: None,
    };
    let input = (0..plan.inputs)
        .map(|k| Message::user(input_text(index, k)))
        .collect();
    let settings = RunSettings::default().with_extension(Planned {
        index,
        plan: Arc::clone(&plan),
    });
    let mut stream = match supervisor
        .run_with(agent.as_str(), thread, input, settings)
        .await
    {
        Ok(stream) => stream,
        Err(error) => {
            seen.refused = Some(error);
            return seen;
        }
    };
    seen.dispatched_at = clock.tick();
    let run = stream.run_id();
    seen.run = Some(run);
    let mut deadline = match plan.consumer {
        Consumer::LeaveAt(at) | Consumer::CancelAt(at) => Some(Instant::now() + ms(at)),
        _ => None,
    };
    let cancel = |seen: &mut Seen| {
        let at = clock.tick();
        if supervisor.cancel(run) {
            seen.cancelled_at.get_or_insert(at);
        }
    };
    loop {
        match plan.consumer {
            Consumer::LeaveAfter(k) if seen.events.len() == k => {
                seen.left_at = Some(clock.tick());
                drop(stream);
                return seen;
            }
            Consumer::CancelAfter(k) if seen.events.len() == k && seen.cancelled_at.is_none() => {
                cancel(&mut seen);
            }
            _ => {}
        }
        let next = match deadline {
            Some(at) => tokio::select! {
                biased;
                event = stream.next_event() => Some(event),
                () = sleep_until(at) => None,
            },
            None => Some(stream.next_event().await),
        };
        match next {
            None => {
                deadline = None;
                if let Consumer::LeaveAt(_) = plan.consumer {
                    seen.left_at = Some(clock.tick());
                    drop(stream);
                    return seen;
                }
                cancel(&mut seen);
            }
            Some(None) => return seen,
            Some(Some(event)) => {
                let terminal = event.is_terminal();
                seen.events.push(event);
                if terminal {
                    seen.after_end = stream.next_event().await;
                    return seen;
                }
                if plan.read_delay_ms > 0 {
                    sleep(ms(plan.read_delay_ms)).await;
                }
            }
        }
    }
}

/// What a case leaves for the checks.
struct Played {
    seen: Vec<Seen>,
    trace: Trace,
    logs: HashMap<RunId, Vec<Episode>>,
    threads: Vec<(ThreadId, Vec<Arc<Message>>)>,
    executions: BTreeMap<String, Execution>,
    active_runs: usize,
    /// Unfinished runs with a driver, when every run had ended.
    driven: Vec<RunId>,
    /// Per thread: `None` if a fresh run could lease it, or the run that held it.
    thread_holders: Vec<Option<RunId>>,
    /// The same, and the unfinished runs with a driver, once the leases' time had passed.
    thread_holders_later: Vec<Option<RunId>>,
    driven_later: Vec<RunId>,
    agents_up: bool,
}

/// Plays `case` on a fresh runtime with a paused clock.
fn play(case: &Case) -> Result<Played, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .map_err(|e| format!("no runtime: {e}"))?;
    runtime.block_on(async {
        match timeout(WATCHDOG + 2 * SETTLING, play_case(case)).await {
            Ok(played) => played,
            Err(_) => Err("the case did not finish: something waits forever".into()),
        }
    })
}

async fn play_case(case: &Case) -> Result<Played, String> {
    let clock = Clock::default();
    let inner = InMemoryStore::shared();
    let faulty = Arc::new(FaultyStore::new(inner.clone()));
    let probe = Arc::new(ObservedStore::wrap(
        Arc::clone(&faulty) as Arc<dyn Store>,
        Probe {
            clock: clock.clone(),
            trace: Mutex::default(),
        },
    ));
    let executions = Executions::default();
    let names: Vec<AgentName> = AGENTS[..case.agents]
        .iter()
        .map(|name| AgentName::new(*name).expect("valid agent names"))
        .collect();
    let attempts = Mutex::new(HashMap::new());
    let model_agents = names.clone();
    let provider = Arc::new(
        ScriptedProvider::from_fn(move |request| respond(request, &model_agents, &attempts))
            .without_recording(),
    );
    let options = RunOptions::default()
        .with_max_steps(MAX_STEPS)
        .with_tool_timeout(TOOL_TIMEOUT)
        .with_lease_ttl(LEASE_TTL)
        .with_retry(RetryPolicy::default().with_jitter(false))
        .with_guardrail(FaultGuard);
    let mut builder = Supervisor::builder()
        .provider(provider)
        .store(probe.clone())
        .max_handoffs(case.max_handoffs)
        .restart_budget(1_000_000, Duration::from_secs(60));
    for name in &names {
        let mut agent = Agent::builder(name.as_str())
            .instructions(format!("You are agent {name}."))
            .tool(Work {
                executions: Arc::clone(&executions),
            })
            .options(options.clone());
        for other in names.iter().filter(|other| *other != name) {
            agent = agent.handoff(other.as_str());
        }
        builder = builder.agent(agent.build().map_err(|e| e.to_string())?);
    }
    let supervisor = builder.spawn().await.map_err(|e| e.to_string())?;
    let threads: Vec<ThreadId> = (0..case.threads).map(|_| ThreadId::new()).collect();

    for fault in &case.store_faults {
        let faulty = Arc::clone(&faulty);
        let fault = *fault;
        tokio::spawn(async move {
            sleep(ms(fault.at_ms)).await;
            let what = format!("{INJECTED} {:?} at {} ms", fault.call, fault.at_ms);
            let injected = if fault.panic {
                StoreFault::Panic(what)
            } else {
                StoreFault::Fail(StoreError::Backend(what))
            };
            faulty.inject(fault.call.store_call(), injected);
        });
    }
    let shutdown = case.shutdown.map(|plan| {
        let supervisor = supervisor.clone();
        tokio::spawn(async move {
            sleep(ms(plan.at_ms)).await;
            supervisor.shutdown(ms(plan.grace_ms)).await;
        })
    });
    let consumers: Vec<_> = case
        .runs
        .iter()
        .enumerate()
        .map(|(index, plan)| {
            tokio::spawn(consume(
                supervisor.clone(),
                clock.clone(),
                index,
                Arc::new(plan.clone()),
                threads[plan.thread],
                names[plan.agent].clone(),
            ))
        })
        .collect();
    let deadline = Instant::now() + WATCHDOG;
    let mut seen = Vec::with_capacity(consumers.len());
    for (index, consumer) in consumers.into_iter().enumerate() {
        match timeout_at(deadline, consumer).await {
            Ok(Ok(consumer)) => seen.push(consumer),
            Ok(Err(error)) => return Err(format!("the consumer of run {index} failed: {error}")),
            Err(_) => {
                return Err(format!(
                    "run {index} did not end within {WATCHDOG:?} of virtual time"
                ));
            }
        }
    }
    if let Some(shutdown) = shutdown {
        match timeout(SETTLING, shutdown).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => return Err(format!("the shutdown failed: {error}")),
            Err(_) => return Err("Supervisor::shutdown did not return".into()),
        }
    }
    timeout(SETTLING, supervisor.idle())
        .await
        .map_err(|_| "Supervisor::idle did not return once every run had ended".to_owned())?;
    if timeout(SETTLING, supervisor.settled()).await.is_err() {
        let mut report = String::new();
        for seen in &seen {
            let log = match seen.run {
                Some(run) => inner.episodes(run).await.map_err(|e| e.to_string())?,
                None => Vec::new(),
            };
            let log: Vec<&Episode> = log.iter().map(|r| &r.episode).collect();
            report.push_str(&format!(
                "\n    run {}: {:?}; log: {log:?}",
                seen.index,
                outline(&seen.events)
            ));
        }
        return Err(format!(
            "Supervisor::settled did not return once every run had ended; status: {:?}{report}",
            supervisor.status()
        ));
    }

    let active_runs = supervisor.status().active_runs;
    let agents_up = case.shutdown.is_some() || supervisor.status().agents.iter().all(|a| a.up);
    let mut logs = HashMap::new();
    for run in seen.iter().filter_map(|s| s.run) {
        let log = inner.episodes(run).await.map_err(|e| e.to_string())?;
        logs.insert(run, log.into_iter().map(|r| r.episode).collect());
    }
    let mut messages = Vec::new();
    for thread in &threads {
        messages.push((
            *thread,
            inner
                .list(*thread, Page::ALL)
                .await
                .map_err(|e| e.to_string())?,
        ));
    }
    let driven = driven_runs(&inner).await?;
    let thread_holders = lease_each(&inner, &threads).await?;
    // What an end the store could not write left behind goes once its lease's time passes.
    tokio::time::advance(LEASE_TTL + Duration::from_secs(1)).await;
    let driven_later = driven_runs(&inner).await?;
    let thread_holders_later = lease_each(&inner, &threads).await?;
    supervisor.shutdown(Duration::ZERO).await;
    let trace = std::mem::take(&mut *probe.observer().trace());
    let executions = lock(&executions).clone();
    Ok(Played {
        seen,
        trace,
        logs,
        threads: messages,
        executions,
        active_runs,
        driven,
        thread_holders,
        thread_holders_later,
        driven_later,
        agents_up,
    })
}

async fn driven_runs(store: &InMemoryStore) -> Result<Vec<RunId>, String> {
    Ok(store
        .unfinished_runs()
        .await
        .map_err(|e| e.to_string())?
        .into_iter()
        .filter(|run| !run.is_abandoned())
        .map(|run| run.run)
        .collect())
}

/// Leases each thread for a fresh run (and frees it again); per thread, the run that held it
/// if that was refused.
async fn lease_each(
    store: &InMemoryStore,
    threads: &[ThreadId],
) -> Result<Vec<Option<RunId>>, String> {
    let mut holders = Vec::new();
    for thread in threads {
        match store
            .acquire_lease(RunId::new(), *thread, "checker", LEASE_TTL)
            .await
        {
            Ok(lease) => {
                store
                    .release_lease(&lease, None)
                    .await
                    .map_err(|e| e.to_string())?;
                holders.push(None);
            }
            Err(StoreError::ThreadBusy { holder, .. }) => holders.push(Some(holder)),
            Err(error) => return Err(format!("leasing thread {thread} failed: {error}")),
        }
    }
    Ok(holders)
}

// ---------------------------------------------------------------------------------------------
// The invariants.

/// Short labels of events, for failure reports.
fn outline(events: &[RunEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|event| match event {
            RunEvent::AgentStarted { agent } => Some(format!("start {agent}")),
            RunEvent::TextDelta { .. } => None,
            RunEvent::ToolCallStarted { id, .. } => Some(format!("call {id}")),
            RunEvent::ToolCallFinished { id, is_error, .. } => Some(format!(
                "done {id}{}",
                if *is_error { " (error)" } else { "" }
            )),
            RunEvent::HandedOff { from, to, .. } => Some(format!("handoff {from}->{to}")),
            RunEvent::StepFinished { step, .. } => Some(format!("step {step}")),
            RunEvent::Completed { output, .. } => Some(format!("completed: {output}")),
            RunEvent::Failed { error } => Some(format!("failed ({}): {error}", error.kind())),
            _ => Some(format!("{event:?}")),
        })
        .collect()
}

fn kind_of(episode: &Episode) -> Option<FailureKind> {
    match episode {
        Episode::Failed { kind, .. } => Some(*kind),
        _ => None,
    }
}

/// Checks every invariant of a played case.
fn check(case: &Case, played: &Played) -> Result<(), String> {
    let mut violations = Vec::new();
    for seen in &played.seen {
        if let Err(violation) = check_run(case, played, seen) {
            violations.push(format!(
                "run {} ({}): {violation}\n    events: {:?}\n    log: {:?}\n    trace: {:?}",
                seen.index,
                seen.run
                    .map_or("not dispatched".to_owned(), |r| r.to_string()),
                outline(&seen.events),
                seen.run.and_then(|run| played.logs.get(&run)),
                seen.run.and_then(|run| played.trace.runs.get(&run)),
            ));
        }
    }
    if let Err(violation) = check_threads(played) {
        violations.push(violation);
    }
    if let Err(violation) = check_tools(case, played) {
        violations.push(violation);
    }
    if let Err(violation) = check_leftovers(played) {
        violations.push(violation);
    }
    if !played.trace.unleased.is_empty() {
        violations.push(format!(
            "writes without a lease: {:?}",
            played.trace.unleased
        ));
    }
    if violations.is_empty() {
        Ok(())
    } else {
        Err(violations.join("\n"))
    }
}

/// Invariants 1 and 2, for one run.
fn check_run(case: &Case, played: &Played, seen: &Seen) -> Result<(), String> {
    let Some(run) = seen.run else {
        return match &seen.refused {
            Some(SupervisorError::ShuttingDown) if case.shutdown.is_some() => Ok(()),
            Some(SupervisorError::AgentUnavailable(_)) => Ok(()),
            other => Err(format!("the request was refused: {other:?}")),
        };
    };
    let log = &played.logs[&run];
    let trace = played.trace.runs.get(&run).cloned().unwrap_or_default();
    let terminals: Vec<&Episode> = log.iter().filter(|e| e.is_terminal()).collect();
    let terminal = terminals.first().copied();
    let started = log.iter().any(|e| matches!(e, Episode::Started { .. }));

    // 1. One end per run that started; nothing from a run that never took its lease.
    if trace.leased_at.is_none() && !log.is_empty() {
        return Err("it recorded episodes without taking its lease".into());
    }
    if let Some(at) = log.iter().position(Episode::is_terminal)
        && at + 1 != log.len()
    {
        return Err("episodes follow its terminal episode".into());
    }
    if terminals.len() > 1 || trace.ends > 1 {
        return Err(format!(
            "it ended {} times",
            terminals.len().max(trace.ends)
        ));
    }
    if trace.leased_at.is_some() && terminal.is_none() && !trace.release_failed {
        return Err("it took its lease but recorded no end".into());
    }
    if trace.leased_at.is_some() && !started {
        let record_failed = trace.faults.iter().any(|(call, _)| *call == Call::Record);
        if !record_failed || log.len() > 1 || terminal.is_some_and(|e| kind_of(e).is_none()) {
            return Err(
                "it took its lease, recorded no Started, and its Started did not fail".into(),
            );
        }
    }
    if let (Some(left), Some(leased)) = (seen.left_at, trace.leased_at)
        && left < leased
    {
        return Err("it took its lease after its consumer had left".into());
    }
    if let (Some(cancelled), Some(leased)) = (seen.cancelled_at, trace.leased_at)
        && cancelled < leased
    {
        return Err("it took its lease after it was cancelled".into());
    }

    // 2. The end the consumer saw is the end recorded.
    if seen.stayed() {
        let Some(last) = seen.events.last() else {
            return Err("its consumer saw no event".into());
        };
        if !last.is_terminal() || seen.events.iter().filter(|e| e.is_terminal()).count() != 1 {
            return Err("its stream did not end with exactly one terminal event".into());
        }
        if let Some(extra) = &seen.after_end {
            return Err(format!("its stream went on after its end: {extra:?}"));
        }
        if seen.events.len() > 1 && !matches!(seen.events[0], RunEvent::AgentStarted { .. }) {
            return Err("its stream did not start with AgentStarted".into());
        }
        match (last, terminal) {
            (
                RunEvent::Completed { output, usage },
                Some(Episode::Completed {
                    output: recorded,
                    usage: recorded_usage,
                }),
            ) => {
                if output != recorded || usage != recorded_usage {
                    return Err("its consumer saw another answer than the one recorded".into());
                }
                if !output.starts_with(&format!("run {} answers", seen.index)) {
                    return Err(format!("it answered with another run's words: {output}"));
                }
            }
            (RunEvent::Failed { error }, Some(recorded @ Episode::Failed { .. })) => {
                if Episode::failed(error) != *recorded {
                    return Err(format!(
                        "its consumer saw {error:?}, the log says {recorded:?}"
                    ));
                }
            }
            (RunEvent::Failed { .. }, None)
                if trace.leased_at.is_none() || trace.release_failed => {}
            (event, recorded) => {
                return Err(format!(
                    "its consumer saw {event:?}, the log ends with {recorded:?}"
                ));
            }
        }
        let committed: Vec<u32> = log
            .iter()
            .filter_map(|e| match e {
                Episode::StepCompleted { step, .. } => Some(*step),
                _ => None,
            })
            .collect();
        for event in &seen.events {
            if let RunEvent::StepFinished { step, .. } = event
                && !committed.contains(step)
            {
                return Err(format!(
                    "its consumer saw step {step} finish, which is not recorded"
                ));
            }
        }
    }
    // A refused handoff is decided by the supervisor as it routes, without a look at the
    // consumer; the run's end is written afterwards, by a task of the supervisor. A consumer
    // that left (or a cancel) in between does not change that end.
    let routing_refused = terminal.and_then(kind_of) == Some(FailureKind::Routing)
        && log.len() >= 2
        && matches!(log[log.len() - 2], Episode::HandedOff { .. });
    let ended_after = |at: Option<u64>| match (at, trace.ended_at) {
        (Some(at), Some(ended)) => ended > at && !routing_refused,
        _ => false,
    };
    if ended_after(seen.left_at) && terminal.and_then(kind_of) != Some(FailureKind::ConsumerGone) {
        return Err(format!(
            "its consumer left before it ended, yet it ended with {terminal:?}"
        ));
    }
    if ended_after(seen.cancelled_at)
        && !matches!(
            terminal.and_then(kind_of),
            Some(FailureKind::Cancelled | FailureKind::ConsumerGone)
        )
    {
        return Err(format!(
            "it was cancelled before it ended, yet it ended with {terminal:?}"
        ));
    }

    // Committed steps are numbered 1, 2, … across handoffs.
    let steps: Vec<u32> = log
        .iter()
        .filter_map(|e| match e {
            Episode::StepCompleted { step, .. } => Some(*step),
            _ => None,
        })
        .collect();
    if steps
        .iter()
        .zip(1..)
        .any(|(step, expected)| *step != expected)
    {
        return Err(format!("its committed steps are numbered {steps:?}"));
    }
    check_cause(case, played, seen, log, &trace)
}

/// A failure recorded has a cause in the case: the plan of the step that failed, a fault that
/// struck the run's store calls, its consumer, a cancel, a shutdown, or a panic elsewhere.
fn check_cause(
    case: &Case,
    played: &Played,
    seen: &Seen,
    log: &[Episode],
    trace: &RunTrace,
) -> Result<(), String> {
    let Some(Episode::Failed { kind, message }) = log.last() else {
        return Ok(());
    };
    let plan = &case.runs[seen.index];
    let committed = log
        .iter()
        .filter(|e| matches!(e, Episode::StepCompleted { .. }))
        .count();
    let failing = plan.steps.get(committed);
    let struck = |panic: bool| trace.faults.iter().any(|(_, panicked)| *panicked == panic);
    // A panic restarts its agent, whose other runs end as lost; the panic's own end may
    // have gone unwritten (a failed release) or unheard (its consumer left).
    let someone_panicked = played
        .trace
        .runs
        .values()
        .any(|t| t.faults.iter().any(|f| f.1))
        || case.runs.iter().flat_map(|run| &run.steps).any(|step| {
            step.fault == ProviderFault::Panic
                || matches!(
                    step.guard,
                    GuardFault::PanicOnRequest | GuardFault::PanicOnResponse
                )
        });
    let explained = match kind {
        FailureKind::Provider => failing.is_some_and(|step| match step.fault {
            ProviderFault::Retryable { failures } => failures > 3,
            ProviderFault::RetryAfterTooLong
            | ProviderFault::Fatal
            | ProviderFault::AfterFirstChunk { .. } => true,
            _ => false,
        }),
        FailureKind::Panicked if message.starts_with("panicked in the provider") => {
            failing.is_some_and(|step| step.fault == ProviderFault::Panic)
        }
        FailureKind::Panicked if message.starts_with("panicked in the guardrail") => failing
            .is_some_and(|step| {
                matches!(
                    step.guard,
                    GuardFault::PanicOnRequest | GuardFault::PanicOnResponse
                )
            }),
        FailureKind::Panicked if message.starts_with("panicked in the store") => struck(true),
        FailureKind::Refused => failing.is_some_and(|step| step.guard == GuardFault::Refuse),
        FailureKind::MaxSteps => {
            let agent_part = log
                .iter()
                .rposition(|e| matches!(e, Episode::Started { .. }))
                .map_or(&[][..], |at| &log[at..]);
            agent_part
                .iter()
                .filter(|e| matches!(e, Episode::StepCompleted { .. }))
                .count()
                >= MAX_STEPS as usize
        }
        FailureKind::Store => struck(false),
        FailureKind::Cancelled => seen.cancelled_at.is_some() || case.shutdown.is_some(),
        FailureKind::ConsumerGone => seen.left_at.is_some(),
        FailureKind::Lost => someone_panicked || case.shutdown.is_some(),
        FailureKind::Routing => log.iter().any(|e| matches!(e, Episode::HandedOff { .. })),
        _ => false,
    };
    if explained {
        Ok(())
    } else {
        Err(format!(
            "nothing in the case explains how it ended: {kind}: {message}"
        ))
    }
}

/// Invariant 3: each thread is the messages of its runs' committed steps, in order.
fn check_threads(played: &Played) -> Result<(), String> {
    let dispatched: HashMap<RunId, &Seen> = played
        .seen
        .iter()
        .filter_map(|s| s.run.map(|run| (run, s)))
        .collect();
    for (thread, stored) in &played.threads {
        let takers = played.trace.takers.get(thread).cloned().unwrap_or_default();
        // Runs take a thread in the order they were requested.
        let order: Vec<u64> = takers
            .iter()
            .map(|run| dispatched.get(run).map_or(u64::MAX, |s| s.dispatched_at))
            .collect();
        if order.windows(2).any(|pair| pair[0] >= pair[1]) {
            return Err(format!(
                "thread {thread}: runs took it out of request order (or twice): {takers:?}"
            ));
        }
        let mut expected: Vec<(Role, Option<String>)> = Vec::new();
        for run in &takers {
            let trace = played.trace.runs.get(run).cloned().unwrap_or_default();
            if trace.appended.len() > 1 {
                return Err(format!(
                    "thread {thread}: run {run} appended its input twice"
                ));
            }
            let seen = dispatched.get(run).ok_or("a run no consumer asked for")?;
            for input in trace.appended.iter().flatten() {
                expected.push((input.role(), Some(input.content().to_owned())));
            }
            if let Some(input) = trace.appended.first() {
                let texts: Vec<String> = (0..input.len())
                    .map(|k| input_text(seen.index, k))
                    .collect();
                let written: Vec<&str> = input.iter().map(|m| m.content()).collect();
                if written != texts {
                    return Err(format!(
                        "thread {thread}: run {} appended {written:?}",
                        seen.index
                    ));
                }
            }
            let log = played.logs.get(run).map_or(&[][..], Vec::as_slice);
            let steps = log
                .iter()
                .filter(|e| matches!(e, Episode::StepCompleted { .. }))
                .count();
            if steps > 0 && trace.appended.is_empty() {
                return Err(format!(
                    "thread {thread}: run {} committed steps without its input",
                    seen.index
                ));
            }
            for episode in log {
                if let Episode::StepCompleted { tool_calls, .. } = episode {
                    expected.push((Role::Assistant, None));
                    for _ in 0..*tool_calls {
                        expected.push((Role::Tool, None));
                    }
                }
            }
        }
        let roles = |messages: &[(Role, Option<String>)]| -> Vec<Role> {
            messages.iter().map(|(role, _)| *role).collect()
        };
        let actual: Vec<(Role, Option<String>)> = stored
            .iter()
            .map(|m| (m.role(), Some(m.content().to_owned())))
            .collect();
        if roles(&expected) != roles(&actual) {
            return Err(format!(
                "thread {thread}: expected roles {:?}, the store holds {:?} (runs {takers:?})",
                roles(&expected),
                roles(&actual)
            ));
        }
        for (position, ((_, want), (_, got))) in expected.iter().zip(&actual).enumerate() {
            if want.is_some() && want != got {
                return Err(format!(
                    "thread {thread}: message {position} is {got:?}, expected {want:?}"
                ));
            }
        }
        // Each tool result answers a call of the assistant message before it, in order.
        let mut pending: Vec<String> = Vec::new();
        for (position, message) in stored.iter().enumerate() {
            match &**message {
                Message::Assistant { tool_calls, .. } => {
                    if !pending.is_empty() {
                        return Err(format!(
                            "thread {thread}: message {position} comes before results for {pending:?}"
                        ));
                    }
                    pending = tool_calls.iter().rev().map(|c| c.id.clone()).collect();
                }
                Message::Tool { tool_call_id, .. } => {
                    let answered = pending.pop();
                    if answered.as_ref() != Some(tool_call_id) {
                        return Err(format!(
                            "thread {thread}: message {position} answers {tool_call_id}, expected {answered:?}"
                        ));
                    }
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// Invariant 4: every tool call ran at most once; every recorded call ran, as planned.
fn check_tools(case: &Case, played: &Played) -> Result<(), String> {
    for (key, execution) in &played.executions {
        if execution.count > 1 {
            return Err(format!(
                "tool call {key} ran {} times: {execution:?}",
                execution.count
            ));
        }
    }
    for seen in &played.seen {
        let Some(run) = seen.run else { continue };
        let plan = &case.runs[seen.index];
        for episode in &played.logs[&run] {
            let Episode::ToolCalled {
                step,
                call_id,
                tool,
                ok,
                ..
            } = episode
            else {
                continue;
            };
            if tool != "work" {
                continue;
            }
            let ran = played
                .executions
                .values()
                .any(|e| e.call.0 == run && e.call.1 == *step && e.call.2 == *call_id);
            if !ran {
                return Err(format!(
                    "run {}: tool call {call_id} is recorded but never ran (ran: {:?}; log: {:?})",
                    seen.index, played.executions, played.logs[&run]
                ));
            }
            let planned = parse_call_id(call_id).and_then(|(step, call)| {
                match &plan.steps.get(step as usize - 1)?.action {
                    Action::Tools(tools) => tools.get(call).copied(),
                    Action::Handoff {
                        with_tool: Some(tool),
                        ..
                    } if call == 0 => Some(*tool),
                    _ => None,
                }
            });
            match planned {
                Some(tool) if tool.ok() == *ok => {}
                Some(tool) => {
                    return Err(format!(
                        "run {}: tool call {call_id} ({tool:?}) is recorded with ok = {ok}",
                        seen.index
                    ));
                }
                None => {
                    return Err(format!(
                        "run {}: tool call {call_id} was never planned",
                        seen.index
                    ));
                }
            }
        }
    }
    if let Some((key, execution)) = played
        .executions
        .iter()
        .find(|(_, e)| !played.seen.iter().any(|s| s.run == Some(e.call.0)))
    {
        return Err(format!(
            "tool call {key} ran for no run of the case: {execution:?}"
        ));
    }
    Ok(())
}

/// Invariant 5: nothing in flight or leased once every run has ended, but what an unwritten
/// end holds until its lease expires.
fn check_leftovers(played: &Played) -> Result<(), String> {
    if played.active_runs != 0 {
        return Err(format!(
            "{} runs still in flight once every run had ended",
            played.active_runs
        ));
    }
    if !played.agents_up {
        return Err("an agent went down".into());
    }
    let unwritten = |run: &RunId| {
        played
            .trace
            .runs
            .get(run)
            .is_some_and(|trace| trace.release_failed)
    };
    if let Some(run) = played.driven.iter().find(|run| !unwritten(run)) {
        return Err(format!(
            "run {run} still has a driver once every run had ended"
        ));
    }
    for ((thread, _), holder) in played.threads.iter().zip(&played.thread_holders) {
        if let Some(holder) = holder
            && !unwritten(holder)
        {
            return Err(format!(
                "thread {thread} is still leased by run {holder} once every run had ended"
            ));
        }
    }
    if !played.driven_later.is_empty() {
        return Err(format!(
            "runs {:?} still have a driver once their leases expired",
            played.driven_later
        ));
    }
    if played.thread_holders_later.iter().any(Option::is_some) {
        return Err(format!(
            "threads are still leased once every lease expired: {:?}",
            played.thread_holders_later
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The test.

/// What the cases exercised.
#[derive(Debug, Default)]
struct Tally {
    cases: usize,
    runs: usize,
    ends: BTreeMap<String, usize>,
    store_faults_struck: BTreeMap<String, usize>,
    consumers_left: usize,
    cancels: usize,
    handoffs: usize,
    tool_calls: usize,
    shutdowns: usize,
}

impl Tally {
    fn add(&mut self, case: &Case, played: &Played) {
        self.cases += 1;
        self.shutdowns += usize::from(case.shutdown.is_some());
        for seen in &played.seen {
            self.runs += 1;
            self.consumers_left += usize::from(seen.left_at.is_some());
            self.cancels += usize::from(seen.cancelled_at.is_some());
            let Some(run) = seen.run else {
                *self.ends.entry("refused at request".into()).or_default() += 1;
                continue;
            };
            let log = &played.logs[&run];
            let end = match log.iter().find(|e| e.is_terminal()) {
                Some(Episode::Completed { .. }) => "completed".to_owned(),
                Some(Episode::Failed { kind, .. }) => kind.to_string(),
                _ if log.is_empty() => "never leased".to_owned(),
                _ => "end unwritten".to_owned(),
            };
            *self.ends.entry(end).or_default() += 1;
            for episode in log {
                match episode {
                    Episode::HandedOff { .. } => self.handoffs += 1,
                    Episode::ToolCalled { .. } => self.tool_calls += 1,
                    _ => {}
                }
            }
        }
        for trace in played.trace.runs.values() {
            for (call, panicked) in &trace.faults {
                let what = format!("{call:?} {}", if *panicked { "panic" } else { "error" });
                *self.store_faults_struck.entry(what).or_default() += 1;
            }
        }
    }
}

fn env_number<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(value) => value
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a number, not {value:?}")),
        Err(_) => default,
    }
}

/// Panics that a case injects are contained by the library; their messages would only drown
/// the output. Every other panic prints as usual.
fn quiet_injected_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let message = payload
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| payload.downcast_ref::<&str>().copied())
                .unwrap_or_default();
            if !message.starts_with(INJECTED) {
                default(info);
            }
        }));
    });
}

fn play_and_check(case: &Case, tally: &Mutex<Tally>) -> Result<(), String> {
    let played = play(case)?;
    check(case, &played)?;
    lock(tally).add(case, &played);
    Ok(())
}

/// Plays one case and fails with what it broke.
fn replay(case: &Case) {
    quiet_injected_panics();
    if let Err(reason) = play_and_check(case, &Mutex::default()) {
        let json = serde_json::to_string(case).expect("a case is JSON");
        panic!("the case fails:\n{reason}\n\n{case:#?}\n\nas JSON: {json}");
    }
}

impl RunPlan {
    /// A run of `agent` on `thread`, requested at once, whose consumer reads it all.
    fn read(thread: usize, agent: usize, steps: Vec<StepPlan>) -> Self {
        Self {
            thread,
            agent,
            start_ms: 0,
            inputs: 1,
            steps,
            consumer: Consumer::Read,
            read_delay_ms: 0,
        }
    }
}

impl StepPlan {
    /// A step that does `action`, at once and without fault.
    fn clean(action: Action) -> Self {
        Self {
            action,
            fault: ProviderFault::None,
            guard: GuardFault::None,
            latency_ms: 0,
        }
    }
}

// The smallest failing cases the draw found, kept as tests of their own.

#[test]
fn a_run_handed_to_an_agent_that_fails_meanwhile_still_ends_once() {
    // Run 1 panics in agent c; before c's actor fails, run 0 (on another thread) hands off
    // from a to c, and its request waits in c's mailbox behind the failure.
    let panicking = StepPlan {
        fault: ProviderFault::Panic,
        ..StepPlan::clean(Action::Answer)
    };
    let handoff = StepPlan::clean(Action::Handoff {
        offset: 1,
        with_tool: None,
    });
    replay(&Case {
        agents: 3,
        threads: 2,
        max_handoffs: 8,
        runs: vec![
            RunPlan::read(1, 0, vec![handoff]),
            RunPlan::read(0, 2, vec![panicking]),
        ],
        store_faults: Vec::new(),
        shutdown: None,
    });
}

#[test]
fn settled_returns_after_a_shutdown_that_overtook_a_panic() {
    // The shutdown waits for its runs; the last one, queued behind the first on their thread,
    // panics, and the shutdown stops the tree as that run ends.
    let slow = StepPlan {
        latency_ms: 100,
        ..StepPlan::clean(Action::Answer)
    };
    let panicking = StepPlan {
        fault: ProviderFault::Panic,
        ..StepPlan::clean(Action::Answer)
    };
    replay(&Case {
        agents: 2,
        threads: 1,
        max_handoffs: 8,
        runs: vec![
            RunPlan::read(0, 0, vec![slow]),
            RunPlan::read(0, 0, vec![panicking]),
        ],
        store_faults: Vec::new(),
        shutdown: Some(ShutdownPlan {
            at_ms: 50,
            grace_ms: 2_000,
        }),
    });
}

#[test]
fn runs_keep_their_invariants_under_random_faults() {
    quiet_injected_panics();
    let tally = Mutex::new(Tally::default());
    if let Ok(json) = std::env::var("BATON_FAULT_REPLAY") {
        let case: Case = serde_json::from_str(&json).expect("BATON_FAULT_REPLAY holds a case");
        replay(&case);
        return;
    }
    let cases = env_number("BATON_FAULT_CASES", DEFAULT_CASES);
    let seed = env_number("BATON_FAULT_SEED", DEFAULT_SEED);
    let config = Config {
        cases,
        rng_algorithm: RngAlgorithm::ChaCha,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: None,
        max_shrink_iters: 2_000,
        ..Config::default()
    };
    let started = std::time::Instant::now();
    let mut runner = TestRunner::new(config);
    let outcome = runner.run(&case(), |case| {
        play_and_check(&case, &tally).map_err(TestCaseError::fail)
    });
    match outcome {
        Ok(()) => {}
        Err(TestError::Fail(reason, case)) => {
            let json = serde_json::to_string(&case).expect("a case is JSON");
            panic!(
                "a case fails (seed {seed}):\n{reason}\n\nsmallest failing case:\n{case:#?}\n\n\
                 replay it with BATON_FAULT_REPLAY='{json}'"
            );
        }
        Err(TestError::Abort(reason)) => panic!("the cases were aborted (seed {seed}): {reason}"),
    }
    let tally = tally.into_inner().unwrap_or_else(PoisonError::into_inner);
    println!(
        "{} cases, {} runs in {:.1?} (seed {seed}): {tally:#?}",
        tally.cases,
        tally.runs,
        started.elapsed()
    );
    if cases >= 200 {
        // The draw must keep exercising every way a run ends.
        for end in [
            "completed",
            "cancelled",
            "consumer_gone",
            "provider",
            "panicked",
            "store",
            "refused",
            "max_steps",
            "routing",
        ] {
            assert!(
                tally.ends.get(end).copied().unwrap_or(0) > 0,
                "no run ended as {end}: {tally:#?}"
            );
        }
        assert!(tally.handoffs > 0 && tally.tool_calls > 0 && tally.shutdowns > 0);
    }
}
