use super::{
    Episode, EpisodeRecord, EpisodicStore, Lease, LeaseHolder, LeaseToken, Page, Store,
    ThreadStore, ThreadTail, UnfinishedRun, now_ms,
};
use crate::error::StoreError;
use crate::ids::{RunId, ThreadId};
use crate::llm::Message;
use async_trait::async_trait;
use dashmap::DashMap;
use dashmap::mapref::entry::Entry;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// Threads and episodic logs in process memory, on sharded concurrent maps.
///
/// Messages are stored as `Arc<Message>`, so reading a thread shares them instead of copying.
/// Nothing survives the process; use a durable store for that. Leases expire on tokio's
/// clock, so tests with paused time control them.
///
/// ```
/// use baton_core::memory::{InMemoryStore, Page, ThreadStore};
/// use baton_core::{ids::ThreadId, llm::Message};
/// use std::sync::Arc;
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = InMemoryStore::new();
/// let thread = ThreadId::new();
/// store.append(thread, Some(0), &[Arc::new(Message::user("hi"))]).await.unwrap();
/// assert_eq!(store.list(thread, Page::ALL).await.unwrap().len(), 1);
/// # });
/// ```
#[derive(Debug, Default)]
pub struct InMemoryStore {
    threads: DashMap<ThreadId, Vec<Arc<Message>>>,
    episodes: DashMap<RunId, Vec<EpisodeRecord>>,
    /// Each run's current lease.
    leases: DashMap<RunId, Held>,
    /// Which run's lease holds each thread.
    holders: DashMap<ThreadId, RunId>,
}

#[derive(Debug)]
struct Held {
    lease: Lease,
    /// When it expires; `None` for a time-to-live past what the clock can count.
    expires: Option<Instant>,
}

impl Held {
    fn live(&self, now: Instant) -> bool {
        self.expires.is_none_or(|expires| expires > now)
    }
}

impl InMemoryStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty store, ready to share between agents.
    #[must_use]
    pub fn shared() -> Arc<Self> {
        Arc::new(Self::new())
    }

    /// How many threads the store holds.
    #[must_use]
    pub fn thread_count(&self) -> usize {
        self.threads.len()
    }

    fn append_now(
        &self,
        thread: ThreadId,
        expected_len: Option<u64>,
        messages: &[Arc<Message>],
    ) -> Result<u64, StoreError> {
        match self.threads.entry(thread) {
            Entry::Occupied(mut stored) => {
                check_expected(thread, expected_len, stored.get().len() as u64)?;
                stored.get_mut().extend(messages.iter().cloned());
                Ok(stored.get().len() as u64)
            }
            // A thread exists once it holds messages: a refused or empty append creates none.
            Entry::Vacant(vacant) => {
                check_expected(thread, expected_len, 0)?;
                if !messages.is_empty() {
                    vacant.insert(messages.to_vec());
                }
                Ok(messages.len() as u64)
            }
        }
    }

    /// Steps of a run are committed in increasing order, so the last one tells.
    fn step_committed(&self, run: RunId, step: u32) -> bool {
        self.episodes.get(&run).is_some_and(|log| {
            log.iter()
                .rev()
                .find_map(|r| match r.episode {
                    Episode::StepCompleted { step, .. } => Some(step),
                    _ => None,
                })
                .is_some_and(|last| last >= step)
        })
    }

    /// Whether `run` holds a live lease.
    fn live(&self, run: RunId, now: Instant) -> bool {
        self.leases.get(&run).is_some_and(|held| held.live(now))
    }

    fn record_now(&self, run: RunId, episodes: impl IntoIterator<Item = Episode>) {
        let mut log = self.episodes.entry(run).or_default();
        for episode in episodes {
            let seq = log.len() as u64;
            log.push(EpisodeRecord::now(seq, episode));
        }
    }
}

/// Refuses a write that expected the thread to hold `expected_len` messages when it holds
/// `actual`.
fn check_expected(
    thread: ThreadId,
    expected_len: Option<u64>,
    actual: u64,
) -> Result<(), StoreError> {
    match expected_len {
        Some(expected) if expected != actual => Err(StoreError::Conflict {
            thread,
            expected,
            actual,
        }),
        _ => Ok(()),
    }
}

#[async_trait]
impl ThreadStore for InMemoryStore {
    async fn append(
        &self,
        thread: ThreadId,
        expected_len: Option<u64>,
        messages: &[Arc<Message>],
    ) -> Result<u64, StoreError> {
        self.append_now(thread, expected_len, messages)
    }

    async fn list(&self, thread: ThreadId, page: Page) -> Result<Vec<Arc<Message>>, StoreError> {
        let Some(messages) = self.threads.get(&thread) else {
            return Ok(Vec::new());
        };
        Ok(page.of(messages.iter().cloned()))
    }

    async fn tail(&self, thread: ThreadId, limit: u64) -> Result<ThreadTail, StoreError> {
        let Some(messages) = self.threads.get(&thread) else {
            return Ok(ThreadTail::default());
        };
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let start = messages.len().saturating_sub(limit);
        Ok(ThreadTail {
            len: messages.len() as u64,
            messages: messages[start..].to_vec(),
        })
    }

    async fn threads(&self, page: Page) -> Result<Vec<ThreadId>, StoreError> {
        let mut ids: Vec<ThreadId> = self.threads.iter().map(|entry| *entry.key()).collect();
        ids.sort_unstable();
        Ok(page.of(ids))
    }
}

#[async_trait]
impl EpisodicStore for InMemoryStore {
    async fn record(&self, run: RunId, episode: Episode) -> Result<(), StoreError> {
        self.record_now(run, [episode]);
        Ok(())
    }

    async fn episodes(&self, run: RunId) -> Result<Vec<EpisodeRecord>, StoreError> {
        Ok(self
            .episodes
            .get(&run)
            .map(|log| log.clone())
            .unwrap_or_default())
    }

    async fn unfinished_runs(&self) -> Result<Vec<UnfinishedRun>, StoreError> {
        let mut runs: Vec<RunId> = self
            .episodes
            .iter()
            .filter(|log| !log.last().is_some_and(|r| r.episode.is_terminal()))
            .map(|log| *log.key())
            .collect();
        runs.sort_unstable();
        let now = Instant::now();
        Ok(runs
            .into_iter()
            .map(|run| UnfinishedRun {
                run,
                driver: self
                    .leases
                    .get(&run)
                    .filter(|held| held.live(now))
                    .map(|held| LeaseHolder {
                        owner: held.lease.owner.to_string(),
                        expires_at_ms: held.lease.expires_at_ms,
                    }),
            })
            .collect())
    }
}

#[async_trait]
impl Store for InMemoryStore {
    async fn commit_step(&self, commit: super::StepCommit<'_>) -> Result<u64, StoreError> {
        // The thread's map entry is held from the check to the last write, so two identical
        // commits cannot both pass the check; so is the run's lease entry (read), under a
        // lease, so that the lease cannot be replaced between its check and the write (a
        // takeover locks it to write). Lock order: messages, holders, leases, episodes.
        let mut stored = self.threads.entry(commit.thread).or_default();
        let held = commit
            .lease
            .map(|lease| (lease, self.leases.get(&lease.run)));
        let actual = stored.len() as u64;
        let outcome = if let Some((lease, held)) = &held
            && held
                .as_ref()
                .is_none_or(|held| held.lease.token != lease.token)
        {
            Err(StoreError::LeaseLost { run: lease.run })
        } else if self.step_committed(commit.run, commit.step) {
            Ok(actual)
        } else {
            check_expected(commit.thread, commit.expected_len, actual).map(|()| {
                stored.extend(commit.messages.iter().cloned());
                self.record_now(commit.run, commit.episodes.iter().cloned());
                stored.len() as u64
            })
        };
        drop(held);
        let empty = stored.is_empty();
        drop(stored);
        // The entry was made for the check; a thread exists only once it holds messages.
        if empty {
            self.threads
                .remove_if(&commit.thread, |_, messages| messages.is_empty());
        }
        outcome
    }

    async fn acquire_lease(
        &self,
        run: RunId,
        thread: ThreadId,
        owner: &str,
        ttl: Duration,
    ) -> Result<Lease, StoreError> {
        // The thread's holder entry is held throughout: takings of one thread are serialized,
        // and the run's own entry is locked to write only after it (lock order: holders,
        // leases).
        let mut holder = self.holders.entry(thread);
        let now = Instant::now();
        if let Some(held) = self.leases.get(&run).filter(|held| held.live(now)) {
            return Err(StoreError::RunLeased {
                run,
                owner: held.lease.owner.to_string(),
            });
        }
        let previous = match &holder {
            dashmap::Entry::Occupied(held_by) => Some(*held_by.get()),
            dashmap::Entry::Vacant(_) => None,
        };
        if let Some(other) = previous.filter(|other| *other != run)
            && self.live(other, now)
        {
            return Err(StoreError::ThreadBusy {
                thread,
                holder: other,
            });
        }
        // Whatever expired in the way goes: the thread's old holder, the run's old lease.
        if let Some(other) = previous.filter(|other| *other != run) {
            self.leases.remove(&other);
        }
        let lease = Lease {
            run,
            thread,
            owner: owner.into(),
            token: LeaseToken::new(),
            expires_at_ms: expiry_ms(ttl),
        };
        let mut moved_from = None;
        match self.leases.entry(run) {
            dashmap::Entry::Occupied(mut stale) => {
                if stale.get().live(now) {
                    // Taken meanwhile, on another thread.
                    return Err(StoreError::RunLeased {
                        run,
                        owner: stale.get().lease.owner.to_string(),
                    });
                }
                let old_thread = stale.get().lease.thread;
                moved_from = (old_thread != thread).then_some(old_thread);
                stale.insert(Held {
                    lease: lease.clone(),
                    expires: now.checked_add(ttl),
                });
            }
            dashmap::Entry::Vacant(vacant) => {
                vacant.insert(Held {
                    lease: lease.clone(),
                    expires: now.checked_add(ttl),
                });
            }
        }
        match &mut holder {
            dashmap::Entry::Occupied(held_by) => {
                held_by.insert(run);
            }
            dashmap::Entry::Vacant(_) => {}
        }
        if let dashmap::Entry::Vacant(vacant) = holder {
            vacant.insert(run);
        }
        // The run's expired lease held another thread: free it, once this thread's entry is no
        // longer held (two entries of one map are never held at once).
        if let Some(old_thread) = moved_from {
            self.holders
                .remove_if(&old_thread, |_, holder| *holder == run);
        }
        Ok(lease)
    }

    async fn renew_lease(&self, lease: &Lease, ttl: Duration) -> Result<Lease, StoreError> {
        match self.leases.get_mut(&lease.run) {
            Some(mut held) if held.lease.token == lease.token => {
                held.expires = Instant::now().checked_add(ttl);
                held.lease.expires_at_ms = expiry_ms(ttl);
                Ok(held.lease.clone())
            }
            _ => Err(StoreError::LeaseLost { run: lease.run }),
        }
    }

    async fn record_leased(&self, lease: &Lease, episodes: &[Episode]) -> Result<(), StoreError> {
        // The lease's entry is held (read) while the log is written, so it cannot be replaced
        // between its check and the write (lock order: leases, episodes).
        let held = self.leases.get(&lease.run);
        if held.is_none_or(|held| held.lease.token != lease.token) {
            return Err(StoreError::LeaseLost { run: lease.run });
        }
        self.record_now(lease.run, episodes.iter().cloned());
        Ok(())
    }

    async fn hand_over_lease(
        &self,
        lease: &Lease,
        owner: &str,
        ttl: Duration,
    ) -> Result<Lease, StoreError> {
        match self.leases.get_mut(&lease.run) {
            Some(mut held) if held.lease.token == lease.token => {
                held.lease = Lease {
                    run: lease.run,
                    thread: held.lease.thread,
                    owner: owner.into(),
                    token: LeaseToken::new(),
                    expires_at_ms: expiry_ms(ttl),
                };
                held.expires = Instant::now().checked_add(ttl);
                Ok(held.lease.clone())
            }
            _ => Err(StoreError::LeaseLost { run: lease.run }),
        }
    }

    async fn release_lease(
        &self,
        lease: &Lease,
        terminal: Option<&Episode>,
    ) -> Result<(), StoreError> {
        let holder = self.holders.entry(lease.thread);
        let dashmap::Entry::Occupied(held) = self.leases.entry(lease.run) else {
            return Err(StoreError::LeaseLost { run: lease.run });
        };
        if held.get().lease.token != lease.token {
            return Err(StoreError::LeaseLost { run: lease.run });
        }
        if let Some(terminal) = terminal {
            self.record_now(lease.run, [terminal.clone()]);
        }
        held.remove();
        if let dashmap::Entry::Occupied(holder) = holder
            && *holder.get() == lease.run
        {
            holder.remove();
        }
        Ok(())
    }
}

/// When a lease taken or renewed now for `ttl` expires, on the wall clock.
fn expiry_ms(ttl: Duration) -> u64 {
    now_ms().saturating_add(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX))
}
