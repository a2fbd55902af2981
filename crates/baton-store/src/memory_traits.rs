//! The memory traits of a backend (`ThreadStore`, `EpisodicStore`, `Store`), forwarded to its
//! [`SqlEngine`](crate::engine::SqlEngine): one macro, expanded once per backend, so that each
//! backend is a public type of its own with its own constructors while the work has one home.

/// Implements `ThreadStore`, `EpisodicStore` and `Store` for `$store`, whose `engine` field
/// does the work.
macro_rules! forward_to_engine {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl baton_core::memory::ThreadStore for $store {
            async fn append(
                &self,
                thread: baton_core::ids::ThreadId,
                expected_len: Option<u64>,
                messages: &[std::sync::Arc<baton_core::llm::Message>],
            ) -> Result<u64, baton_core::error::StoreError> {
                self.engine.append(thread, expected_len, messages).await
            }

            async fn list(
                &self,
                thread: baton_core::ids::ThreadId,
                page: baton_core::memory::Page,
            ) -> Result<Vec<std::sync::Arc<baton_core::llm::Message>>, baton_core::error::StoreError>
            {
                self.engine.list(thread, page).await
            }

            async fn tail(
                &self,
                thread: baton_core::ids::ThreadId,
                limit: u64,
            ) -> Result<baton_core::memory::ThreadTail, baton_core::error::StoreError> {
                self.engine.tail(thread, limit).await
            }

            async fn threads(
                &self,
                page: baton_core::memory::Page,
            ) -> Result<Vec<baton_core::ids::ThreadId>, baton_core::error::StoreError> {
                self.engine.threads(page).await
            }
        }

        #[async_trait::async_trait]
        impl baton_core::memory::EpisodicStore for $store {
            async fn record(
                &self,
                run: baton_core::ids::RunId,
                episode: baton_core::memory::Episode,
            ) -> Result<(), baton_core::error::StoreError> {
                self.engine.record(run, &episode).await
            }

            async fn episodes(
                &self,
                run: baton_core::ids::RunId,
            ) -> Result<Vec<baton_core::memory::EpisodeRecord>, baton_core::error::StoreError> {
                self.engine.episodes(run).await
            }

            async fn unfinished_runs(
                &self,
            ) -> Result<Vec<baton_core::memory::UnfinishedRun>, baton_core::error::StoreError>
            {
                self.engine.unfinished_runs().await
            }
        }

        #[async_trait::async_trait]
        impl baton_core::memory::Store for $store {
            async fn commit_step(
                &self,
                commit: baton_core::memory::StepCommit<'_>,
            ) -> Result<u64, baton_core::error::StoreError> {
                self.engine.commit_step(commit).await
            }

            async fn acquire_lease(
                &self,
                run: baton_core::ids::RunId,
                thread: baton_core::ids::ThreadId,
                owner: &str,
                ttl: std::time::Duration,
            ) -> Result<baton_core::memory::Lease, baton_core::error::StoreError> {
                self.engine.acquire_lease(run, thread, owner, ttl).await
            }

            async fn renew_lease(
                &self,
                lease: &baton_core::memory::Lease,
                ttl: std::time::Duration,
            ) -> Result<baton_core::memory::Lease, baton_core::error::StoreError> {
                self.engine.renew_lease(lease, ttl).await
            }

            async fn record_leased(
                &self,
                lease: &baton_core::memory::Lease,
                episodes: &[baton_core::memory::Episode],
            ) -> Result<(), baton_core::error::StoreError> {
                self.engine.record_leased(lease, episodes).await
            }

            async fn hand_over_lease(
                &self,
                lease: &baton_core::memory::Lease,
                owner: &str,
                ttl: std::time::Duration,
            ) -> Result<baton_core::memory::Lease, baton_core::error::StoreError> {
                self.engine.hand_over_lease(lease, owner, ttl).await
            }

            async fn release_lease(
                &self,
                lease: &baton_core::memory::Lease,
                terminal: Option<&baton_core::memory::Episode>,
            ) -> Result<(), baton_core::error::StoreError> {
                self.engine.release_lease(lease, terminal).await
            }
        }
    };
}

pub(crate) use forward_to_engine;
