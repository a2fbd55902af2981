//! Providers: their kind, key, endpoint and timeouts, and the default provider.

use super::{Validator, is_env_name};
use crate::error::{ProblemKind, listed};
use crate::limits;
use crate::provider::{ProviderDef, Timeouts};
use crate::raw::{ProviderKind, RawProvider, Seconds};
use std::collections::BTreeMap;
use std::time::Duration;
use toml::Spanned;

impl Validator<'_> {
    /// The provider the table `name` defines, every key checked for its kind.
    pub(super) fn provider(&mut self, name: &Spanned<String>, raw: RawProvider) -> ProviderDef {
        let owner = format!("provider {:?}", name.get_ref());
        let kind = *raw.kind.get_ref();
        if let Some(key) = &raw.api_key {
            self.report(
                &key.span(),
                ProblemKind::InlineSecret {
                    owner: owner.clone(),
                    field: "api_key",
                },
            );
        }
        let of_kind = format!("{owner} of kind {}", kind.name());
        if kind == ProviderKind::Scripted {
            let remote = [
                ("base_url", raw.base_url.as_ref().map(Spanned::span)),
                ("api_key_env", raw.api_key_env.as_ref().map(Spanned::span)),
                ("model", raw.model.as_ref().map(Spanned::span)),
                (
                    "connect_timeout",
                    raw.connect_timeout.as_ref().map(Spanned::span),
                ),
                (
                    "first_byte_timeout",
                    raw.first_byte_timeout.as_ref().map(Spanned::span),
                ),
                ("idle_timeout", raw.idle_timeout.as_ref().map(Spanned::span)),
                (
                    "response_timeout",
                    raw.response_timeout.as_ref().map(Spanned::span),
                ),
            ];
            for (field, span) in remote {
                self.not_applicable(span, field, &of_kind);
            }
        } else {
            self.not_applicable(
                raw.chunk_delay.as_ref().map(Spanned::span),
                "chunk_delay",
                &of_kind,
            );
        }
        if let Some(variable) = &raw.api_key_env
            && !is_env_name(variable.get_ref())
        {
            self.report(
                &variable.span(),
                ProblemKind::InvalidValue(format!(
                    "api_key_env {:?} is not an environment variable name (use A-Z, 0-9 and '_')",
                    variable.get_ref()
                )),
            );
        }
        if let Some(url) = &raw.base_url {
            let text = url.get_ref();
            if !(text.starts_with("http://") || text.starts_with("https://")) {
                self.report(
                    &url.span(),
                    ProblemKind::InvalidValue(format!(
                        "base_url {text:?} of {owner} is not an http:// or https:// URL"
                    )),
                );
            }
        }
        // Keys that do not apply to the kind were refused above; only the others are checked.
        let subject = |key: &str| format!("{key} of {owner}");
        let mut timeouts = Timeouts::default();
        let mut chunk_delay = Duration::ZERO;
        if kind == ProviderKind::Scripted {
            if let Some(delay) = &raw.chunk_delay {
                chunk_delay = self.duration(&subject("chunk_delay"), delay, &limits::CHUNK_DELAY);
            }
        } else {
            let mut timeout = |key: &str, value: &Option<Spanned<Seconds>>| {
                value
                    .as_ref()
                    .map(|value| self.duration(&subject(key), value, &limits::TIMEOUT))
            };
            timeouts = Timeouts {
                connect: timeout("connect_timeout", &raw.connect_timeout),
                first_byte: timeout("first_byte_timeout", &raw.first_byte_timeout),
                idle: timeout("idle_timeout", &raw.idle_timeout),
                response: timeout("response_timeout", &raw.response_timeout),
            };
        }
        ProviderDef {
            name: name.get_ref().clone(),
            span: name.span(),
            kind,
            kind_span: raw.kind.span(),
            base_url: raw.base_url.map(Spanned::into_inner),
            api_key_env: raw.api_key_env.map(|v| (v.span(), v.into_inner())),
            model: raw.model.map(Spanned::into_inner),
            timeouts,
            chunk_delay,
        }
    }

    /// The provider of agents that name none: the top-level `provider`, or the only one.
    pub(super) fn default_provider(
        &mut self,
        provider: Option<&Spanned<String>>,
        providers: &BTreeMap<String, ProviderDef>,
    ) -> Option<String> {
        match provider {
            Some(name) if providers.contains_key(name.get_ref()) => Some(name.get_ref().clone()),
            Some(name) => {
                self.report(
                    &name.span(),
                    ProblemKind::UndefinedDefaultProvider {
                        provider: name.get_ref().clone(),
                        defined: listed(providers.keys(), providers.len()),
                    },
                );
                None
            }
            None if providers.len() == 1 => providers.keys().next().cloned(),
            None => None,
        }
    }
}
