//! `cargo run --release -p baton-bench -- WORKLOAD [options]`: prints one line per figure,
//! each with its ratio to the bare baseline measured in the same command.
//!
//! Workloads: `loop`, `handoff`, `conc`, `stream`, `store` (SQLite, and PostgreSQL when
//! `BATON_POSTGRES_URL` is set), `store-conc` (the same, many runs at once), `ledger` (the
//! tool-call ledger's cost per call next to a step's commit, on the same stores), `paused`
//! (what runs paused for approval leave in the process, against as many completed runs), `all`. Options: `--steps K`, `--runs R`,
//! `--hops H`, `--latency-ms L`, `--chunks N`, `--workers W` (runtime worker threads,
//! default 2). `conc` measures peak memory in child processes so that the baseline and Baton
//! do not share a high-water mark.

use baton_bench::{
    Measurement, approval_workload_on, conc_baseline, conc_workload, concurrent_workload_on,
    handoff_workload, ledger_workload_on, loop_baseline, loop_workload, loop_workload_on,
    stream_baseline, stream_workload,
};
use std::collections::HashMap;
use std::process::Command;
use std::time::Duration;

struct Options {
    values: HashMap<String, u64>,
}

impl Options {
    fn parse(args: &[String]) -> Result<Self, String> {
        let mut values = HashMap::new();
        let mut iter = args.iter();
        while let Some(flag) = iter.next() {
            let name = flag
                .strip_prefix("--")
                .ok_or_else(|| format!("unexpected argument {flag:?}"))?;
            let value = iter
                .next()
                .ok_or_else(|| format!("{flag} needs a value"))?
                .parse::<u64>()
                .map_err(|_| format!("{flag} needs a number"))?;
            values.insert(name.to_owned(), value);
        }
        Ok(Self { values })
    }

    fn get(&self, name: &str, default: u64) -> u64 {
        self.values.get(name).copied().unwrap_or(default)
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(workload) = args.first().cloned() else {
        eprintln!(
            "usage: baton-bench loop|handoff|conc|stream|store|store-conc|all [--steps K] [--runs R] [--hops H] [--latency-ms L] [--chunks N]"
        );
        std::process::exit(2);
    };
    let options = match Options::parse(&args[1..]) {
        Ok(options) => options,
        Err(error) => {
            eprintln!("baton-bench: {error}");
            std::process::exit(2);
        }
    };
    let workers = usize::try_from(options.get("workers", 2))
        .unwrap_or(2)
        .max(1);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .unwrap_or_else(|error| panic!("a tokio runtime: {error}"));
    // Workloads run as tasks on the runtime's workers, as a service's handlers would, not on
    // the thread that blocks on the runtime.
    let options = std::sync::Arc::new(options);
    match workload.as_str() {
        "loop" => on_runtime(&runtime, &options, bench_loop),
        "handoff" => on_runtime(&runtime, &options, bench_handoff),
        "stream" => on_runtime(&runtime, &options, bench_stream),
        "conc" => bench_conc(&options),
        "store" => on_runtime(&runtime, &options, bench_store),
        "store-conc" => on_runtime(&runtime, &options, bench_store_conc),
        "ledger" => on_runtime(&runtime, &options, bench_ledger),
        "paused" => bench_paused(&options),
        "conc-child" => on_runtime(&runtime, &options, conc_child),
        "paused-child" => on_runtime(&runtime, &options, paused_child),
        "all" => {
            on_runtime(&runtime, &options, bench_loop);
            on_runtime(&runtime, &options, bench_handoff);
            on_runtime(&runtime, &options, bench_stream);
            on_runtime(&runtime, &options, bench_store);
            on_runtime(&runtime, &options, bench_store_conc);
            on_runtime(&runtime, &options, bench_ledger);
            bench_paused(&options);
            bench_conc(&options);
        }
        other => {
            eprintln!("baton-bench: unknown workload {other:?}");
            std::process::exit(2);
        }
    }
}

fn on_runtime<F, Fut>(runtime: &tokio::runtime::Runtime, options: &std::sync::Arc<Options>, work: F)
where
    F: FnOnce(std::sync::Arc<Options>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    runtime
        .block_on(runtime.spawn(work(std::sync::Arc::clone(options))))
        .unwrap_or_else(|error| panic!("benchmark task: {error}"));
}

async fn bench_loop(options: std::sync::Arc<Options>) {
    let steps = options.get("steps", 5) as usize;
    let runs = options.get("runs", 20_000);
    // Warm both paths (allocator, tokenizer-free caches, the runtime) before measuring.
    loop_baseline(steps, runs / 10 + 1).await;
    loop_workload(steps, runs / 10 + 1).await;
    let bare = loop_baseline(steps, runs).await;
    let baton = loop_workload(steps, runs).await;
    println!(
        "loop     steps={steps} runs={runs}: baton {:.2} µs/model-call, bare {:.2} µs/model-call, ratio {:.2}x, overhead {:.2} µs/step",
        baton.micros_per_call(),
        bare.micros_per_call(),
        baton.micros_per_call() / bare.micros_per_call(),
        baton.micros_per_call() - bare.micros_per_call(),
    );
}

type StoreFuture<S> = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<S, baton_core::error::StoreError>> + Send>,
>;

// Boxed at a concrete type: sqlx's futures are Send, but the compiler cannot prove it through
// a spawned async fn's generic lifetimes.
fn open_sqlite(path: std::path::PathBuf) -> StoreFuture<baton_store::SqliteStore> {
    Box::pin(async move { baton_store::SqliteStore::open(path).await })
}

fn connect_postgres(url: String) -> StoreFuture<baton_store::PostgresStore> {
    Box::pin(async move { baton_store::PostgresStore::connect(&url).await })
}

async fn bench_store(options: std::sync::Arc<Options>) {
    let steps = options.get("steps", 5) as usize;
    let runs = options.get("runs", 2_000) / 4;
    on_durable_stores("store   ", "", steps, runs, loop_workload_on).await;
}

/// Many runs at once, every step committed: the load a group commit would serve.
async fn bench_store_conc(options: std::sync::Arc<Options>) {
    let steps = options.get("steps", 5) as usize;
    let runs = options.get("runs", 1_000);
    on_durable_stores(
        "store-conc",
        " at once",
        steps,
        runs,
        concurrent_workload_on,
    )
    .await;
}

/// What the tool-call ledger costs per call of a tool with side effects, next to what a
/// step's commit costs: the same runs with a read-only tool (a commit per step) and with a tool
/// the ledger tracks (a commit per step, and each call's intent and result recorded).
async fn bench_ledger(options: std::sync::Arc<Options>) {
    let steps = options.get("steps", 5) as usize;
    let runs = options.get("runs", 2_000) / 4;
    let report = |backend: &str, plain: &Measurement, tracked: &Measurement| {
        let calls = (runs * steps as u64).max(1) as f64;
        let per_step = plain.elapsed.as_secs_f64() * 1e6 / plain.model_calls.max(1) as f64;
        let per_call = (tracked.elapsed.as_secs_f64() - plain.elapsed.as_secs_f64()) * 1e6 / calls;
        println!(
            "ledger   {backend} steps={steps} runs={runs}: {per_call:.1} µs per tracked tool call, {per_step:.1} µs per step without (commit included), ratio {:.2}x per run",
            tracked.elapsed.as_secs_f64() / plain.elapsed.as_secs_f64(),
        );
    };
    let plain = loop_workload_on(None, steps, runs).await;
    let tracked = ledger_workload_on(None, steps, runs).await;
    report("memory", &plain, &tracked);
    let dir = tempfile::tempdir().unwrap_or_else(|error| panic!("a temporary directory: {error}"));
    let sqlite = |file: &str| open_sqlite(dir.path().join(file));
    let plain = loop_workload_on(
        Some(std::sync::Arc::new(
            sqlite("plain.db")
                .await
                .unwrap_or_else(|e| panic!("sqlite: {e}")),
        )),
        steps,
        runs,
    )
    .await;
    let tracked = ledger_workload_on(
        Some(std::sync::Arc::new(
            sqlite("tracked.db")
                .await
                .unwrap_or_else(|e| panic!("sqlite: {e}")),
        )),
        steps,
        runs,
    )
    .await;
    report("sqlite", &plain, &tracked);
    if let Ok(url) = std::env::var("BATON_POSTGRES_URL") {
        let connect = || connect_postgres(url.clone());
        let plain = loop_workload_on(
            Some(std::sync::Arc::new(
                connect().await.unwrap_or_else(|e| panic!("postgres: {e}")),
            )),
            steps,
            runs,
        )
        .await;
        let tracked = ledger_workload_on(
            Some(std::sync::Arc::new(
                connect().await.unwrap_or_else(|e| panic!("postgres: {e}")),
            )),
            steps,
            runs,
        )
        .await;
        report("postgres", &plain, &tracked);
    }
}

/// What runs paused for approval leave in the process: `runs` runs that pause (on SQLite, so
/// that the store's contents are on disk), against as many that complete, each in a child
/// process of its own, measured after the runs ended while the paused ones wait.
fn bench_paused(options: &Options) {
    let runs = options.get("runs", 10_000);
    let completed = paused_child_figures(false, runs);
    let paused = paused_child_figures(true, runs);
    let bytes =
        |(before, after): (u64, u64)| after.saturating_sub(before) as f64 * 1024.0 / runs as f64;
    println!(
        "paused   runs={runs}: {:.0} bytes/run held while paused, {:.0} bytes/run after as many completed runs, ratio {:.2}x",
        bytes(paused),
        bytes(completed),
        bytes(paused) / bytes(completed).max(1.0),
    );
}

/// The child's resident memory before and after its runs, in KiB.
fn paused_child_figures(pause: bool, runs: u64) -> (u64, u64) {
    let mode = if pause { "1" } else { "0" };
    let runs = runs.to_string();
    let field = child_fields(&["paused-child", "--mode", mode, "--runs", &runs]);
    (field("before_kib") as u64, field("after_kib") as u64)
}

async fn paused_child(options: std::sync::Arc<Options>) {
    let runs = options.get("runs", 10_000);
    let pause = options.get("mode", 1) == 1;
    let dir = tempfile::tempdir().unwrap_or_else(|error| panic!("a temporary directory: {error}"));
    let store: std::sync::Arc<dyn baton_core::memory::Store> = std::sync::Arc::new(
        open_sqlite(dir.path().join("paused.db"))
            .await
            .unwrap_or_else(|error| panic!("sqlite store: {error}")),
    );
    // Warm the allocator, the store's connections and caches, and the actors first.
    let (warm, _) = approval_workload_on(std::sync::Arc::clone(&store), runs / 10 + 1, pause).await;
    warm.shutdown(Duration::from_secs(5)).await;
    let before_kib = proc_status_kib("VmRSS");
    let (supervisor, _) = approval_workload_on(store, runs, pause).await;
    supervisor.idle().await;
    let after_kib = proc_status_kib("VmRSS");
    assert_eq!(supervisor.status().active_runs, 0);
    println!("before_kib={before_kib} after_kib={after_kib}");
    supervisor.shutdown(Duration::from_secs(5)).await;
}

/// Runs `workload` in memory, then on SQLite in a file and, when `BATON_POSTGRES_URL` is set,
/// on PostgreSQL, printing each durable figure against the in-memory one.
async fn on_durable_stores<F, Fut>(name: &str, shape: &str, steps: usize, runs: u64, workload: F)
where
    F: Fn(Option<std::sync::Arc<dyn baton_core::memory::Store>>, usize, u64) -> Fut,
    Fut: std::future::Future<Output = Measurement>,
{
    let memory = workload(None, steps, runs).await;
    let report = |backend: &str, durable: &Measurement| {
        println!(
            "{name} {backend} steps={steps} runs={runs}{shape}: {:.0} steps/s durable, in-memory {:.0} steps/s, ratio {:.1}x",
            durable.steps_per_second(),
            memory.steps_per_second(),
            memory.steps_per_second() / durable.steps_per_second(),
        );
    };
    let dir = tempfile::tempdir().unwrap_or_else(|error| panic!("a temporary directory: {error}"));
    let sqlite = open_sqlite(dir.path().join("bench.db"))
        .await
        .unwrap_or_else(|error| panic!("sqlite store: {error}"));
    report(
        "sqlite",
        &workload(Some(std::sync::Arc::new(sqlite)), steps, runs).await,
    );
    if let Ok(url) = std::env::var("BATON_POSTGRES_URL") {
        let postgres = connect_postgres(url)
            .await
            .unwrap_or_else(|error| panic!("postgres store: {error}"));
        report(
            "postgres",
            &workload(Some(std::sync::Arc::new(postgres)), steps, runs).await,
        );
    }
}

async fn bench_handoff(options: std::sync::Arc<Options>) {
    let hops = options.get("hops", 5) as usize;
    let runs = options.get("runs", 20_000) / 2;
    handoff_workload(hops, runs / 10 + 1).await;
    loop_baseline(hops, runs / 10 + 1).await;
    let bare = loop_baseline(hops, runs).await;
    let baton = handoff_workload(hops, runs).await;
    let per_handoff = (baton.elapsed.as_secs_f64() - bare.elapsed.as_secs_f64()) * 1e6
        / (runs as f64 * hops as f64);
    println!(
        "handoff  hops={hops} runs={runs}: baton {:.2} µs/model-call, bare {:.2} µs/model-call, ratio {:.2}x, overhead {per_handoff:.2} µs/handoff",
        baton.micros_per_call(),
        bare.micros_per_call(),
        baton.micros_per_call() / bare.micros_per_call(),
    );
}

async fn bench_stream(options: std::sync::Arc<Options>) {
    let chunks = options.get("chunks", 2_000_000) as usize;
    stream_baseline(chunks / 10).await;
    stream_workload(chunks / 10).await;
    let bare = stream_baseline(chunks).await;
    let baton = stream_workload(chunks).await;
    println!(
        "stream   chunks={chunks}: baton {:.0} chunks/s, bare {:.0} chunks/s, ratio {:.2}x",
        baton.chunks_per_second(),
        bare.chunks_per_second(),
        bare.chunks_per_second() / baton.chunks_per_second(),
    );
}

fn bench_conc(options: &Options) {
    let latency = options.get("latency-ms", 50);
    let runs_list = match options.values.get("runs") {
        Some(runs) => vec![*runs],
        None => vec![10_000, 100_000],
    };
    for runs in runs_list {
        let bare = run_child("bare", runs, latency);
        let baton = run_child("baton", runs, latency);
        let ideal = 3.0 * latency as f64 / 1000.0;
        println!(
            "conc     runs={runs} latency={latency}ms: baton {:.3} s ({:.2}x ideal, {:.2}x bare), bare {:.3} s ({:.2}x ideal); throughput {:.0} runs/s",
            baton.seconds,
            baton.seconds / ideal,
            baton.seconds / bare.seconds,
            bare.seconds,
            bare.seconds / ideal,
            runs as f64 / baton.seconds,
        );
        println!(
            "conc-mem runs={runs}: baton peak {:.0} MiB ({:.2} KiB/run), bare peak {:.0} MiB ({:.2} KiB/run), ratio {:.2}x",
            baton.peak_kib as f64 / 1024.0,
            baton.kib_per_run(runs),
            bare.peak_kib as f64 / 1024.0,
            bare.kib_per_run(runs),
            baton.kib_per_run(runs) / bare.kib_per_run(runs).max(f64::MIN_POSITIVE),
        );
    }
}

struct ChildFigures {
    seconds: f64,
    start_kib: u64,
    peak_kib: u64,
}

impl ChildFigures {
    fn kib_per_run(&self, runs: u64) -> f64 {
        self.peak_kib.saturating_sub(self.start_kib) as f64 / runs as f64
    }
}

fn run_child(mode: &str, runs: u64, latency: u64) -> ChildFigures {
    let mode = if mode == "baton" { "1" } else { "0" };
    let (runs, latency) = (runs.to_string(), latency.to_string());
    let field = child_fields(&[
        "conc-child",
        "--mode",
        mode,
        "--runs",
        &runs,
        "--latency-ms",
        &latency,
    ]);
    ChildFigures {
        seconds: field("seconds"),
        start_kib: field("start_kib") as u64,
        peak_kib: field("peak_kib") as u64,
    }
}

async fn conc_child(options: std::sync::Arc<Options>) {
    let runs = options.get("runs", 10_000);
    let latency = Duration::from_millis(options.get("latency-ms", 50));
    let start_kib = proc_status_kib("VmRSS");
    let measurement: Measurement = if options.get("mode", 1) == 1 {
        conc_workload(runs, latency).await
    } else {
        conc_baseline(runs, latency).await
    };
    println!(
        "seconds={} start_kib={start_kib} peak_kib={}",
        measurement.elapsed.as_secs_f64(),
        proc_status_kib("VmHWM")
    );
}

/// Runs this benchmark again with `args` and reads the `name=value` figures it prints.
fn child_fields(args: &[&str]) -> impl Fn(&str) -> f64 + use<> {
    let exe = std::env::current_exe().unwrap_or_else(|error| panic!("own executable: {error}"));
    let output = Command::new(exe)
        .args(args)
        .output()
        .unwrap_or_else(|error| panic!("child benchmark: {error}"));
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    move |name: &str| -> f64 {
        text.split_whitespace()
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("child output lacks {name}: {text} {stderr}"))
    }
}

/// A memory figure of this process from `/proc/self/status`, in KiB (0 where unavailable).
fn proc_status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status.lines().find_map(|line| {
                line.strip_prefix(field)?
                    .trim_start_matches(':')
                    .split_whitespace()
                    .next()?
                    .parse()
                    .ok()
            })
        })
        .unwrap_or(0)
}
