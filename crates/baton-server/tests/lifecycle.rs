//! Clients that go away, readiness, and shutdown with runs in flight.

mod common;

use baton_core::error::{FailureKind, RunError};
use baton_core::memory::Episode;
use baton_testkit::{Script, ScriptedProvider};
use common::*;
use futures::StreamExt;
use serde_json::Value;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_disconnects_mid_stream_cancels_its_run() {
    let StalledRun {
        supervisor,
        server,
        run,
        events,
        ..
    } = stalled_run("one two three").await;
    drop(events);

    supervisor.idle().await;
    let last = episodes(&supervisor, run).await.pop().unwrap();
    assert!(
        matches!(
            &last,
            Episode::Failed {
                kind: FailureKind::ConsumerGone,
                ..
            }
        ),
        "{last:?}"
    );
    let metrics = server.metrics().await;
    assert!(
        metrics.contains(r#"baton_runs_failed_total{agent="assistant"} 1"#),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_cancels_runs_still_in_flight_after_the_grace_and_records_them_failed() {
    let provider = shared(
        ScriptedProvider::new()
            .respond(Script::text("too late").with_latency(Duration::from_secs(3600))),
    );
    let supervisor = assistant(provider).await;
    let config = {
        let mut config = config();
        config.shutdown_grace = Duration::from_millis(50);
        config
    };
    let mut server = TestServer::start_with(supervisor.clone(), config).await;
    let thread = server.thread(ACME).await;

    let response = server.run(ACME, &thread, "assistant", "hi", true).await;
    let run = run_id(&response);
    let mut events = sse(response);
    assert_eq!(events.next().await.unwrap().event, "agent_started");

    server.signal_stop();
    let rest: Vec<Sse> = events.collect().await;
    let last = rest.last().unwrap();
    assert_eq!(last.event, "failed");
    let failed: Value = serde_json::from_str(&last.data).unwrap();
    assert_eq!(failed["error"]["kind"], "cancelled");
    server.join().await.unwrap();

    assert_eq!(
        episodes(&supervisor, run).await.last(),
        Some(&Episode::failed(&RunError::Cancelled))
    );
    assert!(!supervisor.status().accepting);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_runs_that_finish_within_the_grace_complete() {
    let provider = shared(ScriptedProvider::new().respond(Script::text("Done in time.")));
    let supervisor = assistant(provider).await;
    let server = TestServer::start(supervisor.clone()).await;
    let thread = server.thread(ACME).await;
    let response = server.run(ACME, &thread, "assistant", "hi", false).await;
    assert_eq!(response.status(), 200);
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_follows_the_supervisor() {
    let provider = shared(ScriptedProvider::new());
    let supervisor = assistant(provider).await;
    let server = TestServer::start(supervisor.clone()).await;

    assert_eq!(server.get_open("/readyz").await.status(), 200);

    supervisor.shutdown(Duration::from_secs(1)).await;
    assert_eq!(server.get_open("/readyz").await.status(), 503);
    assert_eq!(server.get_open("/healthz").await.status(), 200);

    let thread = server.thread(ACME).await;
    let refused = server.run(ACME, &thread, "assistant", "hi", false).await;
    expect_error(refused, 503, "shutting_down").await;
}
