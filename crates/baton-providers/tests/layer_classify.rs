//! The `Classify` layer: the caller's mapping reaches every error of a call, and the run loop's
//! retry in `baton-core` follows it.

use baton_core::error::LlmError;
use baton_core::prelude::*;
use baton_core::run::RetryPolicy;
use baton_providers::layer::{Classify, ProviderExt, permanent, transient};
use baton_testkit::{Script, ScriptedProvider};
use futures::StreamExt;
use std::sync::Arc;
use std::time::Duration;

fn conflict() -> LlmError {
    LlmError::Status {
        status: 409,
        message: "conflict".into(),
        retry_after: None,
    }
}

/// A 409 can never succeed on this imagined server; a malformed stream is worth another try.
fn reclassify(error: LlmError) -> LlmError {
    match error {
        LlmError::Status { status: 409, .. } => permanent(error),
        LlmError::MalformedStream(_) => transient(error),
        other => other,
    }
}

fn request() -> ChatRequest {
    ChatRequest::new(vec![Arc::new(Message::user("Hi"))])
}

#[tokio::test]
async fn errors_opening_in_the_stream_and_of_whole_calls_are_mapped() {
    let model = ScriptedProvider::new()
        .respond(Script::error(conflict()))
        .respond(Script::text("Hello there").fail_after(1, LlmError::MalformedStream("x".into())))
        .respond(Script::error(conflict()));
    let provider = model.layer(Classify::new(reclassify));

    let Err(opening) = provider.chat_stream(&request()).await else {
        panic!("scripted to fail");
    };
    assert!(!opening.is_retryable(), "{opening:?}");

    let mut stream = provider.chat_stream(&request()).await.unwrap();
    assert!(stream.next().await.unwrap().is_ok());
    let in_stream = stream.next().await.unwrap().unwrap_err();
    assert_eq!(
        in_stream,
        LlmError::Provider {
            message: "malformed provider stream: x".into(),
            retryable: true
        }
    );

    let whole = provider.chat(&request()).await.unwrap_err();
    assert!(!whole.is_retryable(), "{whole:?}");
}

fn quick_retries() -> RunOptions {
    RunOptions::default().with_retry(
        RetryPolicy::default()
            .with_max_retries(2)
            .with_backoff(Duration::from_millis(1), Duration::from_millis(1))
            .with_jitter(false),
    )
}

async fn run(provider: Arc<dyn LlmProvider>) -> Result<RunOutput, RunError> {
    let agent = Arc::new(Agent::builder("assistant").build().unwrap());
    let ctx = AgentContext::new(agent, provider, InMemoryStore::shared());
    run_steps(
        &ctx,
        ThreadId::new(),
        vec![Message::user("Hi")],
        quick_retries(),
    )
    .await
}

#[tokio::test(start_paused = true)]
async fn the_run_loop_retries_what_the_layer_calls_retryable_and_only_that() {
    let scripts = || {
        ScriptedProvider::new()
            .respond(Script::error(conflict()))
            .respond(Script::text("Hello"))
    };

    let unchanged = Arc::new(scripts());
    let output = run(Arc::clone(&unchanged) as _).await.unwrap();
    assert_eq!(output.output, "Hello");
    assert_eq!(unchanged.call_count(), 2, "a 409 is retried by default");

    let model = Arc::new(scripts());
    let provider = Arc::clone(&model).layer(Classify::new(reclassify));
    assert!(run(Arc::new(provider)).await.is_err());
    assert_eq!(model.call_count(), 1, "the reclassified 409 was retried");
}
