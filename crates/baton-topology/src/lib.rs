//! Baton topology files: agents, providers, tools, store and server declared in TOML.
//!
//! A topology file says which agents exist (instructions, model, tools, allowed handoffs,
//! limits), which providers serve them (OpenAI-compatible, Anthropic, or scripted models that
//! run offline), where threads are kept, and how the topology is served over HTTP.
//! [`Topology::load`] validates the whole file and reports every problem with its file, line
//! and column; [`Topology::build`] turns it into a running
//! [`Supervisor`](baton_core::actor::Supervisor). The file format is described in [`format`](mod@format).
//!
//! | item | what it is |
//! |---|---|
//! | [`Topology`] | a validated file: `load`, `parse`, `check`, `build`, and (feature `server`) `server_config` |
//! | [`Summary`], [`AgentSummary`] | what a topology holds, for a short report |
//! | [`TopologyError`], [`Problem`], [`ProblemKind`] | what is wrong, and where |
//! | [`StoreSpec`] | `memory`, `sqlite:PATH`, `postgres://…` |
//! | [`tools`] | the built-in tools: `http_get`, `calculator`, `current_time`, `kv_lookup` |
//!
//! # Features
//!
//! Each kind of provider, store backend and tool that needs a dependency of its own is a
//! cargo feature. A file naming a kind this build leaves out is refused at that name, with
//! the feature to enable (providers when an agent uses them, so `--provider` can switch a
//! file to one that is built).
//!
//! | feature | brings | default |
//! |---|---|---|
//! | `openai` | providers of kind `openai` (any OpenAI-compatible server) | yes |
//! | `anthropic` | providers of kind `anthropic` | yes |
//! | `sqlite` | stores `sqlite:PATH` and `sqlite::memory:` | yes |
//! | `postgres` | stores `postgres://…` | no |
//! | `calculator` | the `calculator` tool (`exmex`) | yes |
//! | `http-get` | the `http_get` tool (`reqwest`) | yes |
//! | `scripted` | providers of kind `scripted`: models that play the file's turns, offline (`baton-testkit`) | no |
//! | `server` | `Topology::server_config`, the `[server]` section as a `baton_server::ServerConfig` | no |
//!
//! # Example
//!
//! A scripted agent that looks an order up, built and run offline (with the `scripted`
//! feature):
//!
//! ```
//! # #[cfg(feature = "scripted")] {
//! use baton_core::ids::ThreadId;
//! use baton_topology::Topology;
//!
//! # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
//! let topology = Topology::parse("orders.toml", r#"
//! store = "memory"
//!
//! [providers.offline]
//! kind = "scripted"
//!
//! [tools.lookup_order]
//! kind = "kv_lookup"
//! entries = { "A-1042" = { status = "shipped" } }
//!
//! [[agents]]
//! name = "support"
//! instructions = "Answer questions about orders."
//! tools = ["lookup_order"]
//!
//! [[agents.script]]
//! when = { call = 1 }
//! tool = "lookup_order"
//! arguments = { key = "A-1042" }
//!
//! [[agents.script]]
//! text = "Order A-1042 is {{result.status}}."
//! "#)?;
//! let supervisor = topology.build().await?;
//! let answer = supervisor
//!     .run_to_completion(topology.entry().as_str(), ThreadId::new(), "Where is my order?")
//!     .await?;
//! assert_eq!(answer.output, "Order A-1042 is shipped.");
//! supervisor.shutdown(std::time::Duration::from_secs(5)).await;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! # }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod agent;
mod decode;
mod depth;
mod error;
mod limits;
mod prepare;
mod provider;
mod raw;
mod scripted;
mod server;
mod source;
mod store;
mod summary;
mod toml_to_json;
pub mod tools;
mod topology;
mod validate;

pub use error::{Problem, ProblemKind, TopologyError};
pub use store::{InvalidStore, StoreSpec};
pub use summary::{AgentSummary, Summary};
pub use topology::Topology;

pub mod format {
    //! The topology file format, in full.
    #![doc = include_str!("../docs/format.md")]
}
