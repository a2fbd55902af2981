//! A store that forwards every call to a real store and lets an observer see each one: before
//! it reaches the store (and stop it there, as a failing backend would) and after it ended
//! (returned, failed or panicked). [`FaultyStore`](crate::FaultyStore) is one observer; a test
//! that traces what runs write is another.

use async_trait::async_trait;
use baton_core::error::StoreError;
use baton_core::ids::{RunId, ThreadId};
use baton_core::llm::Message;
use baton_core::memory::{
    Episode, EpisodeRecord, EpisodicStore, Lease, Page, StepCommit, Store, ThreadStore, ThreadTail,
    UnfinishedRun,
};
use futures::FutureExt;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

/// The calls of a store, by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StoreCall {
    /// [`ThreadStore::append`].
    Append,
    /// [`ThreadStore::list`].
    List,
    /// [`ThreadStore::tail`].
    Tail,
    /// [`ThreadStore::threads`].
    Threads,
    /// [`EpisodicStore::record`].
    Record,
    /// [`EpisodicStore::episodes`].
    Episodes,
    /// [`EpisodicStore::unfinished_runs`].
    UnfinishedRuns,
    /// [`Store::commit_step`].
    CommitStep,
    /// [`Store::acquire_lease`].
    AcquireLease,
    /// [`Store::renew_lease`].
    RenewLease,
    /// [`Store::record_leased`].
    RecordLeased,
    /// [`Store::hand_over_lease`].
    HandOverLease,
    /// [`Store::release_lease`].
    ReleaseLease,
}

/// One call to a store, with its arguments, as an observer sees it.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum StoreOp<'a> {
    /// [`ThreadStore::append`].
    Append {
        /// The thread.
        thread: ThreadId,
        /// The length the writer expects.
        expected_len: Option<u64>,
        /// The messages appended.
        messages: &'a [Arc<Message>],
    },
    /// [`ThreadStore::list`].
    List {
        /// The thread.
        thread: ThreadId,
        /// The page read.
        page: Page,
    },
    /// [`ThreadStore::tail`].
    Tail {
        /// The thread.
        thread: ThreadId,
        /// How many messages at most.
        limit: u64,
    },
    /// [`ThreadStore::threads`].
    Threads {
        /// The page read.
        page: Page,
    },
    /// [`EpisodicStore::record`].
    Record {
        /// The run.
        run: RunId,
        /// The episode recorded.
        episode: &'a Episode,
    },
    /// [`EpisodicStore::episodes`].
    Episodes {
        /// The run.
        run: RunId,
    },
    /// [`EpisodicStore::unfinished_runs`].
    UnfinishedRuns,
    /// [`Store::commit_step`].
    CommitStep(StepCommit<'a>),
    /// [`Store::acquire_lease`].
    AcquireLease {
        /// The run.
        run: RunId,
        /// The thread the lease holds.
        thread: ThreadId,
        /// Who takes it.
        owner: &'a str,
        /// For how long.
        ttl: Duration,
    },
    /// [`Store::renew_lease`].
    RenewLease {
        /// The lease renewed.
        lease: &'a Lease,
        /// For how long.
        ttl: Duration,
    },
    /// [`Store::record_leased`].
    RecordLeased {
        /// The lease the episodes are recorded under.
        lease: &'a Lease,
        /// The episodes recorded, in order.
        episodes: &'a [Episode],
    },
    /// [`Store::hand_over_lease`].
    HandOverLease {
        /// The lease handed over.
        lease: &'a Lease,
        /// Who takes the run over.
        owner: &'a str,
        /// For how long.
        ttl: Duration,
    },
    /// [`Store::release_lease`].
    ReleaseLease {
        /// The lease released.
        lease: &'a Lease,
        /// The terminal episode recorded with the release.
        terminal: Option<&'a Episode>,
    },
}

impl StoreOp<'_> {
    /// The kind of call.
    #[must_use]
    pub const fn call(&self) -> StoreCall {
        match self {
            Self::Append { .. } => StoreCall::Append,
            Self::List { .. } => StoreCall::List,
            Self::Tail { .. } => StoreCall::Tail,
            Self::Threads { .. } => StoreCall::Threads,
            Self::Record { .. } => StoreCall::Record,
            Self::Episodes { .. } => StoreCall::Episodes,
            Self::UnfinishedRuns => StoreCall::UnfinishedRuns,
            Self::CommitStep(_) => StoreCall::CommitStep,
            Self::AcquireLease { .. } => StoreCall::AcquireLease,
            Self::RenewLease { .. } => StoreCall::RenewLease,
            Self::RecordLeased { .. } => StoreCall::RecordLeased,
            Self::HandOverLease { .. } => StoreCall::HandOverLease,
            Self::ReleaseLease { .. } => StoreCall::ReleaseLease,
        }
    }
}

/// How an observed call ended.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum Ended<'a> {
    /// It returned.
    Returned,
    /// It failed with this error.
    Failed(&'a StoreError),
    /// It panicked (the panic goes on to the caller).
    Panicked,
}

/// What an [`ObservedStore`] tells of each call.
pub trait StoreObserver: Send + Sync + 'static {
    /// Called before `op` reaches the store; an error stops it there (the store is not
    /// called), as a backend's failure would. By default, lets every call through.
    fn before(&self, op: &StoreOp<'_>) -> Result<(), StoreError> {
        let _ = op;
        Ok(())
    }

    /// Called once `op` has ended, however it ended (a refusal from
    /// [`before`](Self::before) included).
    fn after(&self, op: &StoreOp<'_>, ended: Ended<'_>) {
        let _ = (op, ended);
    }
}

/// A [`Store`] that forwards to an inner store, telling its [`StoreObserver`] of every call.
///
/// ```
/// use baton_core::memory::{InMemoryStore, ThreadStore};
/// use baton_core::ids::ThreadId;
/// use baton_testkit::{Ended, ObservedStore, StoreObserver, StoreOp};
/// use std::sync::atomic::{AtomicUsize, Ordering};
///
/// #[derive(Default)]
/// struct CountTails(AtomicUsize);
///
/// impl StoreObserver for CountTails {
///     fn after(&self, op: &StoreOp<'_>, _: Ended<'_>) {
///         if let StoreOp::Tail { .. } = op {
///             self.0.fetch_add(1, Ordering::Relaxed);
///         }
///     }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = ObservedStore::wrap(InMemoryStore::shared(), CountTails::default());
/// store.tail(ThreadId::new(), 10).await.unwrap();
/// assert_eq!(store.observer().0.load(Ordering::Relaxed), 1);
/// # });
/// ```
pub struct ObservedStore<O> {
    inner: Arc<dyn Store>,
    observer: O,
}

impl<O: std::fmt::Debug> std::fmt::Debug for ObservedStore<O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObservedStore")
            .field("observer", &self.observer)
            .finish_non_exhaustive()
    }
}

impl<O: StoreObserver> ObservedStore<O> {
    /// `inner`, observed by `observer`.
    pub fn wrap(inner: Arc<dyn Store>, observer: O) -> Self {
        Self { inner, observer }
    }

    /// The observer.
    pub const fn observer(&self) -> &O {
        &self.observer
    }

    /// The store calls are forwarded to.
    pub fn inner(&self) -> &Arc<dyn Store> {
        &self.inner
    }

    async fn observe<T>(
        &self,
        op: StoreOp<'_>,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        if let Err(error) = self.observer.before(&op) {
            self.observer.after(&op, Ended::Failed(&error));
            return Err(error);
        }
        match AssertUnwindSafe(call).catch_unwind().await {
            Ok(result) => {
                let ended = match &result {
                    Ok(_) => Ended::Returned,
                    Err(error) => Ended::Failed(error),
                };
                self.observer.after(&op, ended);
                result
            }
            Err(payload) => {
                self.observer.after(&op, Ended::Panicked);
                std::panic::resume_unwind(payload)
            }
        }
    }
}

#[async_trait]
impl<O: StoreObserver> ThreadStore for ObservedStore<O> {
    async fn append(
        &self,
        thread: ThreadId,
        expected_len: Option<u64>,
        messages: &[Arc<Message>],
    ) -> Result<u64, StoreError> {
        let op = StoreOp::Append {
            thread,
            expected_len,
            messages,
        };
        let call = self.inner.append(thread, expected_len, messages);
        self.observe(op, call).await
    }

    async fn list(&self, thread: ThreadId, page: Page) -> Result<Vec<Arc<Message>>, StoreError> {
        let op = StoreOp::List { thread, page };
        self.observe(op, self.inner.list(thread, page)).await
    }

    async fn tail(&self, thread: ThreadId, limit: u64) -> Result<ThreadTail, StoreError> {
        let op = StoreOp::Tail { thread, limit };
        self.observe(op, self.inner.tail(thread, limit)).await
    }

    async fn threads(&self, page: Page) -> Result<Vec<ThreadId>, StoreError> {
        let op = StoreOp::Threads { page };
        self.observe(op, self.inner.threads(page)).await
    }
}

#[async_trait]
impl<O: StoreObserver> EpisodicStore for ObservedStore<O> {
    async fn record(&self, run: RunId, episode: Episode) -> Result<(), StoreError> {
        let op = StoreOp::Record {
            run,
            episode: &episode,
        };
        self.observe(op, self.inner.record(run, episode.clone()))
            .await
    }

    async fn episodes(&self, run: RunId) -> Result<Vec<EpisodeRecord>, StoreError> {
        let op = StoreOp::Episodes { run };
        self.observe(op, self.inner.episodes(run)).await
    }

    async fn unfinished_runs(&self) -> Result<Vec<UnfinishedRun>, StoreError> {
        let op = StoreOp::UnfinishedRuns;
        self.observe(op, self.inner.unfinished_runs()).await
    }
}

#[async_trait]
impl<O: StoreObserver> Store for ObservedStore<O> {
    async fn commit_step(&self, commit: StepCommit<'_>) -> Result<u64, StoreError> {
        let op = StoreOp::CommitStep(commit);
        self.observe(op, self.inner.commit_step(commit)).await
    }

    async fn acquire_lease(
        &self,
        run: RunId,
        thread: ThreadId,
        owner: &str,
        ttl: Duration,
    ) -> Result<Lease, StoreError> {
        let op = StoreOp::AcquireLease {
            run,
            thread,
            owner,
            ttl,
        };
        let call = self.inner.acquire_lease(run, thread, owner, ttl);
        self.observe(op, call).await
    }

    async fn renew_lease(&self, lease: &Lease, ttl: Duration) -> Result<Lease, StoreError> {
        let op = StoreOp::RenewLease { lease, ttl };
        self.observe(op, self.inner.renew_lease(lease, ttl)).await
    }

    async fn record_leased(&self, lease: &Lease, episodes: &[Episode]) -> Result<(), StoreError> {
        let op = StoreOp::RecordLeased { lease, episodes };
        self.observe(op, self.inner.record_leased(lease, episodes))
            .await
    }

    async fn hand_over_lease(
        &self,
        lease: &Lease,
        owner: &str,
        ttl: Duration,
    ) -> Result<Lease, StoreError> {
        let op = StoreOp::HandOverLease { lease, owner, ttl };
        self.observe(op, self.inner.hand_over_lease(lease, owner, ttl))
            .await
    }

    async fn release_lease(
        &self,
        lease: &Lease,
        terminal: Option<&Episode>,
    ) -> Result<(), StoreError> {
        let op = StoreOp::ReleaseLease { lease, terminal };
        self.observe(op, self.inner.release_lease(lease, terminal))
            .await
    }
}
