//! Agent definitions and the context a run executes in.
//!
//! An [`Agent`] is immutable and shared: its system message, tool specs (including the
//! `transfer_to_<agent>` handoff tools) and model settings are built once by [`AgentBuilder`]
//! and shared by every request of every run. An [`AgentContext`] adds what one run needs: its
//! id, provider, store and cancellation token.
//!
//! | file | what it holds |
//! |---|---|
//! | `mod.rs` | [`Agent`] and the handoff tools' naming rule |
//! | `builder.rs` | [`AgentBuilder`] |
//! | `context.rs` | [`AgentContext`], what one run of an agent needs |

mod builder;
mod context;

pub use builder::AgentBuilder;
pub use context::AgentContext;

use crate::ids::AgentName;
use crate::llm::{Message, ModelSettings, ToolSpec, tokens};
use crate::run::RunOptions;
use crate::tool::ToolRegistry;
use schemars::JsonSchema;
use serde::Deserialize;
use std::sync::{Arc, OnceLock};

/// Tool-name prefix of handoff tools: the model hands off by calling `transfer_to_<agent>`.
pub(crate) const HANDOFF_TOOL_PREFIX: &str = "transfer_to_";

/// The name of the tool a model calls to hand off to `target`: `transfer_to_<target>`.
///
/// ```
/// use baton_core::agent::{handoff_tool_name, is_handoff_tool};
/// assert_eq!(handoff_tool_name("billing"), "transfer_to_billing");
/// assert!(is_handoff_tool("transfer_to_billing"));
/// assert!(!is_handoff_tool("lookup_order"));
/// ```
#[must_use]
pub fn handoff_tool_name(target: impl std::fmt::Display) -> String {
    format!("{HANDOFF_TOOL_PREFIX}{target}")
}

/// Whether a tool named `name` is a handoff tool (of some agent): see [`handoff_tool_name`].
#[must_use]
pub fn is_handoff_tool(name: &str) -> bool {
    name.starts_with(HANDOFF_TOOL_PREFIX)
}

/// Arguments of a handoff tool.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub(crate) struct HandoffArgs {
    /// Why the conversation should move to the other agent, for that agent's benefit.
    pub reason: String,
}

/// An agent: instructions, tools, the agents it may hand off to, model settings and limits.
///
/// ```
/// use baton_core::agent::Agent;
///
/// let agent = Agent::builder("triage")
///     .instructions("Route the customer to the right team.")
///     .handoff("billing")
///     .build()
///     .unwrap();
/// assert_eq!(agent.tool_specs()[0].name, "transfer_to_billing");
/// ```
#[derive(Debug)]
pub struct Agent {
    name: AgentName,
    system: Option<Arc<Message>>,
    system_tokens: OnceLock<u32>,
    tools: ToolRegistry,
    /// Whether none of the tools' calls waits for approval or is tracked by the ledger.
    untracked: bool,
    handoffs: Vec<AgentName>,
    specs: Arc<[ToolSpec]>,
    settings: Arc<ModelSettings>,
    options: RunOptions,
}

impl Agent {
    /// Starts defining an agent named `name` (validated by [`AgentBuilder::build`]).
    pub fn builder(name: impl Into<String>) -> AgentBuilder {
        AgentBuilder::new(name.into())
    }

    /// The agent's name.
    #[must_use]
    pub fn name(&self) -> &AgentName {
        &self.name
    }

    /// The system message, if the agent has instructions.
    #[must_use]
    pub fn system_message(&self) -> Option<&Arc<Message>> {
        self.system.as_ref()
    }

    /// Exact tokens of the system message (counted once, on first use).
    #[must_use]
    pub fn system_tokens(&self) -> u32 {
        *self
            .system_tokens
            .get_or_init(|| self.system.as_deref().map_or(0, tokens::message_tokens))
    }

    /// Upper bound of [`system_tokens`](Self::system_tokens) that needs no tokenizer.
    #[must_use]
    pub fn system_tokens_upper_bound(&self) -> u32 {
        self.system
            .as_deref()
            .map_or(0, tokens::message_tokens_upper_bound)
    }

    /// The agent's own tools.
    #[must_use]
    pub fn tools(&self) -> &ToolRegistry {
        &self.tools
    }

    /// The agents this one may hand off to.
    #[must_use]
    pub fn handoffs(&self) -> &[AgentName] {
        &self.handoffs
    }

    /// Every tool the model sees: the agent's tools, then one handoff tool per target.
    #[must_use]
    pub fn tool_specs(&self) -> &Arc<[ToolSpec]> {
        &self.specs
    }

    /// Whether no call of the agent's tools waits for approval or is tracked by the ledger
    /// ([`ToolRegistry::untracked`], computed once).
    pub(crate) const fn untracked(&self) -> bool {
        self.untracked
    }

    /// Model settings for every request.
    #[must_use]
    pub fn settings(&self) -> &Arc<ModelSettings> {
        &self.settings
    }

    /// The run limits this agent uses unless a run overrides them.
    #[must_use]
    pub fn options(&self) -> &RunOptions {
        &self.options
    }

    /// The agent a tool call named `tool_name` hands off to, if it is a handoff tool of this
    /// agent.
    #[must_use]
    pub fn handoff_target(&self, tool_name: &str) -> Option<&AgentName> {
        let target = tool_name.strip_prefix(HANDOFF_TOOL_PREFIX)?;
        self.handoffs.iter().find(|h| h.as_str() == target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ConfigError;

    #[test]
    fn handoff_tools_are_added_and_recognized() {
        let agent = Agent::builder("triage")
            .handoff("billing")
            .handoff("refunds")
            .handoff("billing")
            .build()
            .unwrap();
        let names: Vec<_> = agent.tool_specs().iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["transfer_to_billing", "transfer_to_refunds"]);
        assert_eq!(
            agent.tool_specs()[0].parameters["required"],
            serde_json::json!(["reason"])
        );
        assert_eq!(
            agent
                .handoff_target("transfer_to_refunds")
                .map(AgentName::as_str),
            Some("refunds")
        );
        assert!(agent.handoff_target("transfer_to_sales").is_none());
        assert!(agent.handoff_target("refunds").is_none());
    }

    #[test]
    fn invalid_definitions_are_config_errors() {
        assert!(matches!(
            Agent::builder("Bad Name").build(),
            Err(ConfigError(_))
        ));
        assert!(matches!(
            Agent::builder("a").handoff("a").build(),
            Err(ConfigError(m)) if m.contains("itself")
        ));
        assert!(matches!(
            Agent::builder("a").handoff("not valid").build(),
            Err(ConfigError(_))
        ));
        let long = "x".repeat(60);
        assert!(matches!(
            Agent::builder("a").handoff(long).build(),
            Err(ConfigError(m)) if m.contains("tool name")
        ));
    }

    #[test]
    fn system_tokens_are_counted_once_and_bounded() {
        let agent = Agent::builder("a")
            .instructions("You are terse.")
            .build()
            .unwrap();
        let exact = agent.system_tokens();
        assert!(exact > tokens::MESSAGE_OVERHEAD);
        assert!(exact <= agent.system_tokens_upper_bound());
        let bare = Agent::builder("b").build().unwrap();
        assert_eq!(bare.system_tokens(), 0);
        assert!(bare.system_message().is_none());
    }
}
