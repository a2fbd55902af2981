//! Crash recovery: a real child process runs a multi-step run on SQLite and is killed with
//! SIGKILL in the middle; the store is reopened, checked, and the run resumed to completion
//! without running any finished tool call twice.

#![cfg(feature = "sqlite")]

mod support;

use baton::prelude::*;
use baton::store::SqliteStore;
use baton_testkit::{Script, ScriptedProvider};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use support::*;

const CHILD_DB: &str = "BATON_CRASH_CHILD_DB";
const CALLS_LOG: &str = "BATON_CRASH_CALLS_LOG";
const STEPS: usize = 5;
/// The runs' lease: short, so that the killed child's lease expires soon after it dies.
const LEASE_TTL: std::time::Duration = std::time::Duration::from_millis(900);

/// A tool that appends `n` to a log once its work is finished. In the child, the third call
/// never finishes: that is where the process dies.
struct Work {
    calls_log: PathBuf,
    hang_on: Option<u64>,
}

#[derive(Deserialize, JsonSchema)]
struct WorkArgs {
    /// Which piece of work.
    n: u64,
}

impl Tool for Work {
    type Args = WorkArgs;
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
    async fn call(&self, args: WorkArgs, _ctx: &ToolContext<'_>) -> Result<String, ToolError> {
        if self.hang_on == Some(args.n) {
            println!("\nblocking in call {}", args.n);
            std::io::stdout()
                .flush()
                .map_err(|e| ToolError::failed(e.to_string()))?;
            std::future::pending::<()>().await;
        }
        let mut log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.calls_log)
            .map_err(|e| ToolError::failed(e.to_string()))?;
        writeln!(log, "{}", args.n).map_err(|e| ToolError::failed(e.to_string()))?;
        log.sync_all()
            .map_err(|e| ToolError::failed(e.to_string()))?;
        Ok(format!("work {} done", args.n))
    }
}

/// Calls `work` once per step until five are done, then answers.
fn model() -> Arc<ScriptedProvider> {
    provider(ScriptedProvider::from_fn(|request| {
        let done = request
            .messages
            .iter()
            .filter(|m| m.role() == baton::core::llm::Role::Tool)
            .count();
        if done < STEPS {
            Script::tool_call("work", json!({ "n": done + 1 }))
        } else {
            Script::text("All five pieces of work are done.")
        }
    }))
}

async fn supervisor(db: &Path, calls_log: PathBuf, hang_on: Option<u64>) -> Supervisor {
    let store = SqliteStore::open(db).await.unwrap();
    Supervisor::builder()
        .store(Arc::new(store))
        .provider(model())
        .agent(
            Agent::builder("worker")
                .instructions("Do the five pieces of work, one per step.")
                .tool(Work { calls_log, hang_on })
                .options(RunOptions::default().with_lease_ttl(LEASE_TTL))
                .build()
                .unwrap(),
        )
        .spawn()
        .await
        .unwrap()
}

/// The child's side: started by the test below with `CHILD_DB` set; does nothing otherwise.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_child_process() {
    let (Ok(db), Ok(calls)) = (std::env::var(CHILD_DB), std::env::var(CALLS_LOG)) else {
        return;
    };
    let supervisor = supervisor(Path::new(&db), PathBuf::from(calls), Some(3)).await;
    let stream = supervisor
        .run("worker", ThreadId::new(), "do the work")
        .await
        .unwrap();
    // On a line of its own: the test harness has printed the test name without a newline.
    println!("\nrun {}", stream.run_id());
    std::io::stdout().flush().unwrap();
    collect(stream).await;
    unreachable!("the child is killed before the run ends");
}

fn finished_calls(calls_log: &Path) -> Vec<String> {
    std::fs::read_to_string(calls_log)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_killed_mid_way_resumes_from_its_last_completed_step() {
    if std::env::var(CHILD_DB).is_ok() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("baton.db");
    let calls_log = dir.path().join("calls.log");

    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "crash_child_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DB, &db)
        .env(CALLS_LOG, &calls_log)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut run_id = None;
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if let Some(id) = line.strip_prefix("run ") {
            run_id = Some(id.parse::<RunId>().unwrap());
        }
        if line.starts_with("blocking in call 3") {
            break;
        }
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let run_id = run_id.expect("the child printed its run id");

    // After the crash: two completed steps in the thread and the log, no end in the log.
    let reopened: Arc<dyn Store> = Arc::new(SqliteStore::open(&db).await.unwrap());
    let unfinished = reopened.unfinished_runs().await.unwrap();
    assert_eq!(unfinished.len(), 1);
    assert_eq!(unfinished[0].run, run_id);
    let log = episodes(&reopened, run_id).await;
    let Some(Episode::Started { thread, .. }) = log.first().cloned() else {
        panic!("the log starts with Started: {log:?}");
    };
    // Two steps committed; the third's response and its call's intent are in the ledger.
    assert!(
        matches!(
            &log[log.len() - 3..],
            [
                Episode::StepCompleted { step: 2, .. },
                Episode::Responded { step: 3, .. },
                Episode::ToolIntended { step: 3, .. }
            ]
        ),
        "{log:?}"
    );
    let messages = thread_messages(&reopened, thread).await;
    assert_eq!(
        messages.len(),
        1 + 2 * 2,
        "the question and two complete steps"
    );
    assert_eq!(messages[4].content(), "work 2 done");
    assert_eq!(finished_calls(&calls_log), ["1", "2"]);
    drop(reopened);

    // Resume in this process, on the same database. While the dead child's lease lasts, the
    // run counts as driven elsewhere and resuming it is refused, writing nothing.
    let supervisor = supervisor(&db, calls_log.clone(), None).await;
    let unfinished = supervisor.unfinished_runs().await.unwrap();
    if let Some(driver) = &unfinished[0].driver {
        let refused = supervisor.resume(run_id).await.unwrap().finish().await;
        assert!(
            matches!(
                refused,
                Err(RunError::Store {
                    error: StoreError::RunLeased { .. }
                })
            ),
            "{refused:?}"
        );
        assert_eq!(episodes(supervisor.store(), run_id).await.len(), log.len());
        // The lease says when it ends; wait for exactly that.
        let left = driver
            .expires_at_ms
            .saturating_sub(baton::core::memory::now_ms());
        std::thread::sleep(std::time::Duration::from_millis(left + 20));
    }
    let unfinished = supervisor.unfinished_runs().await.unwrap();
    assert!(unfinished[0].is_abandoned(), "{unfinished:?}");
    let resumed = supervisor.resume(run_id).await.unwrap();
    assert_eq!(resumed.run_id(), run_id);
    let (output, _) = resumed.finish().await.unwrap();
    assert_eq!(output, "All five pieces of work are done.");

    // Every piece of work finished exactly once.
    assert_eq!(finished_calls(&calls_log), ["1", "2", "3", "4", "5"]);
    let messages = thread_messages(supervisor.store(), thread).await;
    assert_eq!(messages.len(), 1 + STEPS * 2 + 1);
    let log = episodes(supervisor.store(), run_id).await;
    let started = log
        .iter()
        .filter(|e| matches!(e, Episode::Started { .. }))
        .count();
    assert_eq!(started, 2, "the resumed agent records its start");
    let steps: Vec<u32> = log
        .iter()
        .filter_map(|e| match e {
            Episode::StepCompleted { step, .. } => Some(*step),
            _ => None,
        })
        .collect();
    assert_eq!(steps, [1, 2, 3, 4, 5, 6], "step numbers go on");
    assert!(matches!(log.last(), Some(Episode::Completed { .. })));
    assert!(supervisor.unfinished_runs().await.unwrap().is_empty());
    let err = supervisor.resume(run_id).await.unwrap_err();
    assert!(matches!(err, SupervisorError::NotResumable { .. }), "{err}");
    supervisor.shutdown(std::time::Duration::from_secs(1)).await;
}
