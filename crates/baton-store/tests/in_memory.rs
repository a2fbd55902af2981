//! The conformance checks, and this crate's own store checks, on baton-core's `InMemoryStore`:
//! the reference the durable stores are measured against.

mod common;

use baton_core::memory::{InMemoryStore, Store};
use std::sync::Arc;

async fn fresh() -> Option<Arc<dyn Store>> {
    Some(InMemoryStore::shared())
}

/// One store in memory cannot be opened twice: both handles are the same store.
async fn pair() -> Option<(Arc<dyn Store>, Arc<dyn Store>)> {
    let store: Arc<dyn Store> = InMemoryStore::shared();
    Some((store.clone(), store))
}

// Every check of the suite.
baton_store::conformance_tests!(fresh = fresh, pair = pair);
store_checks!(fresh = fresh);
