//! What `check` and `build` share: every agent with the provider that serves it, its tools
//! made, or every problem that stops them.

use crate::agent::AgentDef;
use crate::error::{ProblemKind, TopologyError};
use crate::provider::{KeyEnv, ProviderDef};
use crate::raw::ProviderKind;
use crate::tools::BuiltTool;
use crate::topology::Topology;
use baton_core::agent::Agent;
use baton_core::llm::LlmProvider;
use std::collections::BTreeMap;
use std::sync::Arc;

/// An agent with the provider that serves it.
pub(crate) type ServedAgent = (Agent, Arc<dyn LlmProvider>);

impl Topology {
    /// The agents with their providers, ready for a supervisor; keys are read through `env`.
    #[cfg_attr(
        not(any(feature = "openai", feature = "anthropic")),
        allow(unused_mut, unused_variables)
    )]
    pub(crate) fn prepare(&self, env: KeyEnv<'_>) -> Result<Vec<ServedAgent>, TopologyError> {
        let mut problems = Vec::new();
        // The remote providers agents use, made once each.
        let mut remote: BTreeMap<&str, Arc<dyn LlmProvider>> = BTreeMap::new();
        let mut seen: Vec<&str> = Vec::new();
        for agent in &self.agents {
            let Some(def) = self.providers.get(&agent.provider) else {
                continue;
            };
            if seen.contains(&def.name.as_str()) {
                continue;
            }
            seen.push(&def.name);
            if let Some(problem) = def.left_out(&self.source) {
                problems.push(problem);
                continue;
            }
            if def.kind == ProviderKind::Scripted {
                continue;
            }
            #[cfg(any(feature = "openai", feature = "anthropic"))]
            match def.remote(&self.source, env) {
                Ok(provider) => {
                    remote.insert(&def.name, provider);
                }
                Err(problem) => problems.push(problem),
            }
        }
        let mut tools: BTreeMap<&str, BuiltTool> = BTreeMap::new();
        for (name, def) in &self.tools {
            match def.build() {
                Ok(tool) => {
                    tools.insert(name, tool);
                }
                Err(error) => problems.push(
                    self.source
                        .problem_at_top(ProblemKind::InvalidValue(format!(
                            "tool {name:?}: {error}"
                        ))),
                ),
            }
        }
        if !problems.is_empty() {
            return Err(TopologyError::invalid(problems));
        }
        let mut agents = Vec::with_capacity(self.agents.len());
        for def in &self.agents {
            let provider = match (
                self.providers.get(&def.provider),
                remote.get(def.provider.as_str()),
            ) {
                (_, Some(provider)) => Arc::clone(provider),
                (Some(provider), None) => self.scripted(def, provider)?,
                (None, None) => continue,
            };
            match def.build(&tools) {
                Ok(agent) => agents.push((agent, provider)),
                Err(error) => problems.push(
                    self.source
                        .problem(&def.name_span, ProblemKind::InvalidValue(error.to_string())),
                ),
            }
        }
        if problems.is_empty() {
            Ok(agents)
        } else {
            Err(TopologyError::invalid(problems))
        }
    }

    /// The scripted model of `agent`, served as `provider` says.
    #[cfg(feature = "scripted")]
    #[allow(clippy::unnecessary_wraps)]
    fn scripted(
        &self,
        agent: &AgentDef,
        provider: &ProviderDef,
    ) -> Result<Arc<dyn LlmProvider>, TopologyError> {
        Ok(agent.scripted_provider(provider.chunk_delay))
    }

    /// Without the `scripted` feature, every scripted provider is left out (and reported
    /// before any agent is made).
    #[cfg(not(feature = "scripted"))]
    fn scripted(
        &self,
        _agent: &AgentDef,
        provider: &ProviderDef,
    ) -> Result<Arc<dyn LlmProvider>, TopologyError> {
        Err(TopologyError::invalid(
            provider.left_out(&self.source).into_iter().collect(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use baton_core::tool::{Approval, OnInterrupt, ToolPolicy};
    use std::time::Duration;

    /// The agents of `text`, made as `build` makes them (no key is read: every provider is
    /// scripted).
    fn agents(text: &str) -> Vec<Agent> {
        let topology = Topology::parse("t.toml", text).unwrap();
        topology
            .prepare(&|_| None)
            .unwrap()
            .into_iter()
            .map(|(agent, _)| agent)
            .collect()
    }

    fn policy<'a>(agent: &'a Agent, tool: &str) -> &'a ToolPolicy {
        agent.tools().policy(tool).unwrap()
    }

    #[test]
    fn a_tables_approval_and_interrupt_policy_reach_the_agents_registry() {
        let agents = agents(
            "[providers.offline]\nkind = \"scripted\"\n\
             [tools.refund]\nkind = \"kv_lookup\"\nentries = { A-1 = \"issued\" }\n\
             approval = \"always\"\non_interrupt = \"ask\"\n\
             [tools.orders]\nkind = \"kv_lookup\"\nentries = { A-1 = \"paid\" }\n\
             [tools.payout]\nkind = \"kv_lookup\"\nentries = { A-1 = \"paid\" }\nread_only = false\n\
             [[agents]]\nname = \"refunds\"\ntools = [\"refund\", \"orders\", \"payout\", \"current_time\"]\n\
             approval_timeout = \"1h\"\nscript = [{ text = \"hi\" }]\n\
             [[agents]]\nname = \"other\"\nscript = [{ text = \"hi\" }]\n",
        );
        let refunds = &agents[0];
        let refund = policy(refunds, "refund");
        assert!(matches!(refund.approval, Approval::Always));
        assert!(
            refund.read_only,
            "a kv_lookup only reads unless the file says otherwise"
        );
        assert_eq!(refund.on_interrupt, OnInterrupt::Ask);
        assert!(
            refund.tracked(),
            "its on_interrupt makes the ledger track it"
        );
        for read_only in ["orders", "current_time"] {
            let declared = policy(refunds, read_only);
            assert!(matches!(declared.approval, Approval::Never), "{read_only}");
            assert!(declared.read_only, "{read_only}");
            assert_eq!(declared.on_interrupt, OnInterrupt::Retry, "{read_only}");
            assert!(!declared.tracked(), "{read_only}");
        }
        let payout = policy(refunds, "payout");
        assert!(!payout.read_only);
        assert_eq!(
            payout.on_interrupt,
            OnInterrupt::Fail,
            "the default of a tool that writes"
        );
        assert!(payout.tracked());
        assert_eq!(
            refunds.options().approval_timeout,
            Some(Duration::from_secs(3600))
        );
        assert_eq!(agents[1].options().approval_timeout, None);
    }
}
