//! Baton: an actor-based multi-agent LLM orchestrator.
//!
//! This facade re-exports the crates of the workspace so that applications depend on one
//! package and pick the pieces they need with features:
//!
//! | feature | crate | what it brings |
//! |---|---|---|
//! | (always) | [`core`] (`baton-core`) | types, the streaming agent loop, tools, memory |
//! | `testkit` | [`testkit`] (`baton-testkit`) | a scripted provider for tests, examples and benchmarks |
//! | `openai`, `anthropic` | [`providers`] (`baton-providers`) | real model providers over HTTP |
//! | `sqlite`, `postgres` | [`store`] (`baton-store`) | durable threads and episodic logs |
//! | `server` | [`server`] (`baton-server`) | the HTTP/SSE service over a supervisor |
//!
//! ```
//! # #[cfg(feature = "testkit")]
//! # {
//! use baton::core::prelude::*;
//! use baton_testkit::{Script, ScriptedProvider};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
//! let provider = ScriptedProvider::new().respond(Script::text("Hello from Baton."));
//! let agent = Agent::builder("greeter").instructions("Greet the user.").build().unwrap();
//! let store = InMemoryStore::shared();
//! let ctx = AgentContext::new(agent.into(), std::sync::Arc::new(provider), store);
//! let output = run_steps(&ctx, ThreadId::new(), vec![Message::user("hi")], RunOptions::default())
//!     .await
//!     .unwrap();
//! assert_eq!(output.output, "Hello from Baton.");
//! # });
//! # }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub use baton_core as core;
pub use baton_core::prelude;

#[cfg(feature = "testkit")]
pub use baton_testkit as testkit;

#[cfg(any(feature = "openai", feature = "anthropic"))]
pub use baton_providers as providers;

#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub use baton_store as store;

#[cfg(feature = "server")]
pub use baton_server as server;

/// The README's code, compiled and run as doctests so that it stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
