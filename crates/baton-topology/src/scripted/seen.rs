//! What a model has seen, as far as scripts care: which turns hold, and texts rendered from it.

use super::{Placeholder, When};
use baton_core::agent::handoff_tool_name;
use baton_core::llm::Message;
use std::collections::HashMap;
use std::sync::Arc;

impl When {
    /// Whether every condition that is set holds for what the model has seen.
    pub(super) fn holds(&self, seen: &Seen<'_>) -> bool {
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
pub(super) struct Seen<'a> {
    /// The agent's model calls since the run reached it, this one included.
    pub(super) call: u32,
    /// The last user message.
    pub(super) user: &'a str,
    /// The tool results after the last assistant message: (tool, result).
    latest: Vec<(&'a str, &'a str)>,
    /// The latest result of each tool.
    by_tool: HashMap<&'a str, &'a str>,
}

impl<'a> Seen<'a> {
    pub(super) fn new(agent: &str, messages: &'a [Arc<Message>]) -> Self {
        let handoff_tool = handoff_tool_name(agent);
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
    pub(super) fn render(&self, template: &str) -> String {
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

    pub(super) fn render_json(&self, value: &serde_json::Value) -> serde_json::Value {
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
