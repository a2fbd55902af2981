//! What a provider does whatever protocol it speaks: build its HTTP client from a
//! [`ProviderConfig`], resolve a request's settings against the defaults, map the request to
//! the protocol's body, and send it — streamed or not — inside a `provider_call` span.
//!
//! A [`Protocol`] supplies only the parts that differ (name, endpoint, headers, defaults, the
//! request mapping, the stream decoder and the response conversion); [`Provider`] is the one
//! implementation of the rest, which each public provider wraps.

use crate::config::{ApiKey, ConfigError, ProviderConfig, ProviderDefaults};
use crate::http::{HttpClient, endpoint};
use crate::settings::{Defaults, ResolvedSettings};
use crate::sse::EventDecoder;
use baton_core::error::LlmError;
use baton_core::llm::{ChatRequest, ChatResponse, ChunkStream};
use reqwest::header::HeaderMap;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::marker::PhantomData;
use tracing::Instrument;

/// One wire protocol: what a [`Provider`] needs to know to speak it.
pub(crate) trait Protocol: 'static {
    /// The provider's name, as [`LlmProvider::name`](baton_core::llm::LlmProvider::name) and
    /// the `provider` field of the call's span give it.
    const NAME: &'static str;
    /// The endpoint's path below the base URL.
    const PATH: &'static str;
    /// The base URL, model and environment variables used where the configuration is silent.
    const DEFAULTS: ProviderDefaults;

    /// The JSON body of a request.
    type Request<'a>: Serialize + Send + Sync;
    /// The JSON body of a non-streaming response.
    type Response: DeserializeOwned + Send;
    /// The reader of a streamed response's events.
    type Decoder: EventDecoder + Default;

    /// The headers sent with every request: authentication with `api_key`, API versions.
    fn headers(api_key: Option<&ApiKey>) -> Result<HeaderMap, ConfigError>;

    /// The body for `request`, streamed or not: the one mapping of Baton's messages to the
    /// protocol, which both calls send.
    fn request<'a>(
        request: &'a ChatRequest,
        settings: ResolvedSettings<'a>,
        stream: bool,
    ) -> Self::Request<'a>;

    /// A non-streaming response as a [`ChatResponse`].
    fn response(response: Self::Response) -> Result<ChatResponse, LlmError>;
}

/// A provider speaking protocol `P`. Cloning is cheap and clones share the connection pool.
#[derive(Debug, Clone)]
pub(crate) struct Provider<P> {
    http: HttpClient,
    defaults: Defaults,
    protocol: PhantomData<P>,
}

impl<P: Protocol> Provider<P> {
    /// A provider configured by `config`. Without a base URL it talks to the protocol's own
    /// API, which needs an API key.
    pub(crate) fn new(config: ProviderConfig) -> Result<Self, ConfigError> {
        let config = config.resolve(&P::DEFAULTS)?;
        let headers = P::headers(config.api_key.as_ref())?;
        let url = endpoint(&config.base_url, P::PATH)?;
        Ok(Self {
            http: HttpClient::new(url, headers, config.timeouts, config.api_key)?,
            defaults: config.defaults,
            protocol: PhantomData,
        })
    }

    /// A provider configured by `config`, with the protocol's environment variables filling
    /// the key, base URL and model that `config` leaves unset.
    pub(crate) fn from_env_with(config: ProviderConfig) -> Result<Self, ConfigError> {
        Self::new(config.or_env(&P::DEFAULTS.env))
    }

    /// The model used when a request names none.
    pub(crate) fn model(&self) -> &str {
        &self.defaults.model
    }

    /// Sends `request` streamed and decodes the chunks of the answer.
    pub(crate) async fn chat_stream(&self, request: &ChatRequest) -> Result<ChunkStream, LlmError> {
        let settings = self.defaults.resolve(&request.settings);
        let span = call_span::<P>(settings, true);
        let body = P::request(request, settings, true);
        self.http
            .stream(&body, P::Decoder::default())
            .instrument(span)
            .await
    }

    /// Sends `request` and converts the whole answer.
    pub(crate) async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, LlmError> {
        let settings = self.defaults.resolve(&request.settings);
        let span = call_span::<P>(settings, false);
        let body = P::request(request, settings, false);
        let response: P::Response = self.http.complete(&body).instrument(span).await?;
        P::response(response).map_err(LlmError::redacted)
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
