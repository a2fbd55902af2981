//! A paused run parked: its lease handed to a parked one that holds its thread until the run
//! is taken up, and nothing of it left in the process.

use super::RunLoop;
use crate::error::{PanicSite, RunError};
use crate::memory::Episode;
use crate::run::contain::contained_try;
use crate::run::event::{EventSink, RunEvent};
use crate::run::ledger::PendingApproval;

impl RunLoop {
    /// Parks a paused run, whose step's other calls ran and whose waiting calls' requests are
    /// recorded: the run's lease is handed over to a fresh, parked one (so that no renewal of
    /// the old one can touch it), the pause is recorded with the parked lease's token (which a
    /// decision takes the run up with), and the parked lease is extended until the run is taken
    /// up. The thread stays the run's while nothing of the run is left in the process;
    /// `released` frees what else it held; then the consumer hears [`RunEvent::Paused`].
    ///
    /// Each write leaves a run that can be taken up: until the pause is recorded, the parked
    /// lease lapses as the run's own would, and resuming the run pauses it again (the consumer
    /// hears `Failed`, as the pause did not happen); once it is recorded, a decision or a
    /// resume takes the run up with the parked lease, or, if that lapsed, like any abandoned
    /// run. Deadlines are applied by whoever takes the run up.
    pub(crate) async fn park(
        self,
        pending: Vec<PendingApproval>,
        sink: Option<&EventSink>,
        released: impl FnOnce(),
    ) -> RunError {
        drop(self.kept);
        let store = self.ctx.store.as_ref();
        let parked = async {
            let parked = contained_try(
                PanicSite::Store,
                store.hand_over_lease(&self.lease, PARKED_OWNER, self.opts.lease_ttl),
            )
            .await?;
            let paused = Episode::Paused {
                step: self.step,
                pending: pending.iter().map(|p| p.call_id.clone()).collect(),
                lease: parked.token,
            };
            contained_try(
                PanicSite::Store,
                store.record_leased(&parked, std::slice::from_ref(&paused)),
            )
            .await?;
            Ok::<_, RunError>(parked)
        }
        .await;
        let failed = match parked {
            Ok(parked) => {
                let renewed = store.renew_lease(&parked, PARKED);
                if let Err(error) = contained_try(PanicSite::Store, renewed).await {
                    tracing::warn!(run_id = %self.lease.run, %error, "the paused run's lease lapses in its usual time: deciding its calls or resuming it takes the run up all the same");
                }
                tracing::info!(run_id = %self.lease.run, pending = pending.len(), "run paused for approval");
                None
            }
            Err(error) => {
                tracing::warn!(run_id = %self.lease.run, %error, "could not record the pause: the run is abandoned once its lease lapses, and pauses again when resumed");
                Some(error)
            }
        };
        released();
        let (event, outcome) = match failed {
            None => (
                RunEvent::Paused {
                    run_id: self.lease.run,
                    pending: pending.clone(),
                },
                RunError::Paused {
                    pending: pending.into_iter().map(|p| p.call_id).collect(),
                },
            ),
            Some(error) => (
                RunEvent::Failed {
                    error: error.clone(),
                },
                error,
            ),
        };
        if let Some(sink) = sink {
            sink.end(event);
        }
        outcome
    }
}

/// How long a paused run's lease lasts: until it is taken up (a century, which every store
/// can count in milliseconds), so that its thread stays the run's whatever its deadlines.
pub(crate) const PARKED: std::time::Duration =
    std::time::Duration::from_secs(100 * 365 * 24 * 3600);

/// The owner of a paused run's parked lease, as
/// [`unfinished_runs`](crate::memory::EpisodicStore::unfinished_runs) reports it: the lease is
/// live (the thread stays the run's) but no process drives the run.
pub(crate) const PARKED_OWNER: &str = "paused";
