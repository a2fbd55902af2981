//! Throughput of `Store::commit_step`, the write at the end of every step of the run loop.
//!
//! A step as the loop commits it: the assistant's message with one tool call, the tool's result
//! (1 KiB), a `ToolCalled` and a `StepCompleted` episode, appended with the expected length.
//! Measured on `InMemoryStore` (the baseline), SQLite in a file (WAL, `synchronous=NORMAL`),
//! SQLite in memory, and PostgreSQL when `BATON_POSTGRES_URL` is set (in a schema of its own,
//! dropped afterwards). Criterion reports steps per second (`thrpt`): for one run committing
//! step after step, and for eight runs committing at once.
//!
//! ```text
//! eval "$(bash crates/baton-store/ci/postgres.sh)"
//! cargo bench -p baton-store --bench store
//! ```

use baton_core::ids::{RunId, ThreadId};
use baton_core::llm::{FinishReason, Message, ToolCall, Usage};
use baton_core::memory::{Episode, InMemoryStore, StepCommit, Store};
use baton_store::{PostgresStore, SqliteStore};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sqlx::{Connection, Executor, PgConnection};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::runtime::Runtime;

/// Runs committing at once in the parallel group.
const PARALLEL_RUNS: u64 = 8;

/// The messages and episodes of step `n`.
fn step(n: u32) -> (Vec<Arc<Message>>, Vec<Episode>) {
    let call = ToolCall::new(
        format!("call_{n}"),
        "search_orders",
        r#"{"customer_id":"c-1042","status":"shipped","limit":10}"#,
    );
    let messages = vec![
        Arc::new(Message::assistant_calling(
            "Let me look up the customer's recent shipped orders.",
            vec![call.clone()],
        )),
        Arc::new(Message::tool_result(&call, "order ".repeat(170))),
    ];
    let episodes = vec![
        Episode::ToolCalled {
            step: n,
            call_id: call.id.clone(),
            tool: call.name.clone(),
            ok: true,
            latency_ms: 42,
        },
        Episode::StepCompleted {
            step: n,
            usage: Usage::new(1_250, 48),
            latency_ms: 820,
            finish_reason: FinishReason::ToolCalls,
            tool_calls: 1,
        },
    ];
    (messages, episodes)
}

/// Commits `steps` consecutive steps of a new run on a new thread; the time they took.
async fn commit_steps(store: &dyn Store, steps: u64) -> Duration {
    let (thread, run) = (ThreadId::new(), RunId::new());
    let count = u32::try_from(steps).expect("fewer than 2^32 steps");
    let prepared: Vec<_> = (1..=count).map(step).collect();
    let start = Instant::now();
    for (n, (messages, episodes)) in (1..=count).zip(&prepared) {
        let commit = StepCommit {
            thread,
            expected_len: Some(u64::from(n - 1) * 2),
            messages,
            run,
            step: n,
            episodes,
            lease: None,
        };
        store.commit_step(commit).await.expect("commit");
    }
    start.elapsed()
}

/// A PostgreSQL store in a new schema, and that schema, when `BATON_POSTGRES_URL` is set.
async fn postgres() -> Option<(PostgresStore, String, String)> {
    let url = std::env::var("BATON_POSTGRES_URL").ok()?;
    let schema = format!("bench_{}", ThreadId::new().to_string().replace('-', ""));
    let mut admin = PgConnection::connect(&url).await.expect("connect");
    admin
        .execute(format!("CREATE SCHEMA {schema}").as_str())
        .await
        .expect("create schema");
    let separator = if url.contains('?') { '&' } else { '?' };
    let store_url = format!("{url}{separator}options=-csearch_path%3D{schema}");
    let store = PostgresStore::connect(&store_url).await.expect("connect");
    Some((store, url, schema))
}

fn commit_step(c: &mut Criterion) {
    let runtime = Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut stores: Vec<(&str, Arc<dyn Store>)> = vec![("in_memory", InMemoryStore::shared())];
    let (sqlite_file, sqlite_memory, postgres) = runtime.block_on(async {
        let file = SqliteStore::open(dir.path().join("bench.db"))
            .await
            .expect("open");
        let memory = SqliteStore::open_in_memory().await.expect("open");
        (file, memory, postgres().await)
    });
    stores.push(("sqlite_file", Arc::new(sqlite_file)));
    stores.push(("sqlite_memory", Arc::new(sqlite_memory)));
    let mut cleanup = None;
    match postgres {
        Some((store, url, schema)) => {
            stores.push(("postgres", Arc::new(store)));
            cleanup = Some((url, schema));
        }
        None => eprintln!("note: PostgreSQL skipped: BATON_POSTGRES_URL is not set"),
    }

    let mut group = c.benchmark_group("commit_step");
    group.throughput(Throughput::Elements(1));
    for (name, store) in &stores {
        group.bench_function(*name, |b| {
            b.to_async(&runtime).iter_custom(|steps| {
                let store = store.clone();
                async move { commit_steps(&*store, steps).await }
            });
        });
    }
    group.finish();

    // Runs commit in parallel, each on its own thread: what a server with many conversations
    // asks of the store.
    let mut group = c.benchmark_group("commit_step_parallel_runs");
    group.throughput(Throughput::Elements(PARALLEL_RUNS));
    for (name, store) in &stores {
        group.bench_function(*name, |b| {
            b.to_async(&runtime).iter_custom(|steps| {
                let store = store.clone();
                async move {
                    let start = Instant::now();
                    let mut runs = tokio::task::JoinSet::new();
                    for _ in 0..PARALLEL_RUNS {
                        let store = store.clone();
                        runs.spawn(async move { commit_steps(&*store, steps).await });
                    }
                    runs.join_all().await;
                    start.elapsed()
                }
            });
        });
    }
    group.finish();

    if let Some((url, schema)) = cleanup {
        runtime.block_on(async {
            let mut admin = PgConnection::connect(&url).await.expect("connect");
            admin
                .execute(format!("DROP SCHEMA {schema} CASCADE").as_str())
                .await
                .expect("drop schema");
        });
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    targets = commit_step
}
criterion_main!(benches);
