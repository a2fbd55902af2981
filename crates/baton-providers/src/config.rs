//! How to reach a provider and what to ask it for: the [`ProviderConfig`] builder, the
//! environment variables that fill it, the protocol's defaults for what it leaves unset, and
//! the errors building a provider can report.

use crate::api_key::ApiKey;
use crate::model_defaults::ModelDefaults;
use baton_core::llm::ModelSettings;
use baton_core::redact::SecretError;
use std::time::Duration;

/// How long the HTTP client waits to establish a connection (TCP and TLS) unless
/// [`ProviderConfig::connect_timeout`] says otherwise.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the HTTP client waits between two reads of a response (any bytes: a chunk, a
/// keep-alive ping, an event the decoder skips) unless [`ProviderConfig::read_timeout`] says
/// otherwise: a connection that stalls this long is broken.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(60);

/// How to reach a provider and what to ask it for, built in code; every unset field takes
/// the provider's default (or, with `from_env_with`, the environment's value first).
///
/// The configuration is the transport's: the key, the endpoint, the model and its settings,
/// and the connect timeout. How long a call may take, how often it may be made and what is
/// recorded of it are [layers](crate::layer) around the provider.
///
/// ```
/// use baton_providers::ProviderConfig;
/// use std::time::Duration;
///
/// let config = ProviderConfig::new()
///     .base_url("http://127.0.0.1:8080/v1")
///     .model("qwen2.5-7b-instruct")
///     .connect_timeout(Duration::from_secs(3));
/// assert_eq!(config.model_name(), Some("qwen2.5-7b-instruct"));
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct ProviderConfig {
    pub(crate) api_key: Option<ApiKey>,
    pub(crate) base_url: Option<String>,
    pub(crate) model: Option<String>,
    pub(crate) settings: ModelSettings,
    pub(crate) connect_timeout: Duration,
    pub(crate) read_timeout: Duration,
}

impl Default for ProviderConfig {
    fn default() -> Self {
        Self {
            api_key: None,
            base_url: None,
            model: None,
            settings: ModelSettings::default(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            read_timeout: DEFAULT_READ_TIMEOUT,
        }
    }
}

impl ProviderConfig {
    /// A configuration with every field at the provider's default.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the API key. Required for the providers' own APIs; optional for other base URLs
    /// (a local server usually needs none).
    pub fn api_key(mut self, key: impl Into<ApiKey>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    /// Sets the base URL, for instance `http://127.0.0.1:8080/v1` for a local
    /// OpenAI-compatible server.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }

    /// Sets the model used when a request's settings name none.
    pub fn model(mut self, model: impl Into<String>) -> Self {
        self.model = Some(model.into());
        self
    }

    /// Sets default settings (temperature, token limit, tool choice, …) for the fields a
    /// request's settings leave unset. A model named here takes the place of [`model`](Self::model).
    pub fn settings(mut self, settings: ModelSettings) -> Self {
        self.settings = settings;
        self
    }

    /// Sets how long the HTTP client waits to establish a connection (TCP and TLS):
    /// [`DEFAULT_CONNECT_TIMEOUT`] unless set.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets how long the HTTP client waits between two reads of a response, whatever they
    /// carry (keep-alive pings and events that produce no chunk count):
    /// [`DEFAULT_READ_TIMEOUT`] unless set. It tells a broken connection from a model that
    /// thinks long; how long a call may go without a chunk is the
    /// [`Timeout`](crate::layer::Timeout) layer's.
    pub fn read_timeout(mut self, timeout: Duration) -> Self {
        self.read_timeout = timeout;
        self
    }

    /// The configured default model, if one was set.
    #[must_use]
    pub fn model_name(&self) -> Option<&str> {
        self.model.as_deref()
    }

    /// Fills the unset key, base URL and model from the environment.
    pub(crate) fn or_env(self, variables: &EnvVariables) -> Self {
        self.or_lookup(variables, |name| std::env::var(name).ok())
    }

    /// Fills the unset key, base URL and model from `lookup`; empty values count as unset.
    fn or_lookup(
        mut self,
        variables: &EnvVariables,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Self {
        let read = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());
        if self.api_key.is_none() {
            self.api_key = read(variables.api_key).map(ApiKey::new);
        }
        if self.base_url.is_none() {
            self.base_url = read(variables.base_url);
        }
        if self.model.is_none() {
            self.model = read(variables.model);
        }
        self
    }

    /// The key, base URL and default settings with the provider's defaults applied. A key is
    /// required when talking to the provider's own API.
    pub(crate) fn resolve(
        self,
        provider: &ProviderDefaults,
    ) -> Result<ResolvedConfig, ConfigError> {
        let base_url = self
            .base_url
            .unwrap_or_else(|| provider.base_url.to_owned());
        let own_api = base_url.trim().trim_end_matches('/') == provider.base_url;
        if own_api && self.api_key.is_none() {
            return Err(ConfigError::MissingApiKey {
                variable: provider.env.api_key,
            });
        }
        if let Some(key) = &self.api_key {
            key.check()
                .map_err(|reason| ConfigError::InvalidApiKey { reason })?;
        }
        Ok(ResolvedConfig {
            api_key: self.api_key,
            base_url,
            defaults: ModelDefaults {
                model: self.model.unwrap_or_else(|| provider.model.to_owned()),
                settings: self.settings,
            },
            connect_timeout: self.connect_timeout,
            read_timeout: self.read_timeout,
        })
    }
}

/// The environment variables a provider reads.
#[derive(Debug)]
pub struct EnvVariables {
    pub(crate) api_key: &'static str,
    pub(crate) base_url: &'static str,
    pub(crate) model: &'static str,
}

/// What a provider uses where the configuration says nothing.
#[derive(Debug)]
pub struct ProviderDefaults {
    pub(crate) base_url: &'static str,
    pub(crate) model: &'static str,
    pub(crate) env: EnvVariables,
}

/// A configuration with the provider's defaults applied.
#[derive(Debug)]
pub(crate) struct ResolvedConfig {
    pub(crate) api_key: Option<ApiKey>,
    pub(crate) base_url: String,
    pub(crate) defaults: ModelDefaults,
    pub(crate) connect_timeout: Duration,
    pub(crate) read_timeout: Duration,
}

/// Why a provider could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// No API key was given and the environment variable that holds it is not set.
    #[error("no API key: set {variable} or pass one to the builder")]
    MissingApiKey {
        /// The environment variable that was read.
        variable: &'static str,
    },
    /// The API key is empty or holds a character outside visible ASCII (a space, a control
    /// character, a non-ASCII character): it could not be sent unchanged, and its echo could
    /// not be recognised.
    #[error("the API key cannot be used: {reason}")]
    InvalidApiKey {
        /// What is wrong with it (never the key itself).
        reason: SecretError,
    },
    /// The base URL is not an absolute `http` or `https` URL.
    #[error("invalid base URL {url:?}: {reason}")]
    InvalidBaseUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The HTTP client could not be created (for instance, no TLS backend).
    #[error("could not create the HTTP client: {0}")]
    Client(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_outside_visible_ascii_are_refused_at_build() {
        for key in [
            "key-with\u{a0}nbsp",
            "key with space",
            "ключ-123456",
            "tab\tkey",
        ] {
            let error = ProviderConfig::new()
                .api_key(key)
                .resolve(&DEFAULTS)
                .unwrap_err();
            assert!(
                matches!(error, ConfigError::InvalidApiKey { .. }),
                "{key:?}: {error}"
            );
            assert!(!error.to_string().contains(key), "{error}");
        }
    }

    const VARIABLES: EnvVariables = EnvVariables {
        api_key: "TEST_API_KEY",
        base_url: "TEST_BASE_URL",
        model: "TEST_MODEL",
    };

    const DEFAULTS: ProviderDefaults = ProviderDefaults {
        base_url: "https://api.example.invalid/v1",
        model: "default-model",
        env: VARIABLES,
    };

    fn environment(name: &str) -> Option<String> {
        match name {
            "TEST_API_KEY" => Some("sk-from-env".into()),
            "TEST_BASE_URL" => Some("http://127.0.0.1:8080/v1".into()),
            "TEST_MODEL" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn the_environment_fills_only_what_code_left_unset() {
        let config = ProviderConfig::new()
            .base_url("http://127.0.0.1:9999/v1")
            .or_lookup(&VARIABLES, environment)
            .resolve(&DEFAULTS)
            .unwrap();
        assert_eq!(config.base_url, "http://127.0.0.1:9999/v1");
        assert_eq!(
            config.api_key.as_ref().map(ApiKey::expose),
            Some("sk-from-env")
        );
        // An empty variable counts as unset, so the provider's default model applies.
        assert_eq!(config.defaults.model, "default-model");
    }

    #[test]
    fn the_providers_own_api_needs_a_key_and_others_do_not() {
        let missing = ProviderConfig::new()
            .or_lookup(&VARIABLES, |_| None)
            .resolve(&DEFAULTS);
        assert_eq!(
            missing.unwrap_err(),
            ConfigError::MissingApiKey {
                variable: "TEST_API_KEY"
            }
        );
        let local = ProviderConfig::new()
            .base_url("http://127.0.0.1:8080/v1")
            .model("local-model")
            .resolve(&DEFAULTS)
            .unwrap();
        assert!(local.api_key.is_none());
        assert_eq!(local.defaults.model, "local-model");
    }
}
