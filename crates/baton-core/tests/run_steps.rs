//! Behaviour of the non-streaming loop.

mod common;

use baton_core::prelude::*;
use baton_testkit::{Script, ScriptedProvider};
use common::*;
use serde_json::json;
use std::time::Duration;

#[tokio::test(start_paused = true)]
async fn a_tool_loop_answers_with_usage_and_steps() {
    let provider = ScriptedProvider::new()
        .respond(Script::tool_call("lookup", json!({"word": "rust"})).with_usage(Usage::new(5, 1)))
        .respond(Script::text("Rust is a language.").with_usage(Usage::new(9, 4)));
    let f = fixture(provider);
    let output = run_steps(
        &f.ctx,
        f.thread,
        vec![Message::user("rust?")],
        RunOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(output.output, "Rust is a language.");
    assert_eq!(output.usage, Usage::new(14, 5));
    assert_eq!(output.steps, 2);
    assert_eq!(output.run_id, f.ctx.run_id);
    assert_eq!(
        kinds(&f.episodes().await),
        [
            "started",
            "tool_called",
            "step_completed",
            "step_completed",
            "completed"
        ]
    );
    assert_eq!(f.thread_messages().await.len(), 4);
}

#[tokio::test(start_paused = true)]
async fn retries_and_failures_are_recorded() {
    let provider = ScriptedProvider::new()
        .respond(Script::error(LlmError::Overloaded {
            message: "busy".into(),
            retry_after: None,
        }))
        .respond(Script::text("ok"));
    let f = fixture(provider);
    let output = run_steps(
        &f.ctx,
        f.thread,
        vec![Message::user("x")],
        RunOptions::default(),
    )
    .await;
    assert_eq!(output.unwrap().output, "ok");
    assert_eq!(f.provider.call_count(), 2);

    let provider = ScriptedProvider::new().respond(Script::text("0123456789"));
    let f = fixture(provider);
    let err = run_steps(
        &f.ctx,
        f.thread,
        vec![Message::user("x")],
        RunOptions::default().with_max_response_bytes(4),
    )
    .await
    .unwrap_err();
    assert_eq!(
        err,
        RunError::Provider {
            error: LlmError::ResponseTooLarge { limit: 4 }
        }
    );
    assert_eq!(f.episodes().await.last(), Some(&Episode::failed(&err)));
}

#[tokio::test(start_paused = true)]
async fn cancellation_during_a_slow_call_drops_it() {
    let provider =
        ScriptedProvider::new().respond(Script::text("late").with_latency(Duration::from_secs(60)));
    let f = fixture(provider);
    let cancel = f.ctx.cancel.clone();
    let canceller = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        cancel.cancel();
    });
    let started = tokio::time::Instant::now();
    let err = run_steps(
        &f.ctx,
        f.thread,
        vec![Message::user("x")],
        RunOptions::default(),
    )
    .await
    .unwrap_err();
    canceller.await.unwrap();
    assert_eq!(err, RunError::Cancelled);
    assert_eq!(started.elapsed(), Duration::from_secs(1));
    assert_eq!(
        f.episodes().await.last(),
        Some(&Episode::failed(&RunError::Cancelled))
    );
}

#[tokio::test(start_paused = true)]
async fn a_concurrent_writer_on_the_thread_is_a_conflict_not_an_interleaving() {
    let f = fixture(
        ScriptedProvider::new()
            .respond(Script::text("answer").with_latency(Duration::from_secs(1))),
    );
    let store = f.store.clone();
    let thread = f.thread;
    let intruder = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        store
            .append(
                thread,
                None,
                &[std::sync::Arc::new(Message::user("intruder"))],
            )
            .await
            .unwrap();
    });
    let err = run_steps(
        &f.ctx,
        f.thread,
        vec![Message::user("x")],
        RunOptions::default(),
    )
    .await
    .unwrap_err();
    intruder.await.unwrap();
    assert!(
        matches!(
            err,
            RunError::Store {
                error: StoreError::Conflict {
                    expected: 1,
                    actual: 2,
                    ..
                }
            }
        ),
        "{err:?}"
    );
    let texts: Vec<String> = f
        .thread_messages()
        .await
        .iter()
        .map(|m| m.content().to_owned())
        .collect();
    assert_eq!(texts, ["x", "intruder"]);
}
