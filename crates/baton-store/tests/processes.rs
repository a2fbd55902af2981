//! Runs of two processes on one database: a real child process (this test binary, started
//! again) drives a run and is killed with SIGKILL; the parent races it for the thread, and two
//! drivers race to resume the run once the child's lease has expired.
//!
//! SQLite and PostgreSQL (at `BATON_POSTGRES_URL`; ignored without it, except under `CI=true`,
//! where it fails).

#![cfg(unix)]

mod common;

use baton_core::actor::Supervisor;
use baton_core::agent::Agent;
use baton_core::context::ToolContext;
use baton_core::error::{RunError, StoreError, ToolError};
use baton_core::ids::{RunId, ThreadId};
use baton_core::llm::Role;
use baton_core::memory::{Page, Store, now_ms};
use baton_core::run::RunOptions;
use baton_core::tool::{OnInterrupt, Tool};
use baton_testkit::{Script, ScriptedProvider};
use common::processes::open;
use serde_json::json;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

const CHILD_STORE: &str = "BATON_PROCESSES_CHILD_STORE";
const CHILD_THREAD: &str = "BATON_PROCESSES_CHILD_THREAD";
const CALLS_LOG: &str = "BATON_PROCESSES_CALLS_LOG";
/// Short, so that a killed child's lease expires soon.
const LEASE_TTL: Duration = Duration::from_millis(900);

/// Does piece `n` of the work and logs it; in the child, piece 2 never finishes.
struct Work {
    log: PathBuf,
    hang_on: Option<u64>,
}

impl Tool for Work {
    type Args = serde_json::Value;
    fn name(&self) -> &str {
        "work"
    }
    fn description(&self) -> &str {
        "Does one piece of work."
    }
    /// The work is logged only once it is finished, so a call a crash interrupted did nothing:
    /// it is run again.
    fn on_interrupt(&self) -> OnInterrupt {
        OnInterrupt::Retry
    }
    async fn call(
        &self,
        args: serde_json::Value,
        ctx: &ToolContext<'_>,
    ) -> Result<String, ToolError> {
        let n = args["n"].as_u64().unwrap_or_default();
        if self.hang_on == Some(n) {
            println!("\nholding {}", ctx.run().run_id());
            std::io::stdout()
                .flush()
                .map_err(|e| ToolError::failed(e.to_string()))?;
            std::future::pending::<()>().await;
        }
        let mut log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(|e| ToolError::failed(e.to_string()))?;
        writeln!(log, "{}", ctx.idempotency_key()).map_err(|e| ToolError::failed(e.to_string()))?;
        Ok(format!("piece {n} done"))
    }
}

/// Calls `work` for pieces 1 to 3, one per step, then answers.
fn model() -> Arc<ScriptedProvider> {
    Arc::new(ScriptedProvider::from_fn(|request| {
        let done = request
            .messages
            .iter()
            .filter(|m| m.role() == Role::Tool)
            .count();
        if done < 3 {
            Script::tool_call("work", json!({ "n": done + 1 }))
        } else {
            Script::text("all done")
        }
    }))
}

async fn supervisor(store: Arc<dyn Store>, log: PathBuf, hang_on: Option<u64>) -> Supervisor {
    Supervisor::builder()
        .store(store)
        .provider(model())
        .agent(
            Agent::builder("worker")
                .tool(Work { log, hang_on })
                .options(RunOptions::default().with_lease_ttl(LEASE_TTL))
                .build()
                .unwrap(),
        )
        .spawn()
        .await
        .unwrap()
}

/// The child's side: started by the tests below (`--ignored --exact child_process`) with
/// `CHILD_STORE` set; does nothing otherwise.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the child process of the two-process tests, which start it themselves"]
async fn child_process() {
    let (Ok(spec), Ok(thread), Ok(log)) = (
        std::env::var(CHILD_STORE),
        std::env::var(CHILD_THREAD),
        std::env::var(CALLS_LOG),
    ) else {
        return;
    };
    let store = open(&spec).await;
    let supervisor = supervisor(store, PathBuf::from(log), Some(2)).await;
    let thread: ThreadId = thread.parse().unwrap();
    let stream = supervisor.run("worker", thread, "first").await.unwrap();
    let _ = stream.finish().await;
    unreachable!("the child is killed while it holds the run");
}

/// A child driving a run on `thread` in `spec`'s store, stopped inside its second step; its
/// run's id.
fn start_child(spec: &str, thread: ThreadId, log: &std::path::Path) -> (Child, RunId) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "child_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_STORE, spec)
        .env(CHILD_THREAD, thread.to_string())
        .env(CALLS_LOG, log)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let held = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map_while(Result::ok)
        .find_map(|line| line.strip_prefix("holding ").map(str::to_owned));
    match held {
        Some(run) => (child, run.parse().unwrap()),
        None => {
            let status = child.wait().unwrap();
            panic!("the child ended ({status}) before holding its run");
        }
    }
}

fn kill(mut child: Child) {
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
}

fn executions(log: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

async fn texts(store: &Arc<dyn Store>, thread: ThreadId) -> Vec<String> {
    store
        .list(thread, Page::ALL)
        .await
        .unwrap()
        .iter()
        .map(|m| m.content().to_owned())
        .collect()
}

fn is_refused(outcome: &Result<(String, baton_core::llm::Usage), RunError>) -> bool {
    matches!(
        outcome,
        Err(RunError::Store {
            error: StoreError::ThreadBusy { .. } | StoreError::RunLeased { .. }
        })
    )
}

/// The loser of a thread between two processes writes nothing; once the winner is gone and its
/// lease expired, the run is resumed to its end by exactly one of two racing drivers, and no
/// piece of work whose result was committed runs again.
async fn two_processes(spec: &str, second_spec: &str, third_spec: &str) {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("calls.log");
    let thread = ThreadId::new();
    let (child, run) = start_child(spec, thread, &log);

    // The child holds the thread: this process's run is refused and leaves no trace.
    let here = supervisor(open(second_spec).await, log.clone(), None).await;
    let stream = here.run("worker", thread, "second").await.unwrap();
    let loser = stream.run_id();
    let outcome = stream.finish().await;
    assert!(
        matches!(
            &outcome,
            Err(RunError::Store {
                error: StoreError::ThreadBusy { holder, .. }
            }) if *holder == run
        ),
        "{outcome:?}"
    );
    assert!(here.store().episodes(loser).await.unwrap().is_empty());
    assert_eq!(
        texts(here.store(), thread).await,
        ["first", "", "piece 1 done"],
        "the child's input and first step, nothing of the loser"
    );
    // Resuming the child's run while it holds it is refused, and writes nothing.
    let before = here.store().episodes(run).await.unwrap().len();
    let refused = here.resume(run).await.unwrap().finish().await;
    assert!(is_refused(&refused), "{refused:?}");
    assert_eq!(here.store().episodes(run).await.unwrap().len(), before);

    kill(child);
    // The dead child's lease says when it ends; wait for exactly that.
    let unfinished = here.store().unfinished_runs().await.unwrap();
    let mine = unfinished.iter().find(|u| u.run == run).unwrap();
    if let Some(driver) = &mine.driver {
        let left = driver.expires_at_ms.saturating_sub(now_ms());
        tokio::time::sleep(Duration::from_millis(left + 50)).await;
    }

    // Two drivers race to resume: exactly one drives the run to its end.
    let there = supervisor(open(third_spec).await, log.clone(), None).await;
    let (a, b) = tokio::join!(
        async { here.resume(run).await.unwrap().finish().await },
        async { there.resume(run).await.unwrap().finish().await }
    );
    let (won, lost) = if a.is_ok() { (a, b) } else { (b, a) };
    assert_eq!(won.unwrap().0, "all done");
    // The other is refused: the run is leased, or (if it came after the winner's end) it
    // already finished.
    let finished =
        matches!(&lost, Err(RunError::Invalid { reason }) if reason.ends_with("already finished"));
    assert!(is_refused(&lost) || finished, "{lost:?}");
    // Piece 1 ran in the child; 2 and 3 once each, after the resume.
    let done = executions(&log);
    assert_eq!(done.len(), 3, "{done:?}");
    let mut unique = done.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 3, "no piece of work ran twice: {done:?}");
    let log_of_run = here.store().episodes(run).await.unwrap();
    assert_eq!(
        log_of_run
            .iter()
            .filter(|r| r.episode.is_terminal())
            .count(),
        1
    );
    assert!(
        here.store()
            .unfinished_runs()
            .await
            .unwrap()
            .iter()
            .all(|u| u.run != run)
    );
    here.shutdown(Duration::from_secs(1)).await;
    there.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_processes_share_a_thread_and_resume_a_run_once() {
    let dir = tempfile::tempdir().unwrap();
    let spec = format!("sqlite:{}", dir.path().join("baton.db").display());
    two_processes(&spec, &spec, &spec).await;
}

needs_postgres! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_processes_share_a_thread_and_resume_a_run_once() {
        let url = common::postgres::fresh_schema().await;
        let spec = format!("postgres:{url}");
        two_processes(&spec, &spec, &spec).await;
    }
}
