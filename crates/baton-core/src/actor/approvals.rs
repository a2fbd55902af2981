//! Deciding the calls of a paused run: [`Supervisor::pending_approvals`] and
//! [`Supervisor::decide`], which takes the run up again once its step's last call is decided.

use super::error::SupervisorError;
use super::resume::resume_point;
use super::settings::RunSettings;
use super::supervisor::{RunStart, Supervisor};
use crate::error::{RunError, StoreError};
use crate::ids::RunId;
use crate::memory::{Decision, Episode, EpisodeRecord, Lease, now_ms};
use crate::run::ledger::Ledger;
use crate::run::{PARKED, PARKED_OWNER};
use crate::run::{PendingApproval, RunStream, pending_approvals};

/// What a decision came to.
#[derive(Debug)]
#[non_exhaustive]
pub enum Decided {
    /// Other calls of the step still wait for decisions.
    Waiting {
        /// The calls that still wait.
        pending: Vec<PendingApproval>,
    },
    /// That was the step's last undecided call: the run goes on from its calls, on this stream
    /// (dropping it cancels the run; detach it to let the run go on unheard).
    Resumed(RunStream),
}

impl Supervisor {
    /// The undecided approvals of `run`: empty unless it is paused.
    ///
    /// # Errors
    ///
    /// [`SupervisorError::UnknownRun`] if the store has no such run; the store's error.
    pub async fn pending_approvals(
        &self,
        run: RunId,
    ) -> Result<Vec<PendingApproval>, SupervisorError> {
        let log = self.read_log(run).await?;
        Ok(pending_approvals(run, &log))
    }

    /// Decides call `call` of the paused run `run`: approve it (for this call, or for every
    /// call of its tool for the rest of the run) or reject it with a reason for the model. The
    /// decision is recorded durably first; when it was the last undecided call of the step,
    /// the run is taken up (in this process, whichever process paused it) and goes on from
    /// those calls: approved calls run once, rejected ones give the model the reason.
    ///
    /// # Errors
    ///
    /// [`SupervisorError::UnknownRun`], [`SupervisorError::NotPaused`] (running, finished, or
    /// taken up by another decision meanwhile), [`SupervisorError::UnknownCall`] (no such
    /// undecided call), [`SupervisorError::ApprovalExpired`] (nothing is recorded; whoever
    /// resumes the run rejects the call as expired), or why the run could not be taken up.
    pub async fn decide(
        &self,
        run: RunId,
        call: &str,
        decision: Decision,
    ) -> Result<Decided, SupervisorError> {
        self.decide_with(run, call, decision, RunSettings::default())
            .await
    }

    /// [`decide`](Self::decide) with the settings the run goes on with (its extensions, its
    /// options, whether to wait for its thread in this process).
    ///
    /// # Errors
    ///
    /// As [`decide`](Self::decide).
    pub async fn decide_with(
        &self,
        run: RunId,
        call: &str,
        decision: Decision,
        settings: RunSettings,
    ) -> Result<Decided, SupervisorError> {
        if matches!(decision, Decision::Expired) {
            return Err(SupervisorError::InvalidDecision(
                "an expiry is recorded by the run when the deadline has passed, not decided"
                    .to_owned(),
            ));
        }
        let not_paused = |reason: &str| SupervisorError::NotPaused {
            run,
            reason: reason.to_owned(),
        };
        if self.in_flight(run) {
            return Err(not_paused("it is running"));
        }
        let log = self.read_log(run).await?;
        if log.iter().any(|record| record.episode.is_terminal()) {
            return Err(not_paused("it finished"));
        }
        let ledger = Ledger::read(&log);
        let Some(pause) = &ledger.paused else {
            return Err(not_paused("it is not paused"));
        };
        let pending = ledger.pending(run);
        let Some(this) = pending.iter().find(|p| p.call_id == call) else {
            return Err(SupervisorError::UnknownCall {
                run,
                call: call.to_owned(),
            });
        };
        if this.expires_at_ms.is_some_and(|at| at <= now_ms()) {
            return Err(SupervisorError::ApprovalExpired {
                run,
                call: call.to_owned(),
            });
        }
        let point = resume_point(&log).map_err(|reason| not_paused(&reason))?;
        let decided = Episode::ApprovalDecided {
            step: this.step,
            call_id: call.to_owned(),
            decision: decision.clone(),
        };
        let parked = Lease::parked(run, point.thread, pause.token);
        let parked = match self
            .store()
            .record_leased(&parked, std::slice::from_ref(&decided))
            .await
        {
            Ok(()) => parked,
            Err(StoreError::LeaseLost { .. }) => {
                self.repark(&parked, pause.step, &pending, decided).await?
            }
            Err(error) => return Err(error.into()),
        };
        // Read again: decisions of this call and of the others may have been recorded
        // meanwhile. The first decision of a call is the one that counts, and the decision
        // that leaves none undecided takes the run up.
        let ledger = Ledger::read(&self.read_log(run).await?);
        let counted = ledger
            .step
            .as_ref()
            .and_then(|step| step.calls.get(call).and_then(|c| c.decision.as_ref()));
        if counted != Some(&decision) {
            return Err(SupervisorError::AlreadyDecided {
                run,
                call: call.to_owned(),
            });
        }
        let pending = ledger.pending(run);
        if !pending.is_empty() {
            return Ok(Decided::Waiting { pending });
        }
        tracing::info!(run_id = %run, "last approval decided; taking the run up");
        let start = RunStart {
            run_id: run,
            thread: point.thread,
            input: Vec::new(),
            progress: point.progress,
            resumed: true,
            parked: Some(parked),
        };
        Ok(Decided::Resumed(self.dispatch(
            point.agent.as_str(),
            start,
            settings,
        )?))
    }

    /// A paused run whose parked lease is gone: a crash while it was being parked left the
    /// pause recorded with a lease that lapsed or was never made. If nobody holds the run, its
    /// lease is taken here and parked again, with `decided` and the pause recorded under it.
    async fn repark(
        &self,
        lost: &Lease,
        step: u32,
        pending: &[PendingApproval],
        decided: Episode,
    ) -> Result<Lease, SupervisorError> {
        let store = self.store();
        let taken = store
            .acquire_lease(lost.run, lost.thread, PARKED_OWNER, PARKED)
            .await
            .map_err(|error| match error {
                StoreError::RunLeased { .. } => SupervisorError::NotPaused {
                    run: lost.run,
                    reason: "it was taken up meanwhile".to_owned(),
                },
                StoreError::ThreadBusy { thread, .. } => SupervisorError::ThreadBusy(thread),
                other => other.into(),
            })?;
        let paused = Episode::Paused {
            step,
            pending: pending.iter().map(|p| p.call_id.clone()).collect(),
            lease: taken.token,
        };
        store.record_leased(&taken, &[paused, decided]).await?;
        Ok(taken)
    }

    /// Ends a paused run without going on: it is recorded as cancelled and its thread is
    /// free. ([`cancel`](Self::cancel) stops runs in flight; a paused run is in none.)
    ///
    /// # Errors
    ///
    /// [`SupervisorError::UnknownRun`], [`SupervisorError::NotPaused`], or the store's error.
    pub async fn cancel_paused(&self, run: RunId) -> Result<(), SupervisorError> {
        let log = self.read_log(run).await?;
        let not_paused = |reason: &str| SupervisorError::NotPaused {
            run,
            reason: reason.to_owned(),
        };
        if self.in_flight(run) || log.iter().any(|record| record.episode.is_terminal()) {
            return Err(not_paused("it is running or finished"));
        }
        let Some(pause) = Ledger::read(&log).paused else {
            return Err(not_paused("it is not paused"));
        };
        let point = resume_point(&log).map_err(|reason| not_paused(&reason))?;
        let parked = Lease::parked(run, point.thread, pause.token);
        let cancelled = Episode::failed(&RunError::Cancelled);
        match self.store().release_lease(&parked, Some(&cancelled)).await {
            Ok(()) => Ok(()),
            Err(StoreError::LeaseLost { .. }) => Err(not_paused("it was taken up meanwhile")),
            Err(error) => Err(error.into()),
        }
    }

    /// Takes up every paused run whose approvals expired undecided: each goes on with its
    /// expired calls rejected as expired (the model is told), unheard (its stream is
    /// detached). So is a paused run whose calls were all decided but that was not taken up
    /// (the deciding process stopped first). Returns the runs taken up. A service calls this now and then (`baton serve`
    /// does); a paused run keeps its thread until then, whatever its deadline. Deadlines are
    /// read on the wall clock of the process that asks.
    ///
    /// # Errors
    ///
    /// The store's error, reading the runs.
    pub async fn resume_expired(&self) -> Result<Vec<RunId>, SupervisorError> {
        let now = now_ms();
        let mut resumed = Vec::new();
        for unfinished in self.store().unfinished_runs().await? {
            let parked = unfinished
                .driver
                .as_ref()
                .is_some_and(|driver| driver.owner == PARKED_OWNER);
            if !(parked || unfinished.is_abandoned()) || self.in_flight(unfinished.run) {
                continue;
            }
            let ledger = Ledger::read(&self.store().episodes(unfinished.run).await?);
            let pending = ledger.pending(unfinished.run);
            // Once every call that waits is past its deadline (a call still in time is decided
            // first, and its decision takes the run up).
            let expired = !pending.is_empty()
                && pending
                    .iter()
                    .all(|p| p.expires_at_ms.is_some_and(|at| at <= now));
            let decided = pending.is_empty() && ledger.paused.is_some();
            if !(expired || decided) {
                continue;
            }
            match self.resume(unfinished.run).await {
                Ok(stream) => {
                    stream.detach();
                    resumed.push(unfinished.run);
                }
                Err(error) => {
                    tracing::warn!(run_id = %unfinished.run, %error, "could not take up a run whose approval expired");
                }
            }
        }
        Ok(resumed)
    }

    /// The log of `run`, which must have one.
    pub(super) async fn read_log(&self, run: RunId) -> Result<Vec<EpisodeRecord>, SupervisorError> {
        let log = self.store().episodes(run).await?;
        if log.is_empty() {
            return Err(SupervisorError::UnknownRun(run));
        }
        Ok(log)
    }
}
