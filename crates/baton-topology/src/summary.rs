//! What a topology holds, for a short report.

use crate::store::StoreSpec;
use baton_core::ids::AgentName;
use std::fmt;

/// What a topology holds: its agents and how they connect, its providers and its store.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Summary {
    /// The file, as given.
    pub file: String,
    /// The agent runs start with.
    pub entry: AgentName,
    /// The store.
    pub store: StoreSpec,
    /// The agents, in file order.
    pub agents: Vec<AgentSummary>,
    /// The providers the file defines: name and kind.
    pub providers: Vec<(String, String)>,
}

/// One agent of a [`Summary`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AgentSummary {
    /// The agent.
    pub name: AgentName,
    /// The provider that serves it.
    pub provider: String,
    /// Its tools.
    pub tools: Vec<String>,
    /// Those of its tools whose calls wait for a person's approval (`approval = "always"`).
    pub approvals: Vec<String>,
    /// The agents it may hand off to.
    pub handoffs: Vec<AgentName>,
}

impl fmt::Display for Summary {
    /// ```text
    /// support.toml: 3 agents, entry triage, store sqlite:baton.db
    ///   triage   (scripted) → billing
    ///   billing  (scripted) tools: lookup_order → refunds
    ///   refunds  (scripted) tools: refund (needs approval)
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plural = if self.agents.len() == 1 { "" } else { "s" };
        write!(
            f,
            "{}: {} agent{plural}, entry {}, store {}",
            self.file,
            self.agents.len(),
            self.entry,
            self.store
        )?;
        let width = self
            .agents
            .iter()
            .map(|a| a.name.as_str().len())
            .max()
            .unwrap_or(0);
        for agent in &self.agents {
            write!(f, "\n  {:width$} ({})", agent.name.as_str(), agent.provider)?;
            for (i, tool) in agent.tools.iter().enumerate() {
                f.write_str(if i == 0 { " tools: " } else { ", " })?;
                f.write_str(tool)?;
                if agent.approvals.contains(tool) {
                    f.write_str(" (needs approval)")?;
                }
            }
            if !agent.handoffs.is_empty() {
                let targets: Vec<&str> = agent.handoffs.iter().map(AgentName::as_str).collect();
                write!(f, " → {}", targets.join(", "))?;
            }
        }
        Ok(())
    }
}
