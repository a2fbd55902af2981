//! A store that fails on purpose: it forwards to a real store, and injects the faults a real
//! backend can produce (an error, a panic) into the calls a test names.

use async_trait::async_trait;
use baton_core::error::StoreError;
use baton_core::ids::{RunId, ThreadId};
use baton_core::llm::Message;
use baton_core::memory::{
    Episode, EpisodeRecord, EpisodicStore, Lease, Page, StepCommit, Store, ThreadStore, ThreadTail,
    UnfinishedRun,
};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// The calls of a store a fault can be injected into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StoreCall {
    /// [`ThreadStore::append`].
    Append,
    /// [`ThreadStore::tail`].
    Tail,
    /// [`EpisodicStore::record`].
    Record,
    /// [`Store::commit_step`].
    CommitStep,
    /// [`Store::acquire_lease`].
    AcquireLease,
    /// [`Store::renew_lease`].
    RenewLease,
    /// [`Store::release_lease`].
    ReleaseLease,
}

/// What an injected fault does.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreFault {
    /// The call fails with this error, writing nothing.
    Fail(StoreError),
    /// The call panics with this message, writing nothing.
    Panic(String),
}

/// A [`Store`] that forwards to `inner` and injects faults, each once, in the order they were
/// added, into the next calls they name. It also keeps what was read of threads, so tests can
/// check that a run reads only what it needs.
///
/// ```
/// use baton_core::memory::{InMemoryStore, ThreadStore};
/// use baton_core::{error::StoreError, ids::ThreadId};
/// use baton_testkit::{FaultyStore, StoreCall, StoreFault};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = FaultyStore::new(InMemoryStore::shared());
/// store.inject(StoreCall::Tail, StoreFault::Fail(StoreError::Backend("disk full".into())));
/// assert!(store.tail(ThreadId::new(), 10).await.is_err());
/// assert!(store.tail(ThreadId::new(), 10).await.is_ok(), "each fault strikes once");
/// # });
/// ```
pub struct FaultyStore {
    inner: Arc<dyn Store>,
    faults: Mutex<VecDeque<(StoreCall, StoreFault)>>,
    tail_limits: Mutex<Vec<u64>>,
    listed: AtomicUsize,
}

impl std::fmt::Debug for FaultyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultyStore")
            .field("pending_faults", &self.lock().len())
            .finish_non_exhaustive()
    }
}

impl FaultyStore {
    /// A store forwarding to `inner`, with no fault pending.
    pub fn new(inner: Arc<dyn Store>) -> Self {
        Self {
            inner,
            faults: Mutex::new(VecDeque::new()),
            tail_limits: Mutex::new(Vec::new()),
            listed: AtomicUsize::new(0),
        }
    }

    /// The `limit` of every [`ThreadStore::tail`] read so far, in order.
    pub fn tail_limits(&self) -> Vec<u64> {
        self.tail_limits
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// How many [`ThreadStore::list`] reads were made.
    pub fn list_reads(&self) -> usize {
        self.listed.load(Ordering::Relaxed)
    }

    /// Makes the next call of kind `call` (after those already pending for it) fail with
    /// `fault`.
    pub fn inject(&self, call: StoreCall, fault: StoreFault) {
        self.lock().push_back((call, fault));
    }

    /// Faults not yet struck.
    pub fn pending(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<(StoreCall, StoreFault)>> {
        self.faults.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Strikes the first pending fault for `call`, if any.
    fn strike(&self, call: StoreCall) -> Result<(), StoreError> {
        let fault = {
            let mut faults = self.lock();
            let Some(at) = faults.iter().position(|(c, _)| *c == call) else {
                return Ok(());
            };
            faults.remove(at).map(|(_, fault)| fault)
        };
        match fault {
            None => Ok(()),
            Some(StoreFault::Fail(error)) => Err(error),
            Some(StoreFault::Panic(message)) => panic!("{message}"),
        }
    }
}

#[async_trait]
impl ThreadStore for FaultyStore {
    async fn append(
        &self,
        thread: ThreadId,
        expected_len: Option<u64>,
        messages: &[Arc<Message>],
    ) -> Result<u64, StoreError> {
        self.strike(StoreCall::Append)?;
        self.inner.append(thread, expected_len, messages).await
    }

    async fn list(&self, thread: ThreadId, page: Page) -> Result<Vec<Arc<Message>>, StoreError> {
        self.listed.fetch_add(1, Ordering::Relaxed);
        self.inner.list(thread, page).await
    }

    async fn tail(&self, thread: ThreadId, limit: u64) -> Result<ThreadTail, StoreError> {
        self.tail_limits
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(limit);
        self.strike(StoreCall::Tail)?;
        self.inner.tail(thread, limit).await
    }

    async fn threads(&self, page: Page) -> Result<Vec<ThreadId>, StoreError> {
        self.inner.threads(page).await
    }
}

#[async_trait]
impl EpisodicStore for FaultyStore {
    async fn record(&self, run: RunId, episode: Episode) -> Result<(), StoreError> {
        self.strike(StoreCall::Record)?;
        self.inner.record(run, episode).await
    }

    async fn episodes(&self, run: RunId) -> Result<Vec<EpisodeRecord>, StoreError> {
        self.inner.episodes(run).await
    }

    async fn unfinished_runs(&self) -> Result<Vec<UnfinishedRun>, StoreError> {
        self.inner.unfinished_runs().await
    }
}

#[async_trait]
impl Store for FaultyStore {
    async fn commit_step(&self, commit: StepCommit<'_>) -> Result<u64, StoreError> {
        self.strike(StoreCall::CommitStep)?;
        self.inner.commit_step(commit).await
    }

    async fn acquire_lease(
        &self,
        run: RunId,
        thread: ThreadId,
        owner: &str,
        ttl: Duration,
    ) -> Result<Lease, StoreError> {
        self.strike(StoreCall::AcquireLease)?;
        self.inner.acquire_lease(run, thread, owner, ttl).await
    }

    async fn renew_lease(&self, lease: &Lease, ttl: Duration) -> Result<Lease, StoreError> {
        self.strike(StoreCall::RenewLease)?;
        self.inner.renew_lease(lease, ttl).await
    }

    async fn release_lease(
        &self,
        lease: &Lease,
        terminal: Option<&Episode>,
    ) -> Result<(), StoreError> {
        self.strike(StoreCall::ReleaseLease)?;
        self.inner.release_lease(lease, terminal).await
    }
}
