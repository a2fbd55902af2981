//! Behaviour around any provider — timeouts, retry classification, rate limits, observation —
//! as [`Layer`]s in the manner of `tower`: each layer wraps an [`LlmProvider`] and is one.
//!
//! | layer | wraps a provider in | what it does |
//! |---|---|---|
//! | [`Timeout`] | [`TimeoutProvider`] | fails late calls with `LlmError::Timeout`: first chunk, between chunks, whole response |
//! | [`Classify`] | [`ClassifyProvider`] | maps the errors, deciding which are retryable ([`transient`], [`permanent`]) |
//! | [`RateLimit`] | [`RateLimitProvider`] | holds calls back: calls per interval, calls in flight |
//! | [`Observe`] | [`ObserveProvider`] | tells an [`Observer`] each call's latency, usage and outcome |
//!
//! The layers work on every provider: this crate's, the test kit's scripted one, a user's
//! own. Compose them by hand (`Timeout::new().layer(provider)`), with
//! [`ProviderExt::layer`] (`provider.layer(Timeout::new())`), or with `tower`'s
//! `ServiceBuilder`, whose first layer is the outermost:
//!
//! ```
//! use baton_core::llm::{ChatRequest, LlmProvider, Message};
//! use baton_providers::layer::{CallRecord, Observe, RateLimit, Timeout};
//! use baton_testkit::{Script, ScriptedProvider};
//! use std::sync::Arc;
//! use std::time::Duration;
//! use tower::ServiceBuilder;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let provider = ServiceBuilder::new()
//!     .layer(Observe::new(|call: &CallRecord| println!("{} took {:?}", call.provider, call.latency)))
//!     .layer(RateLimit::new().concurrent(8))
//!     .layer(Timeout::new().first_chunk(Duration::from_secs(20)))
//!     .service(ScriptedProvider::new().respond(Script::text("Hello!")));
//!
//! let request = ChatRequest::new(vec![Arc::new(Message::user("Hi"))]);
//! assert_eq!(provider.chat(&request).await?.message.content(), "Hello!");
//! # Ok::<(), baton_core::error::LlmError>(())
//! # }).unwrap();
//! ```
//!
//! The run loop in `baton-core` retries; no layer here does. [`Classify`] only decides what
//! the loop's retry sees as retryable.

pub(crate) mod classify;
pub(crate) mod observe;
pub(crate) mod rate_limit;
pub(crate) mod timeout;

pub use classify::{Classify, ClassifyProvider, permanent, transient};
pub use observe::{CallOutcome, CallRecord, Observe, ObserveProvider, Observer};
pub use rate_limit::{RateLimit, RateLimitProvider};
pub use timeout::{Timeout, TimeoutProvider};
pub use tower_layer::Layer;

use baton_core::llm::LlmProvider;

/// Wrapping a provider in a layer as a method: `provider.layer(Timeout::new())`.
pub trait ProviderExt: LlmProvider + Sized {
    /// This provider wrapped in `layer`.
    fn layer<L: Layer<Self>>(self, layer: L) -> L::Service {
        layer.layer(self)
    }
}

impl<P: LlmProvider> ProviderExt for P {}
