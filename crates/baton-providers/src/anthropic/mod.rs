//! Anthropic Messages.
//!
//! Requests go to `POST {base_url}/v1/messages` with the `x-api-key` and `anthropic-version`
//! headers. `max_tokens`, which the API requires, defaults to [`DEFAULT_MAX_TOKENS`].

mod stream;
mod wire;

pub use wire::DEFAULT_MAX_TOKENS;

use crate::HttpProvider;
use crate::api_key::ApiKey;
use crate::config::{ConfigError, EnvVariables, ProviderDefaults};
use crate::http::secret_header;
use crate::http_provider::sealed::Wire;
use crate::layer::TimeoutProvider;
use crate::model_defaults::ResolvedSettings;
use baton_core::error::LlmError;
use baton_core::llm::{ChatRequest, ChatResponse};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use stream::MessageDecoder;
use wire::{MessagesRequest, MessagesResponse, messages_request};

/// Anthropic's API, the base URL used when none is configured (without `/v1`, as in
/// Anthropic's own clients).
pub const DEFAULT_BASE_URL: &str = "https://api.anthropic.com";

/// The model used when neither the configuration nor a request names one.
pub const DEFAULT_MODEL: &str = "claude-sonnet-4-5";

/// The `anthropic-version` header sent with every request.
pub const API_VERSION: &str = "2023-06-01";

/// The Messages protocol, as [`HttpProvider`] speaks it: a type that
/// names the protocol, never a value.
#[derive(Debug, Clone, Copy)]
pub struct Messages(());

impl Wire for Messages {
    const NAME: &'static str = "anthropic";
    const PATH: &'static str = "/v1/messages";
    const DEFAULTS: ProviderDefaults = ProviderDefaults {
        base_url: DEFAULT_BASE_URL,
        model: DEFAULT_MODEL,
        env: EnvVariables {
            api_key: "ANTHROPIC_API_KEY",
            base_url: "ANTHROPIC_BASE_URL",
            model: "ANTHROPIC_MODEL",
        },
    };

    type Request<'a> = MessagesRequest<'a>;
    type Response = MessagesResponse;
    type Decoder = MessageDecoder;

    fn headers(api_key: Option<&ApiKey>) -> Result<HeaderMap, ConfigError> {
        let mut headers = HeaderMap::new();
        headers.insert(
            HeaderName::from_static("anthropic-version"),
            HeaderValue::from_static(API_VERSION),
        );
        if let Some(key) = api_key {
            headers.insert(
                HeaderName::from_static("x-api-key"),
                secret_header(key.expose())?,
            );
        }
        Ok(headers)
    }

    fn request<'a>(
        request: &'a ChatRequest,
        settings: ResolvedSettings<'a>,
        stream: bool,
    ) -> MessagesRequest<'a> {
        messages_request(request, settings, stream)
    }

    fn response(response: MessagesResponse) -> Result<ChatResponse, LlmError> {
        response.into_response()
    }
}

/// A provider speaking the Anthropic Messages protocol, with the default layering: an
/// [`HttpProvider`] inside [`Timeout::default()`](crate::layer::Timeout).
/// For other layers, build the [`HttpProvider`] and wrap it yourself.
///
/// Cloning is cheap and clones share the connection pool.
///
/// ```
/// use baton_providers::{AnthropicProvider, ConfigError, ProviderConfig};
///
/// let provider = AnthropicProvider::new(ProviderConfig::new().api_key("sk-ant-example")).unwrap();
/// assert_eq!(provider.model(), "claude-sonnet-4-5");
/// // Anthropic's own API needs a key.
/// assert!(matches!(
///     AnthropicProvider::new(ProviderConfig::new()),
///     Err(ConfigError::MissingApiKey { variable: "ANTHROPIC_API_KEY" })
/// ));
/// ```
pub type AnthropicProvider = TimeoutProvider<HttpProvider<Messages>>;
