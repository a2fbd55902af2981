//! The `RateLimit` layer on paused time: calls per interval burst then pace, calls in flight
//! wait for a slot that a finished or dropped stream frees, and one layer is one budget.

use baton_core::llm::{ChatRequest, LlmProvider, Message};
use baton_providers::layer::{ProviderExt, RateLimit};
use baton_testkit::{Script, ScriptedProvider};
use futures::StreamExt;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

const MILLI: Duration = Duration::from_millis(1);

fn request() -> ChatRequest {
    ChatRequest::new(vec![Arc::new(Message::user("Hi"))])
}

/// A provider answering every call, recording when each call reached it.
fn recording(script: Script) -> (ScriptedProvider, Arc<Mutex<Vec<Instant>>>) {
    let arrivals = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&arrivals);
    let provider = ScriptedProvider::from_fn(move |_| {
        seen.lock().unwrap().push(Instant::now());
        script.clone()
    });
    (provider, arrivals)
}

fn offsets(arrivals: &Mutex<Vec<Instant>>, start: Instant) -> Vec<Duration> {
    let mut offsets: Vec<_> = arrivals
        .lock()
        .unwrap()
        .iter()
        .map(|at| *at - start)
        .collect();
    offsets.sort();
    offsets
}

#[tokio::test(start_paused = true)]
async fn calls_per_interval_burst_then_pace() {
    let (model, arrivals) = recording(Script::text("Hi"));
    let provider = Arc::new(model.layer(RateLimit::new().requests(2, Duration::from_secs(1))));
    let start = Instant::now();

    let calls = (0..5).map(|_| {
        let provider = Arc::clone(&provider);
        tokio::spawn(async move { provider.chat(&request()).await })
    });
    for call in futures::future::join_all(calls).await {
        call.unwrap().unwrap();
    }

    assert_eq!(
        offsets(&arrivals, start),
        [0, 0, 500, 1000, 1500].map(|ms| MILLI * ms)
    );
}

#[tokio::test(start_paused = true)]
async fn a_call_in_flight_holds_its_slot_until_its_stream_ends() {
    let (model, _) = recording(Script::text("Hello there").stall_after(1));
    let provider = model.layer(RateLimit::new().concurrent(2));
    let mut first = provider.chat_stream(&request()).await.unwrap();
    let _second = provider.chat_stream(&request()).await.unwrap();
    first.next().await.unwrap().unwrap();

    let waited =
        tokio::time::timeout(Duration::from_secs(60), provider.chat_stream(&request())).await;
    assert!(waited.is_err(), "a third call went out with two in flight");

    drop(first);
    let third = tokio::time::timeout(MILLI, provider.chat_stream(&request())).await;
    assert!(
        matches!(third, Ok(Ok(_))),
        "the dropped stream kept its slot"
    );
}

#[tokio::test(start_paused = true)]
async fn a_finished_stream_frees_its_slot() {
    let (model, _) = recording(Script::text("Hi"));
    let provider = model.layer(RateLimit::new().concurrent(1));

    let finished = provider.chat_stream(&request()).await.unwrap();
    let chunks: Vec<_> = finished.take(10).collect().await;
    assert!(chunks.iter().all(Result::is_ok));

    // The finished stream is still alive here; its slot is free all the same.
    let next = tokio::time::timeout(MILLI, provider.chat_stream(&request())).await;
    assert!(matches!(next, Ok(Ok(_))));
}

#[tokio::test(start_paused = true)]
async fn providers_wrapped_by_one_layer_share_its_budget() {
    let limit = RateLimit::new().requests(1, Duration::from_secs(2));
    let (one, arrivals_one) = recording(Script::text("Hi"));
    let (two, arrivals_two) = recording(Script::text("Hi"));
    let one = one.layer(limit.clone());
    let two = two.layer(limit);
    let start = Instant::now();

    one.chat(&request()).await.unwrap();
    two.chat(&request()).await.unwrap();

    assert_eq!(offsets(&arrivals_one, start), [Duration::ZERO]);
    assert_eq!(offsets(&arrivals_two, start), [Duration::from_secs(2)]);
}
