//! Configuring and starting a supervisor: [`SupervisorBuilder`].

use super::error::SupervisorError;
use super::registry::{AgentSpec, Limits, Shared};
use super::supervisor::Supervisor;
use super::supervisor_actor::{SupervisorActor, SupervisorArgs};
use crate::agent::Agent;
use crate::llm::LlmProvider;
use crate::memory::{InMemoryStore, Store};
use ractor::Actor;
use std::sync::Arc;
use std::time::Duration;

/// Configures and starts a [`Supervisor`].
///
/// ```
/// use baton_core::actor::Supervisor;
/// use baton_core::prelude::*;
/// use baton_testkit::{Script, ScriptedProvider};
/// use std::sync::Arc;
///
/// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
/// let supervisor = Supervisor::builder()
///     .provider(Arc::new(ScriptedProvider::new().respond(Script::text("Hello!"))))
///     .agent(Agent::builder("greeter").build().unwrap())
///     .spawn()
///     .await
///     .unwrap();
/// let output = supervisor.run_to_completion("greeter", ThreadId::new(), "hi").await.unwrap();
/// assert_eq!(output.output, "Hello!");
/// supervisor.shutdown(std::time::Duration::from_secs(5)).await;
/// # });
/// ```
#[must_use]
pub struct SupervisorBuilder {
    provider: Option<Arc<dyn LlmProvider>>,
    store: Option<Arc<dyn Store>>,
    agents: Vec<(Agent, Option<Arc<dyn LlmProvider>>)>,
    limits: Limits,
    max_concurrent_runs: usize,
    max_queued_runs: usize,
}

impl std::fmt::Debug for SupervisorBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SupervisorBuilder")
            .field(
                "agents",
                &self
                    .agents
                    .iter()
                    .map(|(a, _)| a.name())
                    .collect::<Vec<_>>(),
            )
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl SupervisorBuilder {
    /// A builder with the defaults: 8 handoffs per run, 3 restarts per agent in 60 s, 1024
    /// runs of an agent at once and 100,000 in line.
    pub(super) fn new() -> Self {
        Self {
            provider: None,
            store: None,
            agents: Vec::new(),
            limits: Limits {
                max_handoffs: 8,
                max_restarts: 3,
                restart_window: Duration::from_secs(60),
            },
            max_concurrent_runs: 1024,
            max_queued_runs: 100_000,
        }
    }

    /// The provider of agents added without one of their own.
    pub fn provider(mut self, provider: Arc<dyn LlmProvider>) -> Self {
        self.provider = Some(provider);
        self
    }

    /// The store of threads and episodes (in memory by default).
    pub fn store(mut self, store: Arc<dyn Store>) -> Self {
        self.store = Some(store);
        self
    }

    /// Adds an agent served by the default provider.
    pub fn agent(mut self, agent: Agent) -> Self {
        self.agents.push((agent, None));
        self
    }

    /// Adds an agent served by its own provider.
    pub fn agent_with_provider(mut self, agent: Agent, provider: Arc<dyn LlmProvider>) -> Self {
        self.agents.push((agent, Some(provider)));
        self
    }

    /// Most handoffs in one run (default 8); one more fails the run.
    pub fn max_handoffs(mut self, max: u32) -> Self {
        self.limits.max_handoffs = max;
        self
    }

    /// Restarts of an agent's actor allowed within `window` (default 3 in 60 s); past that the
    /// agent is down and requests to it fail.
    pub fn restart_budget(mut self, max_restarts: usize, window: Duration) -> Self {
        self.limits.max_restarts = max_restarts;
        self.limits.restart_window = window;
        self
    }

    /// Runs of one agent that execute at once (default 1024); more wait in line.
    pub fn max_concurrent_runs(mut self, max: usize) -> Self {
        self.max_concurrent_runs = max.max(1);
        self
    }

    /// Runs of one agent that may wait in line (default 100 000); more are refused with
    /// [`SupervisorError::Overloaded`].
    pub fn max_queued_runs(mut self, max: usize) -> Self {
        self.max_queued_runs = max;
        self
    }

    /// Validates the topology, starts the supervisor and one actor per agent.
    pub async fn spawn(self) -> Result<Supervisor, SupervisorError> {
        let store = self.store.unwrap_or_else(|| InMemoryStore::shared());
        let mut specs: Vec<Arc<AgentSpec>> = Vec::with_capacity(self.agents.len());
        for (agent, provider) in self.agents {
            if specs.iter().any(|s| s.agent.name() == agent.name()) {
                return Err(SupervisorError::Config(format!(
                    "agent {} is defined twice",
                    agent.name()
                )));
            }
            let provider = provider.or_else(|| self.provider.clone()).ok_or_else(|| {
                SupervisorError::Config(format!(
                    "agent {} has no provider and no default provider is set",
                    agent.name()
                ))
            })?;
            specs.push(Arc::new(AgentSpec {
                agent: Arc::new(agent),
                provider,
                max_concurrent_runs: self.max_concurrent_runs,
                max_admitted_runs: self
                    .max_concurrent_runs
                    .saturating_add(self.max_queued_runs),
            }));
        }
        for spec in &specs {
            for target in spec.agent.handoffs() {
                if !specs.iter().any(|s| s.agent.name() == target) {
                    tracing::warn!(agent = %spec.agent.name(), %target, "handoff target is not defined; handing off to it will fail");
                }
            }
        }
        let shared = Arc::new(Shared::new(store, self.limits));
        let args = SupervisorArgs {
            shared: Arc::clone(&shared),
            specs,
        };
        let (actor, _join) = Actor::spawn(None, SupervisorActor, args)
            .await
            .map_err(|error| SupervisorError::Spawn(error.to_string()))?;
        Ok(Supervisor::started(shared, actor))
    }
}
