//! The caller-facing API: a builder that starts the actor tree and a cloneable handle.

use super::agent_actor::{AgentMsg, Progress, RunRequest};
use super::error::SupervisorError;
use super::shared::{AgentSpec, Limits, Shared};
use super::supervisor::{SupervisorActor, SupervisorArgs, SupervisorMsg};
use super::thread_lock::ThreadTurn;
use crate::agent::Agent;
use crate::ids::{AgentName, RunId, ThreadId};
use crate::llm::{LlmProvider, Message};
use crate::memory::{Episode, EpisodeRecord, InMemoryStore, Store, UnfinishedRun};
use crate::run::{RunOptions, RunOutput, RunStream};
use ractor::{Actor, ActorRef};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// What a run request does when its thread is busy with another run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum BusyThread {
    /// Wait for the other run to end (the default).
    #[default]
    Wait,
    /// Fail at once with [`SupervisorError::ThreadBusy`].
    Fail,
}

/// Per-request settings of [`Supervisor::run_with`].
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct RunSettings {
    /// Limits for this run instead of the agent's own.
    pub options: Option<RunOptions>,
    /// What to do when the thread is busy.
    pub busy_thread: BusyThread,
    /// Typed data for the run's tools, guardrails and provider (see
    /// [`RunContext::extension`](crate::context::RunContext::extension)).
    pub extensions: http::Extensions,
}

impl RunSettings {
    /// Uses `options` for this run.
    #[must_use]
    pub fn with_options(mut self, options: RunOptions) -> Self {
        self.options = Some(options);
        self
    }

    /// Attaches `value` to the run: its tools, guardrails and provider can read it (one value
    /// per type; a second of the same type replaces the first).
    #[must_use]
    pub fn with_extension<T: Clone + Send + Sync + 'static>(mut self, value: T) -> Self {
        self.extensions.insert(value);
        self
    }

    /// Sets the busy-thread policy.
    #[must_use]
    pub fn with_busy_thread(mut self, busy: BusyThread) -> Self {
        self.busy_thread = busy;
        self
    }
}

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
        let tree = Arc::new(Tree {
            shared: Arc::clone(&shared),
            actor: actor.clone(),
        });
        Ok(Supervisor {
            shared,
            actor,
            _tree: tree,
        })
    }
}

/// A running supervisor: the handle services embed. Cloning is cheap; every clone drives the
/// same actors. Dropping the last clone without [`shutdown`](Supervisor::shutdown) stops the
/// tree at once: runs in flight are cancelled (each records its end) and the actors stop.
#[derive(Clone)]
pub struct Supervisor {
    shared: Arc<Shared>,
    actor: ActorRef<SupervisorMsg>,
    _tree: Arc<Tree>,
}

/// Owned by every handle: when the last one goes, so does the tree.
struct Tree {
    shared: Arc<Shared>,
    actor: ActorRef<SupervisorMsg>,
}

impl Drop for Tree {
    fn drop(&mut self) {
        self.shared.accepting.store(false, Ordering::Release);
        for run in &self.shared.runs {
            run.value().cancel();
        }
        // Stopping the supervisor stops its agents, which wait for their runs to record
        // their ends.
        self.actor
            .stop(Some("every supervisor handle was dropped".into()));
    }
}

impl std::fmt::Debug for Supervisor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Supervisor")
            .field("agents", &self.shared.agents.len())
            .field(
                "active_runs",
                &self.shared.in_flight.load(Ordering::Acquire),
            )
            .finish_non_exhaustive()
    }
}

impl Supervisor {
    /// Starts configuring a supervisor.
    pub fn builder() -> SupervisorBuilder {
        SupervisorBuilder {
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

    /// Starts a run of `agent` on `thread` with `input` (a user message), streaming its events.
    ///
    /// The stream carries the whole run, across handoffs, and ends with one
    /// [`RunEvent::Completed`] or [`RunEvent::Failed`]. Dropping it cancels the run.
    pub async fn run(
        &self,
        agent: &str,
        thread: ThreadId,
        input: impl Into<Message>,
    ) -> Result<RunStream, SupervisorError> {
        self.run_with(agent, thread, vec![input.into()], RunSettings::default())
            .await
    }

    /// Starts a run with several input messages and per-request settings.
    pub async fn run_with(
        &self,
        agent: &str,
        thread: ThreadId,
        input: Vec<Message>,
        settings: RunSettings,
    ) -> Result<RunStream, SupervisorError> {
        let start = RunStart {
            run_id: RunId::new(),
            thread,
            input,
            progress: Progress::default(),
            resumed: false,
        };
        self.dispatch(agent, start, settings)
    }

    /// Runs that started but neither completed nor failed, oldest first, each with its
    /// driver when one holds its lease (in flight, here or in another process). Those without
    /// one were abandoned (a crash) and may be [`resume`](Self::resume)d.
    pub async fn unfinished_runs(&self) -> Result<Vec<UnfinishedRun>, SupervisorError> {
        Ok(self.shared.store.unfinished_runs().await?)
    }

    /// Continues an interrupted run from its last completed step, with the agent that was
    /// working on it, streaming its events.
    ///
    /// The thread holds exactly the run's completed steps (a step's messages and its episodes
    /// are committed together), so no tool call whose result was recorded runs again; the
    /// run's step numbers, usage and handoff count go on from its log.
    ///
    /// The resumed run takes the run's lease first: if another process drives it, the stream
    /// ends at once with [`StoreError::RunLeased`](crate::error::StoreError::RunLeased) and
    /// nothing is written.
    pub async fn resume(&self, run: RunId) -> Result<RunStream, SupervisorError> {
        self.resume_with(run, RunSettings::default()).await
    }

    /// [`resume`](Self::resume) with per-request settings: the extensions a run had are not
    /// stored, so a resumed run gets them here.
    pub async fn resume_with(
        &self,
        run: RunId,
        settings: RunSettings,
    ) -> Result<RunStream, SupervisorError> {
        if self.shared.runs.contains_key(&run) {
            return Err(SupervisorError::NotResumable {
                run,
                reason: "it is in flight".into(),
            });
        }
        let log = self.shared.store.episodes(run).await?;
        if log.is_empty() {
            return Err(SupervisorError::UnknownRun(run));
        }
        let point =
            resume_point(&log).map_err(|reason| SupervisorError::NotResumable { run, reason })?;
        let start = RunStart {
            run_id: run,
            thread: point.thread,
            input: Vec::new(),
            progress: point.progress,
            resumed: true,
        };
        self.dispatch(point.agent.as_str(), start, settings)
    }

    /// Admits a run and gives it to its agent's actor.
    fn dispatch(
        &self,
        agent: &str,
        start: RunStart,
        settings: RunSettings,
    ) -> Result<RunStream, SupervisorError> {
        if !self.shared.accepting.load(Ordering::Acquire) {
            return Err(SupervisorError::ShuttingDown);
        }
        let slot = self
            .shared
            .agents
            .get(agent)
            .ok_or_else(|| SupervisorError::UnknownAgent(agent.to_owned()))?;
        let name = slot.spec.agent.name().clone();
        let actor = slot
            .actor
            .clone()
            .ok_or_else(|| SupervisorError::AgentDown(name.clone()))?;
        let admission = slot
            .admit()
            .ok_or_else(|| SupervisorError::Overloaded(name.clone()))?;
        drop(slot);
        let RunStart {
            run_id,
            thread,
            input,
            progress,
            resumed,
        } = start;
        let cancel = CancellationToken::new();
        let ticket = self
            .shared
            .register_run(run_id, cancel.clone())
            .ok_or_else(|| SupervisorError::NotResumable {
                run: run_id,
                reason: "it is in flight".into(),
            })?;
        let thread_turn = match settings.busy_thread {
            BusyThread::Wait => self.shared.threads.enqueue(thread),
            BusyThread::Fail => ThreadTurn::Held(
                self.shared
                    .threads
                    .try_lock(thread)
                    .ok_or(SupervisorError::ThreadBusy(thread))?,
            ),
        };
        let (sink, stream) = RunStream::channel(run_id, cancel.clone());
        let request = Box::new(RunRequest {
            run_id,
            thread,
            input,
            options: settings.options,
            sink,
            cancel,
            thread_turn: Some(thread_turn),
            progress,
            extensions: crate::context::share(settings.extensions),
            resumed,
            handoff: None,
            _ticket: ticket,
            admission,
        });
        actor
            .cast(AgentMsg::Run(request))
            .map_err(|_| SupervisorError::AgentUnavailable(name))?;
        Ok(stream)
    }

    /// Runs `agent` on `thread` with `input` and waits for the answer.
    pub async fn run_to_completion(
        &self,
        agent: &str,
        thread: ThreadId,
        input: impl Into<Message>,
    ) -> Result<RunOutput, SupervisorError> {
        let stream = self.run(agent, thread, input).await?;
        let run_id = stream.run_id();
        let (output, usage, steps) = stream
            .finish_counting_steps()
            .await
            .map_err(SupervisorError::Run)?;
        Ok(RunOutput {
            run_id,
            thread,
            output,
            usage,
            steps,
        })
    }

    /// Cancels a run wherever it is (running, waiting, or between agents). Returns whether the
    /// run was in flight.
    pub fn cancel(&self, run: RunId) -> bool {
        match self.shared.runs.get(&run) {
            Some(token) => {
                token.cancel();
                true
            }
            None => false,
        }
    }

    /// A snapshot of the agents and the runs in flight.
    #[must_use]
    pub fn status(&self) -> SupervisorStatus {
        let mut agents: Vec<AgentStatus> = self
            .shared
            .agents
            .iter()
            .map(|slot| AgentStatus {
                name: slot.key().clone(),
                up: slot.actor.is_some(),
                admitted_runs: slot.admitted.load(Ordering::Acquire),
                restarts: slot.restarts.load(Ordering::Relaxed),
            })
            .collect();
        agents.sort_by(|a, b| a.name.cmp(&b.name));
        SupervisorStatus {
            accepting: self.shared.accepting.load(Ordering::Acquire),
            active_runs: self.shared.in_flight.load(Ordering::Acquire),
            agents,
        }
    }

    /// The runs an agent's actor currently owns, asked through its mailbox.
    pub async fn agent_runs(&self, agent: &str) -> Result<Vec<RunId>, SupervisorError> {
        let actor = self.live_actor(agent)?;
        match actor.call(AgentMsg::Status, None).await {
            Ok(ractor::rpc::CallResult::Success(runs)) => Ok(runs),
            _ => Err(SupervisorError::AgentUnavailable(self.agent_name(agent)?)),
        }
    }

    /// Waits until the supervisor has dealt with every failure of an agent reported so far
    /// (restarted its actor, or marked it down). A run that panicked reports its agent's
    /// failure before its stream ends, so after its `Failed` event this returns once the
    /// restart (or the agent's end) is visible in [`status`](Self::status).
    pub async fn settled(&self) {
        self.shared.wait_settled().await;
    }

    /// Waits until no run is in flight (runs may start again afterwards).
    pub async fn idle(&self) {
        self.shared.wait_idle().await;
    }

    /// The store of threads and episodes.
    #[must_use]
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.shared.store
    }

    /// Stops taking runs, lets the runs in flight finish within `grace`, cancels the rest (each
    /// records `Failed`), then stops every actor.
    ///
    /// Returns within `grace` plus [`SHUTDOWN_BOUND`] whatever consumers do: a run never waits
    /// for a consumer that stopped reading once it is cancelled, and its end is recorded
    /// without waiting for room on the stream. Only a store that hangs can hold a run longer;
    /// such runs are left to finish on their own.
    pub async fn shutdown(&self, grace: Duration) -> ShutdownReport {
        self.shared.accepting.store(false, Ordering::Release);
        let in_flight = self.shared.in_flight.load(Ordering::Acquire);
        let cancelled = if tokio::time::timeout(grace, self.shared.wait_idle())
            .await
            .is_ok()
        {
            0
        } else {
            let tokens: Vec<CancellationToken> = self
                .shared
                .runs
                .iter()
                .map(|run| run.value().clone())
                .collect();
            for token in &tokens {
                token.cancel();
            }
            if tokio::time::timeout(SHUTDOWN_BOUND, self.shared.wait_idle())
                .await
                .is_err()
            {
                tracing::warn!(
                    runs = self.shared.in_flight.load(Ordering::Acquire),
                    "runs did not end after being cancelled; stopping without them"
                );
            }
            tokens.len()
        };
        self.shared.stopping.store(true, Ordering::Release);
        match tokio::time::timeout(
            SHUTDOWN_BOUND,
            self.actor.stop_and_wait(Some("shutdown".into()), None),
        )
        .await
        {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(%error, "the supervisor did not stop cleanly"),
            Err(_) => tracing::warn!("the supervisor did not stop within the bound"),
        }
        ShutdownReport {
            in_flight,
            cancelled,
        }
    }

    fn live_actor(&self, agent: &str) -> Result<ActorRef<AgentMsg>, SupervisorError> {
        let slot = self
            .shared
            .agents
            .get(agent)
            .ok_or_else(|| SupervisorError::UnknownAgent(agent.to_owned()))?;
        slot.actor
            .clone()
            .ok_or_else(|| SupervisorError::AgentDown(slot.key().clone()))
    }

    fn agent_name(&self, agent: &str) -> Result<AgentName, SupervisorError> {
        self.shared
            .agents
            .get(agent)
            .map(|slot| slot.key().clone())
            .ok_or_else(|| SupervisorError::UnknownAgent(agent.to_owned()))
    }
}

/// How long [`Supervisor::shutdown`] waits, past its grace, for cancelled runs to record
/// their ends and for the actors to stop.
pub const SHUTDOWN_BOUND: Duration = Duration::from_secs(5);

/// What a run starts from: fresh, or resumed from its log.
struct RunStart {
    run_id: RunId,
    thread: ThreadId,
    input: Vec<Message>,
    progress: Progress,
    resumed: bool,
}

/// Where an interrupted run goes on: its thread, the agent working on it, and its progress.
#[derive(Debug, PartialEq)]
struct ResumePoint {
    thread: ThreadId,
    agent: AgentName,
    progress: Progress,
}

/// Reads a run's log to find where it stopped.
fn resume_point(log: &[EpisodeRecord]) -> Result<ResumePoint, String> {
    let mut thread = None;
    let mut agent = None;
    let mut progress = Progress::default();
    for record in log {
        match &record.episode {
            Episode::Started {
                agent: started,
                thread: on,
            } => {
                thread.get_or_insert(*on);
                agent = Some(started.clone());
            }
            Episode::StepCompleted { step, usage, .. } => {
                progress.steps = progress.steps.max(*step);
                progress.usage += *usage;
            }
            Episode::HandedOff { to, .. } => {
                agent = Some(to.clone());
                progress.handoffs += 1;
            }
            Episode::Completed { .. } | Episode::Failed { .. } => {
                return Err("it already finished".into());
            }
            _ => {}
        }
    }
    match (thread, agent) {
        (Some(thread), Some(agent)) => Ok(ResumePoint {
            thread,
            agent,
            progress,
        }),
        _ => Err("its log does not say where it started".into()),
    }
}

/// A snapshot of a supervisor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SupervisorStatus {
    /// Whether new runs are taken.
    pub accepting: bool,
    /// Runs in flight (running, waiting, or between agents).
    pub active_runs: usize,
    /// Every agent, by name.
    pub agents: Vec<AgentStatus>,
}

/// A snapshot of one agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentStatus {
    /// The agent.
    pub name: AgentName,
    /// Whether its actor is up (false once the restart budget is exhausted).
    pub up: bool,
    /// Runs admitted (running or waiting).
    pub admitted_runs: usize,
    /// How often its actor was restarted.
    pub restarts: u32,
}

/// What [`Supervisor::shutdown`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Runs in flight when shutdown began.
    pub in_flight: usize,
    /// Runs cancelled because they did not finish within the grace period.
    pub cancelled: usize,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::{FinishReason, Usage};

    fn log(episodes: Vec<Episode>) -> Vec<EpisodeRecord> {
        episodes
            .into_iter()
            .enumerate()
            .map(|(seq, episode)| EpisodeRecord::now(seq as u64, episode))
            .collect()
    }

    fn step(step: u32, usage: Usage) -> Episode {
        Episode::StepCompleted {
            step,
            usage,
            latency_ms: 1,
            finish_reason: FinishReason::ToolCalls,
            tool_calls: 1,
        }
    }

    #[test]
    fn the_resume_point_follows_steps_and_handoffs() {
        let thread = ThreadId::new();
        let (a, b) = (AgentName::new("a").unwrap(), AgentName::new("b").unwrap());
        let point = resume_point(&log(vec![
            Episode::Started {
                agent: a.clone(),
                thread,
            },
            step(1, Usage::new(10, 1)),
            Episode::HandedOff {
                from: a.clone(),
                to: b.clone(),
                reason: "r".into(),
            },
            Episode::Started {
                agent: b.clone(),
                thread,
            },
            step(2, Usage::new(20, 2)),
        ]))
        .unwrap();
        assert_eq!(
            point,
            ResumePoint {
                thread,
                agent: b.clone(),
                progress: Progress {
                    handoffs: 1,
                    steps: 2,
                    usage: Usage::new(30, 3)
                }
            }
        );
        // Handed off, but the target never started: the target goes on.
        let point = resume_point(&log(vec![
            Episode::Started {
                agent: a.clone(),
                thread,
            },
            Episode::HandedOff {
                from: a.clone(),
                to: b.clone(),
                reason: "r".into(),
            },
        ]))
        .unwrap();
        assert_eq!(point.agent, b);
    }

    #[test]
    fn finished_runs_are_not_resumable() {
        let thread = ThreadId::new();
        let a = AgentName::new("a").unwrap();
        let finished = log(vec![
            Episode::Started { agent: a, thread },
            Episode::failed(&crate::error::RunError::Cancelled),
        ]);
        assert_eq!(resume_point(&finished).unwrap_err(), "it already finished");
        assert!(resume_point(&[]).is_err());
    }
}
