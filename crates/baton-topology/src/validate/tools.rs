//! Tools: the `[tools.NAME]` tables, each checked for its kind.

use super::Validator;
use crate::error::ProblemKind;
#[cfg(feature = "http-get")]
use crate::limits;
use crate::raw::{RawTool, ToolKind};
use crate::toml_to_json::to_json;
use crate::tools::{APPROVALS, CallPolicy, ON_INTERRUPT, ToolConfig, ToolDef};
use baton_core::tool::{Approval, OnInterrupt};
use std::collections::BTreeSet;
use toml::Spanned;

impl Validator<'_> {
    /// The tool the table `name` defines; a tool of a kind this build leaves out is
    /// reported at its kind and its name added to `left_out`.
    pub(super) fn tool(
        &mut self,
        name: &Spanned<String>,
        raw: RawTool,
        left_out: &mut BTreeSet<String>,
    ) -> Option<ToolDef> {
        let tool = name.get_ref();
        if !baton_core::tool::is_tool_name(tool) {
            self.report(
                &name.span(),
                ProblemKind::InvalidValue(format!(
                    "tool name {tool:?} is invalid: use 1 to 64 characters from a-z, A-Z, 0-9, '_' and '-'"
                )),
            );
        }
        let owner = format!("tool {tool:?}");
        let Some(kind) = raw
            .kind
            .as_ref()
            .map(|k| *k.get_ref())
            .or_else(|| ToolKind::from_name(tool))
        else {
            self.report(
                &name.span(),
                ProblemKind::Missing {
                    owner,
                    field: "kind, one of calculator, current_time, http_get, kv_lookup".into(),
                },
            );
            return None;
        };
        let of_kind = format!("{owner} of kind {}", kind.name());
        if let Some(feature) = kind.missing_feature() {
            let span = raw.kind.as_ref().map_or_else(|| name.span(), Spanned::span);
            self.report(
                &span,
                ProblemKind::FeatureDisabled {
                    what: of_kind,
                    feature,
                },
            );
            left_out.insert(tool.clone());
            return None;
        }
        if kind != ToolKind::HttpGet {
            self.not_applicable(
                raw.allow_hosts.as_ref().map(Spanned::span),
                "allow_hosts",
                &of_kind,
            );
            self.not_applicable(
                raw.max_bytes.as_ref().map(Spanned::span),
                "max_bytes",
                &of_kind,
            );
            self.not_applicable(raw.timeout.as_ref().map(Spanned::span), "timeout", &of_kind);
        }
        if kind != ToolKind::KvLookup {
            self.not_applicable(raw.entries.as_ref().map(Spanned::span), "entries", &of_kind);
        }
        let policy = self.call_policy(&owner, &raw);
        let config = match kind {
            #[cfg(feature = "calculator")]
            ToolKind::Calculator => ToolConfig::Calculator,
            ToolKind::CurrentTime => ToolConfig::CurrentTime,
            #[cfg(feature = "http-get")]
            ToolKind::HttpGet => ToolConfig::HttpGet(self.http_get(name, &of_kind, &raw)?),
            ToolKind::KvLookup => {
                let Some(entries) = &raw.entries else {
                    self.report(
                        &name.span(),
                        ProblemKind::Missing {
                            owner: of_kind,
                            field: "entries, the table it looks keys up in".into(),
                        },
                    );
                    return None;
                };
                self.finite_numbers(
                    &entries.span(),
                    &format!("entries of {owner}"),
                    entries.get_ref(),
                );
                ToolConfig::KvLookup(
                    entries
                        .get_ref()
                        .iter()
                        .map(|(key, value)| (key.clone(), to_json(value)))
                        .collect(),
                )
            }
            // Kinds this build leaves out, refused above.
            #[allow(unreachable_patterns)]
            _ => return None,
        };
        Some(ToolDef {
            name: tool.clone(),
            description: raw.description,
            kind: config,
            policy,
        })
    }

    /// The table's `approval`, `read_only` and `on_interrupt`; a word neither accepts is
    /// reported where it is written, and the tool's own policy kept.
    fn call_policy(&mut self, owner: &str, raw: &RawTool) -> CallPolicy {
        let approval = raw.approval.as_ref().and_then(|word| {
            let approval = Approval::named(word.get_ref());
            if approval.is_none() {
                self.unknown_choice(word, "approval", owner, APPROVALS);
            }
            approval
        });
        let on_interrupt = raw.on_interrupt.as_ref().and_then(|word| {
            let on_interrupt = OnInterrupt::named(word.get_ref());
            if on_interrupt.is_none() {
                self.unknown_choice(word, "on_interrupt", owner, ON_INTERRUPT);
            }
            on_interrupt
        });
        CallPolicy {
            approval: approval.unwrap_or_default(),
            read_only: raw.read_only,
            on_interrupt,
        }
    }

    fn unknown_choice(
        &mut self,
        word: &Spanned<String>,
        field: &'static str,
        owner: &str,
        accepted: &'static [&'static str],
    ) {
        self.report(
            &word.span(),
            ProblemKind::UnknownChoice {
                key: format!("{field} of {owner}"),
                value: word.get_ref().clone(),
                accepted,
            },
        );
    }

    /// The configuration of an `http_get` tool: the hosts it may fetch from, its limits.
    #[cfg(feature = "http-get")]
    fn http_get(
        &mut self,
        name: &Spanned<String>,
        owner: &str,
        raw: &RawTool,
    ) -> Option<crate::tools::HttpGetConfig> {
        let hosts = match &raw.allow_hosts {
            Some(hosts) if !hosts.get_ref().is_empty() => hosts.get_ref(),
            other => {
                let span = other.as_ref().map_or_else(|| name.span(), Spanned::span);
                self.report(
                    &span,
                    ProblemKind::Missing {
                        owner: owner.to_owned(),
                        field: "allow_hosts, the hosts it may fetch from".into(),
                    },
                );
                return None;
            }
        };
        for host in hosts {
            let text = host.get_ref().trim();
            let bare = text.strip_prefix("*.").unwrap_or(text);
            if bare.is_empty() || bare.contains(['/', ' ', '*']) {
                self.report(
                    &host.span(),
                    ProblemKind::InvalidValue(format!(
                        "allow_hosts entry {text:?} is not a host: write e.g. \"example.com\", \
                         \"127.0.0.1\" or \"*.example.com\""
                    )),
                );
            }
        }
        let mut config =
            crate::tools::HttpGetConfig::new(hosts.iter().map(|h| h.get_ref().clone()));
        if let Some(max) = &raw.max_bytes {
            if *max.get_ref() == 0 {
                self.report(
                    &max.span(),
                    ProblemKind::InvalidValue("max_bytes must be at least 1".into()),
                );
            } else {
                let subject = format!("max_bytes of tool {:?}", name.get_ref());
                self.in_range(&subject, max, &limits::TOOL_MAX_BYTES);
            }
            config = config.with_max_bytes(*max.get_ref());
        }
        if let Some(timeout) = &raw.timeout {
            let subject = format!("timeout of tool {:?}", name.get_ref());
            let timeout = self.duration(&subject, timeout, &limits::TIMEOUT);
            config = config.with_timeout(timeout);
        }
        Some(config)
    }
}
