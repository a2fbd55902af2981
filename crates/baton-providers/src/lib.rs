//! Baton's model providers: [`OpenAiProvider`] for the OpenAI Chat Completions protocol (OpenAI
//! and every compatible server — vLLM, llama.cpp, Ollama, …) and [`AnthropicProvider`] for the
//! Anthropic Messages protocol. Both implement `baton-core`'s
//! [`LlmProvider`](baton_core::llm::LlmProvider): streamed responses with text, parallel tool
//! calls and usage, and non-streaming calls from the same request mapping.
//!
//! | module | what it holds |
//! |---|---|
//! | [`openai`] | the Chat Completions protocol and [`OpenAiProvider`] (cargo feature `openai`) |
//! | [`anthropic`] | the Messages protocol and [`AnthropicProvider`] (cargo feature `anthropic`) |
//! | [`layer`] | behaviour around any provider: [`Timeout`](layer::Timeout), [`Classify`](layer::Classify), [`RateLimit`](layer::RateLimit), [`Observe`](layer::Observe) |
//! | crate root | [`HttpProvider`] (one protocol over HTTP, no layers), [`ProviderConfig`], [`ApiKey`], [`ConfigError`] |
//!
//! Both features are on by default; they share [`HttpProvider`] — the HTTP client, the SSE
//! plumbing (`eventsource-stream`), the error classification and the key redaction — and
//! differ only in their [`Protocol`].
//!
//! `OpenAiProvider` and `AnthropicProvider` are the HTTP provider with the default layering,
//! [`Timeout::default()`](layer::Timeout) around it. The configuration holds what the HTTP
//! client needs (key, base URL, model, settings, connect and read timeouts); how long a call
//! may take, how often it may go out and what is recorded of it are layers.
//!
//! # Example
//!
//! A provider pointed at an OpenAI-compatible server (here one started in-process, as a
//! stand-in for `vllm serve` or `llama-server`), streaming an answer:
//!
//! ```
//! use baton_core::llm::{ChatChunk, ChatRequest, LlmProvider, Message};
//! use baton_providers::{OpenAiProvider, ProviderConfig};
//! use futures::StreamExt;
//! use std::sync::Arc;
//!
//! # async fn serve_once(transcript: &'static str) -> String {
//! #     let app = axum::Router::new()
//! #         .fallback(move || async move { ([("content-type", "text/event-stream")], transcript) });
//! #     let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
//! #     let url = format!("http://{}/v1", listener.local_addr().unwrap());
//! #     tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
//! #     url
//! # }
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! # let base_url = serve_once(concat!(
//! #     "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hello\"}}]}\n\n",
//! #     "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"!\"},\"finish_reason\":\"stop\"}]}\n\n",
//! #     "data: [DONE]\n\n",
//! # )).await;
//! // `base_url` is e.g. "http://127.0.0.1:8080/v1"; a local server needs no API key.
//! let provider = OpenAiProvider::new(
//!     ProviderConfig::new().base_url(base_url).model("qwen2.5-7b-instruct"),
//! )?;
//! let request = ChatRequest::new(vec![Arc::new(Message::user("Say hello."))]);
//!
//! let mut stream = provider.chat_stream(&request).await?;
//! let mut text = String::new();
//! while let Some(chunk) = stream.next().await {
//!     match chunk? {
//!         ChatChunk::Text { delta } => text.push_str(&delta),
//!         ChatChunk::Finish { reason } => println!("finished: {reason:?}"),
//!         _ => {}
//!     }
//! }
//! assert_eq!(text, "Hello!");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! With the real APIs, configure from the environment (`OPENAI_API_KEY`, `OPENAI_BASE_URL`,
//! `OPENAI_MODEL`; `ANTHROPIC_API_KEY`, `ANTHROPIC_BASE_URL`, `ANTHROPIC_MODEL`) and give the
//! provider to an agent:
//!
//! ```no_run
//! use baton_core::prelude::*;
//! use baton_providers::AnthropicProvider;
//! use std::sync::Arc;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let provider = Arc::new(AnthropicProvider::from_env()?);
//! let agent = Arc::new(Agent::builder("assistant").instructions("Be brief.").build()?);
//! let ctx = AgentContext::new(agent, provider, InMemoryStore::shared());
//! let out = run_steps(&ctx, ThreadId::new(), vec![Message::user("Hi!")], RunOptions::default()).await?;
//! println!("{}", out.output);
//! # Ok(())
//! # }
//! ```
//!
//! # Layering
//!
//! To choose the layers, build the [`HttpProvider`] and wrap it. Here a provider with shorter
//! timeouts, at most four calls in flight, and a record of each call (a counter here, a
//! metrics exporter in an application):
//!
//! ```
//! use baton_providers::layer::{CallRecord, Observe, ProviderExt, RateLimit, Timeout};
//! use baton_providers::{HttpProvider, ProviderConfig, openai::ChatCompletions};
//! use std::sync::Arc;
//! use std::sync::atomic::{AtomicU64, Ordering};
//! use std::time::Duration;
//!
//! let tokens = Arc::new(AtomicU64::new(0));
//! let counted = Arc::clone(&tokens);
//! let config = ProviderConfig::new()
//!     .base_url("http://127.0.0.1:8080/v1")
//!     .connect_timeout(Duration::from_secs(2));
//! let provider = HttpProvider::<ChatCompletions>::new(config)?
//!     .layer(Timeout::new().first_chunk(Duration::from_secs(20)))
//!     .layer(RateLimit::new().concurrent(4))
//!     .layer(Observe::new(move |call: &CallRecord| {
//!         let used = call.usage.map_or(0, |usage| usage.total());
//!         counted.fetch_add(used, Ordering::Relaxed);
//!     }));
//! // `provider` is an `LlmProvider`: give it to an agent as any other.
//! # let _ = provider;
//! # Ok::<(), baton_providers::ConfigError>(())
//! ```
//!
//! Each layer wraps the one before: here the call waits for a slot, then the timeouts run,
//! and the record covers both. The [`layer`] module shows the same with `tower`'s
//! `ServiceBuilder`.
//!
//! # Errors, retries and cancellation
//!
//! Failures are classified as [`LlmError`](baton_core::error::LlmError) so that the run loop's
//! retry (in `baton-core`, before the first chunk only) can act on them; the
//! [`Classify`](layer::Classify) layer changes what counts as retryable:
//!
//! | what happened | error | retried |
//! |---|---|---|
//! | HTTP 408, 409, 429, 5xx | `Status` with the server's message and `Retry-After` | yes |
//! | HTTP 529, `overloaded_error` (status or event) | `Overloaded` | yes |
//! | HTTP 400, 401, 403, 404, 422 | `Status` with the server's message | no |
//! | an `error` event in the stream | `Provider` (retryable if the server says it is transient) | if transient |
//! | connection refused, reset or cut mid-body | `Connection` | yes |
//! | the connect timeout, or a [`Timeout`](layer::Timeout) layer's | `Timeout` | yes |
//! | an event whose JSON does not parse | `MalformedStream` | no |
//! | a body that ends without a finish | `IncompleteStream` | no |
//!
//! `Retry-After` is read as seconds or as an HTTP date, and `retry-after-ms` as milliseconds.
//! Every stream ends with [`ChatChunk::Finish`](baton_core::llm::ChatChunk::Finish) (after
//! exactly one usage chunk when the server reports usage) or with an error. Dropping a stream,
//! or the future of a call, drops the HTTP request and closes its connection.
//!
//! API keys are held in [`ApiKey`], which prints as `[redacted]`; they are sent in headers
//! marked sensitive and scrubbed from any server message that echoes them.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
// Without a protocol feature the shared plumbing has no user; it still builds.
#![cfg_attr(
    not(any(feature = "openai", feature = "anthropic")),
    allow(dead_code, unused_imports)
)]

mod api_key;
mod config;
mod http;
mod http_provider;
pub mod layer;
mod model_defaults;
mod server_error;
mod sse;

#[cfg(feature = "anthropic")]
pub mod anthropic;
#[cfg(feature = "openai")]
pub mod openai;

#[cfg(feature = "anthropic")]
pub use anthropic::AnthropicProvider;
pub use api_key::ApiKey;
pub use config::{ConfigError, DEFAULT_CONNECT_TIMEOUT, DEFAULT_READ_TIMEOUT, ProviderConfig};
pub use http_provider::{HttpProvider, Protocol};
#[cfg(feature = "openai")]
pub use openai::OpenAiProvider;
