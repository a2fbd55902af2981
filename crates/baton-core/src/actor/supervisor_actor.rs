//! The supervisor actor: starts the agent actors linked to itself, restarts them within a
//! budget, and routes handoffs.

use super::agent_actor::{AgentActor, AgentArgs, AgentMsg};
use super::registry::{AgentSlot, AgentSpec, LiveAgent, Shared};
use super::run_request::RunRequest;
use crate::error::RunError;
use crate::ids::AgentName;
use ractor::{Actor, ActorId, ActorProcessingErr, ActorRef, SupervisionEvent};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use tokio::task::JoinSet;
use tokio::time::Instant;

/// A run that an agent handed to another.
#[derive(Debug)]
pub(crate) struct HandoffRequest {
    pub(crate) to: AgentName,
    pub(crate) request: Box<RunRequest>,
}

/// Messages of the supervisor actor.
#[derive(Debug)]
pub(crate) enum SupervisorMsg {
    /// Route a run to another agent.
    Handoff(HandoffRequest),
}

pub(crate) struct SupervisorActor;

pub(crate) struct SupervisorArgs {
    pub(crate) shared: Arc<Shared>,
    pub(crate) specs: Vec<Arc<AgentSpec>>,
}

pub(crate) struct SupervisorState {
    shared: Arc<Shared>,
    /// Which agent each live actor serves.
    actors: HashMap<ActorId, AgentName>,
    /// When each agent's actor failed, within the restart window.
    failures: HashMap<AgentName, VecDeque<Instant>>,
    /// Tasks failing runs whose handoff was refused.
    refusals: JoinSet<()>,
}

impl Actor for SupervisorActor {
    type Msg = SupervisorMsg;
    type State = SupervisorState;
    type Arguments = SupervisorArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<SupervisorMsg>,
        args: SupervisorArgs,
    ) -> Result<SupervisorState, ActorProcessingErr> {
        let mut state = SupervisorState {
            shared: args.shared,
            actors: HashMap::new(),
            failures: HashMap::new(),
            refusals: JoinSet::new(),
        };
        for spec in args.specs {
            let failing = Arc::new(AtomicBool::new(false));
            let live = state
                .spawn_agent(&myself, Arc::clone(&spec), Arc::clone(&failing))
                .await?;
            let name = spec.agent.name().clone();
            state
                .shared
                .agents
                .insert(name, AgentSlot::new(spec, live, failing));
        }
        Ok(state)
    }

    async fn handle(
        &self,
        _myself: ActorRef<SupervisorMsg>,
        message: SupervisorMsg,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            SupervisorMsg::Handoff(HandoffRequest { to, request }) => {
                while state.refusals.try_join_next().is_some() {}
                if let Err((reason, request)) = state.route_handoff(to, request) {
                    // Failing the run needs the store and the consumer: not in this handler,
                    // which never waits on I/O, but in a task the supervisor owns.
                    let store = Arc::clone(&state.shared.store);
                    state.refusals.spawn(async move {
                        request
                            .refuse(store.as_ref(), RunError::routing(reason))
                            .await;
                    });
                }
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<SupervisorMsg>,
        event: SupervisionEvent,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        let (cell, failure) = match event {
            SupervisionEvent::ActorFailed(cell, error) => (cell, error.to_string()),
            SupervisionEvent::ActorTerminated(cell, _, reason) => {
                (cell, reason.unwrap_or_else(|| "stopped".to_owned()))
            }
            _ => return Ok(()),
        };
        let Some(name) = state.actors.remove(&cell.get_id()) else {
            return Ok(());
        };
        if !state.shared.stopping.load(Ordering::Acquire) {
            tracing::error!(agent = %name, %failure, "agent actor stopped unexpectedly");
            state.restart(&myself, name.clone()).await;
        }
        if let Some(slot) = state.shared.agents.get(&name) {
            slot.failing.store(false, Ordering::Release);
        }
        state.shared.agent_changed.notify_waiters();
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<SupervisorMsg>,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        state.shared.stopping.store(true, Ordering::Release);
        while state.refusals.join_next().await.is_some() {}
        // Failures reported but not yet handled never will be: nothing is left to restart.
        for slot in state.shared.agents.iter() {
            slot.failing.store(false, Ordering::Release);
        }
        state.shared.agent_changed.notify_waiters();
        let actors: Vec<ActorRef<AgentMsg>> = state
            .shared
            .agents
            .iter_mut()
            .filter_map(|mut slot| slot.actor.take())
            .collect();
        for actor in actors {
            if let Err(error) = actor
                .stop_and_wait(Some("supervisor stopping".into()), None)
                .await
            {
                tracing::warn!(%error, "an agent actor did not stop cleanly");
            }
        }
        Ok(())
    }
}

impl SupervisorState {
    /// Starts an actor for `spec` with fresh state: its own permits, admission count and
    /// runs.
    async fn spawn_agent(
        &mut self,
        myself: &ActorRef<SupervisorMsg>,
        spec: Arc<AgentSpec>,
        failing: Arc<AtomicBool>,
    ) -> Result<LiveAgent, ActorProcessingErr> {
        let name = spec.agent.name().clone();
        let admitted = Arc::new(AtomicUsize::new(0));
        let args = AgentArgs {
            spec,
            shared: Arc::clone(&self.shared),
            supervisor: myself.clone(),
            admitted: Arc::clone(&admitted),
            failing,
        };
        let (actor, _join) = Actor::spawn_linked(None, AgentActor, args, myself.get_cell()).await?;
        self.actors.insert(actor.get_id(), name);
        Ok(LiveAgent { actor, admitted })
    }

    /// Restarts `name`'s actor unless it failed `max_restarts` times within the window; then
    /// the agent is marked down.
    async fn restart(&mut self, myself: &ActorRef<SupervisorMsg>, name: AgentName) {
        let limits = self.shared.limits.clone();
        let now = Instant::now();
        let failures = self.failures.entry(name.clone()).or_default();
        failures.push_back(now);
        while failures
            .front()
            .is_some_and(|at| now.duration_since(*at) > limits.restart_window)
        {
            failures.pop_front();
        }
        let within_budget = failures.len() <= limits.max_restarts;
        let Some((spec, failing)) = self
            .shared
            .agents
            .get(&name)
            .map(|slot| (Arc::clone(&slot.spec), Arc::clone(&slot.failing)))
        else {
            return;
        };
        let live = if within_budget {
            match self.spawn_agent(myself, spec, failing).await {
                Ok(live) => Some(live),
                Err(error) => {
                    tracing::error!(agent = %name, %error, "could not restart agent actor");
                    None
                }
            }
        } else {
            tracing::error!(agent = %name, max_restarts = limits.max_restarts, "restart budget exhausted; agent is down");
            None
        };
        if let Some(mut slot) = self.shared.agents.get_mut(&name) {
            match live {
                Some(live) => {
                    slot.restarts.fetch_add(1, Ordering::Relaxed);
                    slot.actor = Some(live.actor);
                    slot.admitted = live.admitted;
                }
                None => slot.actor = None,
            }
        }
    }

    /// Checks a handoff and gives the run to the target's actor; a refusal gives the request
    /// back with the reason.
    fn route_handoff(
        &self,
        to: AgentName,
        request: Box<RunRequest>,
    ) -> Result<(), (String, Box<RunRequest>)> {
        match self.check_handoff(&to, &request) {
            Ok((actor, admission)) => {
                let mut request = request;
                request.admission = admission;
                match actor.cast(AgentMsg::Run(request)) {
                    Ok(()) => Ok(()),
                    Err(ractor::MessagingErr::SendErr(AgentMsg::Run(request))) => Err((
                        format!("handoff to {to} failed: agent {to} is unavailable"),
                        request,
                    )),
                    Err(error) => {
                        // The request did not come back, so the run cannot be failed from here:
                        // dropping it frees its thread and registration, and its stream ends
                        // saying the run was lost.
                        tracing::error!(agent = %to, %error, "a handoff could not be delivered");
                        Ok(())
                    }
                }
            }
            Err(reason) => Err((reason, request)),
        }
    }

    /// Whether the run may go to `to`: the target exists, is up, is allowed, admits one more
    /// run, and the run has handoffs left.
    fn check_handoff(
        &self,
        to: &AgentName,
        request: &RunRequest,
    ) -> Result<(ActorRef<AgentMsg>, super::registry::Admission), String> {
        let Some((from, _)) = request.handoff.as_ref() else {
            return Err("a handoff request without its origin".to_owned());
        };
        let max = self.shared.limits.max_handoffs;
        if request.progress.handoffs > max {
            return Err(format!(
                "handoff to {to} refused: the run reached its limit of {max} handoffs"
            ));
        }
        let allowed = self
            .shared
            .agents
            .get(from)
            .is_some_and(|slot| slot.spec.agent.handoffs().contains(to));
        if !allowed {
            return Err(format!(
                "handoff to {to} refused: {from} may not hand off to it"
            ));
        }
        let Some(slot) = self.shared.agents.get(to) else {
            return Err(format!("handoff to {to} failed: no agent named {to}"));
        };
        let Some(actor) = slot.actor.clone() else {
            return Err(format!("handoff to {to} failed: agent {to} is down"));
        };
        if slot.failing.load(Ordering::Acquire) {
            // Its actor is about to fail: a run sent to its mailbox now would be lost with it.
            return Err(format!("handoff to {to} failed: agent {to} is restarting"));
        }
        let Some(admission) = slot.admit() else {
            return Err(format!("handoff to {to} failed: agent {to} is overloaded"));
        };
        Ok((actor, admission))
    }
}
