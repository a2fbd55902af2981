//! State shared by the supervisor, its agent actors and the handles: the agent registry, the
//! runs in flight and the thread locks. Lock-free or sharded, so the hot path never waits on
//! the supervisor's mailbox.

use super::agent_actor::AgentMsg;
use super::thread_turns::ThreadLocks;
use crate::agent::Agent;
use crate::ids::{AgentName, RunId};
use crate::llm::LlmProvider;
use crate::memory::Store;
use crate::run::LeaseKeeper;
use dashmap::DashMap;
use ractor::ActorRef;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// What the supervisor needs to (re)start an agent's actor.
pub(crate) struct AgentSpec {
    pub(crate) agent: Arc<Agent>,
    pub(crate) provider: Arc<dyn LlmProvider>,
    /// Runs of this agent that execute at once; more wait their turn.
    pub(crate) max_concurrent_runs: usize,
    /// Runs of this agent admitted at once, running or waiting; more are refused.
    pub(crate) max_admitted_runs: usize,
}

/// An agent in the registry: how to reach its live actor and admit runs to it. The admission
/// count belongs to the actor's incarnation (a restart starts it afresh); the registry only
/// points at it, so that admitting a run never waits on a mailbox.
pub(crate) struct AgentSlot {
    pub(crate) spec: Arc<AgentSpec>,
    /// The live actor, or `None` once the agent is down.
    pub(crate) actor: Option<ActorRef<AgentMsg>>,
    /// The live actor's admission count.
    pub(crate) admitted: Arc<AtomicUsize>,
    /// Set while a failure of the agent is reported and the supervisor has not yet dealt with
    /// it.
    pub(crate) failing: Arc<AtomicBool>,
    pub(crate) restarts: AtomicU32,
}

impl AgentSlot {
    pub(crate) fn new(spec: Arc<AgentSpec>, live: LiveAgent, failing: Arc<AtomicBool>) -> Self {
        Self {
            spec,
            actor: Some(live.actor),
            admitted: live.admitted,
            failing,
            restarts: AtomicU32::new(0),
        }
    }

    /// Admits one more run if the agent has room.
    pub(crate) fn admit(&self) -> Option<Admission> {
        let limit = self.spec.max_admitted_runs;
        self.admitted
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < limit).then_some(n + 1)
            })
            .ok()
            .map(|_| Admission {
                counter: Arc::clone(&self.admitted),
            })
    }
}

/// A started agent actor and its admission count.
pub(crate) struct LiveAgent {
    pub(crate) actor: ActorRef<AgentMsg>,
    pub(crate) admitted: Arc<AtomicUsize>,
}

/// One admitted run of an agent; gives its place back on drop.
#[derive(Debug)]
pub(crate) struct Admission {
    counter: Arc<AtomicUsize>,
}

impl Drop for Admission {
    fn drop(&mut self) {
        self.counter.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Policy settings of a supervisor.
#[derive(Debug, Clone)]
pub(crate) struct Limits {
    pub(crate) max_handoffs: u32,
    pub(crate) max_restarts: usize,
    pub(crate) restart_window: Duration,
}

pub(crate) struct Shared {
    pub(crate) agents: DashMap<AgentName, AgentSlot>,
    pub(crate) runs: DashMap<RunId, CancellationToken>,
    /// How many runs are in flight (`runs.len()` would lock every shard).
    pub(crate) in_flight: AtomicUsize,
    pub(crate) threads: Arc<ThreadLocks>,
    pub(crate) store: Arc<dyn Store>,
    /// Renews the leases of this supervisor's runs, from one task.
    pub(crate) keeper: Arc<LeaseKeeper>,
    pub(crate) limits: Limits,
    pub(crate) accepting: AtomicBool,
    pub(crate) stopping: AtomicBool,
    /// Signalled whenever the last run in flight ends.
    pub(crate) idle: Notify,
    /// Signalled whenever the supervisor replaced or gave up an agent's actor, or a reported
    /// failure turned out to be handled already.
    pub(crate) agent_changed: Notify,
}

impl Shared {
    /// The shared state of a supervisor; its lease keeper's task starts on the current runtime.
    pub(crate) fn new(store: Arc<dyn Store>, limits: Limits) -> Self {
        Self {
            agents: DashMap::new(),
            runs: DashMap::new(),
            in_flight: AtomicUsize::new(0),
            threads: Arc::new(ThreadLocks::default()),
            keeper: LeaseKeeper::spawn(Arc::clone(&store)),
            store,
            limits,
            accepting: AtomicBool::new(true),
            stopping: AtomicBool::new(false),
            idle: Notify::new(),
            agent_changed: Notify::new(),
        }
    }

    /// Registers a run so it can be cancelled by id; it is forgotten when the ticket drops.
    /// `None` if the run is already in flight.
    pub(crate) fn register_run(
        self: &Arc<Self>,
        run: RunId,
        cancel: CancellationToken,
    ) -> Option<RunTicket> {
        match self.runs.entry(run) {
            dashmap::mapref::entry::Entry::Occupied(_) => None,
            dashmap::mapref::entry::Entry::Vacant(vacant) => {
                vacant.insert(cancel);
                self.in_flight.fetch_add(1, Ordering::AcqRel);
                Some(RunTicket {
                    run,
                    shared: Arc::clone(self),
                })
            }
        }
    }

    /// Waits until no agent has a failure the supervisor has not dealt with.
    pub(crate) async fn wait_settled(&self) {
        loop {
            let changed = self.agent_changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if !self
                .agents
                .iter()
                .any(|slot| slot.failing.load(Ordering::Acquire))
            {
                return;
            }
            changed.await;
        }
    }

    /// Waits until no run is in flight.
    pub(crate) async fn wait_idle(&self) {
        loop {
            let idle = self.idle.notified();
            tokio::pin!(idle);
            idle.as_mut().enable();
            if self.in_flight.load(Ordering::Acquire) == 0 {
                return;
            }
            idle.await;
        }
    }
}

/// A run's registration; it travels with the run across handoffs and unregisters it on drop.
pub(crate) struct RunTicket {
    run: RunId,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for RunTicket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("RunTicket").field(&self.run).finish()
    }
}

impl Drop for RunTicket {
    fn drop(&mut self) {
        self.shared.runs.remove(&self.run);
        if self.shared.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.shared.idle.notify_waiters();
        }
    }
}
