//! Agent definitions and the context a run executes in.
//!
//! An [`Agent`] is immutable and shared: its system message, tool specs (including the
//! `transfer_to_<agent>` handoff tools) and model settings are built once by [`AgentBuilder`]
//! and shared by every request of every run. An [`AgentContext`] adds what one run needs: its
//! id, provider, store and cancellation token.

use crate::error::ConfigError;
use crate::ids::{AgentName, RunId};
use crate::llm::{LlmProvider, Message, ModelSettings, ToolSpec, tokens};
use crate::memory::Store;
use crate::run::RunOptions;
use crate::tool::{DynTool, Tool, ToolRegistry, schema_for};
use schemars::JsonSchema;
use serde::Deserialize;
use std::sync::{Arc, OnceLock};
use tokio_util::sync::CancellationToken;

/// Tool-name prefix of handoff tools: the model hands off by calling `transfer_to_<agent>`.
pub const HANDOFF_TOOL_PREFIX: &str = "transfer_to_";

/// Arguments of a handoff tool.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct HandoffArgs {
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
    handoffs: Vec<AgentName>,
    specs: Arc<[ToolSpec]>,
    settings: Arc<ModelSettings>,
    options: RunOptions,
}

impl Agent {
    /// Starts defining an agent named `name` (validated by [`AgentBuilder::build`]).
    pub fn builder(name: impl Into<String>) -> AgentBuilder {
        AgentBuilder {
            name: name.into(),
            instructions: String::new(),
            tools: ToolRegistry::new(),
            handoffs: Vec::new(),
            settings: ModelSettings::default(),
            options: RunOptions::default(),
            error: None,
        }
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

/// Builds an [`Agent`]; errors are reported by [`build`](AgentBuilder::build).
#[derive(Debug)]
#[must_use]
pub struct AgentBuilder {
    name: String,
    instructions: String,
    tools: ToolRegistry,
    handoffs: Vec<String>,
    settings: ModelSettings,
    options: RunOptions,
    error: Option<ConfigError>,
}

impl AgentBuilder {
    /// The system instructions.
    pub fn instructions(mut self, instructions: impl Into<String>) -> Self {
        self.instructions = instructions.into();
        self
    }

    /// Adds a typed tool.
    pub fn tool<T: Tool>(self, tool: T) -> Self {
        self.try_tools(|tools| tools.with(tool))
    }

    /// Adds an object-safe tool.
    pub fn dyn_tool(self, tool: Arc<dyn DynTool>) -> Self {
        self.try_tools(|tools| tools.with_dyn(tool))
    }

    /// Replaces the tools with `tools`.
    pub fn tools(mut self, tools: ToolRegistry) -> Self {
        self.tools = tools;
        self
    }

    /// Allows handing off to `agent`.
    pub fn handoff(mut self, agent: impl Into<String>) -> Self {
        self.handoffs.push(agent.into());
        self
    }

    /// Model settings.
    pub fn settings(mut self, settings: ModelSettings) -> Self {
        self.settings = settings;
        self
    }

    /// Run limits.
    pub fn options(mut self, options: RunOptions) -> Self {
        self.options = options;
        self
    }

    fn try_tools(
        mut self,
        add: impl FnOnce(ToolRegistry) -> Result<ToolRegistry, ConfigError>,
    ) -> Self {
        if self.error.is_none() {
            match add(std::mem::take(&mut self.tools)) {
                Ok(tools) => self.tools = tools,
                Err(error) => self.error = Some(error),
            }
        }
        self
    }

    /// Validates the definition and builds the agent.
    pub fn build(self) -> Result<Agent, ConfigError> {
        if let Some(error) = self.error {
            return Err(error);
        }
        let name = AgentName::new(&self.name)?;
        let mut specs = self.tools.specs().to_vec();
        let mut handoffs: Vec<AgentName> = Vec::with_capacity(self.handoffs.len());
        for target in &self.handoffs {
            let target = AgentName::new(target)?;
            if target == name {
                return Err(ConfigError(format!(
                    "agent {name} cannot hand off to itself"
                )));
            }
            if handoffs.contains(&target) {
                continue;
            }
            let spec = handoff_spec(&target);
            crate::tool::validate_tool_name(&spec.name)?;
            if self.tools.contains(&spec.name) {
                return Err(ConfigError(format!(
                    "agent {name} has a tool named {:?}, which is reserved for its handoff to {target}",
                    spec.name
                )));
            }
            specs.push(spec);
            handoffs.push(target);
        }
        let system =
            (!self.instructions.is_empty()).then(|| Arc::new(Message::system(self.instructions)));
        Ok(Agent {
            name,
            system,
            system_tokens: OnceLock::new(),
            tools: self.tools,
            handoffs,
            specs: specs.into(),
            settings: Arc::new(self.settings),
            options: self.options,
        })
    }
}

fn handoff_spec(target: &AgentName) -> ToolSpec {
    ToolSpec {
        name: format!("{HANDOFF_TOOL_PREFIX}{target}"),
        description: format!(
            "Hand the conversation over to the {target} agent, who continues it with the full \
             history. Use it when {target} is better placed to answer."
        ),
        parameters: schema_for::<HandoffArgs>(),
    }
}

/// Everything one run needs: the agent, a provider, a store, the run's id and its
/// cancellation token. Cloning is cheap (reference counts).
#[derive(Clone)]
pub struct AgentContext {
    /// The run's id.
    pub run_id: RunId,
    /// The agent.
    pub agent: Arc<Agent>,
    /// The provider that serves the agent's requests.
    pub llm: Arc<dyn LlmProvider>,
    /// Where the thread and the episodic log live.
    pub store: Arc<dyn Store>,
    /// Cancels the run when fired.
    pub cancel: CancellationToken,
    /// Typed data the caller attaches to the run, for its tools, guardrails and provider (see
    /// [`RunContext`](crate::context::RunContext)).
    pub extensions: Arc<http::Extensions>,
}

impl std::fmt::Debug for AgentContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentContext")
            .field("run_id", &self.run_id)
            .field("agent", self.agent.name())
            .field("llm", &self.llm.name())
            .field("cancelled", &self.cancel.is_cancelled())
            .finish_non_exhaustive()
    }
}

impl AgentContext {
    /// A context for a new run (fresh id, fresh cancellation token).
    #[must_use]
    pub fn new(agent: Arc<Agent>, llm: Arc<dyn LlmProvider>, store: Arc<dyn Store>) -> Self {
        Self {
            run_id: RunId::new(),
            agent,
            llm,
            store,
            cancel: CancellationToken::new(),
            extensions: crate::context::share(http::Extensions::new()),
        }
    }

    /// The same context with these extensions.
    #[must_use]
    pub fn with_extensions(mut self, extensions: http::Extensions) -> Self {
        self.extensions = crate::context::share(extensions);
        self
    }

    /// The same context for another run id.
    #[must_use]
    pub fn with_run_id(mut self, run_id: RunId) -> Self {
        self.run_id = run_id;
        self
    }

    /// The same context with another cancellation token.
    #[must_use]
    pub fn with_cancel(mut self, cancel: CancellationToken) -> Self {
        self.cancel = cancel;
        self
    }

    /// The agent's name.
    #[must_use]
    pub fn agent_name(&self) -> &AgentName {
        self.agent.name()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
