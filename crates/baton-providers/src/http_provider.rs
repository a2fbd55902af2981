//! What a provider does whatever protocol it speaks: build its HTTP client from a
//! [`ProviderConfig`], resolve a request's settings against the defaults, map the request to
//! the protocol's body, and send it — streamed or not — inside a `provider_call` span.
//!
//! A [`Protocol`] supplies only the parts that differ (name, endpoint, headers, defaults, the
//! request mapping, the stream decoder and the response conversion); [`HttpProvider`] is the
//! one implementation of the rest, and `OpenAiProvider` and `AnthropicProvider` are it with
//! the default layering.

use crate::api_key::ApiKey;
use crate::config::{ConfigError, ProviderConfig, ProviderDefaults};
use crate::http::{HttpClient, endpoint};
use crate::layer::{Layer, TimeoutProvider};
use crate::model_defaults::{ModelDefaults, ResolvedSettings};
use crate::sse::EventDecoder;
use async_trait::async_trait;
use baton_core::error::LlmError;
use baton_core::llm::{ChatRequest, ChatResponse, ChunkStream, LlmProvider};
use reqwest::header::HeaderMap;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::marker::PhantomData;
use tracing::Instrument;

/// A wire protocol an [`HttpProvider`] speaks: `openai::ChatCompletions` (OpenAI-compatible)
/// or `anthropic::Messages` (Anthropic), each behind its cargo feature.
///
/// The protocols are this crate's: the trait is sealed.
pub trait Protocol: sealed::Wire {}

impl<T: sealed::Wire> Protocol for T {}

pub(crate) mod sealed {
    use super::*;

    /// What an [`HttpProvider`] needs to know to speak one protocol. Public in name only, so
    /// that [`Protocol`] can require it; nothing outside the crate can name it.
    pub trait Wire: Send + Sync + 'static {
        /// The provider's name, as [`LlmProvider::name`] and the `provider` field of the
        /// call's span give it.
        const NAME: &'static str;
        /// The endpoint's path below the base URL.
        const PATH: &'static str;
        /// The base URL, model and environment variables used where the configuration is
        /// silent.
        const DEFAULTS: ProviderDefaults;

        /// The JSON body of a request.
        type Request<'a>: Serialize + Send + Sync;
        /// The JSON body of a non-streaming response.
        type Response: DeserializeOwned + Send;
        /// The reader of a streamed response's events.
        type Decoder: EventDecoder + Default;

        /// The headers sent with every request: authentication with `api_key`, API versions.
        fn headers(api_key: Option<&ApiKey>) -> Result<HeaderMap, ConfigError>;

        /// The body for `request`, streamed or not: the one mapping of Baton's messages to
        /// the protocol, which both calls send.
        fn request<'a>(
            request: &'a ChatRequest,
            settings: ResolvedSettings<'a>,
            stream: bool,
        ) -> Self::Request<'a>;

        /// A non-streaming response as a [`ChatResponse`].
        fn response(response: Self::Response) -> Result<ChatResponse, LlmError>;
    }
}

/// A provider speaking protocol `P` over HTTP, without layers: the HTTP client's connect
/// timeout is its only timeout.
///
/// `OpenAiProvider` and `AnthropicProvider` are this provider inside
/// [`Timeout::default()`](crate::layer::Timeout); build an `HttpProvider` to choose the
/// layers yourself (see [`layer`](crate::layer)). Cloning is cheap and clones share the
/// connection pool.
///
/// ```
/// use baton_providers::layer::{ProviderExt, Timeout};
/// use baton_providers::{HttpProvider, ProviderConfig, openai::ChatCompletions};
/// use std::time::Duration;
///
/// let config = ProviderConfig::new().base_url("http://127.0.0.1:8080/v1");
/// let provider = HttpProvider::<ChatCompletions>::new(config)?
///     .layer(Timeout::new().between_chunks(Duration::from_secs(20)));
/// assert_eq!(provider.get_ref().model(), "gpt-4o-mini");
/// # Ok::<(), baton_providers::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct HttpProvider<P> {
    http: HttpClient,
    defaults: ModelDefaults,
    protocol: PhantomData<P>,
}

impl<P: Protocol> HttpProvider<P> {
    /// A provider configured by `config`. Without a base URL it talks to the protocol's own
    /// API, which needs an API key.
    pub fn new(config: ProviderConfig) -> Result<Self, ConfigError> {
        let config = config.resolve(&P::DEFAULTS)?;
        let headers = P::headers(config.api_key.as_ref())?;
        let url = endpoint(&config.base_url, P::PATH)?;
        Ok(Self {
            http: HttpClient::new(
                url,
                headers,
                config.connect_timeout,
                config.read_timeout,
                config.api_key,
            )?,
            defaults: config.defaults,
            protocol: PhantomData,
        })
    }

    /// A provider configured by `config`, with the protocol's environment variables
    /// (`OPENAI_API_KEY`, `OPENAI_BASE_URL`, `OPENAI_MODEL`; `ANTHROPIC_…` likewise) filling
    /// the key, base URL and model that `config` leaves unset.
    pub fn from_env_with(config: ProviderConfig) -> Result<Self, ConfigError> {
        Self::new(config.or_env(&P::DEFAULTS.env))
    }

    /// The model used when a request names none.
    #[must_use]
    pub fn model(&self) -> &str {
        &self.defaults.model
    }
}

#[async_trait]
impl<P: Protocol> LlmProvider for HttpProvider<P> {
    fn name(&self) -> &str {
        P::NAME
    }

    /// Sends `request` streamed and decodes the chunks of the answer.
    async fn chat_stream(&self, request: &ChatRequest) -> Result<ChunkStream, LlmError> {
        let settings = self.defaults.resolve(&request.settings);
        let span = call_span::<P>(settings, true);
        let body = P::request(request, settings, true);
        self.http
            .stream(&body, P::Decoder::default())
            .instrument(span)
            .await
    }

    /// Sends `request` and converts the whole answer.
    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, LlmError> {
        let settings = self.defaults.resolve(&request.settings);
        let span = call_span::<P>(settings, false);
        let body = P::request(request, settings, false);
        let response: P::Response = self.http.complete(&body).instrument(span).await?;
        P::response(response).map_err(LlmError::redacted)
    }
}

/// The default layering: `OpenAiProvider` and `AnthropicProvider` are an [`HttpProvider`]
/// inside a [`Timeout`](crate::layer::Timeout) with its defaults (for other timeouts, wrap an
/// [`HttpProvider`] in a `Timeout` of your own).
impl<P: Protocol> TimeoutProvider<HttpProvider<P>> {
    /// A provider configured by `config`, with the default layering. Without a base URL it
    /// talks to the protocol's own API, which needs an API key.
    pub fn new(config: ProviderConfig) -> Result<Self, ConfigError> {
        let timeout = crate::layer::Timeout::default();
        HttpProvider::new(config).map(|provider| timeout.layer(provider))
    }

    /// A provider configured by the protocol's environment variables (`OPENAI_API_KEY`,
    /// `OPENAI_BASE_URL`, `OPENAI_MODEL`; `ANTHROPIC_…` likewise), with the default layering.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_env_with(ProviderConfig::new())
    }

    /// A provider configured by `config`, with the environment filling the key, base URL and
    /// model that `config` leaves unset, and with the default layering.
    pub fn from_env_with(config: ProviderConfig) -> Result<Self, ConfigError> {
        Self::new(config.or_env(&P::DEFAULTS.env))
    }

    /// The model used when a request names none.
    #[must_use]
    pub fn model(&self) -> &str {
        self.get_ref().model()
    }
}

/// The span of one call to the provider.
fn call_span<P: Protocol>(settings: ResolvedSettings<'_>, stream: bool) -> tracing::Span {
    tracing::debug_span!(
        "provider_call",
        provider = P::NAME,
        model = settings.model,
        stream
    )
}
