use super::{Episode, EpisodeRecord, EpisodicStore, Page, Store, ThreadStore};
use crate::error::StoreError;
use crate::ids::{RunId, ThreadId};
use crate::llm::Message;
use async_trait::async_trait;
use dashmap::DashMap;
use dashmap::mapref::entry::Entry;
use std::sync::Arc;

/// Threads and episodic logs in process memory, on sharded concurrent maps.
///
/// Messages are stored as `Arc<Message>`, so reading a thread shares them instead of copying.
/// Nothing survives the process; use a durable store for that.
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

    async fn unfinished_runs(&self) -> Result<Vec<RunId>, StoreError> {
        let mut runs: Vec<RunId> = self
            .episodes
            .iter()
            .filter(|log| !log.last().is_some_and(|r| r.episode.is_terminal()))
            .map(|log| *log.key())
            .collect();
        runs.sort_unstable();
        Ok(runs)
    }
}

#[async_trait]
impl Store for InMemoryStore {
    async fn commit_step(&self, commit: super::StepCommit<'_>) -> Result<u64, StoreError> {
        // The thread's map entry is held from the check to the last write, so two identical
        // commits cannot both pass the check (lock order: threads, then episodes).
        let mut stored = self.threads.entry(commit.thread).or_default();
        let actual = stored.len() as u64;
        let outcome = if self.step_committed(commit.run, commit.step) {
            Ok(actual)
        } else {
            check_expected(commit.thread, commit.expected_len, actual).map(|()| {
                stored.extend(commit.messages.iter().cloned());
                self.record_now(commit.run, commit.episodes.iter().cloned());
                stored.len() as u64
            })
        };
        let empty = stored.is_empty();
        drop(stored);
        // The entry was made for the check; a thread exists only once it holds messages.
        if empty {
            self.threads
                .remove_if(&commit.thread, |_, messages| messages.is_empty());
        }
        outcome
    }
}
