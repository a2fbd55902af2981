//! The settings a request is sent with: the request's own, falling back field by field to the
//! provider's defaults.

use baton_core::llm::{ModelSettings, ToolChoice};
use serde::Serialize;

/// A request's settings after the provider's defaults filled the gaps.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ResolvedSettings<'a> {
    pub(crate) model: &'a str,
    pub(crate) temperature: Option<f32>,
    pub(crate) top_p: Option<f32>,
    pub(crate) max_tokens: Option<u32>,
    pub(crate) tool_choice: Option<&'a ToolChoice>,
    pub(crate) parallel_tool_calls: Option<bool>,
}

impl ResolvedSettings<'_> {
    /// The sampling parameters, as both protocols send them.
    pub(crate) fn sampling(&self) -> Sampling {
        Sampling {
            temperature: self.temperature,
            top_p: self.top_p,
        }
    }
}

/// The sampling parameters of a request body, the same in every protocol: flattened into it,
/// each left out when unset.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub(crate) struct Sampling {
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f32>,
}

/// The provider-side defaults: a model name and settings for the fields a request leaves
/// unset.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ModelDefaults {
    pub(crate) model: String,
    pub(crate) settings: ModelSettings,
}

impl ModelDefaults {
    /// `request` with every unset field taken from the defaults. The model is the request's,
    /// else the default settings', else the default model.
    pub(crate) fn resolve<'a>(&'a self, request: &'a ModelSettings) -> ResolvedSettings<'a> {
        let defaults = &self.settings;
        ResolvedSettings {
            model: request
                .model
                .as_deref()
                .or(defaults.model.as_deref())
                .unwrap_or(&self.model),
            temperature: request.temperature.or(defaults.temperature),
            top_p: request.top_p.or(defaults.top_p),
            max_tokens: request.max_tokens.or(defaults.max_tokens),
            tool_choice: request
                .tool_choice
                .as_ref()
                .or(defaults.tool_choice.as_ref()),
            parallel_tool_calls: request.parallel_tool_calls.or(defaults.parallel_tool_calls),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_settings_win_and_defaults_fill_gaps() {
        let defaults = ModelDefaults {
            model: "base-model".into(),
            settings: ModelSettings::default()
                .with_temperature(0.2)
                .with_max_tokens(100),
        };
        let request = ModelSettings::default().with_max_tokens(7);
        let resolved = defaults.resolve(&request);
        assert_eq!(resolved.model, "base-model");
        assert_eq!(resolved.temperature, Some(0.2));
        assert_eq!(resolved.max_tokens, Some(7));
        assert_eq!(resolved.tool_choice, None);

        let request = ModelSettings::model("other");
        assert_eq!(defaults.resolve(&request).model, "other");
    }
}
