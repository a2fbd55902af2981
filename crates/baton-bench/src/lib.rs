//! Workloads for measuring Baton against a bare lower bound.
//!
//! Every workload runs on the scripted provider through the public API, streaming, with the
//! episodic log recorded. Each has a *baseline*: the same model calls and tool calls in a bare
//! tokio loop that appends to a `Vec` of messages, with no orchestration, so figures can be
//! reported as ratios measured in the same process.
//!
//! ```
//! # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
//! let baton = baton_bench::loop_workload(2, 3).await;
//! let bare = baton_bench::loop_baseline(2, 3).await;
//! assert_eq!(baton.model_calls, bare.model_calls);
//! # });
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod tools;
mod workloads;

pub use tools::{Charge, Echo};
pub use workloads::*;
