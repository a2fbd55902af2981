//! Baton's LLM providers.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod config;
mod http;
mod settings;
mod sse;
mod status;

#[cfg(feature = "anthropic")]
pub mod anthropic;
#[cfg(feature = "openai")]
pub mod openai;

#[cfg(feature = "anthropic")]
pub use anthropic::AnthropicProvider;
pub use config::{ApiKey, ConfigError, ProviderConfig, Timeouts};
#[cfg(feature = "openai")]
pub use openai::OpenAiProvider;
