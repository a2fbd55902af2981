//! The `Observe` layer: one record per call, when it ends, with latency, time to first chunk,
//! usage and outcome — finished, failed, ended early, or dropped.

use baton_core::error::LlmError;
use baton_core::llm::{ChatRequest, FinishReason, LlmProvider, Message, ModelSettings, Usage};
use baton_providers::layer::{CallOutcome, CallRecord, Observe, ObserveProvider, ProviderExt};
use baton_testkit::{Script, ScriptedProvider};
use futures::StreamExt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const MILLI: Duration = Duration::from_millis(1);

type Records = Arc<Mutex<Vec<CallRecord>>>;

fn observed(
    model: ScriptedProvider,
) -> (
    ObserveProvider<ScriptedProvider, impl Fn(&CallRecord) + Send + Sync + 'static>,
    Records,
) {
    let records = Records::default();
    let sink = Arc::clone(&records);
    let provider = model.layer(Observe::new(move |call: &CallRecord| {
        sink.lock().unwrap().push(call.clone());
    }));
    (provider, records)
}

fn request() -> ChatRequest {
    ChatRequest::new(vec![Arc::new(Message::user("Hi"))])
}

fn taken(records: &Records) -> Vec<CallRecord> {
    std::mem::take(&mut *records.lock().unwrap())
}

#[tokio::test(start_paused = true)]
async fn a_finished_stream_is_recorded_once_with_its_timing_and_usage() {
    let script = Script::text("Hello there")
        .with_usage(Usage::new(7, 2))
        .with_latency(MILLI * 100)
        .with_chunk_delay(MILLI * 10);
    let (provider, records) = observed(ScriptedProvider::new().respond(script));
    let request = request().with_settings(ModelSettings::model("small"));

    let stream = provider.chat_stream(&request).await.unwrap();
    assert!(taken(&records).is_empty(), "recorded before the call ended");
    let chunks: Vec<_> = stream.collect().await;

    let [record] = taken(&records).try_into().unwrap();
    assert_eq!(record.provider, "scripted");
    assert_eq!(record.model.as_deref(), Some("small"));
    assert!(record.streamed);
    assert_eq!(record.first_chunk, Some(MILLI * 100));
    let later_chunks = u32::try_from(chunks.len() - 1).unwrap();
    assert_eq!(record.latency, MILLI * 100 + MILLI * 10 * later_chunks);
    assert_eq!(record.usage, Some(Usage::new(7, 2)));
    assert_eq!(record.outcome, CallOutcome::Finished(FinishReason::Stop));
}

#[tokio::test(start_paused = true)]
async fn failures_at_opening_and_in_the_stream_are_recorded() {
    let reset = LlmError::Connection("reset".into());
    let model = ScriptedProvider::new()
        .respond(Script::error(reset.clone()).with_latency(MILLI * 5))
        .respond(Script::text("Hello there").fail_after(1, reset.clone()));
    let (provider, records) = observed(model);

    assert!(provider.chat_stream(&request()).await.is_err());
    let stream = provider.chat_stream(&request()).await.unwrap();
    let _: Vec<_> = stream.collect().await;

    let [opening, in_stream] = taken(&records).try_into().unwrap();
    assert_eq!(opening.outcome, CallOutcome::Failed(reset.clone()));
    assert_eq!(opening.latency, MILLI * 5);
    assert_eq!(opening.first_chunk, None);
    assert_eq!(in_stream.outcome, CallOutcome::Failed(reset));
    assert_eq!(in_stream.first_chunk, Some(Duration::ZERO));
}

#[tokio::test(start_paused = true)]
async fn a_stream_that_ends_without_a_finish_is_incomplete() {
    let model = ScriptedProvider::new().respond(Script::text("Hello there").end_after(1));
    let (provider, records) = observed(model);

    let _: Vec<_> = provider
        .chat_stream(&request())
        .await
        .unwrap()
        .collect()
        .await;

    let [record] = taken(&records).try_into().unwrap();
    assert_eq!(
        record.outcome,
        CallOutcome::Failed(LlmError::IncompleteStream)
    );
}

#[tokio::test(start_paused = true)]
async fn dropped_streams_and_calls_are_recorded_as_dropped() {
    let model = ScriptedProvider::new()
        .respond(Script::text("Hello there").stall_after(1))
        .respond(Script::error(LlmError::IncompleteStream).with_latency(Duration::from_secs(60)));
    let (provider, records) = observed(model);

    let mut stream = provider.chat_stream(&request()).await.unwrap();
    stream.next().await.unwrap().unwrap();
    drop(stream);
    let call = tokio::time::timeout(MILLI * 3, provider.chat_stream(&request())).await;
    assert!(call.is_err(), "the call should still be waiting");

    let [stream, call] = taken(&records).try_into().unwrap();
    assert_eq!(stream.outcome, CallOutcome::Dropped);
    assert_eq!(stream.first_chunk, Some(Duration::ZERO));
    assert_eq!(call.outcome, CallOutcome::Dropped);
    assert_eq!(call.latency, MILLI * 3);
}

#[tokio::test(start_paused = true)]
async fn a_whole_call_is_recorded_with_its_usage() {
    let model = ScriptedProvider::new().respond(Script::text("Hi").with_usage(Usage::new(3, 1)));
    let (provider, records) = observed(model);

    provider.chat(&request()).await.unwrap();

    let [record] = taken(&records).try_into().unwrap();
    assert!(!record.streamed);
    assert_eq!(record.usage, Some(Usage::new(3, 1)));
    assert_eq!(record.outcome, CallOutcome::Finished(FinishReason::Stop));
}
