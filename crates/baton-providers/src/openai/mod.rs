//! OpenAI-compatible Chat Completions: OpenAI itself and the servers that speak its protocol
//! (vLLM, llama.cpp's server, Ollama, LM Studio, …).
//!
//! Requests go to `POST {base_url}/chat/completions` with `Authorization: Bearer {key}` when a
//! key is configured. Streamed calls ask for the final usage chunk
//! (`stream_options.include_usage`).

mod stream;
mod wire;

use crate::config::{ConfigError, EnvVariables, ProviderConfig, ProviderDefaults};
use crate::http::{HttpClient, endpoint, secret_header};
use crate::settings::Defaults;
use async_trait::async_trait;
use baton_core::error::LlmError;
use baton_core::llm::{ChatRequest, ChatResponse, ChunkStream, LlmProvider};
use reqwest::header::{AUTHORIZATION, HeaderMap};
use stream::CompletionDecoder;
use tracing::Instrument;
use wire::{Completion, completion_request};

/// OpenAI's API, the base URL used when none is configured.
pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";

/// The model used when neither the configuration nor a request names one.
pub const DEFAULT_MODEL: &str = "gpt-4o-mini";

const DEFAULTS: ProviderDefaults = ProviderDefaults {
    base_url: DEFAULT_BASE_URL,
    model: DEFAULT_MODEL,
    env: EnvVariables {
        api_key: "OPENAI_API_KEY",
        base_url: "OPENAI_BASE_URL",
        model: "OPENAI_MODEL",
    },
};

/// A provider speaking the OpenAI Chat Completions protocol.
///
/// Cloning is cheap and clones share the connection pool.
///
/// ```
/// use baton_providers::{OpenAiProvider, ProviderConfig};
///
/// // A local llama.cpp or vLLM server needs no key.
/// let provider = OpenAiProvider::new(
///     ProviderConfig::new()
///         .base_url("http://127.0.0.1:8080/v1")
///         .model("qwen2.5-7b-instruct"),
/// )
/// .unwrap();
/// assert_eq!(provider.model(), "qwen2.5-7b-instruct");
/// ```
#[derive(Debug, Clone)]
pub struct OpenAiProvider {
    http: HttpClient,
    defaults: Defaults,
}

impl OpenAiProvider {
    /// A provider configured by `config`. Without a base URL it talks to OpenAI, which needs
    /// an API key.
    pub fn new(config: ProviderConfig) -> Result<Self, ConfigError> {
        let config = config.resolve(&DEFAULTS)?;
        let mut headers = HeaderMap::new();
        if let Some(key) = &config.api_key {
            headers.insert(
                AUTHORIZATION,
                secret_header(&format!("Bearer {}", key.expose()))?,
            );
        }
        let url = endpoint(&config.base_url, "/chat/completions")?;
        Ok(Self {
            http: HttpClient::new(url, headers, config.timeouts, config.api_key)?,
            defaults: config.defaults,
        })
    }

    /// A provider configured by `OPENAI_API_KEY`, `OPENAI_BASE_URL` and `OPENAI_MODEL`.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_env_with(ProviderConfig::new())
    }

    /// A provider configured by `config`, with the environment filling the key, base URL and
    /// model that `config` leaves unset.
    pub fn from_env_with(config: ProviderConfig) -> Result<Self, ConfigError> {
        Self::new(config.or_env(&DEFAULTS.env))
    }

    /// The model used when a request names none.
    #[must_use]
    pub fn model(&self) -> &str {
        &self.defaults.model
    }
}

#[async_trait]
impl LlmProvider for OpenAiProvider {
    fn name(&self) -> &str {
        "openai"
    }

    async fn chat_stream(&self, request: &ChatRequest) -> Result<ChunkStream, LlmError> {
        let settings = self.defaults.resolve(&request.settings);
        let span = tracing::debug_span!(
            "provider_call",
            provider = "openai",
            model = settings.model,
            stream = true
        );
        let body = completion_request(request, settings, true);
        self.http
            .stream(&body, CompletionDecoder::default())
            .instrument(span)
            .await
    }

    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, LlmError> {
        let settings = self.defaults.resolve(&request.settings);
        let span = tracing::debug_span!(
            "provider_call",
            provider = "openai",
            model = settings.model,
            stream = false
        );
        let body = completion_request(request, settings, false);
        let completion: Completion = self.http.complete(&body).instrument(span).await?;
        completion.into_response()
    }
}
