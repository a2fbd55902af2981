//! Choosing the model provider of an example: `--provider openai|anthropic|scripted` (or the
//! `BATON_PROVIDER` environment variable). Scripted, offline, is the default.

use baton::core::llm::LlmProvider;
use std::sync::Arc;

/// Where the examples' models come from.
pub enum ProviderChoice {
    /// The scripted models written into the example (offline).
    Scripted,
    /// A real endpoint, configured from the environment.
    Real(Arc<dyn LlmProvider>),
}

/// Reads `--provider NAME` from the command line, else `BATON_PROVIDER`, else scripted.
pub fn provider_from_args() -> Result<ProviderChoice, Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let from_args = args
        .iter()
        .position(|a| a == "--provider")
        .and_then(|i| args.get(i + 1).cloned());
    let name = from_args
        .or_else(|| std::env::var("BATON_PROVIDER").ok())
        .unwrap_or_else(|| "scripted".to_owned());
    Ok(match name.as_str() {
        "scripted" => ProviderChoice::Scripted,
        "openai" => ProviderChoice::Real(Arc::new(baton::providers::OpenAiProvider::from_env()?)),
        "anthropic" => {
            ProviderChoice::Real(Arc::new(baton::providers::AnthropicProvider::from_env()?))
        }
        other => {
            return Err(
                format!("unknown provider {other:?}: use openai, anthropic or scripted").into(),
            );
        }
    })
}

impl ProviderChoice {
    /// The real provider, or `scripted` when running offline.
    pub fn or_scripted(&self, scripted: impl LlmProvider) -> Arc<dyn LlmProvider> {
        match self {
            Self::Scripted => Arc::new(scripted),
            Self::Real(provider) => Arc::clone(provider),
        }
    }
}
