//! Configuration shared by every provider: the API key, the timeouts, and the errors a
//! builder can report.

use crate::settings::Defaults;
use baton_core::llm::ModelSettings;
use baton_core::redact::{Secret, SecretError};
use std::fmt;
use std::time::Duration;

/// An API key. It never appears in `Debug` output, logs or errors, and its memory is wiped
/// when it is dropped.
///
/// The key is a [`Secret`]: while it lives, [`baton_core::redact`] removes it from every
/// text Baton writes, so a server echoing it back in an error cannot make it leak. A key
/// outside visible ASCII (a stray space, a non-breaking space, a character from a copied
/// web page) is refused when the provider is built: [`ConfigError::InvalidApiKey`].
///
/// ```
/// use baton_providers::ApiKey;
///
/// let key = ApiKey::new("sk-very-secret");
/// assert_eq!(format!("{key:?}"), "ApiKey([redacted])");
/// ```
#[derive(Clone)]
pub struct ApiKey(Secret);

impl ApiKey {
    /// Wraps `key`. It is checked when a provider is built with it.
    pub fn new(key: impl Into<String>) -> Self {
        Self(Secret::new_unchecked(key))
    }

    /// The key itself, for the one place that puts it in a request header.
    pub(crate) fn expose(&self) -> &str {
        self.0.expose()
    }

    /// Whether the key can be sent as is.
    fn check(&self) -> Result<(), SecretError> {
        self.0.check()
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey([redacted])")
    }
}

impl From<String> for ApiKey {
    fn from(key: String) -> Self {
        Self::new(key)
    }
}

impl From<&str> for ApiKey {
    fn from(key: &str) -> Self {
        Self::new(key)
    }
}

/// How long a provider call may take, phase by phase.
///
/// A streamed call must connect within [`connect`](Self::connect), receive the response
/// headers within [`first_byte`](Self::first_byte) of sending the request, and then never wait
/// longer than [`idle`](Self::idle) for the next event. A non-streaming call must deliver the
/// whole response within [`response`](Self::response), since a model writes the whole answer
/// before the first byte of it is sent.
///
/// ```
/// use baton_providers::Timeouts;
/// use std::time::Duration;
///
/// let timeouts = Timeouts::default().with_idle(Duration::from_secs(30));
/// assert_eq!(timeouts.idle, Duration::from_secs(30));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Timeouts {
    /// Establishing the TCP (and TLS) connection.
    pub connect: Duration,
    /// From sending a streamed request to receiving the response headers.
    pub first_byte: Duration,
    /// Between two reads of a streamed response (keep-alive pings count as reads).
    pub idle: Duration,
    /// A whole non-streaming call, from sending the request to the end of the response.
    pub response: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(10),
            first_byte: Duration::from_secs(60),
            idle: Duration::from_secs(60),
            response: Duration::from_secs(600),
        }
    }
}

impl Timeouts {
    /// Sets [`connect`](Self::connect).
    #[must_use]
    pub fn with_connect(mut self, timeout: Duration) -> Self {
        self.connect = timeout;
        self
    }

    /// Sets [`first_byte`](Self::first_byte).
    #[must_use]
    pub fn with_first_byte(mut self, timeout: Duration) -> Self {
        self.first_byte = timeout;
        self
    }

    /// Sets [`idle`](Self::idle).
    #[must_use]
    pub fn with_idle(mut self, timeout: Duration) -> Self {
        self.idle = timeout;
        self
    }

    /// Sets [`response`](Self::response).
    #[must_use]
    pub fn with_response(mut self, timeout: Duration) -> Self {
        self.response = timeout;
        self
    }
}

/// How to reach a provider and what to ask it for, built in code; every unset field takes
/// the provider's default (or, with `from_env_with`, the environment's value first).
///
/// ```
/// use baton_providers::{ProviderConfig, Timeouts};
/// use std::time::Duration;
///
/// let config = ProviderConfig::new()
///     .base_url("http://127.0.0.1:8080/v1")
///     .model("qwen2.5-7b-instruct")
///     .timeouts(Timeouts::default().with_idle(Duration::from_secs(20)));
/// assert_eq!(config.model_name(), Some("qwen2.5-7b-instruct"));
/// ```
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct ProviderConfig {
    pub(crate) api_key: Option<ApiKey>,
    pub(crate) base_url: Option<String>,
    pub(crate) model: Option<String>,
    pub(crate) settings: ModelSettings,
    pub(crate) timeouts: Timeouts,
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

    /// Sets the timeouts.
    pub fn timeouts(mut self, timeouts: Timeouts) -> Self {
        self.timeouts = timeouts;
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
            defaults: Defaults {
                model: self.model.unwrap_or_else(|| provider.model.to_owned()),
                settings: self.settings,
            },
            timeouts: self.timeouts,
        })
    }
}

/// The environment variables a provider reads.
#[derive(Debug)]
pub(crate) struct EnvVariables {
    pub(crate) api_key: &'static str,
    pub(crate) base_url: &'static str,
    pub(crate) model: &'static str,
}

/// What a provider uses where the configuration says nothing.
#[derive(Debug)]
pub(crate) struct ProviderDefaults {
    pub(crate) base_url: &'static str,
    pub(crate) model: &'static str,
    pub(crate) env: EnvVariables,
}

/// A configuration with the provider's defaults applied.
#[derive(Debug)]
pub(crate) struct ResolvedConfig {
    pub(crate) api_key: Option<ApiKey>,
    pub(crate) base_url: String,
    pub(crate) defaults: Defaults,
    pub(crate) timeouts: Timeouts,
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
    fn api_key_is_redacted_in_debug_and_text() {
        let key = ApiKey::new("live-key-123456");
        assert_eq!(format!("{key:?}"), "ApiKey([redacted])");
        assert_eq!(
            baton_core::redact::redact("Incorrect API key provided: live-key-123456."),
            "Incorrect API key provided: [redacted]."
        );
    }

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

    #[test]
    fn timeouts_builders_set_each_phase() {
        let timeouts = Timeouts::default()
            .with_connect(Duration::from_secs(1))
            .with_first_byte(Duration::from_secs(2))
            .with_idle(Duration::from_secs(3))
            .with_response(Duration::from_secs(4));
        assert_eq!(
            timeouts,
            Timeouts {
                connect: Duration::from_secs(1),
                first_byte: Duration::from_secs(2),
                idle: Duration::from_secs(3),
                response: Duration::from_secs(4),
            }
        );
    }
}
