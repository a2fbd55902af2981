use crate::{Charge, Echo};
use baton_core::actor::Supervisor;
use baton_core::agent::Agent;
use baton_core::context::{RunContext, RunScope};
use baton_core::ids::{AgentName, RunId, ThreadId};
use baton_core::llm::{ChatRequest, LlmProvider, Message, ResponseAssembler, Role, ToolCall};
use baton_core::memory::Store;
use baton_core::run::RunEvent;
use baton_core::tool::{Approval, ToolRegistry, execute_call};
use baton_testkit::{Script, ScriptedProvider};
use futures::StreamExt;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// What a workload did and how long it took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Measurement {
    /// Wall time of the measured part.
    pub elapsed: Duration,
    /// Runs completed.
    pub runs: u64,
    /// Model calls made.
    pub model_calls: u64,
    /// Text chunks that reached the consumer.
    pub chunks: u64,
}

impl Measurement {
    /// Microseconds of wall time per model call.
    #[must_use]
    pub fn micros_per_call(&self) -> f64 {
        self.elapsed.as_secs_f64() * 1e6 / self.model_calls.max(1) as f64
    }

    /// Model calls (steps) per second.
    #[must_use]
    pub fn steps_per_second(&self) -> f64 {
        self.model_calls as f64 / self.elapsed.as_secs_f64().max(f64::MIN_POSITIVE)
    }

    /// Text chunks per second that reached the consumer.
    #[must_use]
    pub fn chunks_per_second(&self) -> f64 {
        self.chunks as f64 / self.elapsed.as_secs_f64().max(f64::MIN_POSITIVE)
    }
}

/// Tool results since the last user message: how far the current run has got.
fn steps_done(request: &ChatRequest) -> usize {
    request
        .messages
        .iter()
        .rev()
        .take_while(|m| m.role() != Role::User)
        .filter(|m| m.role() == Role::Tool)
        .count()
}

/// A model that calls `echo` `tool_steps` times, then answers; each call takes `latency`.
#[must_use]
pub fn stepping_model(tool_steps: usize, latency: Duration) -> ScriptedProvider {
    stepping_model_of("echo", tool_steps, latency)
}

/// A model that calls `tool` `tool_steps` times, then answers; each call takes `latency`.
fn stepping_model_of(tool: &'static str, tool_steps: usize, latency: Duration) -> ScriptedProvider {
    ScriptedProvider::from_fn(move |request| {
        let script = if steps_done(request) < tool_steps {
            Script::tool_call(tool, json!({"text": "step"}))
        } else {
            Script::text("All steps are done.")
        };
        script.with_latency(latency)
    })
    .without_recording()
}

fn echo_agent(name: &str) -> Agent {
    Agent::builder(name)
        .instructions("Call echo until the work is done, then answer.")
        .tool(Echo)
        .build()
        .unwrap_or_else(|error| panic!("the benchmark agent is valid: {error}"))
}

async fn drain(mut stream: baton_core::run::RunStream) -> u64 {
    let mut chunks = 0;
    while let Some(event) = stream.next_event().await {
        match event {
            RunEvent::TextDelta { .. } => chunks += 1,
            RunEvent::Failed { error } => panic!("a benchmark run failed: {error}"),
            _ => {}
        }
    }
    chunks
}

async fn spawn_supervisor(builder: baton_core::actor::SupervisorBuilder) -> Supervisor {
    builder
        .spawn()
        .await
        .unwrap_or_else(|error| panic!("the benchmark supervisor starts: {error}"))
}

/// `runs` runs in sequence, each `tool_steps` tool steps and an answer, through the supervisor.
pub async fn loop_workload(tool_steps: usize, runs: u64) -> Measurement {
    loop_workload_on(None, tool_steps, runs).await
}

/// [`loop_workload`] on the given store (the in-memory store with `None`).
pub async fn loop_workload_on(
    store: Option<Arc<dyn Store>>,
    tool_steps: usize,
    runs: u64,
) -> Measurement {
    let mut builder = Supervisor::builder()
        .provider(Arc::new(stepping_model(tool_steps, Duration::ZERO)))
        .agent(echo_agent("worker"));
    if let Some(store) = store {
        builder = builder.store(store);
    }
    let supervisor = spawn_supervisor(builder).await;
    sequential_runs(&supervisor, "worker", runs, tool_steps as u64 + 1).await
}

/// [`loop_workload_on`] with a tool that has side effects ([`Charge`]): the tool-call ledger
/// records each call's intent and result, on top of each step's commit.
pub async fn ledger_workload_on(
    store: Option<Arc<dyn Store>>,
    tool_steps: usize,
    runs: u64,
) -> Measurement {
    let agent = Agent::builder("worker")
        .instructions("Call charge until the work is done, then answer.")
        .tool(Charge)
        .build()
        .unwrap_or_else(|error| panic!("the benchmark agent is valid: {error}"));
    let mut builder = Supervisor::builder()
        .provider(Arc::new(stepping_model_of(
            "charge",
            tool_steps,
            Duration::ZERO,
        )))
        .agent(agent);
    if let Some(store) = store {
        builder = builder.store(store);
    }
    let supervisor = spawn_supervisor(builder).await;
    sequential_runs(&supervisor, "worker", runs, tool_steps as u64 + 1).await
}

/// `runs` runs in sequence that each call [`Charge`] once: with `pause`, the call waits for
/// approval and every run ends paused (and stays so); without, every run completes. Returns
/// the supervisor, so that what the paused runs leave in the process can be measured while
/// they wait.
pub async fn approval_workload_on(
    store: Arc<dyn Store>,
    runs: u64,
    pause: bool,
) -> (Supervisor, Measurement) {
    let approval = if pause {
        Approval::Always
    } else {
        Approval::Never
    };
    let agent = Agent::builder("worker")
        .instructions("Charge once, then answer.")
        .tool(Charge)
        .approval("charge", approval)
        .build()
        .unwrap_or_else(|error| panic!("the benchmark agent is valid: {error}"));
    let builder = Supervisor::builder()
        .store(store)
        .provider(Arc::new(stepping_model_of("charge", 1, Duration::ZERO)))
        .agent(agent);
    let supervisor = spawn_supervisor(builder).await;
    let started = Instant::now();
    let mut chunks = 0;
    for _ in 0..runs {
        let stream = supervisor
            .run("worker", ThreadId::new(), "charge once")
            .await
            .unwrap_or_else(|error| panic!("run starts: {error}"));
        chunks += drain(stream).await;
    }
    let measurement = Measurement {
        elapsed: started.elapsed(),
        runs,
        model_calls: runs * if pause { 1 } else { 2 },
        chunks,
    };
    (supervisor, measurement)
}

/// `runs` runs at once, each on its own thread, each `tool_steps` tool steps and an answer,
/// every step committed to `store` (the in-memory store with `None`): what a service's durable
/// runs cost when many commit at the same time.
pub async fn concurrent_workload_on(
    store: Option<Arc<dyn Store>>,
    tool_steps: usize,
    runs: u64,
) -> Measurement {
    let mut builder = concurrent_supervisor(stepping_model(tool_steps, Duration::ZERO), runs);
    if let Some(store) = store {
        builder = builder.store(store);
    }
    let supervisor = spawn_supervisor(builder).await;
    concurrent_runs(&supervisor, runs, tool_steps as u64 + 1).await
}

/// A supervisor of one `worker` agent on `model` that admits `runs` runs at once, none queued.
fn concurrent_supervisor(
    model: ScriptedProvider,
    runs: u64,
) -> baton_core::actor::SupervisorBuilder {
    Supervisor::builder()
        .provider(Arc::new(model))
        .agent(echo_agent("worker"))
        .max_concurrent_runs(usize::try_from(runs).unwrap_or(usize::MAX))
        .max_queued_runs(0)
}

/// `runs` runs of `worker` at once, each on a new thread, each `calls_per_run` model calls,
/// with one consumer task per run (as a service has one handler per request); shuts the
/// supervisor down after.
async fn concurrent_runs(supervisor: &Supervisor, runs: u64, calls_per_run: u64) -> Measurement {
    let started = Instant::now();
    let mut consumers = Vec::with_capacity(usize::try_from(runs).unwrap_or(0));
    for _ in 0..runs {
        let stream = supervisor
            .run("worker", ThreadId::new(), "do the steps")
            .await
            .unwrap_or_else(|error| panic!("run starts: {error}"));
        consumers.push(tokio::spawn(drain(stream)));
    }
    let mut chunks = 0;
    for consumer in consumers {
        chunks += consumer
            .await
            .unwrap_or_else(|error| panic!("consumer: {error}"));
    }
    let elapsed = started.elapsed();
    supervisor.shutdown(Duration::from_secs(5)).await;
    Measurement {
        elapsed,
        runs,
        model_calls: runs * calls_per_run,
        chunks,
    }
}

/// `runs` runs of `agent` in sequence, each on a new thread, each `calls_per_run` model calls;
/// shuts the supervisor down after.
async fn sequential_runs(
    supervisor: &Supervisor,
    agent: &str,
    runs: u64,
    calls_per_run: u64,
) -> Measurement {
    let started = Instant::now();
    let mut chunks = 0;
    for _ in 0..runs {
        let stream = supervisor
            .run(agent, ThreadId::new(), "do the work")
            .await
            .unwrap_or_else(|error| panic!("run starts: {error}"));
        chunks += drain(stream).await;
    }
    let elapsed = started.elapsed();
    supervisor.shutdown(Duration::from_secs(5)).await;
    Measurement {
        elapsed,
        runs,
        model_calls: runs * calls_per_run,
        chunks,
    }
}

/// The same model and tool calls as [`loop_workload`], in a bare loop over a `Vec` of messages.
pub async fn loop_baseline(tool_steps: usize, runs: u64) -> Measurement {
    let provider = stepping_model(tool_steps, Duration::ZERO);
    let tools = ToolRegistry::new()
        .with(Echo)
        .unwrap_or_else(|error| panic!("valid tool: {error}"));
    let started = Instant::now();
    let mut chunks = 0;
    for _ in 0..runs {
        chunks += bare_run(&provider, &tools).await;
    }
    Measurement {
        elapsed: started.elapsed(),
        runs,
        model_calls: runs * (tool_steps as u64 + 1),
        chunks,
    }
}

/// One run with no orchestration: call, assemble, run tools, append, repeat.
async fn bare_run(provider: &ScriptedProvider, tools: &ToolRegistry) -> u64 {
    // What a tool is told of its run; made once per run, as the loop does.
    let scope = RunScope::new(
        RunId::new(),
        ThreadId::new(),
        AgentName::new("bare").unwrap_or_else(|error| panic!("valid name: {error}")),
        Arc::default(),
        CancellationToken::new(),
    );
    let mut step = 0;
    let mut messages = vec![
        Arc::new(Message::system(
            "Call echo until the work is done, then answer.",
        )),
        Arc::new(Message::user("do the steps")),
    ];
    let mut chunks = 0;
    loop {
        let request = ChatRequest::new(messages.clone());
        let mut stream = provider
            .chat_stream(&request)
            .await
            .unwrap_or_else(|error| panic!("scripted call: {error}"));
        let mut assembler = ResponseAssembler::new(usize::MAX);
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.unwrap_or_else(|error| panic!("scripted chunk: {error}"));
            if matches!(chunk, baton_core::llm::ChatChunk::Text { .. }) {
                chunks += 1;
            }
            let _ = assembler.push(&chunk);
        }
        let response = assembler
            .finish()
            .unwrap_or_else(|error| panic!("scripted response: {error}"));
        let calls: Vec<ToolCall> = response.message.tool_calls().to_vec();
        messages.push(Arc::new(response.message));
        if calls.is_empty() {
            return chunks;
        }
        step += 1;
        for call in &calls {
            let run = RunContext::new(&scope, step);
            let outcome = execute_call(tools, call, Duration::from_secs(60), run).await;
            messages.push(Arc::new(outcome.message));
        }
    }
}

/// `runs` runs in sequence through a chain of `hops + 1` agents, each handing off to the next;
/// the last answers. One model call per agent.
pub async fn handoff_workload(hops: usize, runs: u64) -> Measurement {
    let names: Vec<String> = (0..=hops).map(|i| format!("agent{i}")).collect();
    let model = ScriptedProvider::from_fn(move |request| {
        // The number of handoffs so far tells which agent speaks.
        let done = steps_done(request);
        if done < hops {
            Script::tool_call(
                &format!("transfer_to_agent{}", done + 1),
                json!({"reason": "next"}),
            )
        } else {
            Script::text("The chain is complete.")
        }
    })
    .without_recording();
    let mut builder = Supervisor::builder()
        .provider(Arc::new(model))
        .max_handoffs(u32::try_from(hops).unwrap_or(u32::MAX));
    for (i, name) in names.iter().enumerate() {
        let mut agent = Agent::builder(name.as_str()).instructions("Pass it on.");
        if let Some(next) = names.get(i + 1) {
            agent = agent.handoff(next.as_str());
        }
        builder = builder.agent(
            agent
                .build()
                .unwrap_or_else(|error| panic!("valid agent: {error}")),
        );
    }
    let supervisor = spawn_supervisor(builder).await;
    sequential_runs(&supervisor, "agent0", runs, hops as u64 + 1).await
}

/// `runs` concurrent runs on distinct threads, each two tool steps and an answer (three model
/// calls) of `latency` each.
pub async fn conc_workload(runs: u64, latency: Duration) -> Measurement {
    let supervisor =
        spawn_supervisor(concurrent_supervisor(stepping_model(2, latency), runs)).await;
    concurrent_runs(&supervisor, runs, 3).await
}

/// The same concurrent work as [`conc_workload`], one bare task per run.
pub async fn conc_baseline(runs: u64, latency: Duration) -> Measurement {
    let provider = Arc::new(stepping_model(2, latency));
    let tools = Arc::new(
        ToolRegistry::new()
            .with(Echo)
            .unwrap_or_else(|error| panic!("valid tool: {error}")),
    );
    let started = Instant::now();
    let tasks: Vec<_> = (0..runs)
        .map(|_| {
            let (provider, tools) = (Arc::clone(&provider), Arc::clone(&tools));
            tokio::spawn(async move { bare_run(&provider, &tools).await })
        })
        .collect();
    let mut chunks = 0;
    for task in tasks {
        chunks += task
            .await
            .unwrap_or_else(|error| panic!("bare run: {error}"));
    }
    Measurement {
        elapsed: started.elapsed(),
        runs,
        model_calls: runs * 3,
        chunks,
    }
}

/// One run whose answer streams as `chunks` text chunks to a consumer.
pub async fn stream_workload(chunks: usize) -> Measurement {
    let model = ScriptedProvider::from_fn(move |_| Script::repeated_text("tok ", chunks))
        .without_recording();
    let supervisor = spawn_supervisor(
        Supervisor::builder()
            .provider(Arc::new(model))
            .agent(echo_agent("talker")),
    )
    .await;
    let options = baton_core::run::RunOptions::default().with_max_response_bytes(usize::MAX);
    let started = Instant::now();
    let stream = supervisor
        .run_with(
            "talker",
            ThreadId::new(),
            vec![Message::user("talk")],
            baton_core::actor::RunSettings::default().with_options(options),
        )
        .await
        .unwrap_or_else(|error| panic!("run starts: {error}"));
    let received = drain(stream).await;
    let elapsed = started.elapsed();
    supervisor.shutdown(Duration::from_secs(5)).await;
    Measurement {
        elapsed,
        runs: 1,
        model_calls: 1,
        chunks: received,
    }
}

/// The provider's stream of `chunks` chunks consumed directly, with no orchestration.
pub async fn stream_baseline(chunks: usize) -> Measurement {
    let provider = ScriptedProvider::from_fn(move |_| Script::repeated_text("tok ", chunks))
        .without_recording();
    let request = ChatRequest::new(vec![Arc::new(Message::user("talk"))]);
    let started = Instant::now();
    let mut stream = provider
        .chat_stream(&request)
        .await
        .unwrap_or_else(|error| panic!("scripted call: {error}"));
    let mut text = String::new();
    let mut received = 0;
    while let Some(chunk) = stream.next().await {
        if let Ok(baton_core::llm::ChatChunk::Text { delta }) = chunk {
            text.push_str(&delta);
            received += 1;
        }
    }
    Measurement {
        elapsed: started.elapsed(),
        runs: 1,
        model_calls: 1,
        chunks: received,
    }
}
