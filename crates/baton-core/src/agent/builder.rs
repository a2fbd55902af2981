//! Building an [`Agent`].

use super::{Agent, HandoffArgs};
use crate::error::ConfigError;
use crate::ids::AgentName;
use crate::llm::{Message, ModelSettings, ToolSpec};
use crate::run::RunOptions;
use crate::tool::{Approval, DynTool, OnInterrupt, Tool, ToolRegistry, schema_for};
use std::sync::{Arc, OnceLock};

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
    pub(super) fn new(name: String) -> Self {
        Self {
            name,
            instructions: String::new(),
            tools: ToolRegistry::new(),
            handoffs: Vec::new(),
            settings: ModelSettings::default(),
            options: RunOptions::default(),
            error: None,
        }
    }

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

    /// Makes calls of the tool `name` (added before) wait for approval per `approval`.
    ///
    /// ```
    /// # use baton_core::prelude::*;
    /// # use baton_core::tool::Approval;
    /// # struct Refund;
    /// # #[derive(serde::Deserialize, schemars::JsonSchema)] struct Args { amount: f64 }
    /// # impl Tool for Refund {
    /// #     type Args = Args;
    /// #     fn name(&self) -> &str { "refund" }
    /// #     fn description(&self) -> &str { "Refunds." }
    /// #     async fn call(&self, _: Args, _: &ToolContext<'_>) -> Result<String, ToolError> { Ok("done".into()) }
    /// # }
    /// let agent = Agent::builder("refunds")
    ///     .tool(Refund)
    ///     .approval("refund", Approval::Always)
    ///     .build()
    ///     .unwrap();
    /// assert!(matches!(agent.tools().policy("refund").unwrap().approval, Approval::Always));
    /// ```
    pub fn approval(self, name: &str, approval: Approval) -> Self {
        self.try_tools(|tools| tools.with_approval(name, approval))
    }

    /// Sets what a resumed run does with an interrupted call of the tool `name` (added
    /// before), instead of what the tool declares.
    pub fn on_interrupt(self, name: &str, on_interrupt: OnInterrupt) -> Self {
        self.try_tools(|tools| tools.with_on_interrupt(name, on_interrupt))
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
            untracked: self.tools.untracked(),
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
        name: super::handoff_tool_name(target),
        description: format!(
            "Hand the conversation over to the {target} agent, who continues it with the full \
             history. Use it when {target} is better placed to answer."
        ),
        parameters: schema_for::<HandoffArgs>(),
    }
}
