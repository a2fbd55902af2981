//! One thread, one writer: runs on a conversation thread take turns in the order they were
//! requested, and a run keeps its turn from its start to its end, across handoffs.
//!
//! A thread with an entry in the map is busy; the entry holds the runs waiting for it, first
//! come first served. Taking a turn when the thread is free, or joining the line, happens when
//! the request is made (synchronously), so order is the order of requests, not of tasks.

use crate::ids::ThreadId;
use dashmap::DashMap;
use dashmap::mapref::entry::Entry;
use std::collections::VecDeque;
use std::sync::Arc;
use tokio::sync::oneshot;

/// The threads that have a run active, each with its line of waiting runs.
#[derive(Debug, Default)]
pub(crate) struct ThreadLocks {
    lines: DashMap<ThreadId, VecDeque<oneshot::Sender<()>>>,
}

/// A run's place on its thread: its turn, or a place in line.
#[derive(Debug)]
pub(crate) enum ThreadTurn {
    /// The run is the thread's writer.
    Held(ThreadGuard),
    /// The run waits for the runs before it.
    Waiting(Waiting),
}

/// Proof that a run is the thread's one writer; passes the turn on when dropped.
#[derive(Debug)]
pub(crate) struct ThreadGuard {
    thread: ThreadId,
    locks: Arc<ThreadLocks>,
}

/// A place in a thread's line; leaving it (dropping it) never loses the turn.
#[derive(Debug)]
pub(crate) struct Waiting {
    thread: ThreadId,
    turn: Option<oneshot::Receiver<()>>,
    locks: Arc<ThreadLocks>,
}

impl ThreadLocks {
    /// Takes the thread if it is free, or joins the end of its line.
    pub(crate) fn enqueue(self: &Arc<Self>, thread: ThreadId) -> ThreadTurn {
        match self.lines.entry(thread) {
            Entry::Vacant(vacant) => {
                vacant.insert(VecDeque::new());
                ThreadTurn::Held(self.guard(thread))
            }
            Entry::Occupied(mut line) => {
                let (tx, rx) = oneshot::channel();
                line.get_mut().push_back(tx);
                ThreadTurn::Waiting(Waiting {
                    thread,
                    turn: Some(rx),
                    locks: Arc::clone(self),
                })
            }
        }
    }

    /// Takes the thread if it is free.
    pub(crate) fn try_lock(self: &Arc<Self>, thread: ThreadId) -> Option<ThreadGuard> {
        match self.lines.entry(thread) {
            Entry::Vacant(vacant) => {
                vacant.insert(VecDeque::new());
                Some(self.guard(thread))
            }
            Entry::Occupied(_) => None,
        }
    }

    fn guard(self: &Arc<Self>, thread: ThreadId) -> ThreadGuard {
        ThreadGuard {
            thread,
            locks: Arc::clone(self),
        }
    }

    /// Passes the turn to the first run still waiting, or frees the thread.
    fn release(&self, thread: ThreadId) {
        if let Entry::Occupied(mut line) = self.lines.entry(thread) {
            while let Some(next) = line.get_mut().pop_front() {
                if next.send(()).is_ok() {
                    return;
                }
            }
            line.remove();
        }
    }

    /// Threads with a run active.
    #[cfg(test)]
    fn busy(&self) -> usize {
        self.lines.len()
    }
}

impl ThreadTurn {
    /// Waits for the turn. Cancel-safe: dropping the future gives the place up cleanly.
    pub(crate) async fn acquire(self) -> ThreadGuard {
        match self {
            Self::Held(guard) => guard,
            Self::Waiting(waiting) => waiting.acquire().await,
        }
    }
}

impl Waiting {
    async fn acquire(mut self) -> ThreadGuard {
        if let Some(turn) = self.turn.as_mut() {
            // A closed channel means the line itself is gone; nobody else can write either.
            let _ = turn.await;
        }
        self.turn = None;
        self.locks.guard(self.thread)
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        if let Some(mut turn) = self.turn.take() {
            turn.close();
            // The turn may have arrived just as this run gave up: pass it on.
            if turn.try_recv().is_ok() {
                self.locks.release(self.thread);
            }
        }
    }
}

impl Drop for ThreadGuard {
    fn drop(&mut self) {
        self.locks.release(self.thread);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;

    #[tokio::test]
    async fn runs_take_turns_in_request_order() {
        let locks = Arc::new(ThreadLocks::default());
        let thread = ThreadId::new();
        let first = locks.enqueue(thread);
        let second = locks.enqueue(thread);
        let third = locks.enqueue(thread);
        assert!(
            locks.try_lock(thread).is_none(),
            "busy while anyone holds or waits"
        );
        let first = first.acquire().await;
        let mut second = Box::pin(second.acquire());
        let mut third = Box::pin(third.acquire());
        assert!((&mut second).now_or_never().is_none());
        drop(first);
        let second = second.await;
        assert!((&mut third).now_or_never().is_none());
        drop(second);
        drop(third.await);
        assert_eq!(locks.busy(), 0, "no entry is kept for idle threads");
    }

    #[tokio::test]
    async fn a_waiter_that_gives_up_does_not_lose_the_turn() {
        let locks = Arc::new(ThreadLocks::default());
        let thread = ThreadId::new();
        let first = locks.enqueue(thread).acquire().await;
        let quitter = locks.enqueue(thread);
        let last = locks.enqueue(thread);
        drop(quitter);
        drop(first);
        drop(last.acquire().await);

        // The turn arrives, then the waiter leaves before taking it.
        let first = locks.enqueue(thread).acquire().await;
        let late = locks.enqueue(thread);
        let after = locks.enqueue(thread);
        drop(first);
        drop(late);
        drop(after.acquire().await);
        assert_eq!(locks.busy(), 0);
    }
}
