//! Scripted models: agents whose provider has `kind = "scripted"` answer with the turns written
//! in the file, chosen by what the model has seen.
//!
//! Each request is answered by the first turn whose conditions all hold:
//!
//! | condition | holds when |
//! |---|---|
//! | `call = N` | this is the agent's Nth model call since the run reached it (from 1) |
//! | `user_contains = "x"` or `["x", "y"]` | the last user message contains one of them (any case) |
//! | `after_tool = "name"` | the latest tool results include one of tool `name` |
//! | `result_contains = "x"` or `[…]` | one of the latest tool results contains one of them (any case) |
//!
//! A turn answers with `text`, tool calls (`tool` + `arguments`, or `tool_calls = [{ tool,
//! arguments }, …]`), a `handoff` (with a `reason`), or text followed by calls. Texts, reasons
//! and string arguments may quote what the model has seen: `{{user}}` (the last user message),
//! `{{result}}` (the latest tool results), `{{tool.NAME}}` (the latest result of tool `NAME`),
//! and a field of a JSON result with a dotted path (`{{result.total}}`,
//! `{{tool.lookup_order.payments.0}}`). A placeholder with nothing to show stays as written.

use baton_core::agent::HANDOFF_TOOL_PREFIX;
use baton_core::error::LlmError;
use baton_core::llm::{ChatChunk, ChatRequest, FinishReason, Message, ToolCallDelta, Usage};
use std::collections::HashMap;
use std::sync::Arc;

/// One scripted turn: when it applies and what the model answers.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Turn {
    pub(crate) when: When,
    pub(crate) text: Option<String>,
    pub(crate) calls: Vec<ScriptedCall>,
}

/// A tool call of a turn; its string arguments are templates.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ScriptedCall {
    pub(crate) tool: String,
    pub(crate) arguments: serde_json::Value,
}

impl ScriptedCall {
    /// The call of the handoff tool to `target`.
    pub(crate) fn handoff(target: &str, reason: &str) -> Self {
        Self {
            tool: format!("{HANDOFF_TOOL_PREFIX}{target}"),
            arguments: serde_json::json!({ "reason": reason }),
        }
    }
}

/// The conditions of a turn; all that are set must hold. Needles are lowercase.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct When {
    pub(crate) call: Option<u32>,
    pub(crate) user_contains: Vec<String>,
    pub(crate) after_tool: Option<String>,
    pub(crate) result_contains: Vec<String>,
}

impl When {
    fn holds(&self, seen: &Seen<'_>) -> bool {
        let contains_any = |haystack: &str, needles: &[String]| {
            let haystack = haystack.to_lowercase();
            needles
                .iter()
                .any(|needle| haystack.contains(needle.as_str()))
        };
        self.call.is_none_or(|call| call == seen.call)
            && (self.user_contains.is_empty() || contains_any(seen.user, &self.user_contains))
            && self
                .after_tool
                .as_ref()
                .is_none_or(|tool| seen.latest.iter().any(|(name, _)| name == tool))
            && (self.result_contains.is_empty()
                || seen
                    .latest
                    .iter()
                    .any(|(_, result)| contains_any(result, &self.result_contains)))
    }
}

/// What a model has seen, as far as scripts care.
struct Seen<'a> {
    /// The agent's model calls since the run reached it, this one included.
    call: u32,
    /// The last user message.
    user: &'a str,
    /// The tool results after the last assistant message: (tool, result).
    latest: Vec<(&'a str, &'a str)>,
    /// The latest result of each tool.
    by_tool: HashMap<&'a str, &'a str>,
}

impl<'a> Seen<'a> {
    fn new(agent: &str, messages: &'a [Arc<Message>]) -> Self {
        let handoff_tool = format!("{HANDOFF_TOOL_PREFIX}{agent}");
        let start = messages
            .iter()
            .rposition(|message| match &**message {
                Message::User { .. } => true,
                Message::Tool { name, .. } => *name == handoff_tool,
                _ => false,
            })
            .map_or(0, |i| i + 1);
        let earlier_calls = messages[start..]
            .iter()
            .filter(|m| matches!(&***m, Message::Assistant { .. }))
            .count();
        let user = messages
            .iter()
            .rev()
            .find_map(|m| match &**m {
                Message::User { content, .. } => Some(content.as_str()),
                _ => None,
            })
            .unwrap_or_default();
        let mut latest: Vec<(&str, &str)> = messages
            .iter()
            .rev()
            .map_while(|m| match &**m {
                Message::Tool { name, content, .. } => Some((name.as_str(), content.as_str())),
                _ => None,
            })
            .collect();
        latest.reverse();
        let by_tool = messages
            .iter()
            .filter_map(|m| match &**m {
                Message::Tool { name, content, .. } => Some((name.as_str(), content.as_str())),
                _ => None,
            })
            .collect();
        Self {
            call: u32::try_from(earlier_calls + 1).unwrap_or(u32::MAX),
            user,
            latest,
            by_tool,
        }
    }

    /// The text of placeholder `key`, if there is something to show.
    fn lookup(&self, key: &str) -> Option<String> {
        match Placeholder::parse(key).ok()? {
            Placeholder::User => Some(self.user.to_owned()),
            Placeholder::Result(path) => {
                if path.is_empty() {
                    if self.latest.is_empty() {
                        return None;
                    }
                    let all: Vec<&str> = self.latest.iter().map(|(_, r)| *r).collect();
                    return Some(all.join("\n"));
                }
                self.latest.iter().find_map(|(_, r)| select(r, &path))
            }
            Placeholder::Tool(tool, path) => {
                let result = self.by_tool.get(tool)?;
                if path.is_empty() {
                    Some((*result).to_owned())
                } else {
                    select(result, &path)
                }
            }
        }
    }

    /// `template` with its placeholders replaced.
    fn render(&self, template: &str) -> String {
        let mut out = String::with_capacity(template.len());
        let mut rest = template;
        while let Some(open) = rest.find("{{") {
            out.push_str(&rest[..open]);
            let after = &rest[open + 2..];
            let Some(close) = after.find("}}") else {
                rest = &rest[open..];
                break;
            };
            match self.lookup(after[..close].trim()) {
                Some(value) => out.push_str(&value),
                None => out.push_str(&rest[open..open + 2 + close + 2]),
            }
            rest = &after[close + 2..];
        }
        out.push_str(rest);
        out
    }

    fn render_json(&self, value: &serde_json::Value) -> serde_json::Value {
        match value {
            serde_json::Value::String(text) => serde_json::Value::String(self.render(text)),
            serde_json::Value::Array(items) => {
                items.iter().map(|item| self.render_json(item)).collect()
            }
            serde_json::Value::Object(fields) => fields
                .iter()
                .map(|(k, v)| (k.clone(), self.render_json(v)))
                .collect(),
            other => other.clone(),
        }
    }
}

/// A field of the JSON `text` by dotted `path` (object keys and array indexes).
fn select(text: &str, path: &[&str]) -> Option<String> {
    let mut value: serde_json::Value = serde_json::from_str(text).ok()?;
    for segment in path {
        value = match value {
            serde_json::Value::Object(mut fields) => fields.remove(*segment)?,
            serde_json::Value::Array(mut items) => {
                let index: usize = segment.parse().ok()?;
                if index >= items.len() {
                    return None;
                }
                items.swap_remove(index)
            }
            _ => return None,
        };
    }
    Some(match value {
        serde_json::Value::String(text) => text,
        other => other.to_string(),
    })
}

/// A `{{…}}` placeholder of a scripted text.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Placeholder<'a> {
    User,
    Result(Vec<&'a str>),
    Tool(&'a str, Vec<&'a str>),
}

impl<'a> Placeholder<'a> {
    pub(crate) const FORMS: &'static str =
        "{{user}}, {{result}}, {{result.FIELD}}, {{tool.NAME}} or {{tool.NAME.FIELD}}";

    pub(crate) fn parse(key: &'a str) -> Result<Self, ()> {
        let mut parts = key.split('.');
        let valid = |part: &&str| !part.is_empty();
        match parts.next() {
            Some("user") if parts.next().is_none() => Ok(Self::User),
            Some("result") => {
                let path: Vec<&str> = parts.collect();
                if path.iter().all(valid) {
                    Ok(Self::Result(path))
                } else {
                    Err(())
                }
            }
            Some("tool") => {
                let tool = parts.next().filter(valid).ok_or(())?;
                let path: Vec<&str> = parts.collect();
                if path.iter().all(valid) {
                    Ok(Self::Tool(tool, path))
                } else {
                    Err(())
                }
            }
            _ => Err(()),
        }
    }

    /// The placeholders of `template` that do not parse.
    pub(crate) fn invalid_in(template: &str) -> Vec<&str> {
        let mut invalid = Vec::new();
        let mut rest = template;
        while let Some(open) = rest.find("{{") {
            let after = &rest[open + 2..];
            let Some(close) = after.find("}}") else { break };
            let key = after[..close].trim();
            if Placeholder::parse(key).is_err() {
                invalid.push(key);
            }
            rest = &after[close + 2..];
        }
        invalid
    }
}

/// The model of one agent: its turns.
#[derive(Debug, Clone)]
pub(crate) struct ScriptedModel {
    pub(crate) agent: String,
    pub(crate) turns: Arc<[Turn]>,
}

impl ScriptedModel {
    /// The chunks answering `request`, or why no turn applies.
    pub(crate) fn respond(&self, request: &ChatRequest) -> Result<Vec<ChatChunk>, LlmError> {
        let seen = Seen::new(&self.agent, &request.messages);
        let turn = self
            .turns
            .iter()
            .find(|turn| turn.when.holds(&seen))
            .ok_or_else(|| {
                LlmError::InvalidRequest(format!(
                    "no scripted turn of agent {} applies to its call {} (last user message: {:?})",
                    self.agent, seen.call, seen.user
                ))
            })?;
        let mut chunks = Vec::new();
        let mut output_bytes = 0;
        if let Some(text) = &turn.text {
            let text = seen.render(text);
            output_bytes += text.len();
            chunks.extend(text.split_inclusive(' ').map(ChatChunk::text));
        }
        for (index, call) in turn.calls.iter().enumerate() {
            let arguments = seen.render_json(&call.arguments).to_string();
            output_bytes += call.tool.len() + arguments.len();
            chunks.push(ChatChunk::ToolCall(ToolCallDelta {
                index: u32::try_from(index).unwrap_or(u32::MAX),
                id: Some(format!("call_{}_{}", seen.call, index + 1)),
                name: Some(call.tool.clone()),
                arguments,
            }));
        }
        let input_bytes: usize = request
            .messages
            .iter()
            .map(|m| {
                m.content().len()
                    + m.tool_calls()
                        .iter()
                        .map(|c| c.name.len() + c.arguments.len())
                        .sum::<usize>()
            })
            .sum();
        chunks.push(ChatChunk::usage(Usage::new(
            estimate_tokens(input_bytes),
            estimate_tokens(output_bytes),
        )));
        chunks.push(ChatChunk::finish(if turn.calls.is_empty() {
            FinishReason::Stop
        } else {
            FinishReason::ToolCalls
        }));
        Ok(chunks)
    }
}

/// Tokens of `bytes` of English text, roughly (four bytes a token).
fn estimate_tokens(bytes: usize) -> u64 {
    u64::try_from(bytes.div_ceil(4)).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use baton_core::llm::{ResponseAssembler, ToolCall};
    use serde_json::json;

    fn model(turns: Vec<Turn>) -> ScriptedModel {
        ScriptedModel {
            agent: "billing".into(),
            turns: turns.into(),
        }
    }

    fn answer(model: &ScriptedModel, messages: Vec<Message>) -> Message {
        let request = ChatRequest::new(messages.into_iter().map(Arc::new).collect());
        let mut assembler = ResponseAssembler::new(usize::MAX);
        for chunk in model.respond(&request).unwrap() {
            assembler.push(&chunk).unwrap();
        }
        assembler.finish().unwrap().message
    }

    fn text(text: &str, when: When) -> Turn {
        Turn {
            when,
            text: Some(text.into()),
            calls: Vec::new(),
        }
    }

    fn tool_message(id: &str, name: &str, content: &str) -> Message {
        Message::tool_result(&ToolCall::new(id, name, "{}"), content)
    }

    #[test]
    fn calls_are_counted_from_the_last_user_message_or_the_handoff_to_the_agent() {
        let turns = vec![
            text(
                "first",
                When {
                    call: Some(1),
                    ..When::default()
                },
            ),
            text(
                "second",
                When {
                    call: Some(2),
                    ..When::default()
                },
            ),
        ];
        let model = model(turns);
        let handoff = ToolCall::new("c1", "transfer_to_billing", r#"{"reason":"x"}"#);
        let lookup = ToolCall::new("c2", "lookup", "{}");
        let history = vec![
            Message::user("hi"),
            Message::assistant_calling("", vec![handoff.clone()]),
            Message::tool_result(&handoff, "transferred to billing"),
        ];
        assert_eq!(answer(&model, history.clone()).content(), "first");
        let mut later = history;
        later.push(Message::assistant_calling("", vec![lookup.clone()]));
        later.push(Message::tool_result(&lookup, "found"));
        assert_eq!(answer(&model, later.clone()).content(), "second");
        later.push(Message::assistant("second"));
        later.push(Message::user("again"));
        assert_eq!(answer(&model, later).content(), "first");
    }

    #[test]
    fn conditions_match_user_text_and_latest_tool_results() {
        let model = model(vec![
            text(
                "refund",
                When {
                    user_contains: vec!["twice".into(), "double".into()],
                    after_tool: Some("lookup".into()),
                    result_contains: vec!["duplicate".into()],
                    ..When::default()
                },
            ),
            text("fallback", When::default()),
        ]);
        let with = |user: &str, result: &str| {
            vec![
                Message::user(user),
                Message::assistant_calling("", vec![ToolCall::new("c", "lookup", "{}")]),
                tool_message("c", "lookup", result),
            ]
        };
        assert_eq!(
            answer(&model, with("Charged TWICE!", "DUPLICATE payment")).content(),
            "refund"
        );
        assert_eq!(
            answer(&model, with("charged once", "duplicate")).content(),
            "fallback"
        );
        assert_eq!(
            answer(&model, with("twice", "paid once")).content(),
            "fallback"
        );
        assert_eq!(
            answer(&model, vec![Message::user("twice")]).content(),
            "fallback"
        );
    }

    #[test]
    fn placeholders_quote_what_the_model_has_seen() {
        let order = r#"{"order":"A-1042","total":"49.90 EUR","payments":["p1","p2"],"n":2}"#;
        let model = model(vec![Turn {
            when: When::default(),
            text: Some(
                "You said {{user}}. Total {{result.total}}, second {{tool.lookup.payments.1}}, \
                 n={{result.n}}, {{tool.time}}, {{tool.missing}} {{result.nope}}"
                    .into(),
            ),
            calls: vec![ScriptedCall {
                tool: "refund".into(),
                arguments: json!({"order": "{{result.order}}", "amount": 1, "all": ["{{result.total}}"]}),
            }],
        }]);
        let message = answer(
            &model,
            vec![
                Message::user("help"),
                Message::assistant_calling(
                    "",
                    vec![
                        ToolCall::new("a", "lookup", "{}"),
                        ToolCall::new("b", "time", "{}"),
                    ],
                ),
                tool_message("a", "lookup", order),
                tool_message("b", "time", "2026-05-01T09:30:00Z"),
            ],
        );
        assert_eq!(
            message.content(),
            "You said help. Total 49.90 EUR, second p2, n=2, 2026-05-01T09:30:00Z, \
             {{tool.missing}} {{result.nope}}"
        );
        let call = &message.tool_calls()[0];
        assert_eq!(call.name, "refund");
        let arguments: serde_json::Value = serde_json::from_str(&call.arguments).unwrap();
        assert_eq!(
            arguments,
            json!({"order": "A-1042", "amount": 1, "all": ["49.90 EUR"]})
        );
    }

    #[test]
    fn no_applicable_turn_is_an_invalid_request() {
        let model = model(vec![text(
            "only first",
            When {
                call: Some(1),
                ..When::default()
            },
        )]);
        let messages = vec![
            Arc::new(Message::user("hi")),
            Arc::new(Message::assistant("only first")),
        ];
        let error = model.respond(&ChatRequest::new(messages)).unwrap_err();
        assert_eq!(
            error,
            LlmError::InvalidRequest(
                "no scripted turn of agent billing applies to its call 2 (last user message: \"hi\")"
                    .into()
            )
        );
    }

    #[test]
    fn placeholders_are_validated() {
        assert_eq!(Placeholder::parse("user"), Ok(Placeholder::User));
        assert_eq!(
            Placeholder::parse("result"),
            Ok(Placeholder::Result(vec![]))
        );
        assert_eq!(
            Placeholder::parse("tool.x.a.0"),
            Ok(Placeholder::Tool("x", vec!["a", "0"]))
        );
        assert_eq!(
            Placeholder::invalid_in("{{ user }} {{usr}} {{tool}} {{result..x}} {{tool.x}}"),
            ["usr", "tool", "result..x"]
        );
    }
}
