//! The caller-facing handle: [`Supervisor`], which starts, resumes, cancels and stops runs.

use super::agent_actor::AgentMsg;
use super::builder::SupervisorBuilder;
use super::error::SupervisorError;
use super::registry::Shared;
use super::resume::resume_point;
use super::run_request::{Progress, RunRequest};
use super::settings::{BusyThread, RunSettings};
use super::status::{AgentStatus, ShutdownReport, SupervisorStatus};
use super::supervisor_actor::SupervisorMsg;
use super::thread_turns::ThreadTurn;
use crate::ids::{AgentName, RunId, ThreadId};
use crate::llm::Message;
use crate::memory::{Store, UnfinishedRun};
use crate::run::{RunOutput, RunStream};
use ractor::ActorRef;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

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
    /// The handle of a tree that was just started.
    pub(super) fn started(shared: Arc<Shared>, actor: ActorRef<SupervisorMsg>) -> Self {
        let tree = Arc::new(Tree {
            shared: Arc::clone(&shared),
            actor: actor.clone(),
        });
        Self {
            shared,
            actor,
            _tree: tree,
        }
    }

    /// Starts configuring a supervisor.
    pub fn builder() -> SupervisorBuilder {
        SupervisorBuilder::new()
    }

    /// Starts a run of `agent` on `thread` with `input` (a user message), streaming its events.
    ///
    /// The stream carries the whole run, across handoffs, and ends with one
    /// [`RunEvent::Completed`](crate::run::RunEvent::Completed),
    /// [`RunEvent::Failed`](crate::run::RunEvent::Failed), or
    /// [`RunEvent::Paused`](crate::run::RunEvent::Paused) when calls wait for approval (see
    /// [`decide`](Self::decide)). Dropping it cancels the run.
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
            parked: None,
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
        let log = self.read_log(run).await?;
        let point =
            resume_point(&log).map_err(|reason| SupervisorError::NotResumable { run, reason })?;
        // A paused run is taken up with its parked lease, once nothing waits in time.
        let ledger = crate::run::ledger::Ledger::read(&log);
        let parked = ledger
            .paused
            .as_ref()
            .map(|pause| crate::memory::Lease::parked(run, point.thread, pause.token));
        let now = crate::memory::now_ms();
        let waiting: Vec<String> = ledger
            .pending(run)
            .into_iter()
            .filter(|p| p.expires_at_ms.is_none_or(|at| at > now))
            .map(|p| p.call_id)
            .collect();
        if !waiting.is_empty() {
            return Err(SupervisorError::NotResumable {
                run,
                reason: format!(
                    "it is paused, waiting for approval of {} (decide them to go on)",
                    waiting.join(", ")
                ),
            });
        }
        let start = RunStart {
            run_id: run,
            thread: point.thread,
            input: Vec::new(),
            progress: point.progress,
            resumed: true,
            parked,
        };
        self.dispatch(point.agent.as_str(), start, settings)
    }

    /// Admits a run and gives it to its agent's actor.
    pub(super) fn dispatch(
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
            parked,
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
            parked,
            handoff: None,
            ticket: Some(ticket),
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

    /// Whether `run` is in flight in this process.
    pub(super) fn in_flight(&self, run: RunId) -> bool {
        self.shared.runs.contains_key(&run)
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
pub(super) struct RunStart {
    pub(super) run_id: RunId,
    pub(super) thread: ThreadId,
    pub(super) input: Vec<Message>,
    pub(super) progress: Progress,
    pub(super) resumed: bool,
    /// A paused run's parked lease, to take it up with.
    pub(super) parked: Option<crate::memory::Lease>,
}
