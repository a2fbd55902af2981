//! A scripted [`LlmProvider`] for tests, examples and benchmarks, an [`ObservedStore`] that lets
//! a test watch every store call, and a [`FaultyStore`] that injects a store's failures.
//!
//! A [`ScriptedProvider`] answers each call with the next [`Script`] of its queue (or with what a
//! function returns for the request), streams it chunk by chunk with optional latency, can fail
//! before or after the first chunk, and records every [`ChatRequest`] it received so tests can
//! assert exactly what the model saw.
//!
//! ```
//! use baton_core::llm::{ChatRequest, LlmProvider, Message};
//! use baton_testkit::{Script, ScriptedProvider};
//! use std::sync::Arc;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
//! let provider = ScriptedProvider::new()
//!     .respond(Script::tool_call("lookup", serde_json::json!({"q": "rust"})))
//!     .respond(Script::text("Rust is a language."));
//! let request = ChatRequest::new(vec![Arc::new(Message::user("what is rust?"))]);
//! let first = provider.chat(&request).await.unwrap();
//! assert_eq!(first.message.tool_calls()[0].name, "lookup");
//! let second = provider.chat(&request).await.unwrap();
//! assert_eq!(second.message.content(), "Rust is a language.");
//! assert_eq!(provider.requests().len(), 2);
//! # });
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod faulty_store;
mod observed_store;
mod script;
mod stream;

pub use faulty_store::{Faults, FaultyStore, StoreFault};
pub use observed_store::{Ended, ObservedStore, StoreCall, StoreObserver, StoreOp};
pub use script::Script;

use async_trait::async_trait;
use baton_core::error::LlmError;
use baton_core::llm::{ChatRequest, ChunkStream, LlmProvider};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

type Responder = dyn Fn(&ChatRequest) -> Script + Send + Sync;

/// A provider that plays scripted responses.
///
/// With a queue ([`respond`](Self::respond)), each call takes the next script; a call with
/// none left fails with [`LlmError::InvalidRequest`]. With a function
/// ([`from_fn`](Self::from_fn)), each call gets what the function returns for its request, which
/// suits many concurrent runs.
pub struct ScriptedProvider {
    queue: Mutex<VecDeque<Script>>,
    responder: Option<Box<Responder>>,
    record: bool,
    requests: Mutex<Vec<ChatRequest>>,
    calls: AtomicUsize,
    chunks: Arc<AtomicU64>,
}

impl std::fmt::Debug for ScriptedProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScriptedProvider")
            .field("calls", &self.call_count())
            .field("chunks_yielded", &self.chunks_yielded())
            .finish_non_exhaustive()
    }
}

impl Default for ScriptedProvider {
    fn default() -> Self {
        Self::new()
    }
}

impl ScriptedProvider {
    /// A provider with an empty queue that records requests.
    #[must_use]
    pub fn new() -> Self {
        Self {
            queue: Mutex::new(VecDeque::new()),
            responder: None,
            record: true,
            requests: Mutex::new(Vec::new()),
            calls: AtomicUsize::new(0),
            chunks: Arc::new(AtomicU64::new(0)),
        }
    }

    /// A provider that answers each request with `respond(request)`.
    #[must_use]
    pub fn from_fn(respond: impl Fn(&ChatRequest) -> Script + Send + Sync + 'static) -> Self {
        Self {
            responder: Some(Box::new(respond)),
            ..Self::new()
        }
    }

    /// Queues `script` as the answer to the next unanswered call.
    #[must_use]
    pub fn respond(self, script: Script) -> Self {
        self.push(script);
        self
    }

    /// Queues `script` (for providers already shared).
    pub fn push(&self, script: Script) {
        lock(&self.queue).push_back(script);
    }

    /// Stops recording requests (for benchmarks and very many runs).
    #[must_use]
    pub fn without_recording(mut self) -> Self {
        self.record = false;
        self
    }

    /// Every request received so far, in order.
    #[must_use]
    pub fn requests(&self) -> Vec<ChatRequest> {
        lock(&self.requests).clone()
    }

    /// How many calls were made.
    #[must_use]
    pub fn call_count(&self) -> usize {
        self.calls.load(Ordering::Relaxed)
    }

    /// How many chunks the provider's streams have yielded, across all calls.
    #[must_use]
    pub fn chunks_yielded(&self) -> u64 {
        self.chunks.load(Ordering::Relaxed)
    }

    /// Scripts still queued.
    #[must_use]
    pub fn remaining(&self) -> usize {
        lock(&self.queue).len()
    }

    fn next_script(&self, request: &ChatRequest) -> Result<Script, LlmError> {
        if let Some(responder) = &self.responder {
            return Ok(responder(request));
        }
        lock(&self.queue).pop_front().ok_or_else(|| {
            LlmError::InvalidRequest("the scripted provider has no response left".into())
        })
    }
}

#[async_trait]
impl LlmProvider for ScriptedProvider {
    fn name(&self) -> &str {
        "scripted"
    }

    async fn chat_stream(&self, request: &ChatRequest) -> Result<ChunkStream, LlmError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        if self.record {
            lock(&self.requests).push(request.clone());
        }
        let script = self.next_script(request)?;
        script.open(Arc::clone(&self.chunks)).await
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panicking test thread must not hide the provider's state from the others.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
