//! A scripted turn as validated: when it applies and what the model answers.

use baton_core::agent::handoff_tool_name;

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
            tool: handoff_tool_name(target),
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
