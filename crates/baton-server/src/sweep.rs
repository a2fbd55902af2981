//! The approval sweep: while [`serve`](crate::serve) runs, the paused runs whose approvals
//! expired undecided are taken up now and then
//! ([`Supervisor::resume_expired`](baton_core::actor::Supervisor::resume_expired)), so that
//! they go on without anyone asking for them again.

use crate::state::AppState;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

/// Sweeps every `interval`, the first one interval from now, until `stop` is cancelled; with
/// no interval (or zero), returns at once. A sweep under way when `stop` is cancelled
/// finishes first, so that every run it takes up is logged and counted, and none is taken up
/// once this returns (the server drains its runs after that).
pub(crate) async fn sweep_expired_approvals(
    state: Arc<AppState>,
    interval: Option<Duration>,
    stop: CancellationToken,
) {
    // Zero would be a sweep without pause (and tokio's interval refuses it): off, as documented.
    let Some(interval) = interval.filter(|interval| !interval.is_zero()) else {
        return;
    };
    let mut ticks = tokio::time::interval_at(Instant::now() + interval, interval);
    // A sweep that took longer than the interval is not made up for with a burst of sweeps.
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            () = stop.cancelled() => break,
            _ = ticks.tick() => {}
        }
        sweep_once(&state).await;
    }
}

/// Takes up the runs whose approvals expired, logging and counting each.
async fn sweep_once(state: &AppState) {
    match state.supervisor.resume_expired().await {
        Ok(runs) => {
            for run in &runs {
                tracing::info!(run_id = %run, "approval expired undecided; run taken up");
            }
            state.metrics.approvals_expired(runs.len());
        }
        Err(error) => {
            tracing::warn!(%error, "sweeping expired approvals failed; trying at the next sweep");
        }
    }
}
