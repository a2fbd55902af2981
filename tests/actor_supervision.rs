//! Supervision: restarts, restart budgets, cancellation, shutdown.

mod support;

use baton::core::actor::{BusyThread, RunSettings};
use baton::core::error::{FailureKind, PanicSite, RunError};
use baton::core::memory::InMemoryStore;
use baton::core::run::Guardrail;
use baton::prelude::*;
use baton_testkit::{FaultyStore, Script, ScriptedProvider, StoreCall, StoreFault};
use futures::StreamExt;
use std::sync::Arc;
use std::time::Duration;
use support::*;

async fn single(agent: &str, llm: Arc<ScriptedProvider>) -> Supervisor {
    Supervisor::builder()
        .provider(llm)
        .agent(Agent::builder(agent).build().unwrap())
        .restart_budget(2, Duration::from_secs(60))
        .spawn()
        .await
        .unwrap()
}

/// A provider that panics when asked about "boom" and answers anything else.
fn fragile_provider() -> Arc<ScriptedProvider> {
    provider(ScriptedProvider::from_fn(|request| {
        let question = request.last_user_text().unwrap_or_default();
        assert!(
            !question.contains("boom"),
            "the provider exploded on {question:?}"
        );
        if question.contains("slow") {
            Script::text("slow answer").with_latency(Duration::from_secs(30))
        } else {
            Script::text("still here")
        }
    }))
}

/// Runs `input` on a fresh thread and returns how it failed, once the supervisor has dealt
/// with any failure of the agent it caused.
async fn failure(supervisor: &Supervisor, agent: &str, input: &str) -> RunError {
    let stream = supervisor.run(agent, ThreadId::new(), input).await.unwrap();
    let error = stream.finish().await.unwrap_err();
    supervisor.settled().await;
    error
}

fn panicked_in(site: PanicSite) -> impl Fn(&RunError) -> bool {
    move |error| matches!(error, RunError::Panicked { site: s, .. } if *s == site)
}

#[tokio::test(start_paused = true)]
async fn a_panicking_provider_fails_its_run_once_and_restarts_the_agent() {
    let supervisor = single("worker", fragile_provider()).await;
    let thread = ThreadId::new();
    let stream = supervisor.run("worker", thread, "boom").await.unwrap();
    let run_id = stream.run_id();
    let error = stream.finish().await.unwrap_err();
    assert!(panicked_in(PanicSite::Provider)(&error), "{error:?}");
    assert!(error.to_string().contains("exploded"), "{error}");
    supervisor.settled().await;

    let log = episodes(supervisor.store(), run_id).await;
    let terminal: Vec<_> = log.iter().filter(|e| e.is_terminal()).collect();
    assert_eq!(terminal.len(), 1, "{log:?}");
    assert!(matches!(
        terminal[0],
        Episode::Failed {
            kind: FailureKind::Panicked,
            ..
        }
    ));
    let status = supervisor.status();
    assert_eq!(status.agents[0].restarts, 1);
    assert!(status.agents[0].up);
    // Not resumable: it ended.
    assert!(supervisor.unfinished_runs().await.unwrap().is_empty());
    let output = supervisor
        .run_to_completion("worker", ThreadId::new(), "hi")
        .await
        .unwrap();
    assert_eq!(output.output, "still here");
}

struct ExplodingGuardrail;

#[async_trait::async_trait]
impl Guardrail for ExplodingGuardrail {
    fn name(&self) -> &str {
        "exploding"
    }
    async fn check_request(&self, request: &ChatRequest, _run: &RunContext<'_>) -> Verdict {
        assert!(
            request.last_user_text() != Some("boom"),
            "the guardrail exploded"
        );
        Verdict::Allow
    }
}

#[tokio::test(start_paused = true)]
async fn a_panicking_guardrail_and_a_panicking_store_count_as_failures_of_the_agent() {
    let store = Arc::new(FaultyStore::new(InMemoryStore::shared()));
    let options = RunOptions::default().with_guardrail(ExplodingGuardrail);
    let supervisor = Supervisor::builder()
        .provider(fragile_provider())
        .store(store.clone())
        .agent(Agent::builder("worker").options(options).build().unwrap())
        .restart_budget(2, Duration::from_secs(60))
        .spawn()
        .await
        .unwrap();

    let error = failure(&supervisor, "worker", "boom").await;
    assert!(panicked_in(PanicSite::Guardrail)(&error), "{error:?}");
    assert_eq!(supervisor.status().agents[0].restarts, 1);

    store.inject(
        StoreCall::CommitStep,
        StoreFault::Panic("the disk caught fire".into()),
    );
    let stream = supervisor
        .run("worker", ThreadId::new(), "hi")
        .await
        .unwrap();
    let run_id = stream.run_id();
    let error = stream.finish().await.unwrap_err();
    supervisor.settled().await;
    assert!(panicked_in(PanicSite::Store)(&error), "{error:?}");
    let log = episodes(supervisor.store(), run_id).await;
    assert_eq!(log.iter().filter(|e| e.is_terminal()).count(), 1, "{log:?}");
    assert_eq!(supervisor.status().agents[0].restarts, 2);

    // The third failure within the window spends the budget: the agent is down.
    let error = failure(&supervisor, "worker", "boom").await;
    assert!(panicked_in(PanicSite::Guardrail)(&error), "{error:?}");
    assert!(!supervisor.status().agents[0].up);
    let err = supervisor
        .run("worker", ThreadId::new(), "hi")
        .await
        .unwrap_err();
    assert_eq!(
        err,
        SupervisorError::AgentDown(AgentName::new("worker").unwrap())
    );
    assert!(err.to_string().contains("restart budget"));
}

#[tokio::test(start_paused = true)]
async fn a_failure_of_the_agent_ends_its_other_runs_as_lost() {
    let supervisor = single("worker", fragile_provider()).await;
    let mut slow = supervisor
        .run("worker", ThreadId::new(), "slow")
        .await
        .unwrap();
    let slow_run = slow.run_id();
    assert!(matches!(
        slow.next().await,
        Some(RunEvent::AgentStarted { .. })
    ));
    let error = failure(&supervisor, "worker", "boom").await;
    assert!(panicked_in(PanicSite::Provider)(&error));
    let error = slow.finish().await.unwrap_err();
    assert!(matches!(error, RunError::Lost { .. }), "{error:?}");
    supervisor.idle().await;
    assert!(matches!(
        episodes(supervisor.store(), slow_run).await.last(),
        Some(Episode::Failed {
            kind: FailureKind::Lost,
            ..
        })
    ));
}

#[tokio::test(start_paused = true)]
async fn failures_outside_the_window_do_not_count() {
    let supervisor = single("worker", fragile_provider()).await;
    for _ in 0..5 {
        let error = failure(&supervisor, "worker", "boom").await;
        assert!(panicked_in(PanicSite::Provider)(&error));
        tokio::time::advance(Duration::from_secs(61)).await;
    }
    let status = supervisor.status();
    assert_eq!(status.agents[0].restarts, 5);
    assert!(status.agents[0].up);
}

#[tokio::test(start_paused = true)]
async fn cancel_mid_stream_stops_the_provider() {
    let llm = provider(
        ScriptedProvider::new().respond(Script::text("one two three four").stall_after(2)),
    );
    let supervisor = single("talker", llm.clone()).await;
    let mut stream = supervisor
        .run("talker", ThreadId::new(), "talk")
        .await
        .unwrap();
    let run_id = stream.run_id();
    assert!(matches!(
        stream.next().await,
        Some(RunEvent::AgentStarted { .. })
    ));
    assert!(matches!(
        stream.next().await,
        Some(RunEvent::TextDelta { .. })
    ));
    assert!(matches!(
        stream.next().await,
        Some(RunEvent::TextDelta { .. })
    ));
    assert!(supervisor.cancel(run_id));
    assert_eq!(
        stream.next().await,
        Some(RunEvent::Failed {
            error: RunError::Cancelled
        })
    );
    assert_eq!(stream.next().await, None);
    supervisor.idle().await;
    assert_eq!(
        episodes(supervisor.store(), run_id).await.last(),
        Some(&Episode::failed(&RunError::Cancelled))
    );
    assert_eq!(llm.chunks_yielded(), 2);
    assert!(!supervisor.cancel(run_id), "the run is over");
}

#[tokio::test(start_paused = true)]
async fn a_dropped_consumer_ends_the_run() {
    let llm = provider(
        ScriptedProvider::new()
            .respond(Script::repeated_text("x", 500).with_chunk_delay(Duration::from_millis(5))),
    );
    let supervisor = single("talker", llm.clone()).await;
    let mut stream = supervisor
        .run("talker", ThreadId::new(), "talk")
        .await
        .unwrap();
    let run_id = stream.run_id();
    stream.next().await;
    stream.next().await;
    drop(stream);
    supervisor.idle().await;
    assert_eq!(
        episodes(supervisor.store(), run_id).await.last(),
        Some(&Episode::failed(&RunError::ConsumerGone))
    );
    assert!(llm.chunks_yielded() < 10);
}

#[tokio::test(start_paused = true)]
async fn runs_on_one_thread_are_serialized() {
    let llm = provider(ScriptedProvider::from_fn(|request| {
        let question = request.last_user_text().unwrap_or_default().to_owned();
        Script::text(&format!("answer to {question}")).with_latency(Duration::from_secs(1))
    }));
    let supervisor = single("worker", llm).await;
    let thread = ThreadId::new();
    let first = supervisor.run("worker", thread, "q1").await.unwrap();
    let second = supervisor.run("worker", thread, "q2").await.unwrap();
    let busy = supervisor
        .run_with(
            "worker",
            thread,
            vec![Message::user("q3")],
            RunSettings::default().with_busy_thread(BusyThread::Fail),
        )
        .await
        .unwrap_err();
    assert_eq!(busy, SupervisorError::ThreadBusy(thread));
    let started = tokio::time::Instant::now();
    let (a, b) = tokio::join!(first.finish(), second.finish());
    assert_eq!(a.unwrap().0, "answer to q1");
    assert_eq!(b.unwrap().0, "answer to q2");
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "one after the other"
    );
    let texts: Vec<String> = thread_messages(supervisor.store(), thread)
        .await
        .iter()
        .map(|m| m.content().to_owned())
        .collect();
    assert_eq!(texts, ["q1", "answer to q1", "q2", "answer to q2"]);
}

#[tokio::test(start_paused = true)]
async fn the_concurrency_limit_queues_and_the_queue_limit_refuses() {
    let llm = provider(ScriptedProvider::from_fn(|_| {
        Script::text("done").with_latency(Duration::from_secs(1))
    }));
    let supervisor = Supervisor::builder()
        .provider(llm)
        .agent(Agent::builder("worker").build().unwrap())
        .max_concurrent_runs(2)
        .max_queued_runs(2)
        .spawn()
        .await
        .unwrap();
    let mut streams = Vec::new();
    for _ in 0..4 {
        streams.push(
            supervisor
                .run("worker", ThreadId::new(), "go")
                .await
                .unwrap(),
        );
    }
    let err = supervisor
        .run("worker", ThreadId::new(), "go")
        .await
        .unwrap_err();
    assert_eq!(
        err,
        SupervisorError::Overloaded(AgentName::new("worker").unwrap())
    );
    assert_eq!(supervisor.status().agents[0].admitted_runs, 4);
    let started = tokio::time::Instant::now();
    for stream in streams {
        assert_eq!(stream.finish().await.unwrap().0, "done");
    }
    // Two at a time: four one-second runs take two seconds.
    let took = started.elapsed();
    assert!(
        (Duration::from_secs(2)..Duration::from_millis(2100)).contains(&took),
        "{took:?}"
    );
    assert_eq!(supervisor.status().agents[0].admitted_runs, 0);
}

#[tokio::test(start_paused = true)]
async fn shutdown_lets_short_runs_finish_and_cancels_the_rest() {
    let llm = provider(ScriptedProvider::from_fn(|request| {
        let slow = request.last_user_text() == Some("slow");
        let latency = if slow {
            Duration::from_secs(600)
        } else {
            Duration::from_millis(100)
        };
        Script::text("finished").with_latency(latency)
    }));
    let supervisor = single("worker", llm).await;
    let quick = supervisor
        .run("worker", ThreadId::new(), "quick")
        .await
        .unwrap();
    let slow = supervisor
        .run("worker", ThreadId::new(), "slow")
        .await
        .unwrap();
    let slow_run = slow.run_id();
    let consumers = tokio::spawn(async move { (quick.finish().await, slow.finish().await) });
    let report = supervisor.shutdown(Duration::from_secs(5)).await;
    assert_eq!(report.in_flight, 2);
    assert_eq!(report.cancelled, 1);
    let (quick, slow) = consumers.await.unwrap();
    assert_eq!(quick.unwrap().0, "finished");
    assert_eq!(slow.unwrap_err(), RunError::Cancelled);
    assert_eq!(
        episodes(supervisor.store(), slow_run).await.last(),
        Some(&Episode::failed(&RunError::Cancelled))
    );
    let err = supervisor
        .run("worker", ThreadId::new(), "late")
        .await
        .unwrap_err();
    assert_eq!(err, SupervisorError::ShuttingDown);
    assert!(!supervisor.status().accepting);
}

#[tokio::test(start_paused = true)]
async fn the_agent_mailbox_reports_its_runs() {
    let llm = provider(ScriptedProvider::from_fn(|_| {
        Script::text("x").with_latency(Duration::from_secs(5))
    }));
    let supervisor = single("worker", llm).await;
    let stream = supervisor
        .run("worker", ThreadId::new(), "go")
        .await
        .unwrap();
    let run_id = stream.run_id();
    tokio::task::yield_now().await;
    assert_eq!(supervisor.agent_runs("worker").await.unwrap(), [run_id]);
    stream.finish().await.unwrap();
    supervisor.idle().await;
    tokio::task::yield_now().await;
    assert!(supervisor.agent_runs("worker").await.unwrap().is_empty());
}
