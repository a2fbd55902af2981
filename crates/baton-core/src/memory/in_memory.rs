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
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
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
    leases: Mutex<Leases>,
}

/// The live leases, by run and by thread; one lock, so that taking a lease checks both at once.
#[derive(Debug, Default)]
struct Leases {
    runs: HashMap<RunId, Held>,
    threads: HashMap<ThreadId, RunId>,
}

#[derive(Debug)]
struct Held {
    lease: Lease,
    /// When it expires; `None` for a time-to-live past what the clock can count.
    expires: Option<Instant>,
}

impl Leases {
    fn live(&self, run: RunId, now: Instant) -> Option<&Held> {
        self.runs
            .get(&run)
            .filter(|held| held.expires.is_none_or(|expires| expires > now))
    }

    fn current(&self, lease: &Lease) -> bool {
        self.runs
            .get(&lease.run)
            .is_some_and(|held| held.lease.token == lease.token)
    }

    fn remove(&mut self, run: RunId) {
        if let Some(held) = self.runs.remove(&run)
            && self.threads.get(&held.lease.thread) == Some(&run)
        {
            self.threads.remove(&held.lease.thread);
        }
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

    fn leases(&self) -> std::sync::MutexGuard<'_, Leases> {
        self.leases.lock().unwrap_or_else(PoisonError::into_inner)
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
        let leases = self.leases();
        let now = Instant::now();
        Ok(runs
            .into_iter()
            .map(|run| UnfinishedRun {
                run,
                driver: leases.live(run, now).map(|held| LeaseHolder {
                    owner: held.lease.owner.clone(),
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
        // commits cannot both pass the check; so are the leases, under a lease, so that the
        // lease cannot be replaced between its check and the write (lock order: threads,
        // leases, episodes).
        let mut stored = self.threads.entry(commit.thread).or_default();
        let leases = commit.lease.map(|lease| (lease, self.leases()));
        let actual = stored.len() as u64;
        let outcome = if let Some((lease, leases)) = &leases
            && !leases.current(lease)
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
        drop(leases);
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
        let mut leases = self.leases();
        let now = Instant::now();
        if let Some(held) = leases.live(run, now) {
            return Err(StoreError::RunLeased {
                run,
                owner: held.lease.owner.clone(),
            });
        }
        if let Some(&holder) = leases.threads.get(&thread)
            && holder != run
            && leases.live(holder, now).is_some()
        {
            return Err(StoreError::ThreadBusy { thread, holder });
        }
        // Whatever expired in the way goes: the run's old lease, the thread's old holder.
        leases.remove(run);
        if let Some(holder) = leases.threads.get(&thread).copied() {
            leases.remove(holder);
        }
        let lease = Lease {
            run,
            thread,
            owner: owner.to_owned(),
            token: LeaseToken::new(),
            expires_at_ms: expiry_ms(ttl),
        };
        leases.threads.insert(thread, run);
        leases.runs.insert(
            run,
            Held {
                lease: lease.clone(),
                expires: now.checked_add(ttl),
            },
        );
        Ok(lease)
    }

    async fn renew_lease(&self, lease: &Lease, ttl: Duration) -> Result<Lease, StoreError> {
        let mut leases = self.leases();
        match leases.runs.get_mut(&lease.run) {
            Some(held) if held.lease.token == lease.token => {
                held.expires = Instant::now().checked_add(ttl);
                held.lease.expires_at_ms = expiry_ms(ttl);
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
        let mut leases = self.leases();
        if !leases.current(lease) {
            return Err(StoreError::LeaseLost { run: lease.run });
        }
        if let Some(terminal) = terminal {
            self.record_now(lease.run, [terminal.clone()]);
        }
        leases.remove(lease.run);
        Ok(())
    }
}

/// When a lease taken or renewed now for `ttl` expires, on the wall clock.
fn expiry_ms(ttl: Duration) -> u64 {
    now_ms().saturating_add(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX))
}
