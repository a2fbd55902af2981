//! Where the time of a store operation goes, on SQLite in a file (WAL, `synchronous=NORMAL`).
//!
//! sqlx runs each SQLite connection on a thread of its own, so every call is a round trip to
//! that thread; this prints what such a call costs through the native and the `Any` driver,
//! what a pool adds, what sqlx's transactions add (their `BEGIN` and `COMMIT` each wait for an
//! acknowledgement), and then each store operation of the run loop as `SqliteStore` does it.
//! Each figure is the best of a few rounds, in µs per call; the machine's load moves them all.
//!
//! ```text
//! cargo bench -p baton-store --bench costs
//! ```

use baton_core::ids::{AgentName, RunId, ThreadId};
use baton_core::llm::{FinishReason, Message, ToolCall, Usage};
use baton_core::memory::{Episode, EpisodicStore, Page, StepCommit, Store, ThreadStore};
use baton_store::SqliteStore;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{AnyConnection, ConnectOptions, Connection, Executor, SqliteConnection};
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Calls per measurement.
const CALLS: u32 = 2_000;
/// Measurements per figure; the best one is printed.
const ROUNDS: usize = 3;
/// Runs of the loop's store operations per measurement.
const RUNS: u32 = 200;
/// Steps per run: five tool steps and the answer, as `baton-bench store` runs them.
const STEPS: u32 = 6;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    // As a service's handlers would, on the runtime's workers.
    runtime
        .block_on(runtime.spawn(measure_all()))
        .expect("benchmark task");
}

async fn measure_all() {
    let dir = tempfile::tempdir().expect("temporary directory");
    println!("{:<58} {:>8}", "one call, SQLite in a file", "µs/call");
    driver_costs(dir.path()).await;
    println!(
        "\n{:<58} {:>8}",
        "SqliteStore, the run loop's operations", "µs/call"
    );
    store_costs(dir.path()).await;
}

/// Prints `$name` and the best of [`ROUNDS`] averages of `$call`, run [`CALLS`] times.
macro_rules! report {
    ($name:expr, $call:block) => {{
        let mut best = Duration::MAX;
        for _ in 0..ROUNDS {
            let start = Instant::now();
            for _ in 0..CALLS {
                $call
            }
            best = best.min(start.elapsed() / CALLS);
        }
        println!("{:<58} {:>8.1}", $name, best.as_secs_f64() * 1e6);
    }};
}

fn options(path: &Path) -> SqliteConnectOptions {
    SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
}

async fn driver_costs(dir: &Path) {
    sqlx::any::install_default_drivers();
    let path = dir.join("driver.db");
    let mut native = options(&path).connect().await.expect("connect");
    native
        .execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
        .await
        .expect("create table");
    let body = "x".repeat(200);
    let mut id = 0_i64;

    report!("native: ping (an empty round trip)", {
        native.ping().await.expect("ping");
    });
    report!("native: SELECT $1", {
        select(&mut native).await;
    });
    report!("native: BEGIN IMMEDIATE, INSERT, COMMIT (3 calls)", {
        id += 1;
        native.execute("BEGIN IMMEDIATE").await.expect("begin");
        insert(&mut native, id, &body).await;
        native.execute("COMMIT").await.expect("commit");
    });
    report!("native: the same in a transaction (acknowledged)", {
        id += 1;
        let mut tx = native.begin_with("BEGIN IMMEDIATE").await.expect("begin");
        insert(&mut tx, id, &body).await;
        tx.commit().await.expect("commit");
    });
    report!(
        "native: the same as one script (1 call; unsupported, sqlx#3108)",
        {
            id += 1;
            sqlx::query("BEGIN IMMEDIATE; INSERT INTO t (id, body) VALUES ($1, $2); COMMIT")
                .bind(id)
                .bind(body.as_str())
                .execute(&mut native)
                .await
                .expect("script");
        }
    );
    native.close().await.expect("close");

    let url = options(&path).to_url_lossy();
    let mut any = AnyConnection::connect(url.as_str()).await.expect("connect");
    report!("Any: SELECT $1", {
        let n: i64 = sqlx::query_scalar("SELECT $1")
            .bind(1_i64)
            .fetch_one(&mut any)
            .await
            .expect("select");
        assert_eq!(n, 1);
    });
    any.close().await.expect("close");

    let any_options = AnyConnectOptions::from_str(url.as_str()).expect("options");
    for (name, test) in [
        ("pool: acquire and release, tested (the default)", true),
        ("pool: acquire and release, untested", false),
    ] {
        let pool = AnyPoolOptions::new()
            .max_connections(4)
            .test_before_acquire(test)
            .connect_with(any_options.clone())
            .await
            .expect("pool");
        report!(name, { drop(pool.acquire().await.expect("acquire")) });
        pool.close().await;
    }
}

async fn select(conn: &mut SqliteConnection) {
    let n: i64 = sqlx::query_scalar("SELECT $1")
        .bind(1_i64)
        .fetch_one(conn)
        .await
        .expect("select");
    assert_eq!(n, 1);
}

async fn insert(conn: &mut SqliteConnection, id: i64, body: &str) {
    sqlx::query("INSERT INTO t (id, body) VALUES ($1, $2)")
        .bind(id)
        .bind(body)
        .execute(conn)
        .await
        .expect("insert");
}

/// The messages and episodes of step `n` of a run: a tool call and its result, or the answer.
fn step(n: u32) -> (Vec<Arc<Message>>, Vec<Episode>) {
    let completed = |finish_reason, tool_calls| Episode::StepCompleted {
        step: n,
        usage: Usage::new(120, 12),
        latency_ms: 0,
        finish_reason,
        tool_calls,
    };
    if n == STEPS {
        let answer = vec![Arc::new(Message::assistant("done"))];
        let done = Episode::Completed {
            output: "done".into(),
            usage: Usage::new(720, 72),
        };
        return (answer, vec![completed(FinishReason::Stop, 0), done]);
    }
    let call = ToolCall::new(format!("call_{n}"), "echo", r#"{"text":"step"}"#);
    let messages = vec![
        Arc::new(Message::assistant_calling("", vec![call.clone()])),
        Arc::new(Message::tool_result(&call, "step")),
    ];
    let called = Episode::ToolCalled {
        step: n,
        call_id: call.id.clone(),
        tool: call.name.clone(),
        ok: true,
        latency_ms: 0,
    };
    (
        messages,
        vec![called, completed(FinishReason::ToolCalls, 1)],
    )
}

/// Time spent in each operation of the loop, over `RUNS` runs.
#[derive(Default)]
struct Spent {
    record: Duration,
    list: Duration,
    append: Duration,
    commit: Duration,
    all: Duration,
}

async fn store_costs(dir: &Path) {
    let store = SqliteStore::open(dir.join("store.db")).await.expect("open");
    let steps: Vec<_> = (1..=STEPS).map(step).collect();
    let agent = AgentName::new("worker").expect("agent name");
    let mut best: Option<Spent> = None;
    for _ in 0..ROUNDS {
        let mut spent = Spent::default();
        let all = Instant::now();
        for _ in 0..RUNS {
            let (thread, run) = (ThreadId::new(), RunId::new());
            let start = Instant::now();
            let started = Episode::Started {
                agent: agent.clone(),
                thread,
            };
            store.record(run, started).await.expect("record");
            spent.record += start.elapsed();
            let start = Instant::now();
            let history = store.list(thread, Page::ALL).await.expect("list");
            spent.list += start.elapsed();
            let start = Instant::now();
            let input = [Arc::new(Message::user("do the steps"))];
            let mut len = store
                .append(thread, Some(history.len() as u64), &input)
                .await
                .expect("append");
            spent.append += start.elapsed();
            for (n, (messages, episodes)) in (1..).zip(&steps) {
                let start = Instant::now();
                let commit = StepCommit {
                    thread,
                    expected_len: Some(len),
                    messages,
                    run,
                    step: n,
                    episodes,
                    lease: None,
                };
                len = store.commit_step(commit).await.expect("commit");
                spent.commit += start.elapsed();
            }
        }
        spent.all = all.elapsed();
        if best.as_ref().is_none_or(|b| spent.all < b.all) {
            best = Some(spent);
        }
    }
    let Some(best) = best else { return };
    let per = |spent: Duration, calls: u32| spent.as_secs_f64() * 1e6 / f64::from(calls);
    let rows = [
        ("record (Started)", per(best.record, RUNS)),
        ("list (the thread's history)", per(best.list, RUNS)),
        ("append (the input)", per(best.append, RUNS)),
        ("commit_step", per(best.commit, RUNS * STEPS)),
    ];
    for (name, micros) in rows {
        println!("{name:<58} {micros:>8.1}");
    }
    println!(
        "{:<58} {:>8.0}",
        "steps per second (the loop's store operations alone)",
        f64::from(RUNS * STEPS) / best.all.as_secs_f64()
    );
    store.close().await;
}
