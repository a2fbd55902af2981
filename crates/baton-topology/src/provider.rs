//! A provider as the file defines it, and the client made from it.

use crate::error::{Problem, ProblemKind};
use crate::raw::ProviderKind;
use crate::source::Source;
#[cfg(any(feature = "openai", feature = "anthropic"))]
use baton_core::llm::LlmProvider;
use std::ops::Range;
#[cfg(any(feature = "openai", feature = "anthropic"))]
use std::sync::Arc;
use std::time::Duration;

/// A provider as the file defines it; its key is still an environment variable's name.
#[derive(Debug, Clone)]
pub(crate) struct ProviderDef {
    pub(crate) name: String,
    #[cfg_attr(not(any(feature = "openai", feature = "anthropic")), allow(dead_code))]
    pub(crate) span: Range<usize>,
    pub(crate) kind: ProviderKind,
    pub(crate) kind_span: Range<usize>,
    #[cfg_attr(not(any(feature = "openai", feature = "anthropic")), allow(dead_code))]
    pub(crate) base_url: Option<String>,
    #[cfg_attr(not(any(feature = "openai", feature = "anthropic")), allow(dead_code))]
    pub(crate) api_key_env: Option<(Range<usize>, String)>,
    #[cfg_attr(not(any(feature = "openai", feature = "anthropic")), allow(dead_code))]
    pub(crate) model: Option<String>,
    #[cfg_attr(not(any(feature = "openai", feature = "anthropic")), allow(dead_code))]
    pub(crate) timeouts: Timeouts,
    #[cfg_attr(not(feature = "scripted"), allow(dead_code))]
    pub(crate) chunk_delay: Duration,
}

/// The timeouts a provider's table sets; the others keep the provider's defaults.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Timeouts {
    pub(crate) connect: Option<Duration>,
    pub(crate) first_byte: Option<Duration>,
    pub(crate) idle: Option<Duration>,
    pub(crate) response: Option<Duration>,
}

/// Reads an environment variable: its value, unless it is unset or blank.
pub(crate) type KeyEnv<'a> = &'a dyn Fn(&str) -> Option<String>;

impl ProviderDef {
    /// The problem of a provider whose kind this build leaves out, at its `kind`.
    pub(crate) fn left_out(&self, source: &Source) -> Option<Problem> {
        let feature = self.kind.missing_feature()?;
        Some(source.problem(
            &self.kind_span,
            ProblemKind::FeatureDisabled {
                what: format!("provider {:?} of kind {}", self.name, self.kind.name()),
                feature,
            },
        ))
    }

    /// The client of a remote provider (any kind but `scripted`), its key read through `env`.
    #[cfg(any(feature = "openai", feature = "anthropic"))]
    pub(crate) fn remote(
        &self,
        source: &Source,
        env: KeyEnv<'_>,
    ) -> Result<Arc<dyn LlmProvider>, Problem> {
        use baton_providers::layer::ProviderExt;
        use baton_providers::{ConfigError, HttpProvider, ProviderConfig};
        let owner = format!("provider {:?}", self.name);
        let mut config = self.timeouts.configure(ProviderConfig::new());
        let timeout = self.timeouts.layer();
        if let Some((span, variable)) = &self.api_key_env {
            let Some(key) = env(variable) else {
                return Err(source.problem(
                    span,
                    ProblemKind::MissingEnv {
                        owner,
                        what: "API key",
                        variable: variable.clone(),
                    },
                ));
            };
            config = config.api_key(key);
        }
        if let Some(url) = &self.base_url {
            config = config.base_url(url.clone());
        }
        if let Some(model) = &self.model {
            config = config.model(model.clone());
        }
        let built: Result<Arc<dyn LlmProvider>, ConfigError> = match self.kind {
            #[cfg(feature = "openai")]
            ProviderKind::Openai => {
                HttpProvider::<baton_providers::openai::ChatCompletions>::new(config)
                    .map(|p| Arc::new(p.layer(timeout)) as _)
            }
            #[cfg(feature = "anthropic")]
            ProviderKind::Anthropic => {
                HttpProvider::<baton_providers::anthropic::Messages>::new(config)
                    .map(|p| Arc::new(p.layer(timeout)) as _)
            }
            // Scripted models are made per agent; kinds this build leaves out are refused
            // before any client is made.
            _ => Err(ConfigError::Client(format!(
                "a provider of kind {} has no client in this build",
                self.kind.name()
            ))),
        };
        built.map_err(|error| {
            let kind = match error {
                ConfigError::MissingApiKey { variable } => ProblemKind::Missing {
                    owner,
                    field: format!(
                        "api_key_env to talk to the provider's own API (e.g. api_key_env = {variable:?})"
                    ),
                },
                other => ProblemKind::Provider {
                    provider: self.name.clone(),
                    message: other.to_string(),
                },
            };
            source.problem(&self.span, kind)
        })
    }
}

impl Timeouts {
    /// The HTTP client's timeouts: `connect`, and `idle` (between two reads of a response,
    /// whatever they carry), with the client's defaults for those the file leaves out.
    #[cfg(any(feature = "openai", feature = "anthropic"))]
    fn configure(
        self,
        mut config: baton_providers::ProviderConfig,
    ) -> baton_providers::ProviderConfig {
        if let Some(t) = self.connect {
            config = config.connect_timeout(t);
        }
        if let Some(t) = self.idle {
            config = config.read_timeout(t);
        }
        config
    }

    /// The timeout layer around the provider: `first_byte` (to the first chunk) and
    /// `response` (a whole non-streaming call), with the layer's defaults for the others.
    #[cfg(any(feature = "openai", feature = "anthropic"))]
    fn layer(self) -> baton_providers::layer::Timeout {
        let mut timeout = baton_providers::layer::Timeout::default();
        if let Some(t) = self.first_byte {
            timeout = timeout.first_chunk(t);
        }
        if let Some(t) = self.response {
            timeout = timeout.response(t);
        }
        timeout
    }
}
