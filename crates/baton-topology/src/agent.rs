//! An agent as the file defines it, and the agent built from it.

use crate::scripted::Turn;
use crate::tools::BuiltTool;
use baton_core::agent::Agent;
use baton_core::error::ConfigError;
use baton_core::ids::AgentName;
use baton_core::llm::ModelSettings;
use baton_core::run::RunOptions;
use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Arc;

/// An agent as the file defines it, references resolved.
#[derive(Debug, Clone)]
pub(crate) struct AgentDef {
    pub(crate) name: AgentName,
    pub(crate) name_span: Range<usize>,
    pub(crate) instructions: String,
    pub(crate) provider: String,
    pub(crate) settings: ModelSettings,
    pub(crate) options: RunOptions,
    pub(crate) tools: Vec<String>,
    pub(crate) handoffs: Vec<AgentName>,
    #[cfg_attr(not(feature = "scripted"), allow(dead_code))]
    pub(crate) script: Arc<[Turn]>,
}

impl AgentDef {
    /// The agent, with its tools taken from `tools`.
    pub(crate) fn build(&self, tools: &BTreeMap<&str, BuiltTool>) -> Result<Agent, ConfigError> {
        let mut builder = Agent::builder(self.name.as_str())
            .instructions(self.instructions.clone())
            .settings(self.settings.clone())
            .options(self.options.clone());
        for tool in &self.tools {
            if let Some(tool) = tools.get(tool.as_str()) {
                builder = tool.clone().add_to(builder);
            }
        }
        for target in &self.handoffs {
            builder = builder.handoff(target.as_str());
        }
        builder.build()
    }

    /// The agent's scripted model, served with `chunk_delay` between chunks.
    #[cfg(feature = "scripted")]
    pub(crate) fn scripted_provider(
        &self,
        chunk_delay: std::time::Duration,
    ) -> Arc<dyn baton_core::llm::LlmProvider> {
        crate::scripted::ScriptedModel {
            agent: self.name.to_string(),
            turns: Arc::clone(&self.script),
        }
        .into_provider(chunk_delay)
    }
}
