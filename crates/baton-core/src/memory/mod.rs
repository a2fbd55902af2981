//! Memory: the thread store (what was said) and the episodic log (what each run did).
//!
//! [`ThreadStore`] and [`EpisodicStore`] are the seams for durable backends; [`Store`] joins
//! them and adds [`Store::commit_step`], which commits a step's messages and its episodes
//! together, and the run leases (see [`lease`](self::Lease)) that say who drives a run.
//! [`InMemoryStore`] is the default.

mod episode;
mod in_memory;
mod lease;

#[cfg(test)]
pub(crate) use episode::numbered;
pub use episode::{Decision, Episode, EpisodeRecord, started};
pub use in_memory::InMemoryStore;
pub use lease::{Lease, LeaseHolder, LeaseOwner, LeaseToken, UnfinishedRun, now_ms};

use crate::error::StoreError;
use crate::ids::{RunId, ThreadId};
use crate::llm::Message;
use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;

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

    /// The newest `limit` messages of `thread` (all of them if it holds fewer), oldest first,
    /// with the thread's length, read together. A run reads its thread this way, so its cost
    /// does not grow with the thread. An unknown thread is empty, of length 0.
    async fn tail(&self, thread: ThreadId, limit: u64) -> Result<ThreadTail, StoreError>;

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

    /// Runs whose log has no terminal episode (`Completed` or `Failed`), oldest first: each
    /// with its driver if its lease is live (a run in flight, here or in another process), or
    /// without (a run abandoned by a crash, or whose lease expired: it may be resumed).
    async fn unfinished_runs(&self) -> Result<Vec<UnfinishedRun>, StoreError>;
}

/// The end of a thread, as [`ThreadStore::tail`] reads it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ThreadTail {
    /// The thread's length: how many messages it holds, the tail included.
    pub len: u64,
    /// Its newest messages, oldest first.
    pub messages: Vec<Arc<Message>>,
}

impl ThreadTail {
    /// Position in the thread of the tail's first message.
    #[must_use]
    pub fn offset(&self) -> u64 {
        self.len - self.messages.len() as u64
    }
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
    /// The writer's lease on the run: the commit is refused with [`StoreError::LeaseLost`]
    /// (and writes nothing) unless it is the run's current lease. `None` writes without
    /// fencing.
    pub lease: Option<&'a Lease>,
}

/// A thread store and an episodic log in one backend, with the leases of the runs that write
/// them.
#[async_trait]
pub trait Store: ThreadStore + EpisodicStore {
    /// Commits a step: its messages on the thread and its episodes in the run's log, together
    /// (after a crash the thread and the log agree on which steps completed), and only if
    /// `commit.lease` is current. A step already committed is not written again: the thread's
    /// length is returned.
    async fn commit_step(&self, commit: StepCommit<'_>) -> Result<u64, StoreError>;

    /// Takes the lease of `run` for `owner`, for `ttl`, holding `thread` with it.
    ///
    /// # Errors
    ///
    /// [`StoreError::RunLeased`] if another live lease is held on `run` (by any owner: a run
    /// is driven once), [`StoreError::ThreadBusy`] if a live lease of another run holds
    /// `thread`. An expired lease, on the run or the thread, is replaced. Either refusal writes
    /// nothing.
    async fn acquire_lease(
        &self,
        run: RunId,
        thread: ThreadId,
        owner: &str,
        ttl: Duration,
    ) -> Result<Lease, StoreError>;

    /// Extends `lease` to `ttl` from now and returns it as renewed.
    ///
    /// # Errors
    ///
    /// [`StoreError::LeaseLost`] if `lease` is not the run's current lease. A lease that
    /// expired but that nobody replaced is still current, and is renewed.
    async fn renew_lease(&self, lease: &Lease, ttl: Duration) -> Result<Lease, StoreError>;

    /// Appends `episodes` to the log of `lease`'s run, in order, in one write, only if `lease`
    /// is the run's current lease (live or expired, as long as nobody replaced it). The
    /// tool-call ledger and a pause are recorded this way, so a driver that lost its run can
    /// record no intent and so start no tool.
    ///
    /// # Errors
    ///
    /// [`StoreError::LeaseLost`] if `lease` is not the run's current lease: nothing is written.
    async fn record_leased(&self, lease: &Lease, episodes: &[Episode]) -> Result<(), StoreError>;

    /// Hands the run over: if `lease` is the run's current lease (live or expired, as long as
    /// nobody replaced it), replaces it, in one write, with a fresh lease for `owner` for
    /// `ttl` on the same thread, and returns it. The thread stays held throughout. A paused run
    /// is parked this way and taken up again by whoever decides its last pending approval: of
    /// two that try with the same lease, one wins.
    ///
    /// # Errors
    ///
    /// [`StoreError::LeaseLost`] if `lease` is not the run's current lease: nothing is written.
    async fn hand_over_lease(
        &self,
        lease: &Lease,
        owner: &str,
        ttl: Duration,
    ) -> Result<Lease, StoreError>;

    /// Ends `lease`: records `terminal` (the run's last episode, if it has one to record) and
    /// frees the run and its thread, in one write.
    ///
    /// # Errors
    ///
    /// [`StoreError::LeaseLost`] if `lease` is not the run's current lease: nothing is
    /// written, since the run belongs to its new driver.
    async fn release_lease(
        &self,
        lease: &Lease,
        terminal: Option<&Episode>,
    ) -> Result<(), StoreError>;
}

// A shared store is a store: `Arc<SqliteStore>`, `Arc<dyn Store>` and the like serve wherever a
// store is wanted, and a wrapper of any of them forwards to it.

#[async_trait]
impl<S: ThreadStore + ?Sized> ThreadStore for Arc<S> {
    async fn append(
        &self,
        thread: ThreadId,
        expected_len: Option<u64>,
        messages: &[Arc<Message>],
    ) -> Result<u64, StoreError> {
        (**self).append(thread, expected_len, messages).await
    }

    async fn list(&self, thread: ThreadId, page: Page) -> Result<Vec<Arc<Message>>, StoreError> {
        (**self).list(thread, page).await
    }

    async fn tail(&self, thread: ThreadId, limit: u64) -> Result<ThreadTail, StoreError> {
        (**self).tail(thread, limit).await
    }

    async fn threads(&self, page: Page) -> Result<Vec<ThreadId>, StoreError> {
        (**self).threads(page).await
    }
}

#[async_trait]
impl<S: EpisodicStore + ?Sized> EpisodicStore for Arc<S> {
    async fn record(&self, run: RunId, episode: Episode) -> Result<(), StoreError> {
        (**self).record(run, episode).await
    }

    async fn episodes(&self, run: RunId) -> Result<Vec<EpisodeRecord>, StoreError> {
        (**self).episodes(run).await
    }

    async fn unfinished_runs(&self) -> Result<Vec<UnfinishedRun>, StoreError> {
        (**self).unfinished_runs().await
    }
}

#[async_trait]
impl<S: Store + ?Sized> Store for Arc<S> {
    async fn commit_step(&self, commit: StepCommit<'_>) -> Result<u64, StoreError> {
        (**self).commit_step(commit).await
    }

    async fn acquire_lease(
        &self,
        run: RunId,
        thread: ThreadId,
        owner: &str,
        ttl: Duration,
    ) -> Result<Lease, StoreError> {
        (**self).acquire_lease(run, thread, owner, ttl).await
    }

    async fn renew_lease(&self, lease: &Lease, ttl: Duration) -> Result<Lease, StoreError> {
        (**self).renew_lease(lease, ttl).await
    }

    async fn record_leased(&self, lease: &Lease, episodes: &[Episode]) -> Result<(), StoreError> {
        (**self).record_leased(lease, episodes).await
    }

    async fn hand_over_lease(
        &self,
        lease: &Lease,
        owner: &str,
        ttl: Duration,
    ) -> Result<Lease, StoreError> {
        (**self).hand_over_lease(lease, owner, ttl).await
    }

    async fn release_lease(
        &self,
        lease: &Lease,
        terminal: Option<&Episode>,
    ) -> Result<(), StoreError> {
        (**self).release_lease(lease, terminal).await
    }
}

#[cfg(test)]
mod tests;
