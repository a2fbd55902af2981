//! Renewing the leases of many runs from one task.
//!
//! A run's lease must be renewed while the run works, however long it waits on a model or a
//! tool. A timer per run would cost every run a timer-wheel registration and its memory; a
//! [`LeaseKeeper`] instead keeps the leases of all the runs of a supervisor and renews each
//! when a third of its time has passed, from one task that sleeps until the next one is due.
//! A run whose lease is lost is cancelled, and says so when it ends. A run without a keeper
//! (the bare loop) renews its own lease in its task ([`keep_leased`]); both classify a
//! renewal the same way.

use crate::error::{PanicSite, RunError, StoreError};
use crate::ids::RunId;
use crate::memory::{Lease, Store};
use crate::run::contain::contained_try;
use dashmap::DashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// The leases of the runs in flight, and the task that renews them.
pub(crate) struct LeaseKeeper {
    runs: DashMap<RunId, Kept>,
    /// When the task wakes next, in milliseconds since `origin`.
    next_due_ms: AtomicU64,
    origin: Instant,
    wake: Arc<Notify>,
    /// Stops the task when the keeper goes.
    stop: CancellationToken,
}

struct Kept {
    lease: Lease,
    ttl: Duration,
    due: Instant,
    /// Cancels the run's work when its lease is lost.
    cancel: CancellationToken,
    lost: Arc<AtomicBool>,
}

/// A run's place in a [`LeaseKeeper`]: while it lives, the lease is renewed; dropping it stops
/// the renewals.
pub(crate) struct KeptLease {
    keeper: Arc<LeaseKeeper>,
    run: RunId,
    lost: Arc<AtomicBool>,
}

impl std::fmt::Debug for KeptLease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeptLease")
            .field("run", &self.run)
            .field("lost", &self.lost())
            .finish()
    }
}

impl KeptLease {
    /// Whether the lease was lost: another owner took the run, and its work was cancelled.
    pub(crate) fn lost(&self) -> bool {
        self.lost.load(Ordering::Acquire)
    }
}

impl Drop for KeptLease {
    fn drop(&mut self) {
        self.keeper.runs.remove(&self.run);
    }
}

impl Drop for LeaseKeeper {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl LeaseKeeper {
    /// A keeper renewing leases in `store`, with its task on the current runtime. The task
    /// ends when the keeper is dropped.
    pub(crate) fn spawn(store: Arc<dyn Store>) -> Arc<Self> {
        let keeper = Arc::new(Self {
            runs: DashMap::new(),
            next_due_ms: AtomicU64::new(u64::MAX),
            origin: Instant::now(),
            wake: Arc::new(Notify::new()),
            stop: CancellationToken::new(),
        });
        let weak = Arc::downgrade(&keeper);
        let stop = keeper.stop.clone();
        let notify = Arc::clone(&keeper.wake);
        tokio::spawn(async move {
            loop {
                let Some(keeper) = weak.upgrade() else { return };
                let wake = notify.notified();
                tokio::pin!(wake);
                wake.as_mut().enable();
                let due = keeper.renew_due(store.as_ref()).await;
                keeper
                    .next_due_ms
                    .store(keeper.millis(due), Ordering::Release);
                drop(keeper);
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = &mut wake => {}
                    () = sleep_until(due) => {}
                }
            }
        });
        keeper
    }

    /// Keeps `lease` renewed (for `ttl` each time) until the returned guard is dropped; if it
    /// is lost, `cancel` is cancelled.
    pub(crate) fn keep(
        self: &Arc<Self>,
        lease: &Lease,
        ttl: Duration,
        cancel: CancellationToken,
    ) -> KeptLease {
        let lost = Arc::new(AtomicBool::new(false));
        let due = Instant::now() + ttl / 3;
        self.runs.insert(
            lease.run,
            Kept {
                lease: lease.clone(),
                ttl,
                due,
                cancel,
                lost: Arc::clone(&lost),
            },
        );
        // Only a run due before the task's next wake-up wakes it.
        if self.millis(Some(due)) < self.next_due_ms.load(Ordering::Acquire) {
            self.next_due_ms
                .store(self.millis(Some(due)), Ordering::Release);
            self.wake.notify_one();
        }
        KeptLease {
            keeper: Arc::clone(self),
            run: lease.run,
            lost,
        }
    }

    /// Renews every lease that is due and returns when the next one will be.
    async fn renew_due(&self, store: &dyn Store) -> Option<Instant> {
        let now = Instant::now();
        let due: Vec<(RunId, Lease, Duration)> = self
            .runs
            .iter()
            .filter(|kept| kept.due <= now)
            .map(|kept| (*kept.key(), kept.lease.clone(), kept.ttl))
            .collect();
        for (run, lease, ttl) in due {
            let renewal = renew(store, &lease, ttl).await;
            let Some(mut kept) = self.runs.get_mut(&run) else {
                continue; // The run ended meanwhile.
            };
            if kept.lease.token != lease.token {
                // The run ended and was taken up again (after a pause) meanwhile: this renewal
                // was of its old lease.
                continue;
            }
            match renewal {
                Renewal::Renewed(renewed) => {
                    kept.lease = renewed;
                    kept.due = Instant::now() + ttl / 3;
                }
                Renewal::Lost(_) => {
                    kept.lost.store(true, Ordering::Release);
                    kept.cancel.cancel();
                    drop(kept);
                    self.runs.remove(&run);
                }
                Renewal::Failed => kept.due = Instant::now() + ttl / 10,
            }
        }
        self.runs.iter().map(|kept| kept.due).min()
    }

    fn millis(&self, at: Option<Instant>) -> u64 {
        at.map_or(u64::MAX, |at| {
            u64::try_from(at.saturating_duration_since(self.origin).as_millis()).unwrap_or(u64::MAX)
        })
    }
}

/// Drives `work` while renewing `lease` every third of `ttl`, in the same task. If the lease
/// is lost, the work is dropped (nothing more is written) and the run fails with
/// [`StoreError::LeaseLost`].
pub(super) async fn keep_leased<T>(
    store: &dyn Store,
    mut lease: Lease,
    ttl: Duration,
    work: impl Future<Output = Result<T, RunError>>,
) -> Result<T, RunError> {
    tokio::pin!(work);
    let every = ttl / 3;
    loop {
        let renew_at = Instant::now() + every;
        tokio::select! {
            biased;
            outcome = &mut work => return outcome,
            () = tokio::time::sleep_until(renew_at) => {}
        }
        match renew(store, &lease, ttl).await {
            Renewal::Renewed(renewed) => lease = renewed,
            Renewal::Lost(error) => return Err(error),
            Renewal::Failed => {}
        }
    }
}

/// What one renewal of a lease came to.
enum Renewal {
    /// The lease, renewed.
    Renewed(Lease),
    /// Another owner took the run over (the error says so): the run must stop.
    Lost(RunError),
    /// The store failed; it may answer next time, and the fence on every commit keeps a lease
    /// that did expire meanwhile from writing.
    Failed,
}

/// Renews `lease` for `ttl`, logging what went wrong.
async fn renew(store: &dyn Store, lease: &Lease, ttl: Duration) -> Renewal {
    match contained_try(PanicSite::Store, store.renew_lease(lease, ttl)).await {
        Ok(renewed) => Renewal::Renewed(renewed),
        Err(
            error @ RunError::Store {
                error: StoreError::LeaseLost { .. },
            },
        ) => {
            tracing::warn!(run_id = %lease.run, "the run's lease was lost: another owner took it over");
            Renewal::Lost(error)
        }
        Err(error) => {
            tracing::warn!(run_id = %lease.run, %error, "could not renew the run's lease");
            Renewal::Failed
        }
    }
}

async fn sleep_until(due: Option<Instant>) {
    match due {
        Some(due) => tokio::time::sleep_until(due).await,
        None => std::future::pending().await,
    }
}
