//! The OpenAI-compatible endpoints, read back with types shaped like OpenAI's.

mod common;

use baton_core::error::LlmError;
use baton_core::llm::{Message, Usage};
use baton_testkit::{Script, ScriptedProvider};
use common::*;
use futures::StreamExt;
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Debug, Deserialize)]
struct ChatCompletion {
    id: String,
    object: String,
    created: u64,
    model: String,
    choices: Vec<Choice>,
    usage: CompletionUsage,
}

#[derive(Debug, Deserialize)]
struct Choice {
    index: u32,
    message: ResponseMessage,
    finish_reason: String,
}

#[derive(Debug, Deserialize)]
struct ResponseMessage {
    role: String,
    content: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ChatCompletionChunk {
    id: String,
    object: String,
    created: u64,
    model: String,
    choices: Vec<ChunkChoice>,
    #[serde(default)]
    usage: Option<CompletionUsage>,
}

#[derive(Debug, Deserialize)]
struct ChunkChoice {
    index: u32,
    delta: ChunkDelta,
    finish_reason: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ChunkDelta {
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    content: Option<String>,
}

#[derive(Debug, Deserialize, PartialEq)]
struct CompletionUsage {
    prompt_tokens: u64,
    completion_tokens: u64,
    total_tokens: u64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_chat_completions_are_openai_chunks_ending_with_done() {
    let provider = shared(
        ScriptedProvider::new()
            .respond(Script::text("Hello there, friend.").with_usage(Usage::new(12, 4))),
    );
    let server = TestServer::start(assistant(provider).await).await;

    let response = server
        .chat_completion(
            ACME,
            &json!({
                "model": "assistant",
                "messages": [{"role": "user", "content": "Say hello."}],
                "stream": true,
                "stream_options": {"include_usage": true},
                "temperature": 0.2
            }),
        )
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let events: Vec<Sse> = sse(response).collect().await;

    let (done, chunks) = events.split_last().unwrap();
    assert_eq!(done.data, "[DONE]");
    let chunks: Vec<ChatCompletionChunk> = chunks
        .iter()
        .map(|event| {
            assert_eq!(event.event, "message", "OpenAI chunks carry no event name");
            serde_json::from_str(&event.data).unwrap()
        })
        .collect();
    let first = &chunks[0];
    assert!(first.id.starts_with("chatcmpl-"));
    assert!(first.created > 0);
    for chunk in &chunks {
        assert_eq!(chunk.object, "chat.completion.chunk");
        assert_eq!(chunk.id, first.id);
        assert_eq!(chunk.model, "assistant");
    }
    assert_eq!(first.choices[0].delta.role.as_deref(), Some("assistant"));

    let (usage_chunk, content_chunks) = chunks.split_last().unwrap();
    assert!(usage_chunk.choices.is_empty());
    assert_eq!(
        usage_chunk.usage,
        Some(CompletionUsage {
            prompt_tokens: 12,
            completion_tokens: 4,
            total_tokens: 16
        })
    );
    let (last, deltas) = content_chunks.split_last().unwrap();
    assert_eq!(last.choices[0].finish_reason.as_deref(), Some("stop"));
    assert_eq!(last.choices[0].delta.content, None);
    let text: String = deltas
        .iter()
        .map(|chunk| {
            assert_eq!(chunk.choices[0].index, 0);
            assert_eq!(chunk.choices[0].finish_reason, None);
            chunk.choices[0].delta.content.clone().unwrap_or_default()
        })
        .collect();
    assert_eq!(text, "Hello there, friend.");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_completion_puts_the_history_on_a_new_thread_and_answers_one_object() {
    let provider = shared(
        ScriptedProvider::new().respond(Script::text("Paris.").with_usage(Usage::new(30, 2))),
    );
    let server = TestServer::start(assistant(provider.clone()).await).await;

    let response = server
        .chat_completion(
            ACME,
            &json!({
                "model": "assistant",
                "messages": [
                    {"role": "system", "content": "Answer in one word."},
                    {"role": "user", "content": "Capital of Italy?"},
                    {"role": "assistant", "content": "Rome."},
                    {"role": "user", "content": [{"type": "text", "text": "And of France?"}]}
                ]
            }),
        )
        .await;
    assert_eq!(response.status(), 200);
    let thread = response.headers()["x-baton-thread-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let completion: ChatCompletion = response.json().await.unwrap();
    assert_eq!(completion.object, "chat.completion");
    assert!(completion.id.starts_with("chatcmpl-"));
    assert!(completion.created > 0);
    assert_eq!(completion.model, "assistant");
    assert_eq!(completion.choices.len(), 1);
    assert_eq!(completion.choices[0].index, 0);
    assert_eq!(completion.choices[0].message.role, "assistant");
    assert_eq!(
        completion.choices[0].message.content.as_deref(),
        Some("Paris.")
    );
    assert_eq!(completion.choices[0].finish_reason, "stop");
    assert_eq!(
        completion.usage,
        CompletionUsage {
            prompt_tokens: 30,
            completion_tokens: 2,
            total_tokens: 32
        }
    );

    let seen: Vec<Message> = provider.requests()[0]
        .messages
        .iter()
        .map(|m| (**m).clone())
        .collect();
    assert_eq!(
        seen,
        [
            Message::system("Answer in one word."),
            Message::user("Capital of Italy?"),
            Message::assistant("Rome."),
            Message::user("And of France?"),
        ]
    );

    let stored = server
        .get_json(&format!("/v1/threads/{thread}/messages"), ACME)
        .await;
    assert_eq!(stored["messages"].as_array().unwrap().len(), 5);
    assert_eq!(stored["messages"][4]["content"], "Paris.");
    let foreign = server
        .get(&format!("/v1/threads/{thread}/messages"), GLOBEX)
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_are_the_agents_and_unknown_models_are_404() {
    let (supervisor, _) = triage_and_billing().await;
    let server = TestServer::start(supervisor).await;

    let models = server.get_json("/v1/models", ACME).await;
    assert_eq!(models["object"], "list");
    let ids: Vec<&str> = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            assert_eq!(m["object"], "model");
            m["id"].as_str().unwrap()
        })
        .collect();
    assert_eq!(ids, ["billing", "triage"]);

    let unknown = json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]});
    let response = server.chat_completion(ACME, &unknown).await;
    expect_openai_error(response, 404, "model_not_found", "invalid_request_error").await;

    let no_user = json!({"model": "triage", "messages": [{"role": "assistant", "content": "hi"}]});
    let response = server.chat_completion(ACME, &no_user).await;
    assert_eq!(response.status(), 400);
    let listed = server.get_json("/v1/threads", ACME).await;
    assert_eq!(
        listed["threads"],
        json!([]),
        "refused requests leave no thread"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_run_is_reported_in_openai_error_shape() {
    let refused = || {
        Script::error(LlmError::InvalidRequest(
            "model refused the settings".into(),
        ))
    };
    let provider = shared(
        ScriptedProvider::new()
            .respond(refused())
            .respond(refused()),
    );
    let server = TestServer::start(assistant(provider).await).await;
    let request = json!({"model": "assistant", "messages": [{"role": "user", "content": "hi"}]});

    let response = server.chat_completion(ACME, &request).await;
    let error = expect_openai_error(response, 502, "provider_error", "server_error").await;
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("model refused the settings")
    );

    let mut streamed = request;
    streamed["stream"] = json!(true);
    let response = server.chat_completion(ACME, &streamed).await;
    let events: Vec<Sse> = sse(response).collect().await;
    let last: Value = serde_json::from_str(&events.last().unwrap().data).unwrap();
    assert_eq!(last["error"]["type"], "server_error");
    assert_eq!(last["error"]["code"], "provider_error");
    assert!(
        events.iter().all(|event| event.data != "[DONE]"),
        "a failed stream does not claim to be done"
    );
}
