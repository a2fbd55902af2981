//! The life of a run around the loop: one terminal episode, consumers that leave in every
//! phase, bounded shutdown, the end of the tree, bounded reads, and what happens to the input
//! of a run that ends before answering.

mod support;

use baton::core::error::{FailureKind, RunError};
use baton::core::memory::InMemoryStore;
use baton::prelude::*;
use baton_testkit::{FaultyStore, Script, ScriptedProvider, StoreCall, StoreFault};
use futures::StreamExt;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use support::*;

async fn supervisor_of(llm: Arc<ScriptedProvider>, store: Arc<dyn Store>) -> Supervisor {
    Supervisor::builder()
        .provider(llm)
        .store(store)
        .agent(Agent::builder("worker").tool(OrderLookup).build().unwrap())
        .spawn()
        .await
        .unwrap()
}

async fn worker(llm: Arc<ScriptedProvider>) -> Supervisor {
    supervisor_of(llm, InMemoryStore::shared()).await
}

fn terminal(log: &[Episode]) -> Vec<&Episode> {
    log.iter().filter(|e| e.is_terminal()).collect()
}

#[tokio::test(start_paused = true)]
async fn leaving_or_cancelling_after_the_last_commit_leaves_the_run_completed() {
    for cancel_instead in [false, true] {
        let llm = provider(ScriptedProvider::from_fn(|_| Script::text("the answer")));
        let supervisor = worker(llm).await;
        let mut stream = supervisor
            .run("worker", ThreadId::new(), "question")
            .await
            .unwrap();
        let run_id = stream.run_id();
        // The last step's StepFinished is sent after its commit, which holds Completed.
        loop {
            match stream.next().await.unwrap() {
                RunEvent::StepFinished { .. } => break,
                event => assert!(!event.is_terminal(), "{event:?}"),
            }
        }
        if cancel_instead {
            supervisor.cancel(run_id);
            assert!(matches!(
                stream.next().await,
                Some(RunEvent::Completed { .. })
            ));
        } else {
            drop(stream);
        }
        supervisor.idle().await;
        let log = episodes(supervisor.store(), run_id).await;
        assert!(
            matches!(&terminal(&log)[..], [Episode::Completed { output, .. }] if output == "the answer"),
            "{log:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_queued_run_whose_consumer_leaves_never_touches_the_thread() {
    let llm = provider(ScriptedProvider::from_fn(|request| {
        let question = request.last_user_text().unwrap_or_default().to_owned();
        Script::text(&format!("answer to {question}")).with_latency(Duration::from_secs(5))
    }));
    let supervisor = worker(llm.clone()).await;
    let thread = ThreadId::new();
    let first = supervisor.run("worker", thread, "first").await.unwrap();
    let queued = supervisor.run("worker", thread, "second").await.unwrap();
    let queued_run = queued.run_id();
    tokio::task::yield_now().await;
    drop(queued);
    assert_eq!(first.finish().await.unwrap().0, "answer to first");
    supervisor.idle().await;
    let texts: Vec<String> = thread_messages(supervisor.store(), thread)
        .await
        .iter()
        .map(|m| m.content().to_owned())
        .collect();
    assert_eq!(texts, ["first", "answer to first"]);
    assert!(episodes(supervisor.store(), queued_run).await.is_empty());
    assert_eq!(llm.call_count(), 1);
    assert_eq!(supervisor.status().active_runs, 0);
}

#[tokio::test(start_paused = true)]
async fn a_consumer_leaving_during_a_slow_tool_ends_the_run_at_once() {
    let llm = provider(ScriptedProvider::new().respond(Script::tool_call(
        "order_lookup",
        json!({"order": "A1", "delay_ms": 3_600_000}),
    )));
    let supervisor = worker(llm).await;
    let thread = ThreadId::new();
    let mut stream = supervisor
        .run("worker", thread, "look it up")
        .await
        .unwrap();
    let run_id = stream.run_id();
    loop {
        if let RunEvent::ToolCallStarted { .. } = stream.next().await.unwrap() {
            break;
        }
    }
    let left = tokio::time::Instant::now();
    drop(stream);
    supervisor.idle().await;
    assert!(
        left.elapsed() < Duration::from_secs(1),
        "{:?}",
        left.elapsed()
    );
    let log = episodes(supervisor.store(), run_id).await;
    assert_eq!(terminal(&log), [&Episode::failed(&RunError::ConsumerGone)]);
    // The interrupted step was not committed: only the question is on the thread.
    assert_eq!(thread_messages(supervisor.store(), thread).await.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_consumer_leaving_during_a_retry_backoff_ends_the_run_at_once() {
    let llm = provider(
        ScriptedProvider::new()
            .respond(Script::error(LlmError::Status {
                status: 429,
                message: "slow down".into(),
                retry_after: Some(Duration::from_secs(50)),
            }))
            .respond(Script::text("never")),
    );
    let supervisor = worker(llm.clone()).await;
    let mut stream = supervisor
        .run("worker", ThreadId::new(), "hi")
        .await
        .unwrap();
    let run_id = stream.run_id();
    assert!(matches!(
        stream.next().await,
        Some(RunEvent::AgentStarted { .. })
    ));
    // Let the first attempt fail: the run is now waiting out the 50 s hint.
    while llm.call_count() == 0 {
        tokio::task::yield_now().await;
    }
    let left = tokio::time::Instant::now();
    drop(stream);
    supervisor.idle().await;
    assert!(
        left.elapsed() < Duration::from_secs(1),
        "{:?}",
        left.elapsed()
    );
    assert_eq!(llm.call_count(), 1, "no retry after the consumer left");
    assert_eq!(
        terminal(&episodes(supervisor.store(), run_id).await),
        [&Episode::failed(&RunError::ConsumerGone)]
    );
}

#[tokio::test(start_paused = true)]
async fn shutdown_returns_in_bounded_time_with_a_consumer_that_stopped_reading() {
    let llm = provider(ScriptedProvider::from_fn(|_| {
        Script::repeated_text("word ", 10_000).with_chunk_delay(Duration::from_millis(1))
    }));
    let supervisor = worker(llm).await;
    let mut stream = supervisor
        .run("worker", ThreadId::new(), "talk")
        .await
        .unwrap();
    let run_id = stream.run_id();
    assert!(matches!(
        stream.next().await,
        Some(RunEvent::AgentStarted { .. })
    ));
    // The consumer holds its stream and reads no more; the run fills the buffer and waits.
    let grace = Duration::from_secs(2);
    let started = tokio::time::Instant::now();
    let report = supervisor.shutdown(grace).await;
    assert!(
        started.elapsed() <= grace + baton::core::actor::SHUTDOWN_BOUND,
        "{:?}",
        started.elapsed()
    );
    assert_eq!(report.cancelled, 1);
    assert_eq!(
        terminal(&episodes(supervisor.store(), run_id).await),
        [&Episode::failed(&RunError::Cancelled)]
    );
    // What the consumer reads later ends with the run's real end.
    let events: Vec<RunEvent> = stream.collect().await;
    assert_eq!(
        events.last(),
        Some(&RunEvent::Failed {
            error: RunError::Cancelled
        })
    );
}

#[tokio::test(start_paused = true)]
async fn dropping_every_handle_stops_the_tree_and_cancels_its_runs() {
    let llm = provider(ScriptedProvider::from_fn(|_| {
        Script::text("late").with_latency(Duration::from_secs(3600))
    }));
    let store: Arc<dyn Store> = InMemoryStore::shared();
    let supervisor = supervisor_of(llm, store.clone()).await;
    let mut stream = supervisor
        .run("worker", ThreadId::new(), "hi")
        .await
        .unwrap();
    let run_id = stream.run_id();
    assert!(matches!(
        stream.next().await,
        Some(RunEvent::AgentStarted { .. })
    ));
    let clone = supervisor.clone();
    drop(supervisor);
    tokio::task::yield_now().await;
    assert_eq!(clone.status().active_runs, 1, "a clone keeps the tree");
    drop(clone);
    let events: Vec<RunEvent> = stream.collect().await;
    assert_eq!(
        events.last(),
        Some(&RunEvent::Failed {
            error: RunError::Cancelled
        })
    );
    assert_eq!(
        terminal(&episodes(&store, run_id).await),
        [&Episode::failed(&RunError::Cancelled)]
    );
}

#[tokio::test(start_paused = true)]
async fn a_run_on_a_long_thread_reads_only_its_window() {
    let faulty = Arc::new(FaultyStore::new(InMemoryStore::shared()));
    let store: Arc<dyn Store> = faulty.clone();
    let thread = ThreadId::new();
    let history: Vec<Arc<Message>> = (0..10_000)
        .map(|i| {
            Arc::new(if i % 2 == 0 {
                Message::user(format!("question {i}"))
            } else {
                Message::assistant(format!("answer {i}"))
            })
        })
        .collect();
    store.append(thread, Some(0), &history).await.unwrap();
    let llm = provider(ScriptedProvider::from_fn(|_| Script::text("ok")));
    let supervisor = Supervisor::builder()
        .provider(llm.clone())
        .store(store.clone())
        .agent(
            Agent::builder("worker")
                .options(RunOptions::default().with_max_history_tokens(400))
                .build()
                .unwrap(),
        )
        .spawn()
        .await
        .unwrap();
    let output = supervisor
        .run_to_completion("worker", thread, "and now?")
        .await
        .unwrap();
    assert_eq!(output.output, "ok");
    // 400 tokens hold at most 100 messages: that is all the run read.
    assert_eq!(faulty.tail_limits(), [101]);
    assert_eq!(faulty.list_reads(), 0);
    let request = llm.requests().pop().unwrap();
    assert!(request.messages.len() <= 101, "{}", request.messages.len());
    assert_eq!(request.messages.last().unwrap().content(), "and now?");
    assert_eq!(
        thread_messages(&store, thread).await.len(),
        10_000 + 2,
        "appended at the thread's real end"
    );
}

#[tokio::test(start_paused = true)]
async fn the_input_of_a_run_that_ends_before_answering_stays_on_the_thread() {
    // Chosen: the input is the user's words, written once the run holds the thread; a run
    // that ends before answering keeps it, and the next request carries both user messages.
    // OpenAI takes consecutive user messages; the Anthropic provider merges them into one
    // user turn (see baton-providers' tests).
    let llm = provider(
        ScriptedProvider::new()
            .respond(Script::text("too late").with_latency(Duration::from_secs(60)))
            .respond(Script::text("answered")),
    );
    let supervisor = worker(llm.clone()).await;
    let thread = ThreadId::new();
    let stream = supervisor.run("worker", thread, "first try").await.unwrap();
    let run_id = stream.run_id();
    tokio::task::yield_now().await;
    supervisor.cancel(run_id);
    assert_eq!(stream.finish().await.unwrap_err(), RunError::Cancelled);
    let output = supervisor
        .run_to_completion("worker", thread, "second try")
        .await
        .unwrap();
    assert_eq!(output.output, "answered");
    let request = llm.requests().pop().unwrap();
    let texts: Vec<&str> = request.messages.iter().map(|m| m.content()).collect();
    assert_eq!(texts, ["first try", "second try"]);
    assert!(matches!(
        episodes(supervisor.store(), run_id).await.last(),
        Some(Episode::Failed {
            kind: FailureKind::Cancelled,
            ..
        })
    ));
}

#[tokio::test(start_paused = true)]
async fn a_detached_run_goes_on_without_its_consumer() {
    let llm = provider(ScriptedProvider::from_fn(|_| {
        Script::repeated_text("x", 200).with_chunk_delay(Duration::from_millis(5))
    }));
    let supervisor = worker(llm).await;
    let stream = supervisor
        .run("worker", ThreadId::new(), "go on")
        .await
        .unwrap();
    let run_id = stream.detach();
    supervisor.idle().await;
    assert!(matches!(
        terminal(&episodes(supervisor.store(), run_id).await)[..],
        [Episode::Completed { .. }]
    ));
}

async fn slow_worker(store: Arc<dyn Store>) -> Supervisor {
    let llm = provider(ScriptedProvider::from_fn(|_| {
        Script::text("late answer").with_latency(Duration::from_secs(60))
    }));
    Supervisor::builder()
        .provider(llm)
        .store(store)
        .agent(
            Agent::builder("worker")
                .options(RunOptions::default().with_lease_ttl(Duration::from_secs(3)))
                .build()
                .unwrap(),
        )
        .spawn()
        .await
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_long_model_call_keeps_its_lease_renewed() {
    let store: Arc<dyn Store> = InMemoryStore::shared();
    let supervisor = slow_worker(store.clone()).await;
    let stream = supervisor
        .run("worker", ThreadId::new(), "take your time")
        .await
        .unwrap();
    let run_id = stream.run_id();
    let consumer = tokio::spawn(stream.finish());
    // Twenty lease lifetimes later, the run is still driven: its lease was renewed.
    tokio::time::sleep(Duration::from_secs(59)).await;
    let unfinished = store.unfinished_runs().await.unwrap();
    assert_eq!(unfinished.len(), 1);
    assert_eq!(unfinished[0].run, run_id);
    assert!(!unfinished[0].is_abandoned(), "{unfinished:?}");
    assert_eq!(consumer.await.unwrap().unwrap().0, "late answer");
}

#[tokio::test(start_paused = true)]
async fn a_run_whose_lease_is_lost_stops_and_says_so() {
    let faulty = Arc::new(FaultyStore::new(InMemoryStore::shared()));
    faulty.inject(
        StoreCall::RenewLease,
        StoreFault::Fail(StoreError::LeaseLost { run: RunId::new() }),
    );
    let supervisor = slow_worker(faulty.clone()).await;
    let stream = supervisor
        .run("worker", ThreadId::new(), "take your time")
        .await
        .unwrap();
    let started = tokio::time::Instant::now();
    let error = stream.finish().await.unwrap_err();
    assert!(
        matches!(
            error,
            RunError::Store {
                error: StoreError::LeaseLost { .. }
            }
        ),
        "{error:?}"
    );
    // Stopped at the first renewal, a third of the lease's time in, not after the model's 60 s.
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}
