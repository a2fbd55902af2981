//! The bound on open connections, and who gives way at the bound.
//!
//! Each connection holds a [`Slot`] while it is open. When a new connection arrives and every
//! slot is taken, the connection that has been idle the longest (no request in progress:
//! kept alive between requests, or not done sending its first head) is closed to make room,
//! as nginx reuses its idle keep-alive connections. So a client that holds many idle
//! connections cannot lock out one that sends requests. When no connection is idle, the new
//! one waits for a slot (and the listen queue holds those behind it) until a connection closes
//! or turns idle.

use super::activity::Activity;
use std::collections::HashMap;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// How often the limit's warning may be logged.
const WARNING_INTERVAL: Duration = Duration::from_secs(60);

/// The open connections, at most `max` of them.
#[derive(Debug)]
pub(crate) struct ConnectionLimit {
    max: usize,
    slots: Arc<Semaphore>,
    open: Mutex<HashMap<u64, Arc<Activity>>>,
    next_id: AtomicU64,
    idle_signal: Arc<IdleSignal>,
    warning: Mutex<Throttle>,
}

/// Tells a new connection waiting for a slot that a connection turned idle (and can be
/// closed for it). Silent unless someone waits, so that finishing a request costs nothing
/// shared.
#[derive(Debug, Default)]
pub(crate) struct IdleSignal {
    waiting: AtomicBool,
    notify: Notify,
}

impl IdleSignal {
    /// A connection turned idle.
    pub(crate) fn became_idle(&self) {
        if self.waiting.load(Ordering::SeqCst) {
            self.notify.notify_waiters();
        }
    }
}

/// An open connection's place under the limit; dropping it frees the place.
#[derive(Debug)]
pub(crate) struct Slot {
    limit: Arc<ConnectionLimit>,
    id: u64,
    activity: Arc<Activity>,
    _permit: OwnedSemaphorePermit,
}

impl Slot {
    /// The connection's activity.
    pub(crate) fn activity(&self) -> &Arc<Activity> {
        &self.activity
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.limit.open().remove(&self.id);
    }
}

impl ConnectionLimit {
    /// At most `max` connections (at least one).
    pub(crate) fn new(max: usize) -> Arc<Self> {
        let max = max.clamp(1, Semaphore::MAX_PERMITS);
        Arc::new(Self {
            max,
            slots: Arc::new(Semaphore::new(max)),
            open: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
            idle_signal: Arc::new(IdleSignal::default()),
            warning: Mutex::new(Throttle::new(WARNING_INTERVAL)),
        })
    }

    fn open(&self) -> MutexGuard<'_, HashMap<u64, Arc<Activity>>> {
        // A map of handles stays consistent whatever panicked while holding it.
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A slot for a new connection: a free one, or, at the limit, the one of the connection
    /// idle the longest, once it closed; waits while no connection is idle.
    pub(crate) async fn admit(self: &Arc<Self>) -> Slot {
        loop {
            if let Ok(permit) = Arc::clone(&self.slots).try_acquire_owned() {
                return self.register(permit);
            }
            // Listen for connections turning idle before looking for one, so that none is
            // missed in between.
            let mut became_idle = pin!(self.idle_signal.notify.notified());
            became_idle.as_mut().enable();
            self.idle_signal.waiting.store(true, Ordering::SeqCst);
            let evicted = self.evict_longest_idle();
            self.warn_at_limit(evicted);
            let permit = tokio::select! {
                permit = Arc::clone(&self.slots).acquire_owned() => permit.ok(),
                () = &mut became_idle => None,
            };
            self.idle_signal.waiting.store(false, Ordering::SeqCst);
            if let Some(permit) = permit {
                return self.register(permit);
            }
        }
    }

    fn register(self: &Arc<Self>, permit: OwnedSemaphorePermit) -> Slot {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let activity = Activity::new(Arc::clone(&self.idle_signal));
        self.open().insert(id, Arc::clone(&activity));
        Slot {
            limit: Arc::clone(self),
            id,
            activity,
            _permit: permit,
        }
    }

    /// Chooses the connection idle the longest to close; false if none is idle.
    pub(crate) fn evict_longest_idle(&self) -> bool {
        let open = self.open();
        let longest = open
            .values()
            .filter_map(|activity| activity.idle_since().map(|since| (since, activity)))
            .min_by_key(|(since, _)| *since);
        match longest {
            Some((_, activity)) => {
                activity.evict();
                true
            }
            None => false,
        }
    }

    fn warn_at_limit(&self, evicted: bool) {
        let allowed = self
            .warning
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .allow();
        if let Some(since_last) = allowed {
            tracing::warn!(
                max_connections = self.max,
                closing_idle = evicted,
                times_since_last_warning = since_last,
                "the connection limit is reached: new connections close the longest idle one, \
                 or wait while none is idle; raise max_connections if this is normal load"
            );
        }
    }
}

/// Lets an event be logged at most once per interval, counting the times it was not.
#[derive(Debug)]
pub(crate) struct Throttle {
    interval: Duration,
    last: Option<Instant>,
    suppressed: u64,
}

impl Throttle {
    pub(crate) fn new(interval: Duration) -> Self {
        Self {
            interval,
            last: None,
            suppressed: 0,
        }
    }

    /// `Some(times suppressed since the last log)` if the event may be logged now.
    pub(crate) fn allow(&mut self) -> Option<u64> {
        let now = Instant::now();
        if self
            .last
            .is_none_or(|last| now.duration_since(last) >= self.interval)
        {
            self.last = Some(now);
            Some(std::mem::take(&mut self.suppressed))
        } else {
            self.suppressed += 1;
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_throttle_allows_once_per_interval_and_counts_the_rest() {
        let mut throttle = Throttle::new(Duration::from_secs(3600));
        assert_eq!(throttle.allow(), Some(0));
        assert_eq!(throttle.allow(), None);
        assert_eq!(throttle.allow(), None);
        let mut eager = Throttle::new(Duration::ZERO);
        assert_eq!(eager.allow(), Some(0));
        assert_eq!(eager.allow(), Some(0));
    }

    #[tokio::test]
    async fn at_the_limit_the_longest_idle_connection_gives_way() {
        let limit = ConnectionLimit::new(2);
        let oldest = limit.admit().await;
        let newer = limit.admit().await;
        let busy = oldest.activity().begin_request();

        // Only `newer` is idle: it is chosen, and its slot goes to the third connection.
        let admitting = tokio::spawn({
            let limit = Arc::clone(&limit);
            async move { limit.admit().await }
        });
        newer.activity().evicted().await;
        drop(newer);
        let third = admitting.await.unwrap();
        assert_eq!(limit.open().len(), 2);

        // Nothing idle: the next waits until a request ends and its connection turns idle.
        let _third_busy = third.activity().begin_request();
        let admitting = tokio::spawn({
            let limit = Arc::clone(&limit);
            async move { limit.admit().await }
        });
        tokio::task::yield_now().await;
        drop(busy);
        oldest.activity().on_flushed();
        oldest.activity().evicted().await;
        drop(oldest);
        let _fourth = admitting.await.unwrap();
    }
}
