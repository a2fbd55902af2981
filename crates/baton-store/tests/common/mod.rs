//! Fixtures of the backend tests: stores that own what must outlive them, and the checks of
//! this crate's stores beyond the conformance suite.
#![allow(dead_code)]

pub mod checks;
pub mod postgres;

use async_trait::async_trait;
use baton_core::error::StoreError;
use baton_core::ids::{RunId, ThreadId};
use baton_core::llm::Message;
use baton_core::memory::{
    Episode, EpisodeRecord, EpisodicStore, Lease, Page, StepCommit, Store, ThreadStore, ThreadTail,
    UnfinishedRun,
};
use std::sync::Arc;
use std::time::Duration;

/// A store and something that must live as long as it (a temporary directory).
pub struct Owning<S, G> {
    pub store: S,
    pub _guard: G,
}

impl<S: Store, G: Send + Sync + 'static> Owning<S, G> {
    pub fn shared(store: S, guard: G) -> Arc<dyn Store> {
        Arc::new(Self {
            store,
            _guard: guard,
        })
    }
}

#[async_trait]
impl<S: Store, G: Send + Sync + 'static> ThreadStore for Owning<S, G> {
    async fn append(
        &self,
        thread: ThreadId,
        expected_len: Option<u64>,
        messages: &[Arc<Message>],
    ) -> Result<u64, StoreError> {
        self.store.append(thread, expected_len, messages).await
    }

    async fn list(&self, thread: ThreadId, page: Page) -> Result<Vec<Arc<Message>>, StoreError> {
        self.store.list(thread, page).await
    }

    async fn tail(&self, thread: ThreadId, limit: u64) -> Result<ThreadTail, StoreError> {
        self.store.tail(thread, limit).await
    }

    async fn threads(&self, page: Page) -> Result<Vec<ThreadId>, StoreError> {
        self.store.threads(page).await
    }
}

#[async_trait]
impl<S: Store, G: Send + Sync + 'static> EpisodicStore for Owning<S, G> {
    async fn record(&self, run: RunId, episode: Episode) -> Result<(), StoreError> {
        self.store.record(run, episode).await
    }

    async fn episodes(&self, run: RunId) -> Result<Vec<EpisodeRecord>, StoreError> {
        self.store.episodes(run).await
    }

    async fn unfinished_runs(&self) -> Result<Vec<UnfinishedRun>, StoreError> {
        self.store.unfinished_runs().await
    }
}

#[async_trait]
impl<S: Store, G: Send + Sync + 'static> Store for Owning<S, G> {
    async fn commit_step(&self, commit: StepCommit<'_>) -> Result<u64, StoreError> {
        self.store.commit_step(commit).await
    }

    async fn acquire_lease(
        &self,
        run: RunId,
        thread: ThreadId,
        owner: &str,
        ttl: Duration,
    ) -> Result<Lease, StoreError> {
        self.store.acquire_lease(run, thread, owner, ttl).await
    }

    async fn renew_lease(&self, lease: &Lease, ttl: Duration) -> Result<Lease, StoreError> {
        self.store.renew_lease(lease, ttl).await
    }

    async fn release_lease(
        &self,
        lease: &Lease,
        terminal: Option<&Episode>,
    ) -> Result<(), StoreError> {
        self.store.release_lease(lease, terminal).await
    }
}
