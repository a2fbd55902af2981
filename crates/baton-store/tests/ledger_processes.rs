//! The tool-call ledger across processes: a real child process (this test binary, started
//! again) pauses a run for approval and exits, or is killed with SIGKILL inside a tool or
//! between a call's recorded result and its step's commit; this process decides or resumes,
//! and a tool that counts its executions in a file outside the store shows what ran.
//!
//! SQLite and PostgreSQL (at `BATON_POSTGRES_URL`; ignored without it, except under `CI=true`,
//! where it fails).

#![cfg(unix)]

mod common;

use baton_core::actor::{Decided, Supervisor};
use baton_core::agent::Agent;
use baton_core::context::ToolContext;
use baton_core::error::{StoreError, ToolError};
use baton_core::ids::{RunId, ThreadId};
use baton_core::llm::{ChatRequest, Role};
use baton_core::memory::{Decision, Episode, Store, now_ms};
use baton_core::run::{RunEvent, RunOptions};
use baton_core::tool::{Approval, OnInterrupt, Tool};
use baton_testkit::{ObservedStore, Script, ScriptedProvider, StoreObserver, StoreOp};
use common::processes::open;
use serde_json::json;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

const CHILD_STORE: &str = "BATON_LEDGER_CHILD_STORE";
const CHILD_MODE: &str = "BATON_LEDGER_CHILD_MODE";
const COUNTER: &str = "BATON_LEDGER_COUNTER";
/// Short, so that a killed child's lease expires soon.
const LEASE_TTL: Duration = Duration::from_millis(900);

/// Where the child stops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// The call waits for approval: the run pauses and the child exits.
    Pause,
    /// Killed inside the tool: its intent is committed, its result is not.
    KillInTool(OnInterrupt),
    /// Killed after the call's result was committed and before its step was.
    KillBeforeCommit,
}

impl Mode {
    fn name(self) -> String {
        match self {
            Self::Pause => "pause".into(),
            Self::KillInTool(policy) => format!("kill-in-tool-{policy}"),
            Self::KillBeforeCommit => "kill-before-commit".into(),
        }
    }

    fn named(name: &str) -> Self {
        match name {
            "pause" => Self::Pause,
            "kill-before-commit" => Self::KillBeforeCommit,
            other => Self::KillInTool(
                OnInterrupt::named(other.trim_start_matches("kill-in-tool-")).unwrap(),
            ),
        }
    }

    fn on_interrupt(self) -> OnInterrupt {
        match self {
            Self::KillInTool(policy) => policy,
            _ => OnInterrupt::Fail,
        }
    }
}

/// Charges a card: counts each execution in a file, outside Baton's store, before it does
/// anything else. In the child of [`Mode::KillInTool`], the first execution never returns.
struct Charge {
    counter: PathBuf,
    hang: bool,
}

impl Tool for Charge {
    type Args = serde_json::Value;
    fn name(&self) -> &str {
        "charge"
    }
    fn description(&self) -> &str {
        "Charges the customer's card."
    }
    async fn call(
        &self,
        _args: serde_json::Value,
        ctx: &ToolContext<'_>,
    ) -> Result<String, ToolError> {
        let n = count(&self.counter);
        if self.hang {
            println!("\nin tool {}", ctx.run().run_id());
            std::io::stdout()
                .flush()
                .map_err(|e| ToolError::failed(e.to_string()))?;
            std::future::pending::<()>().await;
        }
        Ok(format!("charged, execution {n}"))
    }
}

/// Adds one to the count in `file` and returns it.
fn count(file: &Path) -> usize {
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)
        .unwrap();
    writeln!(log, "x").unwrap();
    log.sync_all().unwrap();
    executions(file)
}

fn executions(file: &Path) -> usize {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .count()
}

fn tool_results(request: &ChatRequest) -> Vec<String> {
    request
        .messages
        .iter()
        .filter(|m| m.role() == Role::Tool)
        .map(|m| m.content().to_owned())
        .collect()
}

/// Charges once, then answers with what the tool said.
fn model() -> Arc<ScriptedProvider> {
    Arc::new(ScriptedProvider::from_fn(|request| {
        match tool_results(request).last() {
            None => Script::tool_call("charge", json!({ "amount": 49.9 })),
            Some(result) => Script::text(&format!("done: {result}")),
        }
    }))
}

async fn supervisor(
    store: Arc<dyn Store>,
    llm: Arc<ScriptedProvider>,
    counter: PathBuf,
    mode: Mode,
    hang: bool,
) -> Supervisor {
    let approval = if mode == Mode::Pause {
        Approval::Always
    } else {
        Approval::Never
    };
    Supervisor::builder()
        .store(store)
        .provider(llm)
        .agent(
            Agent::builder("payments")
                .tool(Charge { counter, hang })
                .approval("charge", approval)
                .on_interrupt("charge", mode.on_interrupt())
                .options(RunOptions::default().with_lease_ttl(LEASE_TTL))
                .build()
                .unwrap(),
        )
        .spawn()
        .await
        .unwrap()
}

/// Stops the child's process for good just before the step with the tool's result commits.
struct HaltBeforeCommit;

impl StoreObserver for HaltBeforeCommit {
    fn before(&self, op: &StoreOp<'_>) -> Result<(), StoreError> {
        if let StoreOp::CommitStep(commit) = op
            && commit.messages.len() > 1
        {
            println!("\nbefore commit {}", commit.run);
            std::io::stdout().flush().unwrap();
            loop {
                std::thread::park();
            }
        }
        Ok(())
    }
}

/// The child's side: started by the tests below (`--ignored --exact ledger_child_process`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the child process of the ledger tests, which start it themselves"]
async fn ledger_child_process() {
    let (Ok(spec), Ok(mode), Ok(counter)) = (
        std::env::var(CHILD_STORE),
        std::env::var(CHILD_MODE),
        std::env::var(COUNTER),
    ) else {
        return;
    };
    let mode = Mode::named(&mode);
    let mut store = open(&spec).await;
    if mode == Mode::KillBeforeCommit {
        store = Arc::new(ObservedStore::wrap(store, HaltBeforeCommit));
    }
    let hang = matches!(mode, Mode::KillInTool(_));
    let supervisor = supervisor(store, model(), PathBuf::from(counter), mode, hang).await;
    let mut stream = supervisor
        .run("payments", ThreadId::new(), "charge me")
        .await
        .unwrap();
    while let Some(event) = stream.next_event().await {
        if let RunEvent::Paused { run_id, pending } = event {
            println!("\npaused {run_id} {}", pending[0].call_id);
            std::io::stdout().flush().unwrap();
            // Gone without a trace in the process: the run waits in the store.
            std::process::exit(0);
        }
    }
    unreachable!("the child pauses or is killed");
}

/// Runs the child in `mode` on `spec`'s store until it prints its line; kills it unless it
/// exits by itself. The run's id and the rest of the line.
fn run_child(spec: &str, mode: Mode, counter: &Path) -> (RunId, String) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "ledger_child_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_STORE, spec)
        .env(CHILD_MODE, mode.name())
        .env(COUNTER, counter)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let line = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map_while(Result::ok)
        .find(|line| {
            ["paused ", "in tool ", "before commit "]
                .iter()
                .any(|prefix| line.starts_with(prefix))
        });
    let Some(line) = line else {
        let status = child.wait().unwrap();
        panic!("the child ended ({status}) before it stopped where {mode:?} says");
    };
    if mode == Mode::Pause {
        assert!(child.wait().unwrap().success());
    } else {
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
    }
    let rest = line
        .trim_start_matches("paused ")
        .trim_start_matches("in tool ")
        .trim_start_matches("before commit ");
    let (run, rest) = rest.split_once(' ').unwrap_or((rest, ""));
    (run.parse().unwrap(), rest.to_owned())
}

/// Waits until the dead child's lease on `run` has expired, by the lease's own word.
async fn until_abandoned(store: &Arc<dyn Store>, run: RunId) {
    let unfinished = store.unfinished_runs().await.unwrap();
    if let Some(driver) = unfinished
        .iter()
        .find(|u| u.run == run)
        .and_then(|u| u.driver.as_ref())
    {
        let left = driver.expires_at_ms.saturating_sub(now_ms());
        tokio::time::sleep(Duration::from_millis(left + 50)).await;
    }
}

async fn log_of(store: &Arc<dyn Store>, run: RunId) -> Vec<Episode> {
    store
        .episodes(run)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.episode)
        .collect()
}

/// Approved in this process, after the child that paused the run is gone: the call runs
/// exactly once, here, and the model's next request holds its result.
async fn approve_in_a_new_process(spec: &str) {
    let dir = tempfile::tempdir().unwrap();
    let counter = dir.path().join("count");
    let (run, call) = run_child(spec, Mode::Pause, &counter);
    assert_eq!(executions(&counter), 0);
    let llm = model();
    let here = supervisor(
        open(spec).await,
        llm.clone(),
        counter.clone(),
        Mode::Pause,
        false,
    )
    .await;
    let pending = here.pending_approvals(run).await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].call_id, call);
    let Decided::Resumed(stream) = here.decide(run, &call, Decision::approve()).await.unwrap()
    else {
        panic!("the only call was decided");
    };
    let (output, _) = stream.finish().await.unwrap();
    assert_eq!(output, "done: charged, execution 1");
    assert_eq!(executions(&counter), 1);
    // This process asked the model once: after the call, with its result.
    let requests = llm.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(tool_results(&requests[0]), ["charged, execution 1"]);
    let log = log_of(here.store(), run).await;
    assert!(
        matches!(log.last(), Some(Episode::Completed { .. })),
        "{log:?}"
    );
    here.shutdown(Duration::from_secs(1)).await;
}

/// Rejected in this process, after the child that paused the run is gone: the call never
/// runs and the model sees the reason.
async fn reject_in_a_new_process(spec: &str) {
    let dir = tempfile::tempdir().unwrap();
    let counter = dir.path().join("count");
    let (run, call) = run_child(spec, Mode::Pause, &counter);
    let llm = model();
    let here = supervisor(
        open(spec).await,
        llm.clone(),
        counter.clone(),
        Mode::Pause,
        false,
    )
    .await;
    let decision = Decision::reject("the bank reversed it already");
    let Decided::Resumed(stream) = here.decide(run, &call, decision).await.unwrap() else {
        panic!("the only call was decided");
    };
    let (output, _) = stream.finish().await.unwrap();
    assert_eq!(
        output,
        "done: rejected by a person: the bank reversed it already"
    );
    assert_eq!(executions(&counter), 0);
    assert_eq!(llm.call_count(), 1);
    here.shutdown(Duration::from_secs(1)).await;
}

/// Killed inside the tool, resumed here: what the tool's interruption policy says.
async fn killed_in_the_tool(spec: &str, policy: OnInterrupt) {
    let dir = tempfile::tempdir().unwrap();
    let counter = dir.path().join("count");
    let mode = Mode::KillInTool(policy);
    let (run, _) = run_child(spec, mode, &counter);
    assert_eq!(executions(&counter), 1);
    let store = open(spec).await;
    let log = log_of(&store, run).await;
    assert!(
        matches!(log.last(), Some(Episode::ToolIntended { tool, .. }) if tool == "charge"),
        "the intent is the last thing recorded: {log:?}"
    );
    until_abandoned(&store, run).await;
    let llm = model();
    let here = supervisor(store, llm.clone(), counter.clone(), mode, false).await;
    let stream = here.resume(run).await.unwrap();
    let mut events = Vec::new();
    let mut stream = stream;
    while let Some(event) = stream.next_event().await {
        events.push(event);
    }
    assert!(
        events.iter().any(|e| matches!(
            e,
            RunEvent::CallInterrupted { policy: p, .. } if *p == policy
        )),
        "{events:?}"
    );
    let output = match policy {
        OnInterrupt::Ask => {
            let Some(RunEvent::Paused { pending, .. }) = events.last() else {
                panic!("ask pauses: {events:?}");
            };
            assert_eq!(executions(&counter), 1, "not run again before the approval");
            let Decided::Resumed(stream) = here
                .decide(run, &pending[0].call_id, Decision::approve())
                .await
                .unwrap()
            else {
                panic!("the only call was decided");
            };
            stream.finish().await.unwrap().0
        }
        _ => match events.last() {
            Some(RunEvent::Completed { output, .. }) => output.clone(),
            other => panic!("{other:?}"),
        },
    };
    match policy {
        OnInterrupt::Retry | OnInterrupt::Ask => {
            assert_eq!(executions(&counter), 2, "run again, as the policy allows");
            assert_eq!(output, "done: charged, execution 2");
        }
        OnInterrupt::Fail => {
            assert_eq!(executions(&counter), 1, "never run again");
            assert!(output.starts_with("done: interrupted"), "{output}");
        }
    }
    // The resumed step went on from the recorded response: the model was asked only after it.
    assert_eq!(llm.call_count(), 1);
    here.shutdown(Duration::from_secs(1)).await;
}

/// Killed after the call's result was committed and before its step was: the call is not
/// run again and the step completes with the recorded result.
async fn killed_before_the_commit(spec: &str) {
    let dir = tempfile::tempdir().unwrap();
    let counter = dir.path().join("count");
    let (run, _) = run_child(spec, Mode::KillBeforeCommit, &counter);
    assert_eq!(executions(&counter), 1);
    let store = open(spec).await;
    let log = log_of(&store, run).await;
    assert!(
        matches!(log.last(), Some(Episode::ToolReturned { ok: true, .. })),
        "the result is the last thing recorded: {log:?}"
    );
    until_abandoned(&store, run).await;
    let llm = model();
    let here = supervisor(
        store,
        llm.clone(),
        counter.clone(),
        Mode::KillBeforeCommit,
        false,
    )
    .await;
    let (output, _) = here.resume(run).await.unwrap().finish().await.unwrap();
    assert_eq!(output, "done: charged, execution 1");
    assert_eq!(executions(&counter), 1);
    let log = log_of(here.store(), run).await;
    let steps: Vec<u32> = log
        .iter()
        .filter_map(|e| match e {
            Episode::StepCompleted { step, .. } => Some(*step),
            _ => None,
        })
        .collect();
    assert_eq!(steps, [1, 2]);
    here.shutdown(Duration::from_secs(1)).await;
}

fn sqlite_spec(dir: &tempfile::TempDir) -> String {
    format!("sqlite:{}", dir.path().join("baton.db").display())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_approve_in_a_new_process() {
    let dir = tempfile::tempdir().unwrap();
    approve_in_a_new_process(&sqlite_spec(&dir)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_reject_in_a_new_process() {
    let dir = tempfile::tempdir().unwrap();
    reject_in_a_new_process(&sqlite_spec(&dir)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_killed_in_a_tool_retry_runs_it_again() {
    let dir = tempfile::tempdir().unwrap();
    killed_in_the_tool(&sqlite_spec(&dir), OnInterrupt::Retry).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_killed_in_a_tool_fail_never_runs_it_again() {
    let dir = tempfile::tempdir().unwrap();
    killed_in_the_tool(&sqlite_spec(&dir), OnInterrupt::Fail).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_killed_in_a_tool_ask_runs_it_again_only_once_approved() {
    let dir = tempfile::tempdir().unwrap();
    killed_in_the_tool(&sqlite_spec(&dir), OnInterrupt::Ask).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_killed_before_the_commit_keeps_the_recorded_result() {
    let dir = tempfile::tempdir().unwrap();
    killed_before_the_commit(&sqlite_spec(&dir)).await;
}

needs_postgres! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_approve_in_a_new_process() {
        let url = common::postgres::fresh_schema().await;
        approve_in_a_new_process(&format!("postgres:{url}")).await;
    }
}

needs_postgres! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_reject_in_a_new_process() {
        let url = common::postgres::fresh_schema().await;
        reject_in_a_new_process(&format!("postgres:{url}")).await;
    }
}

needs_postgres! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_killed_in_a_tool_follows_each_policy() {
        for policy in [OnInterrupt::Retry, OnInterrupt::Fail, OnInterrupt::Ask] {
            let url = common::postgres::fresh_schema().await;
            killed_in_the_tool(&format!("postgres:{url}"), policy).await;
        }
    }
}

needs_postgres! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_killed_before_the_commit_keeps_the_recorded_result() {
        let url = common::postgres::fresh_schema().await;
        killed_before_the_commit(&format!("postgres:{url}")).await;
    }
}
