//! Memory: the thread store (what was said) and the episodic log (what each run did).
//!
//! [`ThreadStore`] and [`EpisodicStore`] are the seams for durable backends; [`Store`] joins
//! them and adds [`Store::commit_step`], which a transactional backend overrides so that a
//! step's messages and its episodes are committed together. [`InMemoryStore`] is the default.

mod episode;
mod in_memory;

pub use episode::{Episode, EpisodeRecord};
pub use in_memory::InMemoryStore;

use crate::error::StoreError;
use crate::ids::{RunId, ThreadId};
use crate::llm::Message;
use async_trait::async_trait;
use std::sync::Arc;

/// A window of a thread's messages: `limit` messages starting at `offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// Index of the first message.
    pub offset: u64,
    /// Most messages to return.
    pub limit: u64,
}

impl Page {
    /// Every message of the thread.
    pub const ALL: Self = Self {
        offset: 0,
        limit: u64::MAX,
    };

    /// `limit` messages from `offset`.
    #[must_use]
    pub const fn new(offset: u64, limit: u64) -> Self {
        Self { offset, limit }
    }

    /// The items of this page out of `items`, in order.
    pub(crate) fn of<T>(self, items: impl IntoIterator<Item = T>) -> Vec<T> {
        let start = usize::try_from(self.offset).unwrap_or(usize::MAX);
        let limit = usize::try_from(self.limit).unwrap_or(usize::MAX);
        items.into_iter().skip(start).take(limit).collect()
    }
}

/// Stores the messages of conversation threads, in order.
///
/// Appends are compare-and-append: the writer says how many messages it believes the thread
/// holds, and the store refuses with [`StoreError::Conflict`] if another writer got there
/// first. That is how one writer per thread is enforced even across processes.
#[async_trait]
pub trait ThreadStore: Send + Sync + 'static {
    /// Appends `messages` to `thread` if it holds exactly `expected_len` messages (or
    /// unconditionally with `None`). Returns the thread's new length.
    async fn append(
        &self,
        thread: ThreadId,
        expected_len: Option<u64>,
        messages: &[Arc<Message>],
    ) -> Result<u64, StoreError>;

    /// Messages of `thread` in `page`, oldest first. An unknown thread is empty.
    async fn list(&self, thread: ThreadId, page: Page) -> Result<Vec<Arc<Message>>, StoreError>;

    /// Ids of the threads that hold messages, oldest thread first, in `page`.
    async fn threads(&self, page: Page) -> Result<Vec<ThreadId>, StoreError>;
}

/// The episodic log: what each run did, in order.
#[async_trait]
pub trait EpisodicStore: Send + Sync + 'static {
    /// Appends `episode` to the log of `run`.
    async fn record(&self, run: RunId, episode: Episode) -> Result<(), StoreError>;

    /// The log of `run`, oldest first. An unknown run has an empty log.
    async fn episodes(&self, run: RunId) -> Result<Vec<EpisodeRecord>, StoreError>;

    /// Runs whose log has no terminal episode (`Completed` or `Failed`): runs in flight, or
    /// interrupted by a crash. Oldest first.
    async fn unfinished_runs(&self) -> Result<Vec<RunId>, StoreError>;
}

/// What one step commits: its messages on the thread and its episodes in the run's log.
#[derive(Debug, Clone, Copy)]
pub struct StepCommit<'a> {
    /// The thread written.
    pub thread: ThreadId,
    /// The thread's length the writer expects (see [`ThreadStore::append`]).
    pub expected_len: Option<u64>,
    /// The step's messages (the assistant message, then its tool results).
    pub messages: &'a [Arc<Message>],
    /// The run whose log is written.
    pub run: RunId,
    /// The step, from 1. With `run`, it identifies the commit: a backend that finds this step
    /// already committed (a retried commit) returns the thread's length without writing again.
    pub step: u32,
    /// The step's episodes.
    pub episodes: &'a [Episode],
}

/// A thread store and an episodic log in one backend.
#[async_trait]
pub trait Store: ThreadStore + EpisodicStore {
    /// Commits a step. The default appends the messages, then records the episodes; durable
    /// backends override it to do both in one transaction, so that after a crash the thread
    /// and the log agree on which steps completed.
    async fn commit_step(&self, commit: StepCommit<'_>) -> Result<u64, StoreError> {
        let len = self
            .append(commit.thread, commit.expected_len, commit.messages)
            .await?;
        for episode in commit.episodes {
            self.record(commit.run, episode.clone()).await?;
        }
        Ok(len)
    }
}

#[cfg(test)]
mod tests;
