//! Criterion micro-benchmarks of the hot paths: response assembly and chunk forwarding, tool
//! dispatch, a whole streaming step, history building over a long thread, handoff routing.

use baton_bench::{Echo, handoff_workload, loop_workload};
use baton_core::llm::{ChatChunk, FinishReason, ResponseAssembler, ToolCall};
use baton_core::prelude::*;
use baton_core::tool::execute_call;
use baton_testkit::{Script, ScriptedProvider};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use std::sync::Arc;
use std::time::Duration;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn assembly(c: &mut Criterion) {
    let delta: Arc<str> = Arc::from("token ");
    let chunks: Vec<ChatChunk> = (0..1000)
        .map(|_| ChatChunk::Text {
            delta: Arc::clone(&delta),
        })
        .chain([ChatChunk::finish(FinishReason::Stop)])
        .collect();
    let mut group = c.benchmark_group("assembly");
    group.throughput(Throughput::Elements(1000));
    group.bench_function("1000_text_chunks", |b| {
        b.iter(|| {
            let mut assembler = ResponseAssembler::new(usize::MAX);
            for chunk in &chunks {
                assembler.push(chunk).unwrap();
            }
            assembler.finish().unwrap()
        })
    });
    group.finish();
}

fn tool_dispatch(c: &mut Criterion) {
    let rt = runtime();
    let tools = ToolRegistry::new().with(Echo).unwrap();
    let call = ToolCall::new("c1", "echo", r#"{"text":"hello"}"#);
    c.bench_function("tool_dispatch/echo", |b| {
        b.to_async(&rt).iter(|| {
            execute_call(
                &tools,
                &call,
                Duration::from_secs(60),
                RunContext::standalone(),
            )
        })
    });
}

fn streaming_step(c: &mut Criterion) {
    let rt = runtime();
    let agent = Arc::new(Agent::builder("a").instructions("Answer.").build().unwrap());
    let provider = Arc::new(
        ScriptedProvider::from_fn(|_| Script::text("one two three four five six seven eight"))
            .without_recording(),
    );
    let store = InMemoryStore::shared();
    c.bench_function("run/one_streaming_step", |b| {
        b.to_async(&rt).iter(|| {
            let ctx = AgentContext::new(agent.clone(), provider.clone(), store.clone());
            async move {
                run_steps_streaming(
                    &ctx,
                    ThreadId::new(),
                    vec![Message::user("hi")],
                    RunOptions::default(),
                )
                .await
                .unwrap()
                .finish()
                .await
                .unwrap()
            }
        })
    });
}

fn long_history(c: &mut Criterion) {
    let rt = runtime();
    let agent = Arc::new(Agent::builder("a").instructions("Answer.").build().unwrap());
    let provider = Arc::new(ScriptedProvider::from_fn(|_| Script::text("ok")).without_recording());
    let store = InMemoryStore::shared();
    let thread = ThreadId::new();
    let history: Vec<Arc<Message>> = (0..200)
        .map(|i| Arc::new(Message::user(format!("message {i} with some words in it"))))
        .collect();
    rt.block_on(store.append(thread, None, &history)).unwrap();
    // A budget the 200 messages exceed, so the cut counts tokens.
    let options = RunOptions::default().with_max_history_tokens(1_000);
    c.bench_function("run/history_200_messages_cut", |b| {
        b.to_async(&rt).iter_batched(
            || {
                let branch = ThreadId::new();
                rt.block_on(store.append(branch, None, &history)).unwrap();
                (
                    AgentContext::new(agent.clone(), provider.clone(), store.clone()),
                    branch,
                )
            },
            |(ctx, branch)| {
                let options = options.clone();
                async move {
                    run_steps(&ctx, branch, vec![Message::user("next")], options)
                        .await
                        .unwrap()
                }
            },
            BatchSize::SmallInput,
        )
    });
    let _ = thread;
}

fn supervisor_paths(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("supervisor");
    group.sample_size(10);
    group.bench_function("loop_5_steps_x100_runs", |b| {
        b.to_async(&rt).iter(|| loop_workload(5, 100))
    });
    group.bench_function("handoff_chain_5_x100_runs", |b| {
        b.to_async(&rt).iter(|| handoff_workload(5, 100))
    });
    group.finish();
}

criterion_group!(
    benches,
    assembly,
    tool_dispatch,
    streaming_step,
    long_history,
    supervisor_paths
);
criterion_main!(benches);
