//! OpenAI-compatible Chat Completions: OpenAI itself and the servers that speak its protocol
//! (vLLM, llama.cpp's server, Ollama, LM Studio, …).
//!
//! Requests go to `POST {base_url}/chat/completions` with `Authorization: Bearer {key}` when a
//! key is configured. Streamed calls ask for the final usage chunk
//! (`stream_options.include_usage`).

mod stream;
mod wire;

use crate::config::{ApiKey, ConfigError, EnvVariables, ProviderConfig, ProviderDefaults};
use crate::http::secret_header;
use crate::provider::{Protocol, Provider};
use crate::settings::ResolvedSettings;
use async_trait::async_trait;
use baton_core::error::LlmError;
use baton_core::llm::{ChatRequest, ChatResponse, ChunkStream, LlmProvider};
use reqwest::header::{AUTHORIZATION, HeaderMap};
use stream::CompletionDecoder;
use wire::{Completion, CompletionRequest, completion_request};

/// OpenAI's API, the base URL used when none is configured.
pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";

/// The model used when neither the configuration nor a request names one.
pub const DEFAULT_MODEL: &str = "gpt-4o-mini";

/// The Chat Completions protocol.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ChatCompletions;

impl Protocol for ChatCompletions {
    const NAME: &'static str = "openai";
    const PATH: &'static str = "/chat/completions";
    const DEFAULTS: ProviderDefaults = ProviderDefaults {
        base_url: DEFAULT_BASE_URL,
        model: DEFAULT_MODEL,
        env: EnvVariables {
            api_key: "OPENAI_API_KEY",
            base_url: "OPENAI_BASE_URL",
            model: "OPENAI_MODEL",
        },
    };

    type Request<'a> = CompletionRequest<'a>;
    type Response = Completion;
    type Decoder = CompletionDecoder;

    fn headers(api_key: Option<&ApiKey>) -> Result<HeaderMap, ConfigError> {
        let mut headers = HeaderMap::new();
        if let Some(key) = api_key {
            headers.insert(
                AUTHORIZATION,
                secret_header(&format!("Bearer {}", key.expose()))?,
            );
        }
        Ok(headers)
    }

    fn request<'a>(
        request: &'a ChatRequest,
        settings: ResolvedSettings<'a>,
        stream: bool,
    ) -> CompletionRequest<'a> {
        completion_request(request, settings, stream)
    }

    fn response(response: Completion) -> Result<ChatResponse, LlmError> {
        response.into_response()
    }
}

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
pub struct OpenAiProvider(Provider<ChatCompletions>);

impl OpenAiProvider {
    /// A provider configured by `config`. Without a base URL it talks to OpenAI, which needs
    /// an API key.
    pub fn new(config: ProviderConfig) -> Result<Self, ConfigError> {
        Provider::new(config).map(Self)
    }

    /// A provider configured by `OPENAI_API_KEY`, `OPENAI_BASE_URL` and `OPENAI_MODEL`.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_env_with(ProviderConfig::new())
    }

    /// A provider configured by `config`, with the environment filling the key, base URL and
    /// model that `config` leaves unset.
    pub fn from_env_with(config: ProviderConfig) -> Result<Self, ConfigError> {
        Provider::from_env_with(config).map(Self)
    }

    /// The model used when a request names none.
    #[must_use]
    pub fn model(&self) -> &str {
        self.0.model()
    }
}

#[async_trait]
impl LlmProvider for OpenAiProvider {
    fn name(&self) -> &str {
        ChatCompletions::NAME
    }

    async fn chat_stream(&self, request: &ChatRequest) -> Result<ChunkStream, LlmError> {
        self.0.chat_stream(request).await
    }

    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, LlmError> {
        self.0.chat(request).await
    }
}
