//! OpenAI-compatible Chat Completions: OpenAI itself and the servers that speak its protocol
//! (vLLM, llama.cpp's server, Ollama, LM Studio, …).
//!
//! Requests go to `POST {base_url}/chat/completions` with `Authorization: Bearer {key}` when a
//! key is configured. Streamed calls ask for the final usage chunk
//! (`stream_options.include_usage`).

mod stream;
mod wire;

use crate::HttpProvider;
use crate::api_key::ApiKey;
use crate::config::{ConfigError, EnvVariables, ProviderDefaults};
use crate::http::secret_header;
use crate::http_provider::sealed::Wire;
use crate::layer::TimeoutProvider;
use crate::model_defaults::ResolvedSettings;
use baton_core::error::LlmError;
use baton_core::llm::{ChatRequest, ChatResponse};
use reqwest::header::{AUTHORIZATION, HeaderMap};
use stream::CompletionDecoder;
use wire::{Completion, CompletionRequest, completion_request};

/// OpenAI's API, the base URL used when none is configured.
pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";

/// The model used when neither the configuration nor a request names one.
pub const DEFAULT_MODEL: &str = "gpt-4o-mini";

/// The Chat Completions protocol, as [`HttpProvider`] speaks it: a type
/// that names the protocol, never a value.
#[derive(Debug, Clone, Copy)]
pub struct ChatCompletions(());

impl Wire for ChatCompletions {
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

/// A provider speaking the OpenAI Chat Completions protocol, with the default layering: an
/// [`HttpProvider`] inside [`Timeout::default()`](crate::layer::Timeout).
/// For other layers, build the [`HttpProvider`] and wrap it yourself.
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
pub type OpenAiProvider = TimeoutProvider<HttpProvider<ChatCompletions>>;
