//! Scripted turns: what each turn answers, when it applies, and its placeholders.

use super::{Names, Validator};
use crate::error::{ProblemKind, listed};
use crate::limits;
use crate::raw::{OneOrMany, RawTurn, RawWhen};
use crate::scripted::{Placeholder, ScriptedCall, Turn, When};
use crate::toml_to_json::table_to_json;
use std::ops::Range;
use toml::Spanned;

/// What one agent's scripted turns may use.
pub(super) struct Allowed<'a> {
    pub(super) tools: Names<'a>,
    pub(super) handoffs: Names<'a>,
}

impl Validator<'_> {
    /// The turn `raw` of `agent`, its tools and handoff checked against `allowed`.
    pub(super) fn turn(
        &mut self,
        agent: &str,
        allowed: &Allowed<'_>,
        raw: Spanned<RawTurn>,
    ) -> Turn {
        let span = raw.span();
        let raw = raw.into_inner();
        let mut calls = Vec::new();
        let mut call = |v: &mut Self,
                        tool: &Spanned<String>,
                        arguments: Option<&toml::Table>,
                        arguments_span: &Range<usize>| {
            if !allowed.tools.contains(tool.get_ref()) {
                v.report(
                    &tool.span(),
                    ProblemKind::ScriptTool {
                        agent: agent.to_owned(),
                        tool: tool.get_ref().clone(),
                        available: listed(allowed.tools.list, allowed.tools.list.len()),
                    },
                );
            }
            if let Some(arguments) = arguments {
                let what = format!("the arguments of a call of tool {:?}", tool.get_ref());
                v.finite_numbers(arguments_span, &what, arguments);
            }
            let arguments = arguments.map_or_else(|| serde_json::json!({}), table_to_json);
            v.check_placeholders_in_json(&tool.span(), &arguments);
            calls.push(ScriptedCall {
                tool: tool.get_ref().clone(),
                arguments,
            });
        };
        match &raw.tool {
            Some(tool) => {
                let arguments_span = raw
                    .arguments
                    .as_ref()
                    .map_or_else(|| tool.span(), Spanned::span);
                call(
                    self,
                    tool,
                    raw.arguments.as_ref().map(Spanned::get_ref),
                    &arguments_span,
                );
            }
            None => self.not_applicable(
                raw.arguments.as_ref().map(Spanned::span),
                "arguments",
                "a scripted turn without tool",
            ),
        }
        for extra in &raw.tool_calls {
            // The arguments of `tool_calls` keep no place of their own: the call's tool has one.
            call(
                self,
                &extra.tool,
                extra.arguments.as_ref(),
                &extra.tool.span(),
            );
        }
        match &raw.handoff {
            Some(target) => {
                if !allowed.handoffs.contains(target.get_ref()) {
                    self.report(
                        &target.span(),
                        ProblemKind::ScriptHandoff {
                            agent: agent.to_owned(),
                            target: target.get_ref().clone(),
                            allowed: listed(allowed.handoffs.list, allowed.handoffs.list.len()),
                        },
                    );
                }
                let reason = raw.reason.as_ref().map_or_else(
                    || format!("{} is better placed to help", target.get_ref()),
                    |r| r.get_ref().clone(),
                );
                if let Some(written) = &raw.reason {
                    self.check_placeholders(&written.span(), written.get_ref());
                }
                calls.push(ScriptedCall::handoff(target.get_ref(), &reason));
            }
            None => self.not_applicable(
                raw.reason.as_ref().map(Spanned::span),
                "reason",
                "a scripted turn without handoff",
            ),
        }
        if let Some(text) = &raw.text {
            self.check_placeholders(&text.span(), text.get_ref());
        }
        if raw.text.is_none() && calls.is_empty() {
            self.report(
                &span,
                ProblemKind::Missing {
                    owner: format!("a scripted turn of agent {agent:?}"),
                    field: "an answer: text, tool, tool_calls or handoff".into(),
                },
            );
        }
        Turn {
            when: self.when(raw.when),
            text: raw.text.map(Spanned::into_inner),
            calls,
        }
    }

    /// The conditions of a turn; needles lowercased.
    fn when(&mut self, raw: RawWhen) -> When {
        match &raw.call {
            Some(call) if *call.get_ref() == 0 => self.report(
                &call.span(),
                ProblemKind::InvalidValue("call counts from 1: the first call is call = 1".into()),
            ),
            Some(call) => self.in_range("call", call, &limits::CALL),
            None => {}
        }
        let lower = |needles: Option<OneOrMany>| {
            needles
                .map(|n| n.0.iter().map(|s| s.to_lowercase()).collect())
                .unwrap_or_default()
        };
        When {
            call: raw.call.map(Spanned::into_inner),
            user_contains: lower(raw.user_contains),
            after_tool: raw.after_tool.map(Spanned::into_inner),
            result_contains: lower(raw.result_contains),
        }
    }

    /// Refuses each `{{…}}` of `text` that is not a placeholder form.
    fn check_placeholders(&mut self, span: &Range<usize>, text: &str) {
        for key in Placeholder::invalid_in(text) {
            self.report(
                span,
                ProblemKind::InvalidValue(format!(
                    "placeholder {{{{{key}}}}} is not one of {}",
                    Placeholder::FORMS
                )),
            );
        }
    }

    /// Refuses the placeholders of every string in `value` that are not placeholder forms.
    fn check_placeholders_in_json(&mut self, span: &Range<usize>, value: &serde_json::Value) {
        match value {
            serde_json::Value::String(text) => self.check_placeholders(span, text),
            serde_json::Value::Array(items) => {
                for item in items {
                    self.check_placeholders_in_json(span, item);
                }
            }
            serde_json::Value::Object(fields) => {
                for item in fields.values() {
                    self.check_placeholders_in_json(span, item);
                }
            }
            _ => {}
        }
    }
}
