//! A store that fails on purpose: it forwards to a real store, and injects the faults a real
//! backend can produce (an error, a panic) into the calls a test names.

use crate::observed_store::{ObservedStore, StoreCall, StoreObserver, StoreOp};
use baton_core::error::StoreError;
use baton_core::memory::Store;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

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
///
/// The faults and what was read are kept by its observer, [`Faults`], whose methods the store
/// offers as its own.
pub type FaultyStore = ObservedStore<Faults>;

impl FaultyStore {
    /// A store forwarding to `inner`, with no fault pending.
    pub fn new(inner: Arc<dyn Store>) -> Self {
        Self::wrap(inner, Faults::default())
    }
}

impl std::ops::Deref for FaultyStore {
    type Target = Faults;

    fn deref(&self) -> &Faults {
        self.observer()
    }
}

/// The faults a [`FaultyStore`] injects, and what it saw read.
#[derive(Default)]
pub struct Faults {
    faults: Mutex<VecDeque<(StoreCall, StoreFault)>>,
    tail_limits: Mutex<Vec<u64>>,
    listed: AtomicUsize,
}

impl std::fmt::Debug for Faults {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Faults")
            .field("pending", &self.lock().len())
            .finish_non_exhaustive()
    }
}

impl Faults {
    /// The `limit` of every [`ThreadStore::tail`](baton_core::memory::ThreadStore::tail) read so far, in order.
    pub fn tail_limits(&self) -> Vec<u64> {
        self.tail_limits
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// How many [`ThreadStore::list`](baton_core::memory::ThreadStore::list) reads were made.
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

impl StoreObserver for Faults {
    fn before(&self, op: &StoreOp<'_>) -> Result<(), StoreError> {
        match op {
            StoreOp::Tail { limit, .. } => self
                .tail_limits
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(*limit),
            StoreOp::List { .. } => {
                self.listed.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
        self.strike(op.call())
    }
}
