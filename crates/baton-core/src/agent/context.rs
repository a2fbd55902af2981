//! What one run of an agent needs.

use super::Agent;
use crate::ids::{AgentName, RunId};
use crate::llm::LlmProvider;
use crate::memory::Store;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

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
