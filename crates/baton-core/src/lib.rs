//! Baton's core: provider-neutral model types, tools, memory, and the streaming agent loop.
//!
//! `baton-core` knows nothing of HTTP, SQL or actors. Providers, stores and the actor layer plug
//! in through its traits: [`LlmProvider`](llm::LlmProvider), [`ThreadStore`](memory::ThreadStore),
//! [`EpisodicStore`](memory::EpisodicStore), [`Tool`](tool::Tool) and
//! [`Guardrail`](run::Guardrail).
//!
//! | module | what it holds |
//! |---|---|
//! | [`ids`] | `ThreadId`, `RunId`, `AgentName` |
//! | [`error`] | `RunError`, `LlmError`, `StoreError`, `ToolError`, `ConfigError` |
//! | [`llm`] | messages, requests, chunks, responses, the provider trait, token counting |
//! | [`tool`] | typed tools with derived JSON Schemas, the registry, execution |
//! | [`memory`] | thread store, episodic log, in-memory store |
//! | [`agent`] | agent definitions and what one run needs (`AgentContext`) |
//! | [`context`] | what tools, guardrails and providers know of the run they act for |
//! | [`run`] | the loop: options, guardrails, retry, steps, streaming |
//! | [`actor`] | agents as actors under a supervisor; handoffs; the embedding API |
//!
//! # Example
//!
//! An agent with one tool, on the scripted provider from `baton-testkit`:
//!
//! ```
//! use baton_core::prelude::*;
//! use baton_testkit::{Script, ScriptedProvider};
//! use schemars::JsonSchema;
//! use serde::Deserialize;
//! use std::sync::Arc;
//!
//! struct Weather;
//!
//! #[derive(Deserialize, JsonSchema)]
//! struct WeatherArgs {
//!     /// City name.
//!     city: String,
//! }
//!
//! impl Tool for Weather {
//!     type Args = WeatherArgs;
//!     fn name(&self) -> &str { "weather" }
//!     fn description(&self) -> &str { "Current weather in a city." }
//!     async fn call(&self, args: WeatherArgs, _ctx: &ToolContext<'_>) -> Result<String, ToolError> {
//!         Ok(format!("sunny in {}", args.city))
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
//! let provider = Arc::new(
//!     ScriptedProvider::new()
//!         .respond(Script::tool_call("weather", serde_json::json!({"city": "Paris"})))
//!         .respond(Script::text("It is sunny in Paris.")),
//! );
//! let agent = Arc::new(Agent::builder("assistant").tool(Weather).build().unwrap());
//! let store = InMemoryStore::shared();
//! let ctx = AgentContext::new(agent, provider.clone(), store.clone());
//! let thread = ThreadId::new();
//! let out = run_steps(&ctx, thread, vec![Message::user("Weather in Paris?")], RunOptions::default())
//!     .await
//!     .unwrap();
//! assert_eq!(out.output, "It is sunny in Paris.");
//! assert_eq!(out.steps, 2);
//! // The second request carried the tool result.
//! let seen = provider.requests();
//! assert_eq!(seen[1].messages.last().unwrap().content(), "sunny in Paris");
//! # });
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod actor;
pub mod agent;
pub mod context;
pub mod error;
pub mod ids;
pub mod llm;
pub mod memory;
pub mod redact;
pub mod run;
pub mod tool;

/// The names most programs need.
pub mod prelude {
    pub use crate::actor::{Decided, Supervisor, SupervisorError};
    pub use crate::agent::{Agent, AgentContext};
    pub use crate::context::{RunContext, ToolContext};
    pub use crate::error::{ConfigError, LlmError, RunError, StoreError, ToolError};
    pub use crate::ids::{AgentName, RunId, ThreadId};
    pub use crate::llm::{
        ChatChunk, ChatRequest, ChatResponse, FinishReason, LlmProvider, Message, ModelSettings,
        ToolCall, Usage,
    };
    pub use crate::memory::{Decision, Episode, EpisodicStore, InMemoryStore, Store, ThreadStore};
    pub use crate::run::{
        Guardrail, PendingApproval, RetryPolicy, RunEvent, RunOptions, RunOutput, RunStream,
        Verdict, run_steps, run_steps_streaming,
    };
    pub use crate::tool::{Approval, OnInterrupt, Tool, ToolRegistry};
}
